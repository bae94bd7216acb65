"""Distilling at scale: skdistill.dask on a LocalCluster, and the in-memory estimator on 1M rows.

The data is a synthetic table with tree-shaped structure: the label is drawn from the
sum of 30 random depth-3 trees over 20 Gaussian features (plus a weak linear term), so
the teachers' splits are the right model and there is label noise to keep it honest.
Each partition is generated on the worker that holds it, from ``(seed, partition)``:
the training table never exists on the client.

Phases (each appends its records to ``results/scale.json`` and rewrites ``scale.md``):

- ``cluster``: ``DaskDistilledClassifier`` with its default teachers (LightGBM and
  XGBoost on dask) at each of ``--rows``; wall time, the client's peak memory (RSS
  sampled every 50 ms in the client process, and its baseline before the fit), held-out
  accuracy on a separate generated test table and fidelity to the teachers on the
  held-out validation rows.
- ``parity``: at ``--parity-rows``, the dask estimator and the in-memory
  ``DistilledClassifier`` with the same two boosters (in-memory classes, same settings,
  its own defaults otherwise) on the same rows, scored on the same test table.
- ``memory``: the in-memory ``DistilledClassifier()`` with its default teachers (the
  boosters on one thread, ``benchmark_teachers``) and defaults, so
  ``max_teacher_rows="auto"`` and ``cv="auto"``, at ``--memory-rows`` rows; wall and CPU
  time and peak memory of the process.
- ``strategy``: the teacher phase alone at ``--strategy-rows`` rows for each of
  ``STRATEGIES`` (5 folds, ``cv="auto"``, a smaller ``max_teacher_rows``): its time and
  memory, and its soft targets scored against the labels and the table's true P(y|x).

Usage::

    nice -n 10 python -m benchmarks.scale --phases cluster --rows 250000 500000 1000000 2000000
    nice -n 10 python -m benchmarks.scale --phases parity --parity-rows 200000
    nice -n 10 python -m benchmarks.scale --phases memory --memory-rows 1000000
    nice -n 10 python -m benchmarks.scale --phases strategy --strategy-rows 500000
    python -m benchmarks.scale --smoke --out-dir /tmp/scale    # a 20,000-row check
    python -m benchmarks.scale --merge /tmp/other/scale.json   # runs made elsewhere
"""

import argparse
import gc
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    environment,
    markdown_table,
    output_folder,
    versions_text,
)

N_FEATURES = 20
N_TREES = 30
PARTITION_ROWS = 50_000
TEST_ROWS = 200_000
#: The student settings of the cluster runs (the estimator's defaults except these two,
#: which bound the student's share of the time on two cores).
STUDENT = dict(max_epochs=30, n_iter_no_change=5)


# -- the synthetic table --------------------------------------------------------------------
def _trees(seed):
    rng = np.random.RandomState(seed)
    return (rng.randint(0, N_FEATURES, size=(N_TREES, 3)), rng.normal(size=(N_TREES, 3)) * 0.7,
            rng.normal(size=(N_TREES, 8)), rng.normal(size=N_FEATURES) * 0.15)


def table_partition(partition, rows, seed, split=0):
    """One partition: float32 features and int64 labels.

    The trees come from ``seed``; the rows from ``(seed, split, partition)``, so the
    training (``split=0``) and test (``split=1``) tables share one labelling function.
    """
    rng = np.random.default_rng([seed, split, partition])
    X = rng.standard_normal((rows, N_FEATURES), dtype=np.float32)
    y = (rng.random(rows) < true_probability(X, seed)).astype(np.int64)
    return X, y


def true_probability(X, seed):
    """P(y = 1 | x) of the table made with ``seed``: what perfect soft targets would be."""
    features, thresholds, leaves, linear = _trees(seed)
    logit = X @ linear
    for t in range(N_TREES):
        bits = (X[:, features[t]] > thresholds[t]).astype(np.int64)
        logit += leaves[t][bits[:, 0] * 4 + bits[:, 1] * 2 + bits[:, 2]]
    logit *= 2.0 / np.sqrt(N_TREES)
    return 1.0 / (1.0 + np.exp(-logit))


def dask_table(n_rows, seed, partition_rows=PARTITION_ROWS, split=0):
    """The table as dask arrays whose partitions are generated on the workers."""
    import dask
    import dask.array as da

    sizes = [partition_rows] * (n_rows // partition_rows)
    if n_rows % partition_rows:
        sizes.append(n_rows % partition_rows)
    X_parts, y_parts = [], []
    for i, rows in enumerate(sizes):
        X, y = dask.delayed(table_partition, nout=2)(i, rows, seed, split)
        X_parts.append(da.from_delayed(X, shape=(rows, N_FEATURES), dtype=np.float32))
        y_parts.append(da.from_delayed(y, shape=(rows,), dtype=np.int64))
    return da.concatenate(X_parts), da.concatenate(y_parts)


def local_table(n_rows, seed, partition_rows=PARTITION_ROWS, split=0):
    """The same rows as :func:`dask_table`, generated in this process."""
    parts = []
    for i, start in enumerate(range(0, n_rows, partition_rows)):
        parts.append(table_partition(i, min(partition_rows, n_rows - start), seed, split))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# -- measuring ------------------------------------------------------------------------------
def _rss():
    import psutil

    return psutil.Process().memory_info().rss


class PeakMemory:
    """The process's peak resident memory while the block runs (sampled every 50 ms)."""

    def __enter__(self):
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _mb(n_bytes):
    return round(n_bytes / 2**20, 1)


def _start_cluster(n_workers):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           memory_limit="8GiB", dashboard_address=None)
    return cluster, Client(cluster)


def _held_out_fidelity(model):
    best = model.history_[model.fit_info_["best_epoch"] - 1]
    return best.get("valid_fidelity")


def run_cluster(n_rows, seed, smoke=False):
    from skdistill.dask import DaskDistilledClassifier, default_dask_teachers

    X, y = dask_table(n_rows, seed, 5000 if smoke else PARTITION_ROWS)
    X_test, y_test = dask_table(20_000 if smoke else TEST_ROWS, seed,
                                5000 if smoke else PARTITION_ROWS, split=1)
    teachers = default_dask_teachers(random_state=0)
    if smoke:
        for _, est in teachers:
            est.set_params(n_estimators=10)
    params = dict(STUDENT, max_epochs=3) if smoke else STUDENT
    model = DaskDistilledClassifier(teachers=teachers, random_state=0, **params)
    with PeakMemory() as memory:
        start = time.perf_counter()
        model.fit(X, y)
        fit_seconds = time.perf_counter() - start
        accuracy = float((model.predict(X_test) == y_test).mean().compute())
    return {
        "phase": "cluster", "rows": n_rows, "partitions": model.fit_info_["n_partitions"],
        "fit_seconds": round(fit_seconds, 1),
        "teacher_seconds": round(model.fit_info_["teacher_fit_seconds"], 1),
        "student_seconds": round(model.fit_info_["student_fit_seconds"], 1),
        "epochs": model.n_iter_, "client_baseline_mb": _mb(memory.baseline),
        "client_peak_mb": _mb(memory.peak),
        "client_max_rows_held": model.fit_info_["max_client_rows"],
        "test_accuracy": round(accuracy, 4),
        "heldout_fidelity": round(_held_out_fidelity(model), 4),
    }


def _boosters_in_memory(random_state):
    """The in-memory twins of ``default_dask_teachers``: same classes' settings, one thread."""
    from lightgbm import LGBMClassifier
    from xgboost import XGBClassifier

    from skdistill._teachers import _seeds

    s = _seeds(random_state, 2)
    return [
        ("lgbm", LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31,
                                subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                random_state=s[0], verbose=-1, n_jobs=1)),
        ("xgb", XGBClassifier(n_estimators=300, learning_rate=0.1, max_depth=6, subsample=0.8,
                              colsample_bytree=0.8, tree_method="hist", random_state=s[1],
                              n_jobs=1)),
    ]


def run_parity(n_rows, seed, smoke=False):
    from skdistill import DistilledClassifier

    record = run_cluster(n_rows, seed, smoke)
    record["phase"] = "parity_dask"
    X, y = local_table(n_rows, seed, 5000 if smoke else PARTITION_ROWS)
    X_test, y_test = local_table(20_000 if smoke else TEST_ROWS, seed,
                                 5000 if smoke else PARTITION_ROWS, split=1)
    teachers = _boosters_in_memory(0)
    if smoke:
        for _, est in teachers:
            est.set_params(n_estimators=10)
    model = DistilledClassifier(teachers=teachers, random_state=0,
                                **(dict(max_epochs=3) if smoke else {}))
    start = time.perf_counter()
    model.fit(X, y)
    fit_seconds = time.perf_counter() - start
    local = {
        "phase": "parity_in_memory", "rows": n_rows, "fit_seconds": round(fit_seconds, 1),
        "teacher_seconds": round(model.fit_info_["teacher_fit_seconds"], 1),
        "student_seconds": round(model.fit_info_["student_fit_seconds"], 1),
        "epochs": model.n_iter_,
        "test_accuracy": round(float(model.score(X_test, y_test)), 4),
        "heldout_fidelity": round(_held_out_fidelity(model), 4),
    }
    return [record, local]


def run_memory(n_rows, seed, smoke=False):
    from benchmarks._common import benchmark_teachers
    from skdistill import DistilledClassifier

    X, y = local_table(n_rows, seed)
    X_test, y_test = local_table(20_000 if smoke else TEST_ROWS, seed, split=1)
    # The default ensemble with the boosters on one thread, as in every benchmark here
    # (benchmark_teachers explains why on a shared 2-core machine).
    model = DistilledClassifier(teachers=benchmark_teachers(0), random_state=0,
                                **(dict(max_epochs=3) if smoke else {}))
    if smoke:
        from sklearn.ensemble import RandomForestClassifier

        model.set_params(teachers=[("rf", RandomForestClassifier(10, random_state=0))])
    with PeakMemory() as memory:
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(X, y)
        fit_seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "phase": "memory", "rows": n_rows, "max_teacher_rows": model.max_teacher_rows,
        "teacher_folds": model.fit_info_["teacher_folds"],
        "fit_seconds": round(fit_seconds, 1), "fit_cpu_seconds": round(cpu, 1),
        "teacher_seconds": round(model.fit_info_["teacher_fit_seconds"], 1),
        "student_seconds": round(model.fit_info_["student_fit_seconds"], 1),
        "epochs": model.n_iter_, "data_mb": _mb(X.nbytes + y.nbytes),
        "baseline_mb": _mb(memory.baseline), "peak_mb": _mb(memory.peak),
        "peak_mb_getrusage": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
        "test_accuracy": round(float(model.score(X_test, y_test)), 4),
        "heldout_fidelity": round(_held_out_fidelity(model), 4),
    }


#: The soft-target strategies compared by the ``strategy`` phase: (label, cv, max_teacher_rows).
STRATEGIES = [
    ("5 folds (0.3.0 default)", 5, 200_000),
    ('cv="auto" (default)', "auto", 200_000),
    ('cv="auto", max_teacher_rows=100,000', "auto", 100_000),
]


def run_strategy(n_rows, seed, smoke=False):
    """The teacher phase alone, per soft-target strategy: its cost, and its targets' quality.

    Each strategy runs the default ensemble's teacher phase as ``DistilledClassifier.fit``
    does (out-of-fold targets, refit, one job at a time) on the same rows. The table's true
    P(y=1|x) is known, so the soft targets are scored against it as well as against the
    labels; the refit ensemble (the teachers that label synthetic rows) is scored on the
    test table.
    """
    from benchmarks._common import benchmark_teachers
    from skdistill._teachers import fit_teachers, predict_teachers, resolve_folds

    X, y = local_table(n_rows, seed, 5000 if smoke else PARTITION_ROWS)
    X_test, y_test = local_table(20_000 if smoke else TEST_ROWS, seed, split=1)
    p_true = true_probability(X, seed)
    records = []
    for label, cv, max_rows in STRATEGIES:
        teachers = benchmark_teachers(0)
        for _, est in teachers if smoke else []:
            if "n_estimators" in est.get_params():
                est.set_params(n_estimators=10)
        max_rows = max_rows // 50 if smoke else max_rows
        folds = resolve_folds(cv, n_rows, max_rows)
        with PeakMemory() as memory:
            wall, cpu = time.perf_counter(), time.process_time()
            fitted, soft = fit_teachers(
                teachers, X, y, None, n_outputs=2, task="classification", method="oof",
                cv=cv, refit=True, random_state=0, n_jobs=None, weights=None,
                classes=np.array([0, 1]), max_rows=max_rows)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        test_proba = predict_teachers(fitted, X_test, n_outputs=2, task="classification",
                                      weights=None)
        # The refit forests hold gigabytes: free them before the next strategy's peak.
        del fitted
        gc.collect()
        records.append({
            "phase": "strategy", "rows": n_rows, "strategy": label, "folds": folds,
            "max_teacher_rows": max_rows, "fits": len(teachers) * (folds + 1),
            "teacher_seconds": round(wall, 1), "teacher_cpu_seconds": round(cpu, 1),
            "baseline_mb": _mb(memory.baseline), "peak_mb": _mb(memory.peak),
            **_score_targets(soft, y, p_true),
            "refit_test_accuracy": round(float((test_proba.argmax(1) == y_test).mean()), 4),
        })
        print(records[-1], flush=True)
    return records


def _score_targets(soft, y, p_true):
    """Binary soft targets against the labels and against the true P(y=1|x)."""
    from sklearn.metrics import log_loss

    return {
        "target_accuracy": round(float((soft.argmax(1) == y).mean()), 4),
        "target_log_loss": round(float(log_loss(y, soft, labels=[0, 1])), 4),
        "target_mae_vs_true_p": round(float(np.abs(soft[:, 1] - p_true).mean()), 4),
        "target_bayes_agreement": round(float(((soft[:, 1] > 0.5) == (p_true > 0.5)).mean()),
                                        4),
    }


# -- the report -----------------------------------------------------------------------------
COLUMNS = {
    "cluster": ["rows", "partitions", "fit_seconds", "teacher_seconds", "student_seconds",
                "epochs", "client_baseline_mb", "client_peak_mb", "client_max_rows_held",
                "test_accuracy", "heldout_fidelity"],
    "parity": ["phase", "rows", "fit_seconds", "teacher_seconds", "student_seconds", "epochs",
               "test_accuracy", "heldout_fidelity"],
    "strategy": ["strategy", "rows", "folds", "max_teacher_rows", "fits", "teacher_seconds",
                 "teacher_cpu_seconds", "baseline_mb", "peak_mb", "target_accuracy",
                 "target_log_loss", "target_mae_vs_true_p", "target_bayes_agreement",
                 "refit_test_accuracy"],
    "memory": ["rows", "max_teacher_rows", "teacher_folds", "fit_seconds", "fit_cpu_seconds",
               "teacher_seconds", "student_seconds",
               "epochs", "data_mb", "baseline_mb", "peak_mb", "peak_mb_getrusage",
               "test_accuracy", "heldout_fidelity"],
}


def _settings_lines(records, settings):
    """What the run's settings apply to: the cluster and parity phases only; the memory and
    strategy phases fit the in-memory estimator with its own defaults."""
    phases = {r["phase"] for r in records}
    lines = []
    if any(p.startswith(("cluster", "parity")) for p in phases):
        lines.append(f"- settings of the cluster and parity phases: {settings}")
    if phases & {"memory", "strategy"}:
        lines.append("- the memory and strategy phases use the in-memory estimator's defaults "
                     "(teachers: the default ensemble, boosters on one thread)")
    return lines


def write_report(out_dir, runs):
    """``scale.md`` from every recorded run (each with its command and environment)."""
    lines = ["# Distilling at scale", "",
             "Written by `benchmarks/scale.py`; see its docstring for the protocol. Every "
             "run below lists its command, machine and versions.", ""]
    for run in runs:
        env = run["environment"]
        lines += [f"## `{env['command']}`", "",
                  f"- date: {env['date']}; machine: {env['machine']}; python {env['python']}",
                  "- versions: " + versions_text(env),
                  f"- load average at start: {env['load_average_at_start']}"]
        lines += _settings_lines(run["records"], run["settings"]) + [""]
        for phase, columns in COLUMNS.items():
            records = [r for r in run["records"] if r["phase"].startswith(phase)]
            if records:
                lines += [f"### {phase}", "", *markdown_table(records, columns), ""]
    text = "\n".join(lines)
    path = Path(out_dir) / "scale.md"
    old = path.read_text() if path.exists() else ""
    marker = "<!-- analysis -->"
    if marker in old:  # keep the hand-written analysis below the marker
        text += "\n" + old[old.index(marker):]
    path.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", nargs="+", default=["cluster", "parity", "memory"],
                        choices=["cluster", "parity", "memory", "strategy"])
    parser.add_argument("--rows", nargs="+", type=int,
                        default=[250_000, 500_000, 1_000_000, 2_000_000])
    parser.add_argument("--parity-rows", type=int, default=200_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--strategy-rows", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=str(Path(__file__).parent / "results"),
                        type=output_folder)
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="append the runs of these scale.json files (runs made with "
                             "another --out-dir) to --out-dir's, rewrite scale.md, and stop")
    parser.add_argument("--smoke", action="store_true",
                        help="20,000 rows, tiny teachers, 3 epochs: checks the harness only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.parity_rows, args.memory_rows = [20_000], 20_000, 20_000
        args.strategy_rows = 20_000

    os.makedirs(args.out_dir, exist_ok=True)
    json_path = Path(args.out_dir) / "scale.json"
    runs = json.loads(json_path.read_text()) if json_path.exists() else []
    if args.merge:
        for other in args.merge:
            runs += json.loads(Path(other).read_text())
        json_path.write_text(json.dumps(runs, indent=1))
        write_report(args.out_dir, runs)
        return runs
    command = "python -m benchmarks.scale " + " ".join(argv if argv is not None else sys.argv[1:])
    run = {"environment": environment(command), "records": [],
           "settings": {"workers": args.workers, "threads_per_worker": 1,
                        "partition_rows": PARTITION_ROWS, "test_rows": TEST_ROWS,
                        "n_features": N_FEATURES, "student": STUDENT}}
    runs.append(run)

    def save():
        json_path.write_text(json.dumps(runs, indent=1))
        write_report(args.out_dir, runs)

    needs_cluster = {"cluster", "parity"} & set(args.phases)
    cluster = client = None
    if needs_cluster:
        cluster, client = _start_cluster(args.workers)
    try:
        if "cluster" in args.phases:
            for n in args.rows:
                run["records"].append(run_cluster(n, args.seed, args.smoke))
                print(run["records"][-1], flush=True)
                save()
        if "parity" in args.phases:
            run["records"] += run_parity(args.parity_rows, args.seed, args.smoke)
            print(run["records"][-2:], flush=True)
            save()
    finally:
        if client is not None:
            client.close()
            cluster.close()
    if "strategy" in args.phases:
        run["records"] += run_strategy(args.strategy_rows, args.seed, args.smoke)
        save()
    if "memory" in args.phases:
        run["records"].append(run_memory(args.memory_rows, args.seed, args.smoke))
        print(run["records"][-1], flush=True)
        save()
    return runs


if __name__ == "__main__":
    main()

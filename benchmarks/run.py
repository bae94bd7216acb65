"""Benchmark harness: the default teacher ensemble vs its distilled student, on real data.

Every method on a dataset sees the same stratified 75/25 split per seed:

- ``teacher``      the default ensemble (``default_teachers``), averaged probabilities
- ``distilled``    ``DistilledClassifier()`` with its defaults (the student alone)
- ``distilled_v010`` the same teachers distilled with skdistill 0.1.0's student defaults
  (``v010_params``), so old and new defaults are measured side by side in one run
- ``distilled_v070`` the same with 0.7.0's defaults (``v070_params``: ReLU instead of
  SiLU), the ones 0.8 replaced. The columns of 0.5.0 and 0.6.0 (``v050_params``,
  ``v060_params``) are in earlier results (``full_3seeds.md`` before 0.8); add them to
  ``EARLIER_DEFAULTS`` to run them again
- ``hard_label``   the same student architecture on the labels only (``alpha=0``)
- ``sklearn_mlp``  scikit-learn's ``MLPClassifier`` with the student's hidden sizes
- ``logreg``       scikit-learn's ``LogisticRegression``: the latency yardstick for a
  single-row ``predict_proba``
- ``best_member``  the ensemble member with the best test accuracy (an optimistic pick)
- ``lgbm_member``  the ensemble's LightGBM member as it is, and ``lgbm_lleaves``, the same
  model compiled with lleaves: "compile instead of distill", for latency

The teachers (``default_teachers(seed)`` with the boosters on one thread, see
``benchmark_teachers``) are fitted once, by ``DistilledClassifier(keep_teachers=True)``: the teacher
side is ``teacher_predict_proba`` and ``teachers_``; the student is measured on a copy
without the teachers, as a user would ship it.

Usage (from the repository root)::

    python -m benchmarks.run --suite quick
    python -m benchmarks.run --suite full
    python -m benchmarks.run --suite smoke --out-dir /tmp/bench

See ``benchmarks/README.md``.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks._common import (  # noqa: E402
    EARLIER_DEFAULTS,
    SMALL_DATASET_ROWS,
    accuracy,
    benchmark_teachers,
    classification_datasets,
    environment,
    expected_calibration_error,
    fidelity,
    limit_threads,
    log_loss,
    make_split,
    output_folder,
    require_rows,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SUITES = {
    # One tiny dataset, tiny teachers, a few epochs: checks the harness, not the method.
    "smoke": dict(datasets=["diabetes"], n_seeds_small=1, n_seeds_large=1, tiny=True,
                  max_train=None, max_test=None, latency_calls=20, compile=False),
    # Five varied datasets: binary and multi-class, 5 to 36 features, 768 to 6,435 rows.
    # Training sets capped at 2,000 rows: on the shared 2-core machine (load average ~15
    # while these were run) the default ensemble's 5-fold cross-fitting costs about a
    # minute per 1,000 rows. On an idle machine raise it, e.g. --max-train-rows 15000.
    "quick": dict(datasets=["diabetes", "vehicle", "kr_vs_kp", "phoneme", "satimage"],
                  n_seeds_small=3, n_seeds_large=1, tiny=False, max_train=2_000,
                  max_test=2_000, latency_calls=200, compile=True),
    # Every classification dataset; training sets capped at 3,000 rows so that four
    # shards finish in under 50 minutes on the shared 2-core machine.
    "full": dict(datasets=None, n_seeds_small=3, n_seeds_large=1, tiny=False,
                 max_train=3_000, max_test=2_000, latency_calls=200, compile=True),
}


def tiny_teachers(seed):
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    return [("rf", RandomForestClassifier(n_estimators=10, max_depth=6, random_state=seed)),
            ("lgbm", LGBMClassifier(n_estimators=10, num_leaves=7, random_state=seed,
                                    n_jobs=1, verbose=-1))]


def _member_proba(est, columns, X, n_classes):
    out = np.zeros((X.shape[0], n_classes))
    out[:, columns] = est.predict_proba(X)
    return out


def _deployed(model):
    """A copy of the fitted model without its teachers: what a user ships."""
    from skdistill._base import without_teachers

    return without_teachers(model)


def _compile_lgbm(est, workdir):
    """lleaves-compile a fitted LGBMClassifier; returns (predict_fn, seconds, bytes) or a reason."""
    try:
        import lleaves
    except Exception as exc:  # noqa: BLE001
        return f"lleaves not importable ({type(exc).__name__}: {exc})"
    model_file = os.path.join(workdir, "lgbm.txt")
    cache_file = os.path.join(workdir, "lgbm.so")
    est.booster_.save_model(model_file)
    start = time.perf_counter()
    try:
        compiled = lleaves.Model(model_file=model_file)
        compiled.compile(cache=cache_file)
    except Exception as exc:  # noqa: BLE001
        return f"lleaves compile failed ({type(exc).__name__}: {exc})"
    seconds = time.perf_counter() - start
    size = os.path.getsize(cache_file) if os.path.exists(cache_file) else float("nan")
    return (lambda X: compiled.predict(X, n_jobs=1)), seconds, size


def run_split(name, X, y, seed, cfg, measure_speed, log=print):
    """Fit and score every method on one split; returns a list of result rows."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skdistill import DistilledClassifier
    from skdistill._measure import pickled_size, single_row_latency, throughput

    X_train, X_test, y_train, y_test, info = make_split(
        X, y, seed, max_train=cfg["max_train"], max_test=cfg["max_test"])
    n_classes_data = len(np.unique(y))
    base = {"dataset": name, "n_rows": len(y), "n_features": X.shape[1],
            "n_classes": n_classes_data, "seed": seed, **info}
    extra = {}
    if cfg["tiny"]:
        extra = dict(teachers=tiny_teachers(seed), max_epochs=5, cv=2)
    teachers = extra.pop("teachers", None) or benchmark_teachers(seed)

    # One teacher fit serves both the current and the 0.1.0 defaults: the second
    # distillation finds the fitted teachers and their soft targets in this cache.
    cache = tempfile.TemporaryDirectory(prefix="skdistill-run-")
    memory = joblib.Memory(cache.name, verbose=0)
    start = time.perf_counter()
    model = DistilledClassifier(teachers=teachers, keep_teachers=True, random_state=seed,
                                n_jobs=cfg["n_jobs"], memory=memory, **extra).fit(
        X_train, y_train)
    log(f"  [{name} seed {seed}] teachers {model.fit_info_['teacher_fit_seconds']:.1f} s, "
        f"student {model.fit_info_['student_fit_seconds']:.1f} s "
        f"({time.perf_counter() - start:.1f} s)")
    # Predict on one thread: for single rows, the forests' default n_jobs=-1 only adds a
    # thread-pool dispatch per call (0.3-0.6 s per call on the loaded machine), which
    # would inflate the teacher's latency; a service would run them on one thread.
    for est in model.teachers_:
        if "n_jobs" in est.get_params(deep=False):
            est.set_params(n_jobs=1)
    classes = model.classes_
    k = len(classes)
    teacher_proba = model.teacher_predict_proba(X_test)
    teacher_pred = classes[teacher_proba.argmax(axis=1)]
    deployed = _deployed(model)

    earlier = {
        method: DistilledClassifier(teachers=teachers, random_state=seed, n_jobs=cfg["n_jobs"],
                                    memory=memory, **{**params(len(y_train)), **extra}).fit(
            X_train, y_train)
        for method, _, _, params in EARLIER_DEFAULTS
    }
    cache.cleanup()
    log(f"  [{name} seed {seed}] earlier defaults, student: " + "; ".join(
        f"{method[-4:]} {m.fit_info_['student_fit_seconds']:.1f} s"
        for method, m in earlier.items()))

    start = time.perf_counter()
    hard = DistilledClassifier(alpha=0.0, random_state=seed, **extra).fit(X_train, y_train)
    hard_seconds = time.perf_counter() - start

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: only its latency matters
        logreg = LogisticRegression(max_iter=200).fit(X_train, y_train)
    logreg_seconds = time.perf_counter() - start

    # The fitted student's widths: "auto" is resolved per table.
    mlp_params = dict(hidden_layer_sizes=tuple(model.student_.layer_sizes[1:-1]),
                      early_stopping=True,
                      random_state=seed, max_iter=extra.get("max_epochs", 200))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning in the smoke run
        mlp = make_pipeline(StandardScaler(), MLPClassifier(**mlp_params)).fit(X_train, y_train)
    mlp_seconds = time.perf_counter() - start

    # Members were fitted on encoded labels 0..k-1: columns index into classes_.
    members = []
    for (mname, est), cols in zip(model.named_teachers_.items(), model._teacher_columns):
        proba = _member_proba(est, cols, X_test, k)
        members.append((accuracy(classes, proba, y_test), mname, est, cols, proba))
    best_acc, best_name, best_est, best_cols, best_proba = max(members, key=lambda m: m[0])
    lgbm = next((m for m in members if m[1] == "lgbm"), None)

    entries = {
        "teacher": dict(proba=teacher_proba, predict=model.teacher_predict_proba,
                        obj=model.teachers_, fit_seconds=model.fit_info_["teacher_fit_seconds"]),
        "distilled": dict(proba=deployed.predict_proba(X_test), predict=deployed.predict_proba,
                          obj=deployed, fit_seconds=model.fit_info_["student_fit_seconds"],
                          epochs=model.n_iter_),
        **{method: dict(proba=m.predict_proba(X_test), predict=m.predict_proba, obj=m,
                        fit_seconds=m.fit_info_["student_fit_seconds"], epochs=m.n_iter_)
           for method, m in earlier.items()},
        "hard_label": dict(proba=hard.predict_proba(X_test), predict=hard.predict_proba,
                           obj=hard, fit_seconds=hard_seconds, epochs=hard.n_iter_),
        "logreg": dict(proba=_align(logreg, X_test, classes), predict=logreg.predict_proba,
                       obj=logreg, fit_seconds=logreg_seconds),
        "sklearn_mlp": dict(proba=_align(mlp, X_test, classes), predict=mlp.predict_proba,
                            obj=mlp, fit_seconds=mlp_seconds),
        "best_member": dict(proba=best_proba, predict=best_est.predict_proba, obj=best_est,
                            fit_seconds=float("nan"), member=best_name),
    }
    if lgbm is not None:
        entries["lgbm_member"] = dict(proba=lgbm[4], predict=lgbm[2].predict_proba,
                                      obj=lgbm[2], fit_seconds=float("nan"), member="lgbm")

    rows = []
    for method, e in entries.items():
        pred = classes[e["proba"].argmax(axis=1)]
        row = dict(base, method=method, member=e.get("member", ""),
                   accuracy=accuracy(classes, e["proba"], y_test),
                   log_loss=log_loss(classes, e["proba"], y_test),
                   ece=expected_calibration_error(classes, e["proba"], y_test),
                   fidelity=fidelity(pred, teacher_pred),
                   fit_seconds=e["fit_seconds"], epochs=e.get("epochs", float("nan")),
                   teacher_fit_seconds=model.fit_info_["teacher_fit_seconds"],
                   student_fit_seconds=model.fit_info_["student_fit_seconds"],
                   latency_s=float("nan"), throughput_rows_s=float("nan"),
                   pickle_bytes=float("nan"), compile_seconds=float("nan"), note="")
        if measure_speed:
            row["latency_s"] = single_row_latency(e["predict"], X_test,
                                                  n_calls=cfg["latency_calls"])
            row["throughput_rows_s"] = throughput(
                e["predict"], X_test, min_seconds=0.2 if not cfg["tiny"] else 0.02,
                repeats=3 if not cfg["tiny"] else 1)
            row["pickle_bytes"] = pickled_size(e["obj"])
        rows.append(row)

    if measure_speed and lgbm is not None and cfg["compile"]:
        n_trees = lgbm[2].booster_.num_trees()
        lrow = dict(rows[-1], method="lgbm_lleaves", member="lgbm")
        if n_trees > cfg.get("compile_max_trees", 600):
            lrow.update(latency_s=float("nan"), throughput_rows_s=float("nan"),
                        pickle_bytes=float("nan"),
                        note=f"not compiled: {n_trees} trees > compile_max_trees "
                             f"(LLVM compile time grows with trees)")
        else:
            with tempfile.TemporaryDirectory() as workdir:
                compiled = _compile_lgbm(lgbm[2], workdir)
                if isinstance(compiled, str):
                    lrow.update(latency_s=float("nan"), throughput_rows_s=float("nan"),
                                pickle_bytes=float("nan"), note=compiled)
                else:
                    predict, seconds, size = compiled
                    lrow.update(latency_s=single_row_latency(predict, X_test,
                                                             n_calls=cfg["latency_calls"]),
                                throughput_rows_s=throughput(predict, X_test),
                                pickle_bytes=size, compile_seconds=seconds,
                                note="size: compiled .so")
        rows.append(lrow)
    return rows


def _align(est, X, classes):
    """predict_proba of an estimator fitted on original labels, columns as ``classes``."""
    proba = est.predict_proba(X)
    out = np.zeros((X.shape[0], len(classes)))
    pos = np.searchsorted(classes, est.classes_)
    out[:, pos] = proba
    return out


def seeds_for(n_rows, cfg, n_seeds=None):
    if n_seeds is not None:
        return list(range(n_seeds))
    small = cfg.get("small_below", SMALL_DATASET_ROWS)
    n = cfg["n_seeds_small"] if n_rows < small else cfg["n_seeds_large"]
    return list(range(n))


def main(argv=None):
    from skdistill._datasets import default_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="quick")
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="override the suite's dataset list")
    parser.add_argument("--data-dir", default=None,
                        help="folder with NAME.tsv.gz files (default: "
                             "skdistill._datasets.default_data_dir())")
    parser.add_argument("--no-download", action="store_true",
                        help="skip missing datasets instead of fetching them from OpenML")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per dataset (default: 3 below 5,000 rows, else 1)")
    parser.add_argument("--max-train-rows", type=int, default=None,
                        help="subsample larger training sets to this many rows")
    parser.add_argument("--max-test-rows", type=int, default=None,
                        help="subsample larger test sets to this many rows")
    parser.add_argument("--small-below", type=int, default=SMALL_DATASET_ROWS,
                        help="datasets with fewer rows get the suite's several seeds "
                             f"(default {SMALL_DATASET_ROWS})")
    parser.add_argument("--no-compile", action="store_true", help="skip the lleaves compile")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="DistilledClassifier(n_jobs=...): teacher and fold fits in "
                             "parallel processes (default 2; 1 for the smoke suite)")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    parser.add_argument("--tag", default=None, help="file name stem (default: the suite name)")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="run only datasets I, I+N, I+2N, ... of the list (0-based), "
                             "writing <tag>_shard<I>.*; run N shards in parallel, then --merge")
    parser.add_argument("--merge", action="store_true",
                        help="combine the <tag>_shard*.csv files of earlier --shard runs into "
                             "<tag>.csv, .md, summary and plots, without fitting anything")
    parser.add_argument("--from-tag", default=None,
                        help="with --merge: read the shards of another run (e.g. full) and "
                             "keep only this suite's datasets")
    args = parser.parse_args(argv)

    cfg = dict(SUITES[args.suite])
    if args.max_train_rows is not None:
        cfg["max_train"] = args.max_train_rows
    if args.max_test_rows is not None:
        cfg["max_test"] = args.max_test_rows
    cfg["small_below"] = args.small_below
    if args.no_compile:
        cfg["compile"] = False
    cfg["n_jobs"] = args.n_jobs or (1 if args.suite == "smoke" else 2)
    datasets = args.datasets or cfg["datasets"] or classification_datasets()
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = args.tag or args.suite
    command = "python -m benchmarks.run " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.merge:
        return merge_shards(out_dir, tag, datasets, command, plots=not args.no_plots,
                            source=args.from_tag)
    if args.shard:
        index, count = (int(x) for x in args.shard.split("/"))
        datasets = datasets[index::count]
        tag = f"{tag}_shard{index}"
    env = environment(command)
    env.update(suite=args.suite, small_below=cfg["small_below"], data_dir=str(data_dir),
               max_train_rows=cfg["max_train"],
               max_test_rows=cfg["max_test"], latency_calls=cfg["latency_calls"],
               threads=f"torch 1 thread, OpenMP/BLAS limited to 1 (threadpoolctl); "
                       f"forests n_jobs=-1, LightGBM and XGBoost n_jobs=1; "
                       f"teacher/fold fits DistilledClassifier("
                       f"n_jobs={cfg['n_jobs']})")

    restore_threads = limit_threads()
    try:
        return _run(args, cfg, datasets, data_dir, out_dir, tag, env)
    finally:
        restore_threads()


def merge_shards(out_dir, tag, datasets, command, plots=True, source=None):
    """Combine the CSVs and environments of parallel ``--shard`` runs into one report.

    With ``source``, read that run's shards and keep only ``datasets``: a suite's report
    taken from a larger run's measurements, fitting nothing again.
    """
    import pandas as pd

    from benchmarks._report import write_outputs

    source = source or tag
    parts = sorted(Path(out_dir).glob(f"{source}_shard*.csv"))
    if not parts:
        raise SystemExit(f"no {source}_shard*.csv files in {out_dir}; run the shards first")
    df = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in parts])
    df = df[df.dataset.isin(datasets)]
    # A dataset rerun in another shard (e.g. to rebalance a slow run) counts once.
    df = df.drop_duplicates(subset=["dataset", "seed", "method"], keep="first")
    order = {name: i for i, name in enumerate(datasets)}
    df = df.sort_values("dataset", key=lambda s: s.map(order), kind="stable")
    envs = [json.loads(p.with_name(p.stem + "_summary.json").read_text())["environment"]
            for p in parts]
    env = dict(envs[0])
    env["command"] = " ; ".join(e["command"] for e in envs) + f" ; then {command}"
    env["wall_seconds"] = max(e.get("wall_seconds", float("nan")) for e in envs)
    env["shards"] = len(parts)
    if source != tag:
        env["command"] += f" (the {source} run's measurements on this suite's datasets)"
    present = set(df.dataset)
    skipped = [f"{d}: not run (no shard produced it)" for d in datasets if d not in present]
    # Complete when every dataset of the list is there, whichever shard ran it.
    env["complete"] = not skipped
    env["progress"] = f"{len(present)} of {len(datasets)} datasets"
    for e in envs:
        skipped.extend(e.get("skipped", []))
    summary = write_outputs(df.to_dict("records"), env, skipped, out_dir, tag, plots=plots)
    print(summary["text"], flush=True)
    return summary


def _run(args, cfg, datasets, data_dir, out_dir, tag, env):
    from benchmarks._report import write_outputs
    from skdistill._datasets import load_dataset

    rows, skipped = [], []
    start = time.perf_counter()
    for i, name in enumerate(datasets):
        data = load_dataset(name, data_dir, allow_download=not args.no_download)
        if data is None:
            msg = f"{name}: not in {data_dir} and not fetchable from OpenML; skipped"
            print(msg, flush=True)
            skipped.append(msg)
            continue
        X, y = data
        seeds = seeds_for(len(y), cfg, args.seeds)
        print(f"[{i + 1}/{len(datasets)}] {name}: {X.shape[0]} rows, {X.shape[1]} features, "
              f"{len(np.unique(y))} classes, seeds {seeds}", flush=True)
        for seed in seeds:
            rows.extend(run_split(name, X, y, seed, cfg, measure_speed=(seed == seeds[0]),
                                  log=lambda m: print(m, flush=True)))
        env["wall_seconds"] = time.perf_counter() - start
        done = len({r["dataset"] for r in rows})
        env["complete"] = i == len(datasets) - 1
        env["progress"] = f"{done} of {len(datasets) - len(skipped)} datasets"
        env["skipped"] = skipped
        summary = write_outputs(rows, env, skipped, out_dir, tag, plots=False)
    require_rows(rows, data_dir)
    env["complete"] = True
    env["wall_seconds"] = time.perf_counter() - start
    summary = write_outputs(rows, env, skipped, out_dir, tag, plots=not args.no_plots)
    print(summary["text"], flush=True)
    return summary


if __name__ == "__main__":
    main()

"""Ablations behind DistilledClassifier's defaults.

One parameter changes at a time, everything else at the defaults, on the quick suite's
five datasets. The teachers are fitted once per split and soft-target method: every
variant passes the same ``memory=joblib.Memory(...)`` and ``random_state``, so the
cached teacher fit is reused and only the student is retrained.

Groups: ``soft_targets`` (oof, in_sample, oob), ``temperature`` (1, 2, 4, 8), ``alpha``
(0 = hard labels, 0.5, 0.8, 0.9, 1.0), student width and depth, ``learning_rate``; and the
student grid (``student``: input encoding x transfer set x stopping criterion),
``lr_schedule``, ``n_bins`` and ``weight_averaging``, which change several parameters
at once. The later groups start from one release's student (``_STUDENT_0_3`` ..
``_STUDENT_0_7``); a few variants set a module constant of the library instead of a
parameter (``MODULE_CONSTANTS``).

Usage (from the repository root)::

    python -m benchmarks.ablate
    python -m benchmarks.ablate --datasets diabetes vehicle --groups temperature alpha
    # only the second variant of a group: the fits are deterministic, so its first
    # variant's rows from an earlier run on the same seeds stand beside it
    python -m benchmarks.ablate --groups real_rows_0_7 --variants 1

Writes ``benchmarks/results/ablation.csv`` and ``ablation.md``.
"""

import argparse
import contextlib
import shlex
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from sklearn.model_selection import RepeatedStratifiedKFold  # noqa: E402

from benchmarks._common import (  # noqa: E402
    accuracy,
    benchmark_teachers,
    command_line,
    environment,
    expected_calibration_error,
    fidelity,
    limit_threads,
    log_loss,
    make_split,
    output_folder,
    require_rows,
    v010_params,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TAG = "ablation"  # --tag
DATASETS = ["diabetes", "vehicle", "kr_vs_kp", "phoneme", "satimage"]
#: Below this many rows a dataset gets more seeds (its test set is small and noisy).
MANY_SEEDS_BELOW = 1500
SEEDS_SMALL = 2

#: The defaults of each release's student, as the later groups start from them (key order
#: kept: it is the order of the variant labels in the committed CSVs).
_STUDENT_0_3 = {"input_encoding": "piecewise_linear", "munge_p": 0.5, "munge_s": 1.0,
                "augment_factor": 20.0}
_STUDENT_0_4 = {**_STUDENT_0_3, "temperature": 1.0, "alpha": 0.8, "n_iter_no_change": 30}
_STUDENT_0_5 = {**_STUDENT_0_4, "n_bins": 64}
_STUDENT_0_6 = {**_STUDENT_0_5, "hidden_layer_sizes": "auto", "weight_averaging": "ema"}
_STUDENT_0_7 = {**_STUDENT_0_6, "augment_factor": 40.0}
_STUDENT_0_8 = {**_STUDENT_0_7, "activation": "silu"}

#: Variant keys that are module constants of the library, not estimator parameters: the
#: variant sets the constant for its own fit only (the ablation fits in this process).
MODULE_CONSTANTS = {"ema_warmup": ("skdistill._training", "EMA_WARMUP"),
                    "real_rows_every_epoch": ("skdistill._base", "REAL_ROWS_EVERY_EPOCH"),
                    "feature_embedding": ("skdistill._student", "FEATURE_EMBEDDING"),
                    "boundary_emphasis": ("skdistill._base", "BOUNDARY_EMPHASIS")}

GROUPS = {
    "soft_targets": [{"soft_targets": v} for v in ("oof", "in_sample", "oob")],
    "temperature": [{"temperature": v} for v in (1.0, 2.0, 4.0, 8.0)],
    "alpha": [{"alpha": v} for v in (0.0, 0.5, 0.8, 0.9, 1.0)],
    "architecture": [{"hidden_layer_sizes": v}
                     for v in ((64,), (128, 64), (256, 128), (256, 256, 128))],
    "learning_rate": [{"learning_rate": v} for v in (1e-3, 3e-3, 1e-2)],
    # The student issue's grid: input encoding x transfer set x stopping criterion. The
    # transfer sets: none, MUNGE as 0.1.0 made it (p=0.2, s=10, 5 rows per real row),
    # and the wider, larger budget of 0.2.0 (p=0.5, s=1, 20 rows per real row).
    "student": [{"input_encoding": e, **t, "validation_target": v}
                for e in ("standard", "piecewise_linear", "periodic")
                for t in ({"augmentation": None},
                          {"augmentation": "munge", "munge_p": 0.2, "munge_s": 10.0,
                           "augment_factor": 5.0},
                          {"augmentation": "munge", "munge_p": 0.5, "munge_s": 1.0,
                           "augment_factor": 20.0})
                for v in ("labels", "teachers")],
    # On the current student (encoding and transfer budget), the schedule alone.
    "lr_schedule": [{"lr_schedule": v, "input_encoding": "piecewise_linear",
                     "munge_p": 0.5, "munge_s": 1.0, "augment_factor": 20.0}
                    for v in ("plateau", "cosine")],
    "n_bins": [{"n_bins": v, "input_encoding": "piecewise_linear"} for v in (8, 16, 32)],
    # Steps per epoch on the current student: the batch size, with the step size scaled.
    "batch": [{"batch_size": b, "learning_rate": lr, "input_encoding": "piecewise_linear",
               "munge_p": 0.5, "munge_s": 1.0, "augment_factor": 20.0}
              for b, lr in ((256, 3e-3), (512, 6e-3), (1024, 6e-3))],
    # Transfer-set budget: how many synthetic rows, and how far MUNGE moves them.
    "transfer": [{"input_encoding": e, "munge_p": p, "munge_s": s, "augment_factor": f}
                 for e in ("standard", "piecewise_linear")
                 for p, s in ((0.2, 10.0), (0.5, 1.0))
                 for f in (5.0, 10.0, 20.0)],
    # Levers on the fidelity of the current student (0.3 defaults: piecewise-linear
    # encoding, MUNGE p=0.5, s=1, 20 rows per real row), one at a time: the weight of the
    # distillation term, the temperature, the width, longer training, and stopping on
    # agreement with the teachers.
    "fidelity": [{**_STUDENT_0_3, **change}
                 for change in ({}, {"alpha": 0.8}, {"alpha": 1.0}, {"temperature": 1.0},
                                {"hidden_layer_sizes": (256, 128)}, {"n_iter_no_change": 30},
                                {"validation_target": "teachers"})],
    # How long the 0.3 student trains, and toward what: the levers of "fidelity" that
    # raised it, alone and together (0.4's defaults: temperature 1, alpha 0.8, patience
    # 30), against pure distillation stopped on the teachers. Run on all 15 tables.
    "stopping": [{**_STUDENT_0_3, **change}
                 for change in ({}, {"temperature": 1.0, "alpha": 0.8},
                                {"n_iter_no_change": 20}, {"n_iter_no_change": 30},
                                {"temperature": 1.0, "alpha": 0.8, "n_iter_no_change": 30},
                                {"temperature": 1.0, "alpha": 1.0, "n_iter_no_change": 30,
                                 "validation_target": "teachers"})],
    # Levers on the 0.4 student's fidelity that cost no accuracy by design: more width,
    # a larger step size, and annealing the step size to zero. Run on all 15 tables.
    "levers_0_4": [{**_STUDENT_0_4, **change}
                   for change in ({}, {"hidden_layer_sizes": (256, 128)},
                                  {"hidden_layer_sizes": (256, 256)}, {"learning_rate": 1e-2},
                                  {"lr_schedule": "cosine"})],
    # How finely the 0.4 student's piecewise-linear encoding cuts each column: more bins
    # place the teachers' steps more exactly, for a wider first layer (the encoded width
    # stays capped at 1,024 columns). Run on all 15 tables.
    "bins_0_4": [{**_STUDENT_0_4, "n_bins": b} for b in (16, 32, 64)],
    # The 0.5 student's weights averaged along the run, and sized by its encoded input.
    "averaging_0_5": [{**_STUDENT_0_5, "weight_averaging": w} for w in ("none", "ema")],
    "width_0_5": [{**_STUDENT_0_5, "hidden_layer_sizes": "auto", "weight_averaging": w}
                  for w in ("none", "ema")],
    # The 0.6 student's cost: its averaged weights keep improving slowly, so most fits
    # run to max_epochs. A cosine schedule over a fixed, shorter budget, or a coarser
    # tol, against 0.6.0's defaults (the first variant). Run on all 15 tables.
    "budget_0_6": [{**_STUDENT_0_6, **change}
                   for change in ({}, {"lr_schedule": "cosine", "max_epochs": 60},
                                  {"lr_schedule": "cosine", "max_epochs": 120},
                                  {"tol": 1e-3})],
    # A packed ensemble in the 0.6 student (TabM-mini): 2 or 4 members after the first
    # hidden layer, each trained on the teachers' targets, their probabilities averaged.
    "members_0_6": [{**_STUDENT_0_6, **change}
                    for change in ({}, {"n_members": 2}, {"n_members": 4})],
    # The 0.6 student against the same network on the labels alone (alpha=0: no teachers,
    # no synthetic rows), for runs at other training-set sizes than the full suite's.
    "hard_0_6": [{**_STUDENT_0_6, **change} for change in ({}, {"alpha": 0.0})],
    # The 0.6 student on in-sample soft targets: the real rows then carry the outputs of
    # the same refitted teachers that label the synthetic rows (and that fidelity is
    # measured against), instead of out-of-fold ones; the labels-only network beside it.
    "soft_targets_0_6": [{**_STUDENT_0_6, **change}
                         for change in ({}, {"soft_targets": "in_sample"}, {"alpha": 0.0})],
    # Twice the synthetic rows per real row (up to max_augment_rows) at the same cost per
    # epoch (SYNTHETIC_ROWS_PER_EPOCH): each synthetic row is then seen half as often.
    "synthetic_0_6": [{**_STUDENT_0_6, **change} for change in ({}, {"augment_factor": 40.0})],
    # The 0.7 student's weight average over a longer horizon (about the last third of the
    # steps so far instead of the last ninth: EMA_WARMUP 4 instead of 10), and a cosine
    # schedule over the same 200 epochs; both cost nothing in fit time. Aimed at the
    # student's own seed-to-seed variance, most of what separates it from the teachers
    # (teacher_agreement.md).
    "averaging_0_7": [{**_STUDENT_0_7, **change}
                      for change in ({}, {"ema_warmup": 4}, {"lr_schedule": "cosine"})],
    # Every real row in every epoch, the synthetic rows filling the rest (the same epoch
    # size and cost): with 40 synthetic rows per real row a uniform draw makes the real
    # rows, the only ones from the table's own distribution, about 1 in 40 of an epoch's.
    "real_rows_0_7": [{**_STUDENT_0_7, **change}
                      for change in ({}, {"real_rows_every_epoch": True})],
    # Twice the synthetic rows again (80 per real row; max_augment_rows raised so that it
    # does not bind on the suite's 3,000-row tables), each epoch the same size as before.
    "synthetic_0_7": [{**_STUDENT_0_7, **change}
                      for change in ({}, {"augment_factor": 80.0, "max_augment_rows": 250_000})],
    # A third of the step size: less noise in each student's path, for slower progress
    # within the same 200 epochs.
    "learning_rate_0_7": [{**_STUDENT_0_7, **change}
                          for change in ({}, {"learning_rate": 1e-3})],
    # Repeated cross-fitting: each real row's soft target the mean of two out-of-fold
    # predictions (5 folds, 2 repeats) instead of one, at twice the teacher fits. The
    # targets of the real rows carry the fold-to-fold noise of five fits on 80% of them.
    "folds_0_7": [{**_STUDENT_0_7, **change}
                  for change in ({}, {"cv": RepeatedStratifiedKFold(n_splits=5, n_repeats=2,
                                                                   random_state=0)})],
    # A linear map per feature (16 outputs), then ReLU, between the piecewise-linear
    # encoding and the first dense layer (Gorishniy et al. 2022's "QLR" embedding): each
    # feature gets nonlinear functions of its own before the features are mixed.
    "embedding_0_7": [{**_STUDENT_0_7, **change}
                      for change in ({}, {"feature_embedding": 16})],
    # A smooth activation in place of ReLU: the student's function no longer bends only
    # where a unit's input crosses zero.
    "activation_0_7": [{**_STUDENT_0_7, **change} for change in ({}, {"activation": "silu"})],
    # Fidelity is decided where the teachers hesitate: transfer rows weigh up to four
    # times more there (1 + 3 * (1 - the gap between the two most probable classes)).
    "boundary_0_7": [{**_STUDENT_0_7, **change}
                     for change in ({}, {"boundary_emphasis": 3.0})],
    # What the fit-time limit of the student issue (2x 0.1.0's student) would buy: the 0.8
    # student on a cosine schedule over 25 epochs (chosen by the full suite's time per
    # epoch to come near 2x 0.1.0's fit) and 50, a (128, 64) student over 40, and 0.1.0's
    # student itself (v010_params at the 3,000 rows of the suite's runs) to time them
    # against. The measured ratios: benchmarks/results/ablation_budget_0_8.md.
    "budget_0_8": [{**_STUDENT_0_8, **change}
                   for change in ({}, {"lr_schedule": "cosine", "max_epochs": 25},
                                  {"lr_schedule": "cosine", "max_epochs": 50},
                                  {"lr_schedule": "cosine", "max_epochs": 40,
                                   "hidden_layer_sizes": (128, 64)})]
                  + [v010_params(3_000)],
}

# The reference every variant differs from in one parameter only. Written out, not read
# from DistilledClassifier, so the ablation stays the same after the defaults change.
REFERENCE = dict(soft_targets="oof", cv=5, temperature=2.0, alpha=0.5,
                 hidden_layer_sizes=(128, 64), learning_rate=3e-3, augmentation="munge",
                 input_encoding="standard", validation_target="labels", lr_schedule="plateau",
                 n_bins=16, munge_p=0.2, munge_s=10.0, augment_factor=5.0, batch_size=256,
                 n_iter_no_change=10, weight_averaging="none", activation="relu",
                 max_epochs=200)


@contextlib.contextmanager
def _module_constants(values):
    """Set the library's module constants named in ``values`` (``MODULE_CONSTANTS``) for
    the duration of one fit, and restore them after."""
    import importlib

    saved = []
    try:
        for key, value in values.items():
            module, name = MODULE_CONSTANTS[key]
            module = importlib.import_module(module)
            saved.append((module, name, getattr(module, name)))
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


def _label(params):
    return ", ".join(f"{k}={v}" for k, v in params.items())


def run_dataset(name, X, y, seed, groups, memory, latency_calls, max_train, n_jobs, log=print,
                variants=None):
    from skdistill import DistilledClassifier
    from skdistill._measure import pickled_size, single_row_latency

    X_train, X_test, y_train, y_test, info = make_split(X, y, seed, max_train=max_train,
                                                        max_test=5_000)
    # The teachers' own test predictions, for fidelity: in-sample teachers are the ones
    # fitted on all training rows, the same models every method's refit would give.
    teachers = benchmark_teachers(seed)
    ref = DistilledClassifier(**dict(REFERENCE, soft_targets="in_sample"), keep_teachers=True,
                              teachers=teachers,
                              memory=memory, random_state=seed, n_jobs=n_jobs).fit(X_train, y_train)
    teacher_proba = ref.teacher_predict_proba(X_test)
    teacher_pred = ref.classes_[teacher_proba.argmax(axis=1)]
    teacher_acc = accuracy(ref.classes_, teacher_proba, y_test)

    seen = {}
    rows = []
    for group in groups:
        for index, change in enumerate(GROUPS[group]):
            if variants is not None and index not in variants:
                continue
            params = dict(REFERENCE, **change)
            key = tuple(sorted((k, str(v)) for k, v in params.items()))
            if key not in seen:
                start = time.perf_counter()
                constants = {k: params.pop(k) for k in list(params) if k in MODULE_CONSTANTS}
                model = DistilledClassifier(**params, teachers=teachers, memory=memory,
                                            random_state=seed,
                                            n_jobs=n_jobs)
                with _module_constants(constants):
                    model.fit(X_train, y_train)
                wall = time.perf_counter() - start
                proba = model.predict_proba(X_test)
                pred = model.classes_[proba.argmax(axis=1)]
                seen[key] = dict(
                    accuracy=accuracy(model.classes_, proba, y_test),
                    log_loss=log_loss(model.classes_, proba, y_test),
                    ece=expected_calibration_error(model.classes_, proba, y_test),
                    fidelity=fidelity(pred, teacher_pred),
                    student_fit_seconds=model.fit_info_["student_fit_seconds"],
                    teacher_fit_seconds=model.fit_info_["teacher_fit_seconds"],
                    wall_seconds=wall, n_iter=model.n_iter_,
                    latency_s=single_row_latency(model.predict_proba, X_test,
                                                 n_calls=latency_calls),
                    pickle_bytes=pickled_size(model),
                )
                log(f"    {name} seed {seed} {_label(change):<38} acc "
                    f"{seen[key]['accuracy']:.4f} logloss {seen[key]['log_loss']:.4f} "
                    f"({wall:.1f} s)")
            rows.append(dict(dataset=name, seed=seed, group=group, variant=_label(change),
                             is_reference=all(v == REFERENCE.get(k) for k, v in change.items()),
                             teacher_accuracy=teacher_acc, n_train=info["n_train"],
                             n_test=info["n_test"], **seen[key]))
    return rows


def teacher_fit(v):
    # Only the first variant per soft-target method fits the teachers; later ones hit
    # the cache, so their teacher time is the cache lookup.
    return f"{v.teacher_fit_seconds.mean():.1f} s" if v.teacher_fit_seconds.mean() > 1 else "cached"


def write_outputs(rows, env, out_dir, complete, header=None):
    import pandas as pd

    df = pd.DataFrame(rows)
    df.to_csv(out_dir / f"{TAG}.csv", index=False, float_format="%.6g")
    if header is not None:  # --render: keep the run's own header, redo the tables
        return _write_md(df, header, out_dir)
    lines = ["# Ablations of DistilledClassifier's defaults", ""]
    if not complete:
        lines += [f"**PARTIAL RESULTS: {env.get('progress', '')}.**", ""]
    lines += [
        command_line(env),
        f"- Date: {env['date']}; wall time {env.get('wall_seconds', float('nan')) / 60:.1f} min",
        f"- Machine: {env['machine']} (shared; timings are noisy)",
        "- Versions: " + versions_text(env),
        "- Reference: " + ", ".join(f"{k}={v}" for k, v in REFERENCE.items())
        + "; each variant changes one of these. Seeds: "
        + (f"{env['seeds']} on every dataset" if env.get("seeds") else
           f"{SEEDS_SMALL} below {MANY_SEEDS_BELOW} rows, else 1")
        + "; stratified 75/25 split per seed; training "
          f"sets subsampled to {env.get('max_train_rows')} rows.",
        "- Columns: means over datasets of the per-dataset mean over seeds. "
        "'Δ acc' and 'Δ log-loss' are against the reference on the same split; "
        "'wins' counts datasets where the variant's accuracy beats the reference's "
        "(ties not counted). Fidelity: agreement with the teachers fitted on all "
        "training rows; 'median table': the median over datasets of that mean. "
        "'epochs': the student's, mean over datasets.", "",
    ]
    return _write_md(df, lines, out_dir)


def _write_md(df, lines, out_dir):
    per = df.groupby(["group", "variant", "dataset"], sort=False).mean(numeric_only=True)
    lines = list(lines)
    for group in df.group.unique():
        g = per.loc[group]
        # A group that changes several parameters may not contain the reference itself:
        # then its first variant is the baseline its deltas are measured against.
        refs = df[(df.group == group) & df.is_reference].variant
        ref_variant = refs.iloc[0] if len(refs) else df[df.group == group].variant.iloc[0]
        ref = g.loc[ref_variant]
        lines += [f"## {group}", "",
                  "| variant | accuracy | Δ acc (pp) | wins | log-loss | Δ log-loss | ECE | "
                  "fidelity | median table | teacher fit | student fit | epochs | "
                  "1-row latency | pickle |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for variant in df[df.group == group].variant.unique():
            v = g.loc[variant]
            d_acc = (v.accuracy - ref.accuracy.reindex(v.index)) * 100
            d_ll = v.log_loss - ref.log_loss.reindex(v.index)
            wins = int((d_acc > 1e-9).sum())
            mark = " (reference)" if variant == ref_variant else ""
            lines.append(
                f"| {variant}{mark} | {v.accuracy.mean():.4f} | {d_acc.mean():+.2f} | "
                f"{wins}/{len(v)} | {v.log_loss.mean():.4f} | {d_ll.mean():+.4f} | "
                f"{v.ece.mean():.4f} | {v.fidelity.mean():.4f} | {v.fidelity.median():.4f} | "
                f"{teacher_fit(v)} | {v.student_fit_seconds.mean():.1f} s | "
                f"{v.n_iter.mean():.0f} | "
                f"{v.latency_s.median() * 1e6:.0f} us | "
                f"{v.pickle_bytes.max() / 1024:.0f} KB |")
        for metric in ("accuracy", "fidelity"):
            table = g[metric].unstack()
            lines += ["", f"{metric.capitalize()} per dataset:", "",
                      "| variant | " + " | ".join(table.columns) + " |",
                      "|---|" + "---|" * len(table.columns)]
            for variant in df[df.group == group].variant.unique():
                lines.append(f"| {variant} | " + " | ".join(
                    f"{x:.4f}" for x in table.loc[variant]) + " |")
        lines.append("")
    teach = df.groupby("dataset", sort=False).teacher_accuracy.mean()
    lines += ["Teacher accuracy (ensemble fitted on all training rows): "
              + ", ".join(f"{d} {a:.4f}" for d, a in teach.items()), ""]
    md_path = out_dir / f"{TAG}.md"
    md_path.write_text("\n".join(lines))
    return md_path


def main(argv=None):
    import joblib

    from skdistill._datasets import default_data_dir, load_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds per dataset (default: {SEEDS_SMALL} below "
                             f"{MANY_SEEDS_BELOW} rows, else 1)")
    parser.add_argument("--variants", type=int, nargs="+", default=None,
                        help="run only these variants (0-based positions in each group), "
                             "e.g. to add a variant beside a run whose rows are kept; the "
                             "fits are deterministic, so the other rows would repeat")
    parser.add_argument("--latency-calls", type=int, default=200)
    parser.add_argument("--max-train-rows", type=int, default=1500,
                        help="subsample larger training sets (stratified) to this many rows")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    parser.add_argument("--render", action="store_true",
                        help="rewrite ablation.md's tables from ablation.csv, keeping its "
                             "header (the command, machine and versions of the run)")
    parser.add_argument("--tag", default="ablation",
                        help="name of the written files: <tag>.md and <tag>.csv")
    args = parser.parse_args(argv)
    global TAG
    TAG = args.tag
    if args.render:
        import pandas as pd

        out_dir = Path(args.out_dir)
        old = (out_dir / f"{TAG}.md").read_text().split("\n")
        header = old[:next(i for i, line in enumerate(old) if line.startswith("## "))]
        df = pd.read_csv(out_dir / f"{TAG}.csv")
        write_outputs(df.to_dict("records"), None, out_dir, True, header=header)
        return

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.ablate " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    env = environment(command)
    env["max_train_rows"] = args.max_train_rows
    env["seeds"] = args.seeds
    limit_threads()
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skdistill-ablate-") as cache_dir:
        memory = joblib.Memory(cache_dir, verbose=0)
        for i, name in enumerate(args.datasets):
            data = load_dataset(name, data_dir, allow_download=False)
            if data is None:
                print(f"{name}: not in {data_dir}; skipped", flush=True)
                continue
            X, y = data
            n_seeds = args.seeds or (SEEDS_SMALL if len(y) < MANY_SEEDS_BELOW else 1)
            print(f"[{i + 1}/{len(args.datasets)}] {name}: {len(y)} rows, seeds {n_seeds}",
                  flush=True)
            for seed in range(n_seeds):
                rows.extend(run_dataset(name, X, y, seed, args.groups, memory,
                                        args.latency_calls, args.max_train_rows, args.n_jobs,
                                        log=lambda m: print(m, flush=True),
                                        variants=args.variants))
            env["wall_seconds"] = time.perf_counter() - start
            env["progress"] = f"{i + 1} of {len(args.datasets)} datasets"
            write_outputs(rows, env, out_dir, complete=i == len(args.datasets) - 1)
    require_rows(rows, data_dir)
    print((out_dir / f"{TAG}.md").read_text(), flush=True)


if __name__ == "__main__":
    main()

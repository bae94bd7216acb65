"""What a time limit on the student's training buys: fidelity at a fixed budget.

``student_time_limit`` (with ``lr_schedule="cosine"``) ends the student's training
within a number of seconds. On each table (one split, 3,000 training rows, the default
teachers fitted once and cached) this script fits the default student with no limit,
the same student limited to each of ``--limits`` seconds on the cosine schedule, and
0.1.0's student, whose fit time is the student issue's yardstick. It reports each
student's fidelity to the teachers on the test rows, its accuracy, its fit time and
epochs, and what ended its training. ``--levers [GROUP]`` instead fits the student
limited to each of ``--limits`` with each change of ``LEVERS[GROUP]`` beside it:
what, within a fixed time, follows the teachers more closely.

    python -m benchmarks.time_limit [--datasets magic ...] [--limits 4 8 16]
    python -m benchmarks.time_limit --levers --limits 4 --tag time_limit_levers
    python -m benchmarks.time_limit --levers step --limits 4 --tag time_limit_step
    python -m benchmarks.time_limit --levers doubled --limits 4 8 16 --tag time_limit_doubled
    python -m benchmarks.time_limit --levers schedule --limits 4 8 16 --tag time_limit_schedule
    python -m benchmarks.time_limit --levers epoch_size --limits 4 --tag time_limit_epoch_size

Writes ``benchmarks/results/<tag>.md`` and ``<tag>.csv``; ``--render A.csv B.csv``
writes the page from the CSVs of runs made side by side.
"""

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    accuracy,
    add_page_args,
    available_datasets,
    benchmark_teachers,
    classification_datasets,
    command_line,
    environment,
    fidelity,
    limit_threads,
    make_split,
    markdown_table,
    runs_or_rendered,
    script_command,
    v010_params,
    versions_text,
)

LIMITS = (4.0, 8.0, 16.0)

#: With ``--levers GROUP``: changes to the limited student, each fitted within every
#: limit beside it. "one" asks, one change at a time, whether a cheaper epoch (fewer
#: bins, larger batches), a larger step, or less bookkeeping (no weight averaging, no
#: validation rows held out) follows the teachers more closely than more epochs of the
#: default; "step" then combines and extends the ones that helped there
#: (benchmarks/results/time_limit_levers.md).
LEVERS = {"one": {
    "n_bins=16": {"n_bins": 16},
    "n_bins=32": {"n_bins": 32},
    "learning_rate=6e-3": {"learning_rate": 6e-3},
    "batch_size=512, learning_rate=6e-3": {"batch_size": 512, "learning_rate": 6e-3},
    "batch_size=128": {"batch_size": 128},
    "weight_averaging=none": {"weight_averaging": "none"},
    "early_stopping=False": {"early_stopping": False},
}, "step": {
    "learning_rate=6e-3": {"learning_rate": 6e-3},
    "learning_rate=1e-2": {"learning_rate": 1e-2},
    "learning_rate=6e-3, early_stopping=False": {"learning_rate": 6e-3,
                                                 "early_stopping": False},
    "learning_rate=6e-3, batch_size=128": {"learning_rate": 6e-3, "batch_size": 128},
    "learning_rate=1e-2, early_stopping=False": {"learning_rate": 1e-2,
                                                 "early_stopping": False},
}, "doubled": {
    # Whether the larger step pays at longer limits too (with --limits 4 8 16).
    "learning_rate=6e-3": {"learning_rate": 6e-3},
}, "schedule": {
    # The default schedule under a limit: it halves the step on a plateau and is cut off
    # by the limit, where the cosine schedule anneals over the epochs that fit.
    "lr_schedule=plateau": {"lr_schedule": "plateau"},
}, "epochs": {
    # No limit: the default student beside it with fewer epochs at most, the machine-
    # independent way to a shorter fit. These changes lift the limit, so they are fitted
    # once; --limits 4 keeps the limited reference cheap.
    "no limit (defaults)": {"student_time_limit": None, "lr_schedule": "plateau"},
    "no limit, max_epochs=60": {"student_time_limit": None, "lr_schedule": "plateau",
                                "max_epochs": 60},
    "no limit, max_epochs=100": {"student_time_limit": None, "lr_schedule": "plateau",
                                 "max_epochs": 100},
}, "epoch_size": {
    # No limit: cheaper epochs instead of fewer, by drawing fewer synthetic rows per real
    # row into each epoch than the default's 5 (SYNTHETIC_ROWS_PER_EPOCH): throughout, or
    # once the averaged weights have settled. ``synthetic_rows_per_epoch`` maps the epoch
    # (from 1) to that count; it is not an estimator parameter (see ``epoch_size``).
    "no limit (defaults)": {"student_time_limit": None, "lr_schedule": "plateau"},
    "no limit, 2 synthetic rows per real row an epoch": {
        "student_time_limit": None, "lr_schedule": "plateau",
        "synthetic_rows_per_epoch": lambda epoch: 2},
    "no limit, 5 then 1 synthetic row per real row from epoch 41": {
        "student_time_limit": None, "lr_schedule": "plateau",
        "synthetic_rows_per_epoch": lambda epoch: 5 if epoch <= 40 else 1},
}, "plateau": {
    # The plateau schedule with the doubled step too (time_limit_schedule.md).
    "lr_schedule=plateau": {"lr_schedule": "plateau"},
    "lr_schedule=plateau, learning_rate=6e-3": {"lr_schedule": "plateau",
                                                "learning_rate": 6e-3},
}}


def variants(limits, n_train, levers=None):
    """``(name, limit, params)`` of every student fitted on a table, in order: the
    default, then the student limited to each of ``limits``, then 0.1.0's. With
    ``levers`` (a key of :data:`LEVERS`), instead of the first two: for each of
    ``limits``, the student limited to it, then that student with each change of that
    group."""
    def limited(limit):
        return {"student_time_limit": limit, "lr_schedule": "cosine"}

    if levers:
        lifted = set()  # changes that lift the limit: fitted once, whatever the limits
        for limit in limits:
            yield f"limit {limit:g} s", limit, limited(limit)
            for name, change in LEVERS[levers].items():
                params = {**limited(limit), **change}
                if params["student_time_limit"] is not None:
                    yield f"limit {limit:g} s, {name}", limit, params
                elif name not in lifted:
                    lifted.add(name)
                    yield name, None, params
    else:
        yield "default", None, {}
        for limit in limits:
            yield f"limit {limit:g} s", limit, limited(limit)
    yield "0.1.0", None, v010_params(n_train)


@contextlib.contextmanager
def epoch_size(schedule):
    """Fit with ``schedule(epoch)`` synthetic rows per real row in each epoch instead of
    the default's fixed ``SYNTHETIC_ROWS_PER_EPOCH``; the default's with None."""
    import skdistill._base as base

    if schedule is None:
        yield
        return
    rule = base._epoch_rows

    def scheduled(transfer, cap=None):
        return lambda epoch: rule(transfer, cap, per_real_row=schedule(epoch))

    base._epoch_rows = scheduled
    try:
        yield
    finally:
        base._epoch_rows = rule


def measure_table(name, X, y, seed, limits, memory, levers=None):
    """One row per student on one table's split (``variants``)."""
    from skdistill import DistilledClassifier

    X_train, X_test, y_train, y_test, _ = make_split(X, y, seed, max_train=3_000,
                                                     max_test=2_000)
    rows, teacher_pred = [], None
    for variant, limit, params in variants(limits, len(y_train), levers):
        params = dict(params)
        schedule = params.pop("synthetic_rows_per_epoch", None)
        model = DistilledClassifier(teachers=benchmark_teachers(seed), random_state=seed,
                                    n_jobs=1, memory=memory,
                                    keep_teachers=teacher_pred is None, **params)
        with epoch_size(schedule):
            model.fit(X_train, y_train)
        if teacher_pred is None:
            teacher_proba = model.teacher_predict_proba(X_test)
            teacher_pred = teacher_proba.argmax(axis=1)
            teacher_accuracy = accuracy(model.classes_, teacher_proba, y_test)
        proba = model.predict_proba(X_test)
        rows.append({"dataset": name, "seed": seed, "variant": variant, "limit": limit,
                     "fidelity": fidelity(proba.argmax(axis=1), teacher_pred),
                     "accuracy": accuracy(model.classes_, proba, y_test),
                     "teacher_accuracy": teacher_accuracy,
                     "student_seconds": model.fit_info_["student_fit_seconds"],
                     "epochs": model.n_iter_, "stopped_by": model.fit_info_["stopped_by"]})
        print({k: v for k, v in rows[-1].items() if k != "dataset"}, name, flush=True)
    return rows


def summary_rows(df, reference=None):
    """Per variant: medians over tables of the per-table means over seeds; with a
    ``reference`` variant, also the mean change in fidelity against the student limited
    to the variant's own limit (against ``reference`` for a variant without a limit) and
    on how many tables it is higher."""
    per_table = df.groupby(["variant", "dataset"], sort=False).mean(numeric_only=True)
    v010 = per_table.xs("0.1.0")["student_seconds"]
    out = []
    for variant in df["variant"].unique():
        t = per_table.xs(variant)
        retention = t["accuracy"] / t["teacher_accuracy"]
        limit = df.loc[df["variant"] == variant, "limit"].iloc[0]
        against = {}
        if reference is not None:
            base = reference if np.isnan(limit) else f"limit {limit:g} s"
            change = t["fidelity"] - per_table.xs(base)["fidelity"].loc[t.index]
            against = {"mean Δ fidelity (pp)": f"{100 * change.mean():+.2f}",
                       "tables higher": f"{(change > 0).sum()}/{len(change)}"}
        out.append({
            "variant": variant,
            "median fidelity": f"{t['fidelity'].median():.2%}",
            "mean fidelity": f"{t['fidelity'].mean():.2%}",
            "median retention": f"{retention.median():.2%}",
            "lowest retention": f"{retention.min():.2%}",
            "median student fit": f"{t['student_seconds'].median():.1f} s",
            "longest fit / limit": ("" if np.isnan(limit) else
                                    f"{(t['student_seconds'] / limit).max():.2f}"),
            "fit / 0.1.0's (median per table)":
                f"{(t['student_seconds'] / v010.loc[t.index]).median():.1f}x",
            **against,
        })
    return out


def write_page(df, env, path, note=None, levers=None):
    fid = df.pivot_table(index="dataset", columns="variant", values="fidelity",
                         sort=False)[list(df["variant"].unique())]
    fits = df.pivot_table(index="dataset", columns="variant", values="student_seconds",
                          sort=False)[list(df["variant"].unique())]
    title = ("Levers on a student with a time limit" if levers
             else "A time limit on the student's training")
    lines = [f"# {title}", "",
             command_line(env),
             *([f"- Runs: {note}"] if note else []),
             f"- Date: {env['date']}; machine: {env['machine']} (shared; timings are noisy)",
             "- Versions: " + versions_text(env),
             "- Each table's split, one per seed (at most 3,000 training and 2,000 test "
             "rows); the default teachers fitted once on it and cached, and every student "
             "fitted from them. 'limit "
             "N s': `student_time_limit=N, lr_schedule=\"cosine\"`. '0.1.0': 0.1.0's "
             "student, the student issue's yardstick for fit time. Fidelity: agreement "
             "with the teachers on the test rows; retention: the student's accuracy over "
             "the teachers'. Medians are over tables, of the per-table means over seeds."
             + (" 'limit N s, changes': the limited student with the parameters named "
                "changed; 'mean Δ fidelity' and 'tables higher' compare it with the "
                "limited student on the same tables." if levers else ""),
             "", "## Summary", ""]
    lines += markdown_table(summary_rows(df, df["variant"].iloc[0] if levers else None))
    lines += ["", "## Fidelity per table", ""]
    lines += markdown_table([{"dataset": name, **{v: f"{x:.4f}" for v, x in r.items()}}
                             for name, r in fid.iterrows()])
    lines += ["", "## Student fit seconds per table", ""]
    lines += markdown_table([{"dataset": name, **{v: f"{x:.1f}" for v, x in r.items()}}
                             for name, r in fits.iterrows()])
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    import joblib

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_page_args(parser, "time_limit")
    parser.add_argument("--limits", nargs="+", type=float, default=list(LIMITS))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--levers", nargs="?", const="one", default=None,
                        choices=sorted(LEVERS), metavar="GROUP",
                        help="fit the student limited to each of --limits with each "
                             "change of LEVERS[GROUP] (default group: one) beside it, "
                             "instead of the default")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="keep the fitted teachers and their labels in DIR (default: "
                             "a temporary folder), so that a later run on the same splits "
                             "reuses them")
    args = parser.parse_args(argv)
    env = environment(script_command("time_limit", argv))

    def run():
        limit_threads()
        rows = []
        with tempfile.TemporaryDirectory(prefix="skdistill-time-limit-") as temporary:
            memory = joblib.Memory(args.cache or temporary, verbose=0)
            for name, X, y in available_datasets(args.datasets or classification_datasets(),
                                                 args.data_dir):
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    rows += measure_table(name, X, y, seed, args.limits, memory,
                                          args.levers)
        return rows

    df = runs_or_rendered(args, run)
    if df is not None:
        write_page(df, env, Path(args.out_dir) / f"{args.tag}.md", args.note, args.levers)
    return df


if __name__ == "__main__":
    main()

"""DistilledRegressor on the regression datasets: R², RMSE, speed and size vs the teacher.

For each regression dataset in the data folder (537_houses, 197_cpu_act, 225_puma8NH)
and each seed, on one shared 75/25 split:

- ``teacher``: the default regression ensemble (``default_regression_teachers()``),
  fitted by ``DistilledRegressor(keep_teachers=True)`` and measured through
  ``teacher_predict``;
- ``distilled``: ``DistilledRegressor()`` with its defaults, measured without teachers;
- ``distilled_v010`` and ``distilled_v041``: the same teachers distilled with 0.1.0's and
  0.4.1's student defaults (``EARLIER_REGRESSOR_DEFAULTS``), side by side in one run;
- ``distilled_silu`` (``CANDIDATES``): the same teachers distilled with one setting
  changed, a candidate for the regressor's defaults;
- ``true_targets``: the same student trained on the true targets alone (``alpha=0``).

Targets (issue 7): median student R² at least 99 % of the teacher's, and single-row
predict at least 100x faster.

Run from the repository root::

    python -m benchmarks.regression                     # all three, 1 seed
    python -m benchmarks.regression --seeds 0 1 2 --max-train 10000
"""

import argparse
import sys
import tempfile
import time

import numpy as np

from benchmarks._common import (
    REPO_ROOT,
    environment,
    limit_threads,
    output_folder,
    require_rows,
    v010_params,
    v041_params,
    versions_text,
)

#: The earlier regressor defaults measured beside the current ones, oldest first:
#: ``(key, release, params(n_train))``; the column is ``distilled_<key>``. The regressor's
#: own list, not run.py's ``EARLIER_DEFAULTS``: its 0.1.0 parameters differ (no MUNGE).
EARLIER_REGRESSOR_DEFAULTS = (
    ("v010", "0.1.0", lambda n_train: v010_params(n_train, "regression")),
    ("v041", "0.4.1", lambda n_train: v041_params()),
)

#: Candidate regressor settings measured beside the defaults: ``(key, what, params)``;
#: the column is ``distilled_<key>``. SiLU is the classifier's activation since 0.8.
CANDIDATES = (
    ("silu", "SiLU between the layers (`activation=\"silu\"`, the classifier's default)",
     {"activation": "silu"}),
)

RESULTS = REPO_ROOT / "benchmarks" / "results"
DATASETS = ["537_houses", "197_cpu_act", "225_puma8NH"]


def _split(X, y, seed, max_train):
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)
    if max_train and len(y_train) > max_train:
        X_train, y_train = X_train[:max_train], y_train[:max_train]
    return X_train, X_test, y_train, y_test


def run_split(name, X, y, seed, max_train, log=print):
    import joblib
    from sklearn.metrics import mean_squared_error, r2_score

    from skdistill import DistilledRegressor
    from skdistill._base import without_teachers
    from skdistill._measure import pickled_size, single_row_latency

    X_train, X_test, y_train, y_test = _split(X, y, seed, max_train)
    # One teacher fit serves the current and the earlier defaults (the cache).
    with tempfile.TemporaryDirectory(prefix="skdistill-reg-") as cache:
        memory = joblib.Memory(cache, verbose=0)
        model = DistilledRegressor(keep_teachers=True, random_state=seed,
                                   memory=memory).fit(X_train, y_train)
        students = {"distilled": without_teachers(model)}
        for key, _, params in EARLIER_REGRESSOR_DEFAULTS:
            students[f"distilled_{key}"] = DistilledRegressor(
                random_state=seed, memory=memory, **params(len(y_train))).fit(X_train, y_train)
        for key, _, params in CANDIDATES:
            students[f"distilled_{key}"] = DistilledRegressor(
                random_state=seed, memory=memory, **params).fit(X_train, y_train)
    students["true_targets"] = DistilledRegressor(alpha=0.0, random_state=seed).fit(
        X_train, y_train)

    preds = {"teacher": model.teacher_predict(X_test),
             **{method: m.predict(X_test) for method, m in students.items()}}
    latency = {"teacher": single_row_latency(model.teacher_predict, X_test),
               **{method: single_row_latency(m.predict, X_test)
                  for method, m in students.items()}}
    size = {"teacher": pickled_size(model.teachers_),
            **{method: pickled_size(m) for method, m in students.items()}}
    fit_s = {"teacher": model.fit_info_["teacher_fit_seconds"],
             **{method: m.fit_info_["student_fit_seconds"] for method, m in students.items()
                if method != "true_targets"}, "true_targets": float("nan")}
    rows = []
    for method, pred in preds.items():
        rows.append({
            "dataset": name, "seed": seed, "method": method, "n_train": len(y_train),
            "n_test": len(y_test), "r2": r2_score(y_test, pred),
            "rmse": float(np.sqrt(mean_squared_error(y_test, pred))),
            "agreement_r2": r2_score(preds["teacher"], pred),
            "latency_s": latency[method], "size_bytes": size[method],
            "teacher_fit_s": model.fit_info_["teacher_fit_seconds"],
            "student_fit_s": model.fit_info_["student_fit_seconds"],
            "fit_s": fit_s[method],
        })
        log(f"{name} seed={seed} {method:13s} R2={rows[-1]['r2']:.4f} "
            f"RMSE={rows[-1]['rmse']:.4g} latency={latency[method] * 1e6:.0f}us "
            f"size={size[method]}")
    return rows


def summarize(df):
    wide = df.pivot_table(index=["dataset", "seed"], columns="method",
                          values=["r2", "agreement_r2", "latency_s", "size_bytes"])
    retention = wide["r2"]["distilled"] / wide["r2"]["teacher"]
    columns = [key for key, _, _ in EARLIER_REGRESSOR_DEFAULTS + CANDIDATES]
    other = {key: (wide["r2"][f"distilled_{key}"] / wide["r2"]["teacher"]).median()
             if f"distilled_{key}" in wide["r2"] else float("nan") for key in columns}
    agreement = {key: wide["agreement_r2"][f"distilled_{key}"].median()
                 if f"distilled_{key}" in wide["r2"] else float("nan") for key in columns}
    speedup = wide["latency_s"]["teacher"] / wide["latency_s"]["distilled"]
    smaller = wide["size_bytes"]["teacher"] / wide["size_bytes"]["distilled"]
    beats = wide["r2"]["distilled"] > wide["r2"]["true_targets"]
    return {
        "median_r2_retention": float(retention.median()),
        **{f"median_r2_retention_{key}": float(value) for key, value in other.items()},
        "median_agreement_r2": float(wide["agreement_r2"]["distilled"].median()),
        **{f"median_agreement_r2_{key}": float(value) for key, value in agreement.items()},
        "median_latency_ratio": float(speedup.median()),
        "median_size_ratio": float(smaller.median()),
        "distillation_beats_true_targets": f"{int(beats.sum())}/{len(beats)}",
    }


def write_markdown(df, summary, env, path):
    agg = df.groupby(["dataset", "method"]).agg(
        r2=("r2", "mean"), rmse=("rmse", "mean"), agreement_r2=("agreement_r2", "mean"),
        latency_us=("latency_s", lambda s: 1e6 * s.median()),
        size_kb=("size_bytes", lambda s: s.median() / 1024)).reset_index()
    lines = [
        "# DistilledRegressor on the regression datasets", "",
        f"Command: `{env['command']}`  ",
        f"Date: {env['date']}  ",
        f"Machine: {env['machine']}; load average at start {env['load_average_at_start']}  ",
        "Versions: " + versions_text(env), "",
        "Teacher: the default regression ensemble (RF, ET, XGBoost, LightGBM, MLP). "
        "`distilled`: `DistilledRegressor()` defaults, measured without its teachers. "
        + " and ".join(f"`distilled_{key}`" for key, _, _ in EARLIER_REGRESSOR_DEFAULTS)
        + ": the same teachers with skdistill "
        + " and ".join(f"{release}'s" for _, release, _ in EARLIER_REGRESSOR_DEFAULTS)
        + " student defaults. "
        + " ".join(f"`distilled_{key}`: the defaults with {what}." for key, what, _ in CANDIDATES)
        + " `true_targets`: the same student with `alpha=0`. Latency: median single-row "
        "`predict` through the public API; size: pickled bytes. Threads limited to one "
        "per pool as in `run.py`.", "",
        "| dataset | method | R² | RMSE | R² vs teacher's predictions | latency (µs) | size (KB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in agg.itertuples():
        lines.append(f"| {r.dataset} | {r.method} | {r.r2:.4f} | {r.rmse:.4g} | "
                     f"{r.agreement_r2:.4f} | {r.latency_us:.0f} | {r.size_kb:.1f} |")
    lines += ["", "## Summary vs targets", "",
              f"- median student R² / teacher R²: **{summary['median_r2_retention']:.4f}** "
              "(target ≥ 0.995; same run: " + ", ".join(
                  f"{release} defaults {summary[f'median_r2_retention_{key}']:.4f}"
                  for key, release, _ in EARLIER_REGRESSOR_DEFAULTS) + ")",
              *(f"- `distilled_{key}`: median R² retention "
                f"{summary[f'median_r2_retention_{key}']:.4f}, median R² against the "
                f"teacher's predictions {summary[f'median_agreement_r2_{key}']:.4f} "
                f"(defaults: {summary['median_agreement_r2']:.4f})"
                for key, _, _ in CANDIDATES),
              f"- median single-row speed-up over the teacher: "
              f"**{summary['median_latency_ratio']:.0f}x** (target ≥ 100x)",
              f"- median size ratio teacher/student: **{summary['median_size_ratio']:.0f}x**",
              f"- distillation beats the same student on true targets: "
              f"{summary['distillation_beats_true_targets']} dataset-seeds", ""]
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--max-train", type=int, default=10000,
                        help="cap on training rows (first rows of the shuffled split)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS), type=output_folder)
    args = parser.parse_args(argv)

    from pathlib import Path

    import pandas as pd

    from skdistill._datasets import load_dataset

    command = "python -m benchmarks.regression " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
    env = environment(command.strip())
    restore = limit_threads()
    rows, start = [], time.perf_counter()
    try:
        for name in args.datasets:
            data = load_dataset(name, args.data_dir, allow_download=False)
            if data is None:
                print(f"{name}: not in {args.data_dir or 'the data folder'}; skipped")
                continue
            for seed in args.seeds:
                rows.extend(run_split(name, *data, seed, args.max_train))
    finally:
        restore()
    require_rows(rows, args.data_dir)
    df = pd.DataFrame(rows)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "regression.csv", index=False)
    summary = summarize(df)
    env["elapsed_s"] = time.perf_counter() - start
    write_markdown(df, summary, env, out / "regression.md")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a MUNGE transfer set bring the student closer to its teachers on small tables?

For each classification dataset under 5,000 rows in the shared data folder and each
seed, one stratified 75/25 split; the teachers are fitted once per split (cached with
joblib.Memory, so every student setting reuses the same fitted teachers and the same
out-of-fold soft targets), then the student is trained with ``augmentation=None`` and
with ``augmentation="munge"`` under each MUNGE setting asked for. Reported on the test
rows: teacher accuracy, student accuracy, fidelity (the share of rows where student and
teachers predict the same class), accuracy retention (student / teacher) and

    gap closed = (acc_munge - acc_none) / (acc_teacher - acc_none),

computed per dataset on the means over seeds, since one seed's gap can be a single row.

    python benchmarks/augment.py [--seeds 0 1 2] [--configs 5:0.5:10 ...]

Each config is ``augment_factor:munge_p:munge_s``. Writes benchmarks/results/augment.md
and augment.csv. The teachers are a fixed, smaller ensemble than the default one
(RF(200) + LightGBM(200) + XGBoost(200), one thread each) so that the whole run fits in
about 15 minutes on a shared 2-core machine; it is recorded in the output.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Run from a checkout without installing: the package sits one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import joblib  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skdistill import DistilledClassifier  # noqa: E402
from skdistill._datasets import load_dataset  # noqa: E402

DATASETS = ["diabetes", "vehicle", "credit_g", "segmentation", "kr_vs_kp", "spambase"]
TEACHERS_DESCRIPTION = (
    "RandomForestClassifier(n_estimators=200), LGBMClassifier(n_estimators=200), "
    "XGBClassifier(n_estimators=200), each n_jobs=1, out-of-fold soft targets (cv=5)"
)


def make_teachers(seed):
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier
    from xgboost import XGBClassifier

    # One thread each: on a loaded 2-core machine, multi-threaded boosters spin-wait and
    # run several times slower than single-threaded ones.
    return [
        ("rf", RandomForestClassifier(n_estimators=200, n_jobs=1, random_state=seed)),
        ("lgbm", LGBMClassifier(n_estimators=200, n_jobs=1, verbose=-1, random_state=seed)),
        ("xgb", XGBClassifier(n_estimators=200, n_jobs=1, tree_method="hist", random_state=seed)),
    ]


def categorical_guess(X, max_levels=8):
    """Integer-valued columns with few levels: PMLB label-encodes categoricals this way.

    The data files do not say which columns are categorical, so this is a guess, and
    it is recorded with the results.
    """
    integral = np.all(X == np.round(X), axis=0)
    levels = np.array([len(np.unique(col)) for col in X.T])
    return integral & (levels <= max_levels)


def parse_config(text):
    factor, p, s = (float(v) for v in text.split(":"))
    return {"augment_factor": factor, "munge_p": p, "munge_s": s}


def run(datasets, seeds, configs, cache_dir, categorical):
    rows = []
    memory = joblib.Memory(cache_dir, verbose=0)
    for name in datasets:
        data = load_dataset(name, allow_download=False)
        if data is None:
            print(f"skip {name}: not in the data folder", flush=True)
            continue
        X, y = data
        cat = categorical_guess(X) if categorical else None
        for seed in seeds:
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.25, stratify=y, random_state=seed)
            settings = [("none", {"augmentation": None})] + [
                (f"munge f={c['augment_factor']:g} p={c['munge_p']:g} s={c['munge_s']:g}",
                 {"augmentation": "munge", **c}) for c in configs]
            for label, params in settings:
                start = time.perf_counter()
                model = DistilledClassifier(
                    teachers=make_teachers(seed), keep_teachers=True, memory=memory,
                    categorical_features=cat, random_state=seed, **params,
                ).fit(X_tr, y_tr)
                seconds = time.perf_counter() - start
                teacher_pred = model.classes_[model.teacher_predict_proba(X_te).argmax(axis=1)]
                student_pred = model.predict(X_te)
                row = {
                    "dataset": name, "n_rows": len(X), "n_features": X.shape[1],
                    "n_categorical": int(cat.sum()) if cat is not None else 0,
                    "seed": seed, "setting": label,
                    "teacher_accuracy": float(np.mean(teacher_pred == y_te)),
                    "student_accuracy": float(np.mean(student_pred == y_te)),
                    "fidelity": float(np.mean(student_pred == teacher_pred)),
                    "n_transfer_rows": model.fit_info_["n_transfer_rows"],
                    "best_epoch": model.fit_info_["best_epoch"],
                    # The first setting of a split also fits the teachers; the others
                    # load them from the cache. The student's own time is comparable.
                    "fit_seconds": seconds,
                    "student_seconds": model.fit_info_["student_fit_seconds"],
                }
                row["retention"] = row["student_accuracy"] / row["teacher_accuracy"]
                rows.append(row)
                print(f"{name:13s} seed={seed} {label:24s} teacher={row['teacher_accuracy']:.4f} "
                      f"student={row['student_accuracy']:.4f} fidelity={row['fidelity']:.4f} "
                      f"({seconds:.1f}s)", flush=True)
    return rows


def summarize(df):
    """Per (setting, dataset) means over seeds, with gap closed against 'none'."""
    mean = df.groupby(["setting", "dataset"], sort=False)[
        ["teacher_accuracy", "student_accuracy", "fidelity", "retention"]].mean()
    none = mean.loc["none"]
    out = {}
    for setting in df["setting"].unique():
        if setting == "none":
            continue
        m = mean.loc[setting]
        gap = none["teacher_accuracy"] - none["student_accuracy"]
        # A gap smaller than one test row is noise, and dividing by it gives any number.
        one_row = (1.0 / np.ceil(0.25 * df.groupby("dataset")["n_rows"].first())).reindex(gap.index)
        closed = (m["student_accuracy"] - none["student_accuracy"]) / gap.where(gap >= one_row)
        out[setting] = m.assign(
            student_accuracy_none=none["student_accuracy"], fidelity_none=none["fidelity"],
            retention_none=none["retention"], gap_closed=closed,
        )
    return out


def write_markdown(df, summary, path, command, elapsed, categorical, header=None):
    lines = [
        "# MUNGE transfer set: fidelity and accuracy on small tables",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.platform()}, {os.cpu_count()} logical CPUs (shared with other "
        f"jobs), torch threads = {torch.get_num_threads()}  ",
        f"Versions: Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__}  ",
        f"Teachers: {TEACHERS_DESCRIPTION}  ",
        "Student: DistilledClassifier defaults (hidden (128, 64), T=2, alpha=0.9, early "
        "stopping on 10% of the training rows, which MUNGE never sees).  ",
        "Categorical columns: " + (
            "guessed as integer-valued columns with at most 8 levels (swapped by MUNGE, "
            "never perturbed)" if categorical else "none declared (all columns continuous)")
        + "  ",
        f"Splits: stratified 75/25, seeds {sorted(df['seed'].unique().tolist())}; "
        f"teachers fitted once per split and shared by all settings. "
        f"Total time {elapsed / 60:.1f} min.",
        "",
    ]
    if header is not None:  # rewriting from the CSV: keep the recorded run's setup as it was
        lines = [lines[0], "", *header, ""]
    lines += [
        "Gap closed = (acc_munge - acc_none) / (acc_teacher - acc_none) on the means over "
        "seeds; "
        "blank where the teachers lead the student without MUNGE by less than one test row "
        "(there, the student already matches or beats its teachers).",
        "",
    ]
    lines += [
        "## All settings at a glance",
        "",
        "| setting | median fidelity (none -> munge) "
        "| datasets where fidelity rises / ties / falls "
        "| median gap closed | pooled gap closed | median retention (none -> munge) "
        "| median student fit s |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    none_seconds = df.loc[df["setting"] == "none", "student_seconds"].median() \
        if "student_seconds" in df else np.nan
    for setting, s in summary.items():
        has_gap = s["gap_closed"].notna()
        pooled = ((s["student_accuracy"] - s["student_accuracy_none"])[has_gap].sum()
                  / (s["teacher_accuracy"] - s["student_accuracy_none"])[has_gap].sum())
        diff = s["fidelity"] - s["fidelity_none"]
        seconds = df.loc[df["setting"] == setting, "student_seconds"].median() \
            if "student_seconds" in df else np.nan
        lines.append(
            f"| {setting} | {s['fidelity_none'].median():.4f} -> {s['fidelity'].median():.4f} "
            # The CSV keeps 6 significant digits: closer than 1e-5 is the same count of rows.
            f"| {(diff > 1e-5).sum()} / {(diff.abs() <= 1e-5).sum()} / {(diff < -1e-5).sum()} "
            f"| {s['gap_closed'].median():+.2f} | {pooled:+.2f} "
            f"| {s['retention_none'].median():.4f} -> {s['retention'].median():.4f} "
            f"| {'' if np.isnan(seconds) else f'{seconds:.1f} (none: {none_seconds:.1f})'} |")
    lines += [""]
    for setting, s in summary.items():
        lines += [
            f"## {setting}",
            "",
            "| dataset | teacher acc | student acc none | student acc munge | fidelity none "
            "| fidelity munge | retention none | retention munge | gap closed |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for ds, r in s.iterrows():
            gap = "" if np.isnan(r["gap_closed"]) else f"{r['gap_closed']:+.2f}"
            lines.append(
                f"| {ds} | {r['teacher_accuracy']:.4f} | {r['student_accuracy_none']:.4f} "
                f"| {r['student_accuracy']:.4f} | {r['fidelity_none']:.4f} | {r['fidelity']:.4f} "
                f"| {r['retention_none']:.4f} | {r['retention']:.4f} | {gap} |")
        has_gap = s["gap_closed"].notna()
        pooled_gap = ((s["student_accuracy"] - s["student_accuracy_none"])[has_gap].sum()
                      / (s["teacher_accuracy"] - s["student_accuracy_none"])[has_gap].sum())
        lines += [
            "",
            f"Median fidelity: none {s['fidelity_none'].median():.4f}, munge "
            f"{s['fidelity'].median():.4f}. Median accuracy retention: none "
            f"{s['retention_none'].median():.4f}, munge {s['retention'].median():.4f}. "
            f"Median gap closed over datasets: {s['gap_closed'].median():+.2f}; "
            f"pooled over those datasets (sum of gains / sum of gaps): {pooled_gap:+.2f}.",
            "",
        ]
    Path(path).write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=["5:0.5:10"],
                        help="augment_factor:munge_p:munge_s, one per MUNGE setting")
    parser.add_argument("--no-categorical", action="store_true",
                        help="treat every column as continuous")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "augment"))
    parser.add_argument("--from-csv", action="store_true",
                        help="rewrite OUT.md from OUT.csv without fitting anything")
    args = parser.parse_args()
    import pandas as pd

    if args.from_csv:
        df = pd.read_csv(args.out + ".csv")
        text = Path(args.out + ".md").read_text()
        header = text.split("\n\n")[1].splitlines()  # the recorded run's command and setup
        write_markdown(df, summarize(df), args.out + ".md", None, 0.0, not args.no_categorical,
                       header=header)
        print(Path(args.out + ".md").read_text())
        return

    # The student's small matrices gain nothing from a second thread on a shared machine.
    torch.set_num_threads(1)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache_dir:
        rows = run(args.datasets, args.seeds, [parse_config(c) for c in args.configs],
                   cache_dir, not args.no_categorical)
    elapsed = time.perf_counter() - start
    df = pd.DataFrame(rows)
    df.to_csv(args.out + ".csv", index=False, float_format="%.6g")
    command = "python benchmarks/augment.py " + " ".join(sys.argv[1:])
    write_markdown(df, summarize(df), args.out + ".md", command.strip(), elapsed,
                   not args.no_categorical)
    print(Path(args.out + ".md").read_text())


if __name__ == "__main__":
    main()

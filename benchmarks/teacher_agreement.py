"""Does the teacher ensemble agree with itself? Fidelity beside its reproducibility.

Fidelity counts the test rows where the student predicts the class its teachers predict.
What it can reach depends on the table: where many rows sit near the ensemble's decision
boundary, a second fit of the *same* ensemble with other random seeds already disagrees
with the first on some of them. This script fits, on one split per table (3,000 training
and 2,000 test rows, as the full suite), two ``DistilledClassifier`` s with the default
settings and the default teachers, seeded 0 and 1 (teacher seeds and the student's), and
reports on the test rows:

- teacher 0 vs teacher 1: the ensemble's agreement with a reseeded copy of itself;
- student 0 vs teacher 0: the fidelity of the benchmark suite;
- student 0 vs teacher 1: agreement with an equally good ensemble it never saw;
- student 0 vs student 1;
- the two students averaged (the mean of their probabilities) vs teacher 0: how much of
  the student's distance to its teachers is its own variance (its synthetic rows, its
  cross-fitted targets, its initial weights), which averaging removes.

    python -m benchmarks.teacher_agreement [--datasets connect_4 fars ...]

Writes ``benchmarks/results/teacher_agreement.md`` and ``.csv``.
"""

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks._common import (  # noqa: E402
    available_datasets,
    benchmark_teachers,
    classification_datasets,
    command_line,
    environment,
    limit_threads,
    make_split,
    output_folder,
    script_command,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: The compared pairs, in table order: (column, first model, second model).
PAIRS = [
    ("teacher 0 vs teacher 1", "teacher0", "teacher1"),
    ("student 0 vs teacher 0 (fidelity)", "student0", "teacher0"),
    ("student 0 vs teacher 1", "student0", "teacher1"),
    ("student 0 vs student 1", "student0", "student1"),
    ("students 0 and 1 averaged vs teacher 0", "students", "teacher0"),
]


def run_dataset(name, X, y, params):
    """Agreements and accuracies on one table's test rows (seed-0 split)."""
    from skdistill import DistilledClassifier

    X_train, X_test, y_train, y_test, _ = make_split(X, y, 0, max_train=3_000,
                                                     max_test=2_000)
    labels, student_proba = {}, []
    for seed in (0, 1):
        model = DistilledClassifier(teachers=benchmark_teachers(seed), keep_teachers=True,
                                    random_state=seed, n_jobs=1,
                                    **params).fit(X_train, y_train)
        labels[f"teacher{seed}"] = model.classes_[
            model.teacher_predict_proba(X_test).argmax(axis=1)]
        student_proba.append(model.predict_proba(X_test))
        labels[f"student{seed}"] = model.classes_[student_proba[-1].argmax(axis=1)]
    labels["students"] = model.classes_[(student_proba[0] + student_proba[1]).argmax(axis=1)]
    row = {"dataset": name, "n_test": len(y_test),
           "teacher 0 accuracy": float(np.mean(labels["teacher0"] == y_test))}
    for column, a, b in PAIRS:
        row[column] = float(np.mean(labels[a] == labels[b]))
    return row


def render(rows, env):
    """The markdown page: the setting, one row per table, then the medians."""
    columns = ["teacher 0 accuracy"] + [c for c, _, _ in PAIRS]
    lines = [
        "# Does the teacher agree with itself? Fidelity beside its reproducibility", "",
        command_line(env),
        f"- Date: {env['date']}; machine: {env['machine']} (shared)",
        "- Versions: " + versions_text(env),
        "- One stratified split per table (seed 0), 3,000 training and 2,000 test rows "
        "(as the full suite). Two `DistilledClassifier` fits with default settings and "
        "default teachers, seeded 0 and 1 (teachers, folds and student); every number is "
        "the share of test rows on which the two models predict the same class.", "",
        "| dataset | test rows | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['n_test']} | "
                     + " | ".join(f"{r[c]:.4f}" for c in columns) + " |")
    if rows:
        lines.append("| **median** | | " + " | ".join(
            f"**{statistics.median(r[c] for r in rows):.4f}**" for c in columns) + " |")
        close = sum(r["student 0 vs teacher 0 (fidelity)"] >= r["teacher 0 vs teacher 1"]
                    for r in rows)
        lines += ["", f"Tables where the student agrees with its teachers at least as "
                      f"often as the reseeded teachers do: {close} of {len(rows)}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=classification_datasets())
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap the student's epochs (a quick smoke run); default: "
                             "the estimator's")
    args = parser.parse_args(argv)
    env = environment(script_command("teacher_agreement", argv))
    limit_threads()
    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    rows = []
    # No teacher cache: the two fits share no teachers.
    for name, X, y in available_datasets(args.datasets, args.data_dir):
        rows.append(run_dataset(name, X, y, params))
        print(rows[-1], flush=True)
    out = Path(args.out_dir)
    pd.DataFrame(rows).to_csv(out / "teacher_agreement.csv", index=False, float_format="%.6g")
    (out / "teacher_agreement.md").write_text(render(rows, env))
    return rows


if __name__ == "__main__":
    main()

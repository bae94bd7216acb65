"""Where does the student stop following its teachers: on its rows, or between them?

For each dataset, one stratified split (2,000 training rows at most, 2,000 test rows),
the default ensemble (boosters on one thread) fitted on the training rows, and students
trained on the teachers' in-sample outputs with the MUNGE budget and no early stopping,
so that they fit their transfer set as closely as they can. Agreement with the teachers
is measured on three sets of rows: the training rows, fresh MUNGE rows made like the
transfer set's (not trained on), and the held-out test rows. A student that agrees on
the first two but not on the third disagrees *between* the rows it saw: more or
different transfer rows can help; a wider network cannot.

    python -m benchmarks.coverage [--datasets phoneme satimage]

Writes ``benchmarks/results/coverage.md``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks._common import (  # noqa: E402
    benchmark_teachers,
    command_line,
    datasets_with_teacher_cache,
    environment,
    limit_threads,
    make_split,
    output_folder,
    require_rows,
    script_command,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
STUDENT = dict(soft_targets="in_sample", alpha=1.0, temperature=1.0, early_stopping=False,
               max_epochs=80, lr_schedule="cosine", augmentation="munge",
               munge_p=0.5, munge_s=1.0, augment_factor=20.0, batch_size=256,
               learning_rate=3e-3)


def run(name, X, y, memory, log=print):
    from skdistill import DistilledClassifier, munge

    X_train, X_test, y_train, y_test, _ = make_split(X, y, 0, max_train=2000, max_test=2000)
    teachers = benchmark_teachers(0)
    ref = DistilledClassifier(teachers=teachers, memory=memory, random_state=0,
                              keep_teachers=True, **{**STUDENT, "max_epochs": 1},
                              input_encoding="standard").fit(X_train, y_train)
    fresh = munge(X_train, 4000, p=STUDENT["munge_p"], s=STUDENT["munge_s"], random_state=7)
    sets = {"training rows": X_train, "fresh MUNGE rows": fresh, "test rows": X_test}
    teacher = {k: ref.teacher_predict_proba(v).argmax(axis=1) for k, v in sets.items()}
    rows = []
    for encoding in ("standard", "piecewise_linear"):
        model = DistilledClassifier(teachers=teachers, memory=memory, random_state=0,
                                    input_encoding=encoding, **STUDENT).fit(X_train, y_train)
        agree = {k: float(np.mean(model.predict_proba(v).argmax(axis=1) == teacher[k]))
                 for k, v in sets.items()}
        rows.append(dict(dataset=name, encoding=encoding, **agree))
        log(f"  {name} {encoding}: " + ", ".join(f"{k} {v:.4f}" for k, v in agree.items()))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["phoneme", "satimage", "magic"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    args = parser.parse_args(argv)
    env = environment(script_command("coverage", argv))
    limit_threads()
    rows = []
    for name, X, y, memory in datasets_with_teacher_cache(args.datasets, args.data_dir,
                                                          "skdistill-coverage-"):
        rows += run(name, X, y, memory, log=lambda m: print(m, flush=True))
    require_rows(rows, args.data_dir)
    lines = ["# Agreement with the teachers on seen, nearby and held-out rows", "",
             command_line(env),
             f"- Date: {env['date']}",
             f"- Machine: {env['machine']}",
             "- Versions: " + versions_text(env),
             f"- Student: {STUDENT}; the teachers' in-sample outputs as targets, so the "
             "student is asked to copy the very function it is compared with.", "",
             "| dataset | encoding | training rows | fresh MUNGE rows | test rows |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['encoding']} | {r['training rows']:.4f} | "
                     f"{r['fresh MUNGE rows']:.4f} | {r['test rows']:.4f} |")
    (Path(args.out_dir) / "coverage.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

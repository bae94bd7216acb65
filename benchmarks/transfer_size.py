"""Does a synthetic transfer set still help once the table is large?

``augmentation="auto"`` decides whether the student also trains on MUNGE rows labelled by
the teachers. The quick and full suites cap training sets at 2,000-3,000 rows, so they
cannot say what happens on larger tables. This benchmark takes the larger shared tables,
trains on several sizes of the same split (stratified subsamples), fits the default
ensemble once per size (boosters on one thread, cached), and trains the student with
and without the synthetic rows. Reported on 2,000 test rows: teacher and student
accuracy, fidelity, and the cost: MUNGE plus teacher labelling time and student time.

    python -m benchmarks.transfer_size [--datasets magic electricity] [--sizes 2000 8000 24000]

Writes ``benchmarks/results/transfer_size.md`` and ``.csv``.
"""

import argparse
import sys
import time
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
    fidelity,
    limit_threads,
    make_split,
    require_rows,
    script_command,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ARMS = {"no synthetic rows": {"augmentation": None}, "MUNGE budget": {"augmentation": "munge"}}


def run(name, X, y, sizes, memory, n_jobs, log=print):
    from skdistill import DistilledClassifier

    rows = []
    for size in sizes:
        X_train, X_test, y_train, y_test, info = make_split(X, y, 0, max_train=size,
                                                            max_test=2000)
        teachers = benchmark_teachers(0)
        ref = DistilledClassifier(teachers=teachers, memory=memory, random_state=0,
                                  keep_teachers=True, n_jobs=n_jobs,
                                  augmentation=None).fit(X_train, y_train)
        teacher_pred = ref.classes_[ref.teacher_predict_proba(X_test).argmax(axis=1)]
        for arm, params in ARMS.items():
            start = time.perf_counter()
            model = DistilledClassifier(teachers=teachers, memory=memory, random_state=0,
                                        n_jobs=n_jobs, **params).fit(X_train, y_train)
            wall = time.perf_counter() - start
            pred = model.predict(X_test)
            info_ = model.fit_info_
            row = dict(dataset=name, n_train=info["n_train"], arm=arm,
                       teacher_accuracy=float(np.mean(teacher_pred == y_test)),
                       accuracy=float(np.mean(pred == y_test)),
                       fidelity=fidelity(pred, teacher_pred),
                       n_transfer_rows=info_["n_transfer_rows"],
                       student_seconds=info_["student_fit_seconds"],
                       # Everything but the student and the (cached) teacher fit: MUNGE and
                       # the teachers labelling the synthetic rows.
                       transfer_seconds=wall - info_["student_fit_seconds"]
                       - info_["teacher_fit_seconds"],
                       teacher_fit_seconds=ref.fit_info_["teacher_fit_seconds"],
                       epochs=model.n_iter_)
            rows.append(row)
            log(f"  {name} n={info['n_train']} {arm:<18} acc {row['accuracy']:.4f} "
                f"(teacher {row['teacher_accuracy']:.4f}) fidelity {row['fidelity']:.4f} "
                f"student {row['student_seconds']:.1f} s transfer {row['transfer_seconds']:.1f} s")
    return rows


def write(rows, env, out):
    import pandas as pd

    df = pd.DataFrame(rows)
    df.to_csv(out.with_suffix(".csv"), index=False, float_format="%.6g")
    lines = ["# Synthetic transfer rows on larger tables", "",
             command_line(env),
             f"- Date: {env['date']}; wall time {env['wall_seconds'] / 60:.1f} min",
             f"- Machine: {env['machine']} (shared; timings are noisy)",
             "- Versions: " + versions_text(env),
             "- Protocol: one stratified 75/25 split (seed 0), the training side subsampled "
             "(stratified) to each size, 2,000 test rows; default ensemble with boosters on "
             "one thread, fitted once per size; the student with the current defaults, "
             "with and without synthetic rows. Fidelity: agreement with the teachers.", "",
             "| dataset | train rows | arm | transfer rows | teacher acc | student acc | "
             "fidelity | student fit | MUNGE + labelling |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['n_train']} | {r['arm']} | {r['n_transfer_rows']} | "
            f"{r['teacher_accuracy']:.4f} | {r['accuracy']:.4f} | {r['fidelity']:.4f} | "
            f"{r['student_seconds']:.1f} s | {r['transfer_seconds']:.1f} s |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["magic", "electricity"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[2000, 8000, 24000])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS_DIR / "transfer_size"))
    args = parser.parse_args(argv)
    env = environment(script_command("transfer_size", argv))
    limit_threads()
    rows, start = [], time.perf_counter()
    for name, X, y, memory in datasets_with_teacher_cache(args.datasets, args.data_dir,
                                                          "skdistill-transfer-"):
        rows += run(name, X, y, args.sizes, memory, args.n_jobs,
                    log=lambda m: print(m, flush=True))
        env["wall_seconds"] = time.perf_counter() - start
        write(rows, env, Path(args.out))
    require_rows(rows, args.data_dir)
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

"""Does the student learn its teachers' function where it was trained? A fidelity diagnostic.

Test fidelity mixes two failures: a student that does not fit the teachers on its own
transfer set (under-fitting), and one that fits it there but not between those rows.
This script fits the default ensemble on one split per table (3,000 training rows, as
the full suite) and, for each student setting, measures agreement with the teachers'
predicted class on: the synthetic rows the student trained on (against their teacher
labels), fresh MUNGE rows drawn the same way, and the test rows.

    python -m benchmarks.underfit [--datasets connect_4 fars electricity]

Writes ``benchmarks/results/underfit.md`` and ``.csv``.
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
    script_command,
    v031_params,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATASETS = ["connect_4", "fars", "electricity"]
#: Student settings: 0.3.1's defaults, a longer patience, and a wider student.
VARIANTS = {
    "0.3.1 defaults": v031_params(),
    "patience 30": dict(v031_params(), n_iter_no_change=30),
    "(256, 256), patience 30": dict(v031_params(), n_iter_no_change=30,
                                    hidden_layer_sizes=(256, 256)),
}


def _transfer_rows(model_class):
    """A subclass that keeps its transfer set, so its synthetic rows can be scored."""
    class Keeping(model_class):
        def _transfer_set(self, *args, **kwargs):
            self.transfer_ = super()._transfer_set(*args, **kwargs)
            return self.transfer_

    return Keeping


def run_dataset(name, X, y, memory, max_epochs=None):
    from skdistill import DistilledClassifier, munge

    X_train, X_test, y_train, _, _ = make_split(X, y, 0, max_train=3_000, max_test=2_000)
    fresh = munge(X_train, n_samples=5_000, p=0.5, s=1.0, random_state=123)
    rows = []
    for label, params in VARIANTS.items():
        model = _transfer_rows(DistilledClassifier)(
            teachers=benchmark_teachers(0), keep_teachers=True, random_state=0, n_jobs=1,
            memory=memory,
            **{**params, **({} if max_epochs is None else {"max_epochs": max_epochs})}).fit(
            X_train, y_train)
        t = model.transfer_
        synthetic = t.X[t.n_real:]
        agree = {}
        for part, rows_X, target in (
                ("trained synthetic rows", synthetic, t.target[t.n_real:].argmax(axis=1)),
                ("fresh MUNGE rows", fresh, None), ("test rows", X_test, None)):
            if target is None:
                target = model.teacher_predict_proba(rows_X).argmax(axis=1)
            agree[part] = float(np.mean(model.predict_proba(rows_X).argmax(axis=1) == target))
        rows.append(dict(dataset=name, variant=label, **agree, epochs=model.n_iter_,
                         student_fit_seconds=model.fit_info_["student_fit_seconds"]))
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap every student's epochs (a quick smoke run)")
    args = parser.parse_args(argv)
    env = environment(script_command("underfit", argv))
    limit_threads()
    rows = []
    for name, X, y, memory in datasets_with_teacher_cache(args.datasets, args.data_dir,
                                                          "skdistill-underfit-"):
        rows += run_dataset(name, X, y, memory, args.max_epochs)
    out = Path(args.out_dir)
    df = pd.DataFrame(rows)
    df.to_csv(out / "underfit.csv", index=False, float_format="%.6g")
    lines = ["# Does the student fit its teachers where it trained?", "",
             command_line(env),
             f"- Date: {env['date']}; machine: {env['machine']} (shared)",
             "- Versions: " + versions_text(env),
             "- One stratified split per table (seed 0), 3,000 training and 2,000 test rows, "
             "default teachers; agreement = the student's predicted class equals the "
             "teachers' (on trained synthetic rows, their soft target's argmax).", "",
             "| dataset | student | trained synthetic rows | fresh MUNGE rows | test rows | "
             "epochs | student fit |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['variant']} | {r['trained synthetic rows']:.4f} | "
                     f"{r['fresh MUNGE rows']:.4f} | {r['test rows']:.4f} | {r['epochs']} | "
                     f"{r['student_fit_seconds']:.1f} s |")
    (out / "underfit.md").write_text("\n".join(lines) + "\n")
    return rows


if __name__ == "__main__":
    main()

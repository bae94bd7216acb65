"""What multiplying a handful of rows one at a time saves in ``predict_proba``.

``Linear.forward`` multiplies 2 to ``FEW_ROWS`` rows one matrix-vector product at a
time instead of with one matrix product. This script times the public
``predict_proba`` on 1, 2, 4 and 8 rows of one table with a single student and with a
packed student of four members (whose single row becomes four rows inside the network),
with that path on and off (``FEW_ROWS = 0``: every batch is one matrix product),
alternating the two in each round, and reports the median time per call and the ratio.
``LogisticRegression.predict_proba`` on one row is timed beside them, as the latency
limit's yardstick. The students are trained for one epoch: speed depends on the layer
shapes, not on the weights.

    python -m benchmarks.few_rows [--dataset spambase] [--rounds 9]

Writes ``benchmarks/results/few_rows.md``.
"""

import argparse
import statistics
import sys
import timeit
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks._common import (  # noqa: E402
    available_datasets,
    command_line,
    environment,
    limit_threads,
    output_folder,
    script_command,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROW_COUNTS = (1, 2, 4, 8)


def _per_call(fn, calls):
    return min(timeit.repeat(fn, number=calls, repeat=3)) / calls


def _time_both(model, X, rounds, calls):
    """Median seconds per call with the few-rows path on and off, interleaved."""
    import skdistill._student as student_module

    on, off = [], []
    saved = student_module.FEW_ROWS
    try:
        for _ in range(rounds):
            student_module.FEW_ROWS = saved
            on.append(_per_call(lambda: model.predict_proba(X), calls))
            student_module.FEW_ROWS = 0
            off.append(_per_call(lambda: model.predict_proba(X), calls))
    finally:
        student_module.FEW_ROWS = saved
    return statistics.median(on), statistics.median(off)


def measure(X, y, rounds, calls):
    from sklearn.linear_model import LogisticRegression

    from skdistill import DistilledClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: only its latency matters
        logreg = LogisticRegression(max_iter=200).fit(X, y)
    rows = [("LogisticRegression", 1, _per_call(lambda: logreg.predict_proba(X[:1]), calls),
             None)]
    for n_members in (1, 4):
        model = DistilledClassifier(
            teachers=[("lr", LogisticRegression(max_iter=200))], cv=2, augmentation=None,
            max_epochs=1, n_members=n_members, random_state=0).fit(X, y)
        for n in ROW_COUNTS:
            on, off = _time_both(model, X[:n], rounds, calls)
            rows.append((f"student, n_members={n_members} "
                         f"({'-'.join(map(str, model.student_.layer_sizes))})", n, on, off))
    return rows


def write(rows, env, out_dir):
    lines = ["# Few rows: one matrix-vector product per row", "",
             command_line(env),
             f"- Date: {env['date']}", f"- Machine: {env['machine']} (shared; timings are noisy)",
             "- Versions: " + versions_text(env),
             f"- Table: {env['dataset']}, {env['n_rows']} rows; one thread; median over "
             f"{env['rounds']} rounds of the best of 3 repeats of {env['calls']} calls; "
             "'off' sets `FEW_ROWS = 0`, so every batch is one matrix product.", "",
             "| model | rows per call | predict_proba, rows one at a time | one matrix product "
             "| ratio |", "|---|---|---|---|---|"]
    for name, n, on, off in rows:
        if off is None:
            lines.append(f"| {name} | {n} | {on * 1e6:.1f} us | | |")
        else:
            lines.append(f"| {name} | {n} | {on * 1e6:.1f} us | {off * 1e6:.1f} us | "
                         f"{on / off:.2f} |")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "few_rows.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="spambase")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    args = parser.parse_args(argv)
    limit_threads()
    found = list(available_datasets([args.dataset], args.data_dir))
    if not found:
        return None
    _, X, y = found[0]
    X = X[:3000]
    y = y[:3000]
    env = environment(script_command("few_rows", argv))
    env.update(dataset=args.dataset, n_rows=len(y), rounds=args.rounds, calls=args.calls)
    path = write(measure(X, y, args.rounds, args.calls), env, Path(args.out_dir))
    print(path.read_text())
    return path


if __name__ == "__main__":
    main()

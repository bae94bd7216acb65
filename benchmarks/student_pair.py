"""Where a student's distance to its teachers comes from, and whether averaging removes it.

``teacher_agreement.md`` shows that two students of two seeds, averaged, agree with their
teachers more often than either alone: part of what separates a student from its
teachers is its own variance. Two students cost twice the weights (past 1 MB on the
widest tables) and twice the prediction time. This script asks whether the gain survives
either of two cheaper forms:

- two half-width students: the pair holds no more weights than one default student;
- one student whose training forks: it is trained for ``--fork-epochs`` epochs, then two
  copies go on with different row orders, and their *weights* are averaged into one
  network of the default size (as in model soups: Wortsman et al., ICML 2022; and
  population averaging: Jolicoeur-Martineau et al., 2023).

On each table and seed (the ablation protocol: stratified split, 3,000 training rows,
the benchmark teachers), with the same teachers, folds, soft targets and synthetic rows
for every student (a shared ``joblib.Memory``), it fits

- student A: the default ``DistilledClassifier``;
- student B: the same, with only the student's own seed changed (initial weights and the
  order of its rows);
- half A and half B: the same two with every hidden layer half as wide as the one the
  default ``hidden_layer_sizes="auto"`` picked for the table;
- fork 1 and fork 2: a default student stopped after ``--fork-epochs`` epochs, each copy
  then trained for the rest of the 200 epochs (optimizer, schedule and weight average
  start afresh) with its own row order;

and reports, on the test rows, fidelity (agreement with the teachers fitted on all
training rows) and accuracy of each, of the pairs' averaged probabilities, and of the
forks' averaged weights; how often each pair agrees with itself; the students' fit times
and weights.

    python -m benchmarks.student_pair [--datasets adult phoneme ...] [--seeds 2]

Writes ``benchmarks/results/student_pair.md`` and ``.csv``.
"""

import argparse
import copy
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks._common import (  # noqa: E402
    available_datasets,
    benchmark_teachers,
    command_line,
    environment,
    limit_threads,
    make_split,
    output_folder,
    script_command,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATASETS = ["diabetes", "vehicle", "credit_g", "phoneme", "satimage", "letter", "electricity",
            "adult", "connect_4"]
#: Added to the student's seed for student B and the forks: any offset gives another
#: initialisation and row order.
SEED_OFFSETS = {"B": 7919, "fork 1": 101, "fork 2": 202}
#: The compared models: (column suffix, the fitted students whose probabilities it
#: averages). "fork weights" is one network, the forks' weights averaged.
MODELS = [("A", ("A",)), ("A+B", ("A", "B")), ("half A", ("hA",)),
          ("half A+B", ("hA", "hB")), ("fork 1", ("F1",)), ("fork 1+2", ("F1", "F2")),
          ("fork weights", ("Fw",))]
#: Pairs whose agreement with each other is reported.
PAIRS = [("A vs B", "A", "B"), ("fork 1 vs 2", "F1", "F2")]


def _classes():
    from skdistill import DistilledClassifier

    class Reseeded(DistilledClassifier):
        """The default estimator with another seed for the student alone (its teachers,
        folds and synthetic rows stay those of ``random_state``), and, with ``start``
        set, that network as the student's initial weights."""

        offset = 0
        start = None

        def _draw_seeds(self):
            seeds = super()._draw_seeds()
            seeds["student"] = seeds["student"] + self.offset
            return seeds

        def _initial_student(self, *args, **kwargs):
            if self.start is None:
                return super()._initial_student(*args, **kwargs)
            return copy.deepcopy(self.start)

    return DistilledClassifier, Reseeded


def averaged_weights(models):
    """A copy of ``models[0]`` whose student holds the mean of the students' arrays
    (the same layers, the same shapes)."""
    from skdistill import MLPStudent

    layers = []
    for group in zip(*(m.student_.layers for m in models)):
        means = {name: np.mean([layer.arrays()[name] for layer in group], axis=0)
                 for name, value in group[0].arrays().items() if value.dtype.kind == "f"}
        layers.append(group[0].with_arrays(means) if means else group[0])
    merged = copy.deepcopy(models[0])
    merged.student_ = MLPStudent(layers)
    return merged


def _hidden(model):
    return tuple(model.student_.layer_sizes[1:-1])


def _weights(model):
    """The linear layers' weights and biases (the encoding's few arrays left out)."""
    student = model.student_
    return sum(a.size for a in student.coefs) + sum(b.size for b in student.intercepts)


def run_dataset(name, X, y, seed, memory, params, fork_epochs):
    """One table and seed: every model's fidelity and accuracy on the test rows."""
    first, reseeded = _classes()
    X_train, X_test, y_train, y_test, _ = make_split(X, y, seed, max_train=3_000,
                                                     max_test=5_000)
    common = dict(params, teachers=benchmark_teachers(seed), memory=memory,
                  random_state=seed, n_jobs=1)

    def fit(offset=0, start=None, **extra):
        model = reseeded(**{**common, **extra})
        model.offset, model.start = offset, start
        return model.fit(X_train, y_train)

    # The teachers fitted on all training rows (as ablate.py): fidelity is measured
    # against these.
    reference = first(soft_targets="in_sample", keep_teachers=True,
                      **common).fit(X_train, y_train)
    teacher = reference.teacher_predict_proba(X_test).argmax(axis=1)
    fitted = {"A": fit(), "B": fit(SEED_OFFSETS["B"])}
    half = tuple(max(width // 2, 1) for width in _hidden(fitted["A"]))
    fitted["hA"] = fit(hidden_layer_sizes=half)
    fitted["hB"] = fit(SEED_OFFSETS["B"], hidden_layer_sizes=half)
    trunk = fit(max_epochs=fork_epochs)
    rest = fitted["A"].max_epochs - fork_epochs
    fitted["F1"] = fit(SEED_OFFSETS["fork 1"], trunk.student_, max_epochs=rest)
    fitted["F2"] = fit(SEED_OFFSETS["fork 2"], trunk.student_, max_epochs=rest)
    fitted["Fw"] = averaged_weights([fitted["F1"], fitted["F2"]])
    proba = {key: model.predict_proba(X_test) for key, model in fitted.items()}
    y_index = np.searchsorted(fitted["A"].classes_, y_test)
    row = {"dataset": name, "seed": seed, "n_test": len(y_test),
           "hidden": str(_hidden(fitted["A"])), "half": str(half),
           "teacher accuracy": float(np.mean(teacher == y_index))}
    for column, keys in MODELS:
        pred = np.mean([proba[k] for k in keys], axis=0).argmax(axis=1)
        row[f"fidelity {column}"] = float(np.mean(pred == teacher))
        row[f"accuracy {column}"] = float(np.mean(pred == y_index))
    for column, a, b in PAIRS:
        row[column] = float(np.mean(proba[a].argmax(axis=1) == proba[b].argmax(axis=1)))
    row["weights A"] = _weights(fitted["A"])
    row["weights half A+B"] = _weights(fitted["hA"]) + _weights(fitted["hB"])
    seconds = {key: fitted[key].fit_info_["student_fit_seconds"] for key in fitted
               if key != "Fw"}
    row["fit s A"] = seconds["A"]
    row["fit s half A+B"] = seconds["hA"] + seconds["hB"]
    row["fit s forks"] = trunk.fit_info_["student_fit_seconds"] + seconds["F1"] + seconds["F2"]
    return row


def header(env, fork_epochs):
    """The page's first lines, up to its first section: title, command, machine,
    versions, protocol."""
    return [
        "# Averaging students: two half-width students, and one forked student", "",
        command_line(env),
        f"- Date: {env['date']}; machine: {env['machine']} (shared: fit times are noisy)",
        "- Versions: " + versions_text(env),
        "- Protocol: the ablations' (stratified 75/25 split per seed, 3,000 training rows, "
        "the benchmark teachers; fidelity against the teachers fitted on all training "
        "rows). Every student has the same teachers, folds, soft targets and synthetic "
        "rows. A and B: default students that differ only in the student's own seed "
        "(initial weights, row order). 'half': every hidden layer half as wide as the "
        f"default's. Fork 1 and 2: one default student trained for {fork_epochs} epochs, "
        "then two copies trained on with their own row orders for the rest of the 200 "
        "(optimizer, schedule and weight average started afresh). 'A+B', 'half A+B', "
        "'fork 1+2': the mean of two students' probabilities (two networks at prediction); "
        "'fork weights': one network, the mean of the forks' weights. Means over seeds.",
        "",
    ]


def render(rows, head):
    """The markdown page: ``head`` (:func:`header`), then fidelity, accuracy and cost,
    one row per table (means over seeds)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    numeric = [c for c in df.columns if c not in ("dataset", "seed", "hidden", "half")]
    tables = df.groupby("dataset", sort=False).agg(
        {**{c: "mean" for c in numeric}, "hidden": "first", "half": "first",
         "seed": "count"})
    lines = list(head)
    for title, columns in (
            ("Fidelity (and how often each pair agrees with itself)",
             [f"fidelity {c}" for c, _ in MODELS] + [c for c, _, _ in PAIRS]),
            ("Accuracy", ["teacher accuracy"] + [f"accuracy {c}" for c, _ in MODELS])):
        lines += [f"## {title}", "",
                  "| dataset | seeds | " + " | ".join(columns) + " |",
                  "|---|---|" + "---|" * len(columns)]
        lines += [f"| {name} | {r['seed']} | " + " | ".join(f"{r[c]:.4f}" for c in columns)
                  + " |" for name, r in tables.iterrows()]
        for label, stat in (("mean", statistics.mean), ("median", statistics.median)):
            lines.append(f"| **{label}** | | " + " | ".join(
                f"**{stat(tables[c]):.4f}**" for c in columns) + " |")
        lines.append("")
    for variant in ("half A+B", "fork weights"):
        up = int((tables[f"fidelity {variant}"] > tables["fidelity A"]).sum())
        down = int((tables[f"fidelity {variant}"] < tables["fidelity A"]).sum())
        lines.append(f"- {variant} against A: fidelity higher on {up}, lower on {down} of "
                     f"{len(tables)} tables.")
    lines += ["", "## Cost", "",
              "| dataset | hidden / half | weights A | weights half A+B | student fit A "
              "| half A + half B | trunk + fork 1 + fork 2 |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['hidden']} / {r['half']} | {r['weights A']:,.0f} | "
              f"{r['weights half A+B']:,.0f} | {r['fit s A']:.1f} s | "
              f"{r['fit s half A+B']:.1f} s | {r['fit s forks']:.1f} s |"
              for name, r in tables.iterrows()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    import joblib
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    parser.add_argument("--tag", default="student_pair",
                        help="name of the written files: <tag>.md and <tag>.csv")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap the students' epochs (a quick smoke run); default: "
                             "the estimator's")
    parser.add_argument("--fork-epochs", type=int, default=50,
                        help="epochs of the forks' shared trunk (below --max-epochs)")
    parser.add_argument("--render", action="store_true",
                        help="rewrite <tag>.md from <tag>.csv (e.g. after concatenating "
                             "the CSVs of runs side by side), keeping the md's command, "
                             "date and versions")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    if args.render:
        old = (out / f"{args.tag}.md").read_text().splitlines()
        head = old[:next(i for i, line in enumerate(old) if line.startswith("## "))]
        rows = pd.read_csv(out / f"{args.tag}.csv").to_dict("records")
        (out / f"{args.tag}.md").write_text(render(rows, head))
        return rows
    env = environment(script_command("student_pair", argv))
    limit_threads()
    params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    rows = []
    with tempfile.TemporaryDirectory(prefix="skdistill-pair-") as cache_dir:
        memory = joblib.Memory(cache_dir, verbose=0)
        for name, X, y in available_datasets(args.datasets, args.data_dir):
            for seed in range(args.seeds):
                rows.append(run_dataset(name, X, y, seed, memory, params,
                                        args.fork_epochs))
                print(rows[-1], flush=True)
                pd.DataFrame(rows).to_csv(out / f"{args.tag}.csv", index=False,
                                          float_format="%.6g")
                (out / f"{args.tag}.md").write_text(render(rows, header(env, args.fork_epochs)))
    return rows


if __name__ == "__main__":
    main()

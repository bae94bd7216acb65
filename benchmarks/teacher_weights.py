"""Would the teachers be stronger weighted or with a member left out?

Distillation cannot beat the labels-only network where the labels-only network beats the
teachers (``ablation_hard_0_6_12k.md``), so this asks whether a different combination of
the default members makes a more accurate teacher, on the full suite's splits (the first
3,000 training rows of a stratified 75/25 split, as ``--max-train-rows 3000`` in the
ablations). Each member is fitted by skdistill's own cross-fitting
(``fit_teachers(method="oof", cv=5)``): its out-of-fold probabilities on the training
rows choose the weights, its refit on all training rows is scored on the test rows.
Compared, by the combination's test accuracy against the equal-weight mean that
``DistilledClassifier`` uses (``teacher_weights=None``):

- ``selection``: greedy ensemble selection with replacement on the out-of-fold log-loss
  (Caruana, Niculescu-Mizil, Crew and Ksikes, "Ensemble Selection from Libraries of
  Models", ICML 2004; the weighted ensemble of AutoGluon), ``SELECTION_ROUNDS`` rounds;
- ``without <member>``: the equal-weight mean of the other four.

The student is not trained: a combination that is not a better teacher cannot give a
better student. Nothing is timed.

    python -m benchmarks.teacher_weights [--datasets ...] [--seeds 2]

Writes ``benchmarks/results/teacher_weights.md``.
"""

import argparse
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
MAX_TRAIN_ROWS = 3000
#: AutoGluon's weighted ensemble runs 25 rounds by default.
SELECTION_ROUNDS = 25


def ensemble_selection(probas, y, rounds=SELECTION_ROUNDS):
    """Weights of greedy ensemble selection with replacement on the log-loss.

    Each round adds the member whose addition to the running (equal-count) mean gives
    the lowest log-loss of ``y``; a member's weight is the share of rounds that chose it.

    Parameters
    ----------
    probas : ndarray of shape (n_members, n_rows, n_classes)
        Out-of-sample probabilities of each member.
    y : ndarray of shape (n_rows,)
        Class indices 0..n_classes-1.

    Returns
    -------
    ndarray of shape (n_members,), summing to 1.

    Examples
    --------
    >>> y = np.array([0, 1, 1])
    >>> right = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    >>> ensemble_selection(np.stack([right, 1 - right]), y, rounds=4).tolist()
    [1.0, 0.0]
    """
    counts = np.zeros(len(probas))
    total = np.zeros_like(probas[0])
    rows = np.arange(len(y))
    for done in range(rounds):
        losses = [-np.log(np.clip((total + p)[rows, y] / (done + 1), 1e-15, None)).mean()
                  for p in probas]
        best = int(np.argmin(losses))
        counts[best] += 1
        total += probas[best]
    return counts / counts.sum()


def member_outputs(teachers, X_train, y_train, X_test, seed):
    """Each member's out-of-fold training probabilities and refit test probabilities."""
    from skdistill._teachers import fit_teachers

    n_classes = int(y_train.max()) + 1
    oof, test = [], []
    for member in teachers:
        fitted, soft = fit_teachers([member], X_train, y_train, None, n_outputs=n_classes,
                                    task="classification", method="oof", cv=5, refit=True,
                                    random_state=seed, n_jobs=1, weights=None)
        oof.append(soft)
        test.append(fitted[0].predict_target(X_test, n_classes, classification=True))
    return np.stack(oof), np.stack(test)


def combinations(names, oof, y_train):
    """``{variant: weights}``: equal, ensemble selection, and each member left out."""
    variants = {"equal (default)": np.ones(len(names)),
                "selection": ensemble_selection(oof, y_train)}
    for i, name in enumerate(names):
        variants[f"without {name}"] = np.where(np.arange(len(names)) == i, 0.0, 1.0)
    return variants


def measure(name, X, y, seed, teachers):
    """One table and seed: a list of result rows, one per combination and per member."""
    X_train, X_test, y_train, y_test, _ = make_split(X, y, seed, max_train=MAX_TRAIN_ROWS,
                                                    max_test=5_000)
    classes, y_train = np.unique(y_train, return_inverse=True)
    oof, test = member_outputs(teachers, X_train, y_train, X_test, seed)
    names = [n for n, _ in teachers]

    def accuracy(proba):
        return float(np.mean(classes[proba.argmax(axis=1)] == y_test))

    rows = [dict(dataset=name, seed=seed, variant=f"{member} alone", accuracy=accuracy(p),
                 weights="") for member, p in zip(names, test)]
    for variant, w in combinations(names, oof, y_train).items():
        rows.append(dict(dataset=name, seed=seed, variant=variant,
                         accuracy=accuracy(np.tensordot(w / w.sum(), test, axes=1)),
                         weights=" ".join(f"{n} {v:.2f}" for n, v in zip(names, w / w.sum()))))
    return rows


def summarize(df):
    """Per-variant mean test accuracy per table (over seeds) and its change against equal."""
    table = df.groupby(["variant", "dataset"], sort=False).accuracy.mean().unstack()
    delta = (table - table.loc["equal (default)"]) * 100
    summary = table.mean(axis=1).to_frame("mean accuracy")
    summary["mean Δ (pp)"] = delta.mean(axis=1)
    summary["tables up / down"] = [f"{(d > 0).sum()} / {(d < 0).sum()}"
                                   for _, d in delta.iterrows()]
    summary["largest loss (pp)"] = delta.min(axis=1)
    return table, summary


def write(df, env, out_dir):
    table, summary = summarize(df)
    lines = ["# Teacher combinations: weighted, or with a member left out", "",
             command_line(env),
             f"- Date: {env['date']}", f"- Machine: {env['machine']} (shared)",
             "- Versions: " + versions_text(env),
             f"- Splits: stratified 75/25, training rows cut to {MAX_TRAIN_ROWS}, test rows to "
             f"5,000; seeds {env['seeds']}; the default teachers (`benchmark_teachers`: the "
             "boosters on one thread). Weights are chosen on 5-fold out-of-fold "
             "probabilities of the training rows; accuracy is each combination of the "
             "members refitted on all training rows, on the test rows, averaged over seeds.",
             "", "| variant | mean accuracy | mean Δ (pp) | tables up / down | largest loss (pp) |",
             "|---|---|---|---|---|"]
    for variant, row in summary.iterrows():
        lines.append(f"| {variant} | {row['mean accuracy']:.4f} | {row['mean Δ (pp)']:+.2f} | "
                     f"{row['tables up / down']} | {row['largest loss (pp)']:+.2f} |")
    lines += ["", "Test accuracy per table (mean over seeds):", "",
              "| variant | " + " | ".join(table.columns) + " |",
              "|---" * (len(table.columns) + 1) + "|"]
    for variant, row in table.iterrows():
        lines.append(f"| {variant} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    lines += ["", "Weights of ensemble selection per table and seed:", "",
              "| table | seed | weights |", "|---|---|---|"]
    for _, row in df[df.variant == "selection"].iterrows():
        lines.append(f"| {row.dataset} | {row.seed} | {row.weights} |")
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "teacher_weights.csv", index=False)
    path = out_dir / "teacher_weights.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None, make_teachers=benchmark_teachers):
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    args = parser.parse_args(argv)
    limit_threads()
    env = environment(script_command("teacher_weights", argv))
    env["seeds"] = ", ".join(map(str, range(args.seeds)))
    rows = []
    for name, X, y in available_datasets(args.datasets or classification_datasets(),
                                         args.data_dir):
        for seed in range(args.seeds):
            new = measure(name, X, y, seed, make_teachers(seed))
            rows += new
            print(f"{name} seed {seed}: " + ", ".join(
                f"{r['variant']} {r['accuracy']:.4f}" for r in new), flush=True)
    if not rows:
        return None
    path = write(pd.DataFrame(rows), env, Path(args.out_dir))
    print(path.read_text())
    return path


if __name__ == "__main__":
    main()

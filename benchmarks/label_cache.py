"""What caching the teachers' labels saves a grid search over student settings.

With ``memory=``, a candidate of a search over student settings reads the fitted teachers
back; since 0.8.5 it also reads back their labels of the synthetic rows (up to 100,000
per split with the defaults) instead of asking the teachers again. On each table (the
seed-0 split, 3,000 training rows, the default teachers cached) this script fits the
same default candidate twice in a row, with the label cache emptied before the first
fit: the first labels the rows (what a candidate cost before 0.8.5), the second reads
them back. It records each fit's wall time and student time, and checks that the two
models are the same.

    python -m benchmarks.label_cache [--datasets magic letter ...] [--cache DIR]

Writes ``benchmarks/results/<tag>.md`` and ``<tag>.csv``; ``--render A.csv B.csv``
writes the page from the CSVs of runs made side by side.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    add_page_args,
    available_datasets,
    benchmark_teachers,
    classification_datasets,
    command_line,
    environment,
    limit_threads,
    make_split,
    markdown_table,
    runs_or_rendered,
    script_command,
    versions_text,
)


def _fit(X, y, memory, **params):
    """A default candidate from the cached teachers: (wall seconds, fitted model)."""
    from skdistill import DistilledClassifier

    model = DistilledClassifier(teachers=benchmark_teachers(0), random_state=0, n_jobs=1,
                                memory=memory, **params)
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start, model


def measure_table(name, X, y, memory):
    """One row per table: the candidate's fit with its rows labelled, then read back."""
    from skdistill._teachers import label_rows_each

    X_train, X_test, y_train, _, _ = make_split(X, y, 0, max_train=3_000, max_test=2_000)
    _fit(X_train, y_train, memory, max_epochs=1)  # the teachers into the cache
    memory.cache(label_rows_each, ignore=["fitted"]).clear(warn=False)
    labelled_wall, labelled = _fit(X_train, y_train, memory)
    cached_wall, cached = _fit(X_train, y_train, memory)
    row = {"dataset": name, "transfer_rows": labelled.fit_info_["n_transfer_rows"],
           "labelled_wall": labelled_wall, "cached_wall": cached_wall,
           "labelled_student": labelled.fit_info_["student_fit_seconds"],
           "cached_student": cached.fit_info_["student_fit_seconds"],
           "same_model": bool(np.array_equal(labelled.predict_proba(X_test),
                                             cached.predict_proba(X_test)))}
    print(row, flush=True)
    return row


def _saved(r):
    """Seconds a candidate saves outside the student's training (which the cache does not
    touch, and whose time varies with the machine's load)."""
    return ((r["labelled_wall"] - r["labelled_student"])
            - (r["cached_wall"] - r["cached_student"]))


def write_page(df, env, path, note=None):
    saved = _saved(df)
    ratio = df["labelled_wall"] / df["cached_wall"]
    lines = ["# Caching the teachers' labels: a candidate of a search over student settings",
             "",
             command_line(env),
             *([f"- Runs: {note}"] if note else []),
             f"- Date: {env['date']}; machine: {env['machine']} (shared; timings are noisy)",
             "- Versions: " + versions_text(env),
             "- Each table's seed-0 split (at most 3,000 training rows); the default "
             "teachers (boosters on one thread) fitted once and cached with `memory=`; the "
             "default candidate fitted twice in a row, the label cache emptied before the "
             "first. 'labelled': the teachers label the synthetic rows (a candidate before "
             "0.8.5); 'read back': the labels come from the cache. Wall: the whole `fit`; "
             "student: `fit_info_[\"student_fit_seconds\"]`; saved: the fall of the wall "
             "time outside the student's training.",
             "", "## Summary", "",
             f"- Tables: {len(df)}; the same model from both fits on "
             f"{int(df['same_model'].sum())} of {len(df)}.",
             f"- Median wall time of a candidate: {df['labelled_wall'].median():.1f} s "
             f"labelled, {df['cached_wall'].median():.1f} s read back; median saving "
             f"{saved.median():.1f} s per candidate (largest {saved.max():.1f} s, "
             f"{df.loc[saved.idxmax(), 'dataset']}), median ratio {ratio.median():.2f}x.",
             f"- A 12-setting grid with 3 folds and a refit (37 candidates) on each table "
             f"would save {37 * saved.median() / 60:.1f} minutes at the median table.",
             "", "## Per table", ""]
    lines += markdown_table([
        {"dataset": r["dataset"], "rows labelled": f"{r['transfer_rows']:,}",
         "wall, labelled (s)": f"{r['labelled_wall']:.1f}",
         "wall, read back (s)": f"{r['cached_wall']:.1f}",
         "saved (s)": f"{_saved(r):.1f}",
         "student, labelled (s)": f"{r['labelled_student']:.1f}",
         "student, read back (s)": f"{r['cached_student']:.1f}",
         "same model": "yes" if r["same_model"] else "no"}
        for _, r in df.iterrows()])
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    import joblib

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_page_args(parser, "label_cache")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="the teacher cache (default: a temporary folder); its label "
                             "entries are emptied on every table")
    args = parser.parse_args(argv)
    env = environment(script_command("label_cache", argv))

    def run():
        limit_threads()
        with tempfile.TemporaryDirectory(prefix="skdistill-label-cache-") as temporary:
            memory = joblib.Memory(args.cache or temporary, verbose=0)
            return [measure_table(name, X, y, memory) for name, X, y in available_datasets(
                args.datasets or classification_datasets(), args.data_dir)]

    df = runs_or_rendered(args, run)
    if df is not None:
        write_page(df, env, Path(args.out_dir) / f"{args.tag}.md", args.note)
    return df


if __name__ == "__main__":
    main()

"""How much the teacher cache (``memory=``) saves in a grid search over student settings.

A ``GridSearchCV`` over 12 distillation settings (temperature x alpha x hidden sizes)
with 3 folds fits 36 candidates plus one refit. Without a cache every one of those 37
fits refits the teacher ensemble; with ``memory=`` the teachers depend only on the
training rows, so they are fitted once per fold and once for the refit (4 times).

The script runs the same search twice, side by side, with and without the cache, and
reports the number of teacher-ensemble fits and the wall-clock ratio. Teacher fits are
counted by subclasses of the teacher estimators that increment a class attribute in
``fit`` (a class attribute is not part of an instance's pickle, so it does not change
the cache key).

Run from the repository root::

    python benchmarks/cache.py                      # full run (minutes)
    python benchmarks/cache.py --quick              # smoke run (a few seconds per arm)
    python benchmarks/cache.py --out benchmarks/results/cache.md
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from joblib import Memory  # noqa: E402
from lightgbm import LGBMClassifier  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from skdistill import DistilledClassifier  # noqa: E402
from skdistill._datasets import load_dataset  # noqa: E402


class _FitCounter:
    """Counts calls of ``fit`` across all subclasses, in this process."""

    n_fits = 0

    def fit(self, X, y, sample_weight=None):
        _FitCounter.n_fits += 1
        return super().fit(X, y, sample_weight=sample_weight)


class CountingRF(_FitCounter, RandomForestClassifier):
    pass


class CountingLGBM(_FitCounter, LGBMClassifier):
    pass


def make_teachers(quick):
    """A fixed, smaller ensemble than the default, so that the no-cache arm (37
    ensemble fits) stays within about 15 minutes on two shared cores."""
    n = 10 if quick else 200
    # One thread each: on two oversubscribed shared cores, thread pools spin and make
    # timings far noisier than the work itself.
    return [
        ("rf", CountingRF(n_estimators=n, n_jobs=1, random_state=0)),
        ("lgbm", CountingLGBM(n_estimators=n + n // 2, learning_rate=0.05, n_jobs=1,
                              random_state=1, verbose=-1)),
    ]


PARAM_GRID = {
    "temperature": [1.0, 2.0, 4.0],
    "alpha": [0.5, 0.9],
    "hidden_layer_sizes": [(32,), (64, 32)],
}


def run_search(X, y, memory, args):
    estimator = DistilledClassifier(
        teachers=make_teachers(args.quick), cv=args.teacher_cv, max_epochs=args.max_epochs,
        batch_size=args.batch_size, memory=memory, random_state=0,
    )
    search = GridSearchCV(estimator, PARAM_GRID, cv=StratifiedKFold(3, shuffle=True,
                                                                    random_state=0))
    _FitCounter.n_fits = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    # CPU seconds of this process (all its threads; every fit runs in-process with
    # n_jobs=1): far less sensitive than wall-clock to other jobs on a shared machine.
    cpu_seconds = time.process_time() - cpu_start
    n_teachers = len(estimator.teachers)
    # Each ensemble fit with out-of-fold soft targets fits every teacher teacher_cv times.
    ensemble_fits = _FitCounter.n_fits / (n_teachers * args.teacher_cv)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "estimator_fits": _FitCounter.n_fits,
            "ensemble_fits": ensemble_fits, "best_score": search.best_score_,
            "best_params": search.best_params_}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--teacher-cv", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="student batch size; larger batches keep the student phase short")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch intra-op threads for the student (see the results notes)")
    parser.add_argument("--out", type=Path, default=None, help="write a markdown summary here")
    args = parser.parse_args(argv)

    import torch

    # A script may set this process-wide; the library never does. On 2 shared,
    # oversubscribed cores a tiny MLP trains 10-30x slower with 2 torch threads than 1.
    torch.set_num_threads(args.torch_threads)

    data = load_dataset("magic", args.data_dir, allow_download=False)
    if data is None:
        sys.exit(f"the magic dataset is not in {args.data_dir or '../shared/datasets'}: "
                 "pass --data-dir")
    X, y = data
    rows = 2_000 if args.quick else args.rows
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:rows]
    X, y = X[idx], y[idx]
    if args.quick:
        args.max_epochs = min(args.max_epochs, 3)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cached = run_search(X, y, Memory(tmp, verbose=0), args)
    # Each arm's numbers as soon as they exist: the no-cache arm takes many minutes.
    print("with cache:", cached, flush=True)
    uncached = run_search(X, y, None, args)
    print("without cache:", uncached, flush=True)
    load_after = os.getloadavg()

    speedup = uncached["seconds"] / cached["seconds"]
    cpu_speedup = uncached["cpu_seconds"] / cached["cpu_seconds"]
    import joblib
    import lightgbm
    import sklearn

    teachers = [(n, type(e).__bases__[-1].__name__, e.get_params()["n_estimators"])
                for n, e in make_teachers(args.quick)]
    lines = [
        "# Teacher cache: GridSearchCV over student settings",
        "",
        f"Command: `python benchmarks/cache.py{' --quick' if args.quick else ''} "
        f"--rows {args.rows} --teacher-cv {args.teacher_cv} --max-epochs {args.max_epochs} "
        f"--batch-size {args.batch_size} --torch-threads {args.torch_threads}`",
        "",
        f"Data: magic, {X.shape[0]} rows x {X.shape[1]} features (all rows when the "
        "dataset has fewer than --rows).",
        f"Grid: {PARAM_GRID} = 12 settings; GridSearchCV cv=3, refit=True (37 fits).",
        "Teachers (fixed, smaller than the default ensemble so that the no-cache arm fits "
        "the time budget; n_jobs=1 each): "
        f"{teachers}, out-of-fold soft targets with cv={args.teacher_cv}; "
        f"student max_epochs={args.max_epochs}, "
        f"batch_size={args.batch_size}, torch threads={args.torch_threads}.",
        "",
        "| arm | teacher-ensemble fits | estimator fits | wall-clock (s) | CPU (s) "
        "| best CV accuracy |",
        "|---|---|---|---|---|---|",
        f"| memory=joblib.Memory | {cached['ensemble_fits']:g} | {cached['estimator_fits']} "
        f"| {cached['seconds']:.1f} | {cached['cpu_seconds']:.1f} | {cached['best_score']:.4f} |",
        f"| memory=None | {uncached['ensemble_fits']:g} | {uncached['estimator_fits']} "
        f"| {uncached['seconds']:.1f} | {uncached['cpu_seconds']:.1f} "
        f"| {uncached['best_score']:.4f} |",
        "",
        f"**Speed-up with the cache: {speedup:.2f}x wall-clock, {cpu_speedup:.2f}x CPU time** "
        f"({uncached['ensemble_fits']:g} -> {cached['ensemble_fits']:g} teacher-ensemble fits).",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared), load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after.",
        f"Versions: python {platform.python_version()}, skdistill, scikit-learn "
        f"{sklearn.__version__}, torch {torch.__version__}, lightgbm {lightgbm.__version__}, "
        f"joblib {joblib.__version__}, numpy {np.__version__}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return cached, uncached


if __name__ == "__main__":
    main()

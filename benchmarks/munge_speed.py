"""How long MUNGE takes compared with the nearest-neighbour search it needs.

Target: making 100,000 synthetic rows x 50 features from 20,000 rows costs no more than
about 3x the nearest-neighbour search alone. Both are timed side by side in one run, on
the same data, median of repeats (the machines are shared and noisy).

    python benchmarks/munge_speed.py [--repeats 5]

Writes benchmarks/results/munge_speed.md.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.neighbors import NearestNeighbors

# Run from a checkout without installing: the package sits one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skdistill import munge  # noqa: E402
from skdistill._augment import _nearest_other_row  # noqa: E402

N_ROWS, N_FEATURES, N_SAMPLES = 20_000, 50, 100_000


def make_data(seed=0):
    rng = np.random.RandomState(seed)
    # Correlated continuous columns plus 5 categorical ones, like a real table.
    latent = rng.standard_normal((N_ROWS, 10))
    X = (latent @ rng.standard_normal((10, N_FEATURES))
         + 0.3 * rng.standard_normal((N_ROWS, N_FEATURES)))
    X[:, :5] = rng.randint(0, 4, size=(N_ROWS, 5))
    return X, np.arange(5)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "munge_speed.md"))
    args = parser.parse_args()

    X, cat = make_data()
    mask = np.zeros(N_FEATURES, bool)
    mask[cat] = True
    levels = [np.unique(X[:, j]) if mask[j] else None for j in range(N_FEATURES)]

    # The search alone, on plain standardized data: what any MUNGE must pay for.
    Z = (X - X.mean(0)) / X.std(0)
    plain = lambda: NearestNeighbors(n_neighbors=1).fit(Z).kneighbors(return_distance=False)  # noqa: E731
    # The search as munge runs it (categorical columns one-hot), for the breakdown.
    own = lambda: _nearest_other_row(X, mask, levels)  # noqa: E731
    full = lambda: munge(X, N_SAMPLES, categorical_features=cat, random_state=0)  # noqa: E731

    full()  # warm-up: imports, BLAS thread pools
    times = {"nn_plain": [], "nn_munge": [], "munge": []}
    for _ in range(args.repeats):
        times["nn_plain"].append(timed(plain))
        times["nn_munge"].append(timed(own))
        times["munge"].append(timed(full))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["munge"] / med["nn_plain"]
    gen_only = med["munge"] - med["nn_munge"]

    lines = [
        "# MUNGE speed versus its nearest-neighbour search",
        "",
        f"Command: `python benchmarks/munge_speed.py --repeats {args.repeats}`  ",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs (shared)  ",
        f"Versions: Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}  ",
        f"Data: {N_ROWS:,} rows x {N_FEATURES} features (5 categorical, 4 levels each); "
        f"{N_SAMPLES:,} synthetic rows. Median of {args.repeats} repeats, seconds.",
        "",
        "| step | median s | all runs |",
        "|---|---:|---|",
        f"| nearest-neighbour search alone (standardized X, `NearestNeighbors(n_neighbors=1)`) "
        f"| {med['nn_plain']:.3f} | {', '.join(f'{t:.3f}' for t in times['nn_plain'])} |",
        f"| the search as `munge` runs it (categorical columns one-hot) "
        f"| {med['nn_munge']:.3f} | {', '.join(f'{t:.3f}' for t in times['nn_munge'])} |",
        f"| `munge(X, {N_SAMPLES})` end to end | {med['munge']:.3f} "
        f"| {', '.join(f'{t:.3f}' for t in times['munge'])} |",
        "",
        f"**munge / nearest-neighbour search = {ratio:.2f}x** (target: at most about 3x). "
        f"Generation after the search: about {gen_only:.3f} s "
        f"({N_SAMPLES * N_FEATURES / max(gen_only, 1e-9) / 1e6:.0f} M values/s).",
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return 0 if ratio <= 3.0 else 1


if __name__ == "__main__":
    sys.exit(main())

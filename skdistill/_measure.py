"""Measurements users judge a distillation by: single-row latency, throughput and size.

Shared by the demo, the report, the frontier, the command line and the benchmarks, so
every number in the project is measured the same way.
"""

import pickle
import time

import numpy as np


def pickled_size(obj):
    """Bytes of ``obj``'s pickle (highest protocol), the size a user ships."""
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def single_row_latency(predict, X, n_calls=200, warmup=20):
    """Median seconds of ``predict`` on one row, over ``n_calls`` calls.

    Rows are cycled from ``X`` and sliced as 2-D ``(1, n_features)`` inputs, the way an
    online service calls a model. The median is robust to the noise of shared machines.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill._measure import single_row_latency
    >>> single_row_latency(lambda row: row.sum(), np.ones((3, 2)), n_calls=5) >= 0
    True
    """
    n = X.shape[0]
    rows = [X[i % n:i % n + 1] for i in range(max(n_calls, warmup))]
    for row in rows[:warmup]:
        predict(row)
    times = np.empty(n_calls)
    for i in range(n_calls):
        row = rows[i % len(rows)]
        start = time.perf_counter()
        predict(row)
        times[i] = time.perf_counter() - start
    return float(np.median(times))


def throughput(predict, X, min_seconds=0.2, repeats=3):
    """Rows per second of ``predict`` on the whole of ``X`` (best of ``repeats``)."""
    best = np.inf
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            predict(X)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return X.shape[0] / best


def format_bytes(n):
    """``1536`` -> ``"1.5 KB"``: sizes as the demo and the command line print them."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def format_seconds(s):
    """Microseconds below a millisecond, else milliseconds."""
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"

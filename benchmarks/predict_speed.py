"""How fast the public predict_proba is, against two baselines measured side by side.

Targets:

1. Single-row latency: ``DistilledClassifier.predict_proba`` on one row is no slower than
   scikit-learn's ``LogisticRegression.predict_proba`` on the same row (ratio <= 1.0).
2. Batch throughput: ``predict_proba`` on a 10,000-row batch reaches at least 80% of the
   rows per second of a bare numpy forward pass with the same layers and no checks
   (the layers' own numpy forward passes and a float64 softmax: the least a numpy
   implementation must do).

The student is a default ``DistilledClassifier`` student (the default encoding, size
and activation; the results page names its layers) distilled from one small teacher:
prediction speed depends on the layer shapes, not on which teachers made the weights.
Each round times the two contenders back to back (interleaved), and the reported ratio
is the median of the per-round ratios, because these machines are shared and noisy.

    python benchmarks/predict_speed.py [--rounds 15] [--dataset spambase]

Writes benchmarks/results/predict_speed.md.
"""

import argparse
import os
import platform
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Run from a checkout without installing: the package sits one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import skdistill  # noqa: E402
from skdistill import DistilledClassifier  # noqa: E402
from skdistill._datasets import load_dataset  # noqa: E402
from skdistill._measure import single_row_latency, throughput  # noqa: E402

BATCH_ROWS = 10_000


def load_data(name):
    data = load_dataset(name, allow_download=False)
    if data is None:
        from sklearn.datasets import load_breast_cancer

        return "breast_cancer (sklearn)", *load_breast_cancer(return_X_y=True)
    return name, *data


def bare_forward(student):
    """The same network with nothing around it: the layers' own numpy forward passes and a
    softmax, no input checks and no estimator. The floor for any numpy predict."""
    layers = student.layers

    def forward(X):
        h = np.array(X, dtype=np.float64)
        for layer in layers:
            h = layer.forward(h)
        h -= h.max(axis=1, keepdims=True)
        np.exp(h, out=h)
        h /= h.sum(axis=1, keepdims=True)
        return h

    return forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--dataset", default="spambase")
    parser.add_argument("--output",
                        default=str(Path(__file__).parent / "results" / "predict_speed.md"))
    args = parser.parse_args()

    name, X, y = load_data(args.dataset)
    X = np.ascontiguousarray(X, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = DistilledClassifier(
            teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)))],
            cv=2, random_state=0,
        ).fit(X, y)
        logreg = LogisticRegression(max_iter=2000).fit(StandardScaler().fit_transform(X), y)
    bare = bare_forward(model.student_)
    rows = X[:500]
    batch = np.ascontiguousarray(np.resize(X, (BATCH_ROWS, X.shape[1])))
    assert np.allclose(bare(batch), model.predict_proba(batch), atol=1e-6)

    lat_s, lat_lr, lat_ratio = [], [], []
    thr_s, thr_bare, thr_ratio = [], [], []
    for _ in range(args.rounds):
        a = single_row_latency(model.predict_proba, rows, n_calls=500)
        b = single_row_latency(logreg.predict_proba, rows, n_calls=500)
        lat_s.append(a), lat_lr.append(b), lat_ratio.append(a / b)
        c = throughput(model.predict_proba, batch, min_seconds=0.2, repeats=2)
        d = throughput(bare, batch, min_seconds=0.2, repeats=2)
        thr_s.append(c), thr_bare.append(d), thr_ratio.append(c / d)
    med = statistics.median

    # Two production numbers that are not timings, for the same model.
    import pickle

    pickle_bytes = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    raw_bytes = model.student_.nbytes
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(skdistill.to_onnx(model).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        onnx_proba = session.run(None, {"X": X.astype(np.float32)})[0]
        onnx_delta = f"{np.abs(onnx_proba - model.predict_proba(X)).max():.2e}"
    except ImportError:
        onnx_delta = "n/a (onnxruntime not installed)"

    lat_ok = med(lat_ratio) <= 1.0
    thr_ok = med(thr_ratio) >= 0.8
    cmd = "python benchmarks/predict_speed.py " + " ".join(sys.argv[1:])
    lines = [
        "# Predict speed: the student against LogisticRegression and a bare numpy pass",
        "",
        f"Command: `{cmd.strip()}`",
        "",
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other jobs: timings are noisy, hence medians "
        "of interleaved rounds).",
        "",
        f"Versions: Python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, skdistill {skdistill.__version__}.",
        "",
        f"Data: {name}, {X.shape[1]} features, {len(np.unique(y))} classes. Student "
        f"{model.student_!r}. Median over {args.rounds} interleaved rounds.",
        "",
        "| measure | student | baseline | ratio (median of rounds) | target | met |",
        "|---|---|---|---|---|---|",
        f"| single-row `predict_proba` latency | {med(lat_s) * 1e6:.1f} us | "
        f"{med(lat_lr) * 1e6:.1f} us (LogisticRegression) | {med(lat_ratio):.3f} | <= 1.0 | "
        f"{'yes' if lat_ok else 'NO'} |",
        f"| {BATCH_ROWS:,}-row batch throughput | {med(thr_s):,.0f} rows/s | "
        f"{med(thr_bare):,.0f} rows/s (bare numpy forward) | {med(thr_ratio):.3f} | >= 0.8 | "
        f"{'yes' if thr_ok else 'NO'} |",
        "",
        f"Same model: pickle {pickle_bytes:,} bytes for {raw_bytes:,} bytes of raw float32 "
        f"weights ({pickle_bytes / raw_bytes:.3f}x; history of {model.n_iter_} epochs); ONNX "
        f"graph vs `predict_proba` on all {X.shape[0]:,} rows: max |delta probability| = "
        f"{onnx_delta}.",
        "",
        f"Per-round latency ratios: {', '.join(f'{r:.3f}' for r in lat_ratio)}.",
        "",
        f"Per-round throughput ratios: {', '.join(f'{r:.3f}' for r in thr_ratio)}.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()

"""Pick a student size from the accuracy-latency frontier.

``distillation_frontier`` fits the teachers once (through a temporary teacher cache)
and trains one student per size, measuring each on the same held-out rows: accuracy,
fidelity to the teachers, single-row latency and pickled size. ``plot_frontier`` draws
the curve, with the teacher ensemble as the reference point.

The plot is saved as a PNG in a temporary directory (matplotlib's Agg backend, no
display needed). Needs the ``plot`` extra: ``pip install skdistill[plot]``.
"""

import os
import tempfile

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import ExtraTreesClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdistill import DistilledClassifier, distillation_frontier  # noqa: E402
from skdistill.plotting import plot_frontier  # noqa: E402

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                    random_state=0)
template = DistilledClassifier(
    teachers=[
        ("et", ExtraTreesClassifier(n_estimators=60, random_state=0)),
        ("lr", make_pipeline(StandardScaler(), LogisticRegression(C=0.1))),
    ],
    cv=3,
    max_epochs=60,
    random_state=0,
)
rows = distillation_frontier(
    template, X_train, y_train, X_test, y_test,
    hidden_layer_sizes=[(8,), (32,), (128, 64)],
    n_latency_calls=100,
)

print(f"{'model':<10}{'hidden':>12}{'params':>9}{'accuracy':>10}{'fidelity':>10}"
      f"{'latency':>12}{'size':>10}")
for r in rows:
    hidden = "-" if r["hidden_layer_sizes"] is None else str(r["hidden_layer_sizes"])
    params = "-" if r["n_parameters"] is None else f"{r['n_parameters']:,}"
    print(f"{r['model']:<10}{hidden:>12}{params:>9}{r['score']:>10.3f}{r['fidelity']:>10.3f}"
          f"{r['latency_seconds'] * 1e6:>9.0f} us{r['size_bytes'] / 1000:>7.0f} kB")

ax = plot_frontier(rows)
ax.set_title("digits: student size vs accuracy and latency")
out_dir = tempfile.mkdtemp(prefix="skdistill-frontier-")
path = os.path.join(out_dir, "frontier.png")
ax.figure.savefig(path, dpi=100, bbox_inches="tight")
plt.close(ax.figure)
print(f"plot saved to {path} ({os.path.getsize(path):,} bytes)")

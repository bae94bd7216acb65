"""Quickstart: distill a small teacher ensemble into one MLP student.

Fits two teachers (a random forest and a LightGBM model), labels the training rows
with their out-of-fold averaged probabilities, trains a 128-64 MLP student on those
soft targets, and compares teacher and student on held-out rows.

The teachers are kept small so this script runs in seconds; ``DistilledClassifier()``
with no ``teachers`` argument uses the full default ensemble (RF, ET, XGBoost,
LightGBM and an MLP).
"""

import tempfile
from pathlib import Path

from lightgbm import LGBMClassifier
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import skdistill
from skdistill import DistilledClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

model = DistilledClassifier(
    teachers=[
        ("rf", RandomForestClassifier(n_estimators=100, random_state=0)),
        ("lgbm", LGBMClassifier(n_estimators=100, verbose=-1, random_state=0)),
    ],
    keep_teachers=True,  # only so that report() can compare; the default drops them
    random_state=0,
)
model.fit(X_train, y_train)

print(f"student accuracy: {model.score(X_test, y_test):.3f}")
print(f"student network:  {model.student_}")
print(f"epochs run:       {model.n_iter_} (best {model.fit_info_['best_epoch']})")
print()
# Teacher vs student on held-out rows: accuracy, log-loss, calibration, fidelity,
# size and single-row latency.
print(model.report(X_test, y_test))

# What you ship: the student alone. skdistill.save never stores the teachers, and the
# loaded model predicts with numpy and scikit-learn only (no torch). The report's
# "size" row above is the same model as a pickle.
with tempfile.TemporaryDirectory() as folder:
    path = skdistill.save(model, Path(folder) / "cancer.skd")
    shipped = skdistill.load(path)
    print(f"\nsaved student: {path.stat().st_size / 1000:.1f} kB; "
          f"same predictions: {(shipped.predict(X_test) == model.predict(X_test)).all()}")

"""Ship a distilled model: pickle, the safe .skd format, ONNX, and the command line.

1. A fitted student predicts with numpy alone: no torch, no teachers.
2. ``skdistill.save`` / ``skdistill.load`` write and read a ``.skd`` file: numpy
   arrays and JSON with a sha256 checksum, never a pickle, so loading runs no code
   from the file. The round trip is exact.
3. ``skdistill.to_onnx`` exports one ONNX graph (standardization, the layers, the
   softmax); onnxruntime then predicts without Python-side skdistill at all.
4. The ``skdistill`` command line reads the same ``.skd`` file.

Needs the ``onnx`` extra: ``pip install skdistill[onnx]``.
"""

import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skdistill
from skdistill import DistilledClassifier

data = load_breast_cancer(as_frame=True)
X, y = data.data, data.target
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

model = DistilledClassifier(
    teachers=[
        ("rf", RandomForestClassifier(n_estimators=100, random_state=0)),
        ("lr", make_pipeline(StandardScaler(), LogisticRegression())),
    ],
    hidden_layer_sizes=(64, 32),
    random_state=0,
).fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f}; student {model.student_}")

workdir = tempfile.mkdtemp(prefix="skdistill-example-")

# 1. Pickle: the student's arrays and the estimator's settings, no teachers, no tensors.
print(f"pickle: {len(pickle.dumps(model)):,} bytes")

# 2. The safe format. Optional metadata travels in the file as JSON.
path = os.path.join(workdir, "cancer.skd")
skdistill.save(model, path, metadata={"owner": "docs example", "data": "breast cancer"})
loaded, metadata = skdistill.load(path, return_metadata=True)
assert np.array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
print(f".skd file: {os.path.getsize(path):,} bytes, metadata {metadata}, exact round trip")

# A file that was changed after saving is refused: its checksum no longer matches.
with open(path, "rb") as fh:
    blob = bytearray(fh.read())
blob[len(blob) // 2] ^= 0xFF
tampered = os.path.join(workdir, "tampered.skd")
with open(tampered, "wb") as fh:
    fh.write(blob)
try:
    skdistill.load(tampered)
except ValueError as exc:  # skdistill._persist.ModelFormatError
    print(f"tampered file refused: {type(exc).__name__}")
else:
    raise AssertionError("a tampered file was loaded")

# 3. ONNX, checked against predict_proba with onnxruntime.
import onnxruntime as ort  # noqa: E402

onnx_path = os.path.join(workdir, "cancer.onnx")
skdistill.to_onnx(model, onnx_path)
session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
proba, label = session.run(None, {"X": X_test.to_numpy(dtype=np.float32)})
max_diff = np.abs(proba - model.predict_proba(X_test)).max()
assert max_diff < 1e-5 and np.array_equal(model.classes_[label], model.predict(X_test))
print(f"ONNX: {os.path.getsize(onnx_path):,} bytes, max |probability difference| {max_diff:.1e}")

# 4. The command line on the same file: describe it, then predict a CSV.
csv_path = os.path.join(workdir, "new_rows.csv")
X_test.head(5).to_csv(csv_path, index=False)
cli = [sys.executable, "-m", "skdistill"]
subprocess.run(cli + ["info", path], check=True)
out = subprocess.run(cli + ["predict", path, csv_path, "--proba"], check=True,
                     capture_output=True, text=True).stdout
print(out)

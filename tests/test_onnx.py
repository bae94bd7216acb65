"""ONNX export: one graph that onnxruntime runs to the same probabilities as numpy."""

import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skdistill
from skdistill import DistilledClassifier, to_onnx

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _run(proto_or_path, X):
    source = proto_or_path if isinstance(proto_or_path, str) else proto_or_path.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {"X": np.asarray(X, dtype=np.float32)})


def _scaled_logreg():
    # Scaled inputs: lbfgs converges in a few iterations instead of thousands.
    return make_pipeline(StandardScaler(), LogisticRegression())


@pytest.fixture(scope="module")
def cancer():
    # Real data that ships with scikit-learn: 569 tumours, 30 features on very
    # different scales, which exercises the standardization in the graph.
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "silu"])
def test_classifier_graph_matches_predict_proba(cancer, activation, tmp_path):
    X_train, X_test, y_train, _ = cancer
    model = DistilledClassifier(
        teachers=[("lr", _scaled_logreg())], cv=2, max_epochs=5,
        activation=activation, random_state=0,
    ).fit(X_train, y_train)
    path = tmp_path / "model.onnx"
    proto = to_onnx(model, path)
    assert path.exists()
    proba, label = _run(str(path), X_test)
    assert np.abs(proba - model.predict_proba(X_test)).max() <= 1e-5
    np.testing.assert_array_equal(model.classes_[label], model.predict(X_test))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["task"] == "classification"
    assert props["activation"] == activation


@pytest.mark.slow
def test_real_dataset_max_difference(real_dataset):
    X, y = real_dataset("spambase")
    # Train on a slice to stay fast; compare on every held-out row.
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0)
    model = DistilledClassifier(teachers=[("lr", _scaled_logreg())], cv=2,
                                max_epochs=2, activation="gelu", random_state=0)
    model.fit(X_train[:1200], y_train[:1200])
    proba, _ = _run(to_onnx(model), X_test)
    assert np.abs(proba - model.predict_proba(X_test)).max() <= 1e-5


def test_regressor_graph_matches_predict(tmp_path):
    DistilledRegressor = getattr(skdistill, "DistilledRegressor", None)
    if DistilledRegressor is None:
        pytest.skip("DistilledRegressor is not in this tree yet")
    X, y = load_diabetes(return_X_y=True)
    model = DistilledRegressor(teachers=[("ridge", Ridge())], cv=2, max_epochs=3,
                               activation="silu", random_state=0).fit(X, y)
    (pred,) = _run(to_onnx(model), X)
    assert pred.shape == (X.shape[0],)
    # float32 arithmetic on targets in the hundreds: compare relative to their scale.
    assert np.abs(pred - model.predict(X)).max() <= 1e-5 * np.abs(y).max()


@pytest.mark.parametrize("dtype", ["datetime64[D]", "datetime64[ms]", "timedelta64[h]"])
def test_date_and_duration_labels_are_stored_so_they_rebuild(dtype):
    import json

    X, y = load_breast_cancer(return_X_y=True)
    labels = np.array([3, 40], dtype=np.int64).astype(dtype)
    if labels.dtype.kind == "M":
        labels = np.array(["2020-01-01", "2021-06-01T12:00"], dtype=dtype)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=200))],
                                max_epochs=2, random_state=0).fit(X, labels[y])
    meta = {p.key: p.value for p in to_onnx(model).metadata_props}
    rebuilt = np.array(json.loads(meta["classes"]), dtype=meta["classes_dtype"])
    assert rebuilt.dtype == model.classes_.dtype
    np.testing.assert_array_equal(rebuilt, model.classes_)


def test_unfitted_and_foreign_models_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        to_onnx(DistilledClassifier())
    with pytest.raises(TypeError, match="DistilledClassifier"):
        to_onnx(LogisticRegression().fit([[0.0], [1.0]], [0, 1]))


def test_missing_onnx_names_the_extra(monkeypatch, cancer):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r"skdistill\[onnx\]"):
        to_onnx(DistilledClassifier())

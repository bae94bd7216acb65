"""A whole Pipeline (ColumnTransformer + distiller) converts with skl2onnx to one graph.

Mixed data: numeric columns with missing values (imputed), string columns (one-hot
encoded). onnxruntime must reproduce ``pipeline.predict_proba`` / ``predict`` within
1e-5, and the converters must emit the same student nodes as ``skdistill.to_onnx``.
"""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skdistill
from skdistill import DistilledClassifier, DistilledRegressor, register_skl2onnx, serving

pd = pytest.importorskip("pandas")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

REPO = Path(__file__).resolve().parent.parent
NUMERIC = ["age", "income", "score"]
CATEGORICAL = ["city", "plan"]
TOL = 1e-5


def _mixed(n=500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(40, 12, n), "income": rng.lognormal(10, 1, n),
        "score": rng.uniform(-3, 3, n),
        "city": rng.choice(["Paris", "Lyon", "Nice", "Lille"], n),
        "plan": rng.choice(["basic", "pro"], n),
    })
    for col in NUMERIC:
        df.loc[rng.random(n) < 0.1, col] = np.nan
    # float32 numbers: the graph reads float32, so both sides see the same inputs.
    df[NUMERIC] = df[NUMERIC].astype(np.float32)
    signal = (np.nan_to_num(df["score"].to_numpy()) + (df["city"] == "Paris") * 1.5
              + (df["plan"] == "pro") - np.log(np.nan_to_num(df["income"], nan=2e4)) / 5)
    return df, np.asarray(signal, dtype=np.float64)


def _preprocess():
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
    ])


def _feeds(df):
    feeds = {c: df[[c]].to_numpy().astype(np.float32) for c in NUMERIC}
    feeds.update({c: df[[c]].to_numpy().astype(object) for c in CATEGORICAL})
    return feeds


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _classifier(labels, **params):
    df, signal = _mixed()
    cuts = np.quantile(signal, np.arange(1, len(labels)) / len(labels))
    y = np.asarray(labels)[np.digitize(signal, cuts)]
    pipe = make_pipeline(_preprocess(), DistilledClassifier(
        teachers=[("lr", LogisticRegression())], cv=2, augmentation=None, max_epochs=5,
        random_state=0, **params)).fit(df, y)
    return pipe, df


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_skl2onnx()


@pytest.mark.parametrize("encoding,activation,n_members", [
    ("piecewise_linear", "relu", 1), ("standard", "gelu", 1), ("periodic", "silu", 1),
    ("piecewise_linear", "relu", 3)])
@pytest.mark.parametrize("labels", [["no", "yes"], [3, 7, 11]], ids=["str2", "int3"])
def test_classifier_pipeline_one_graph(labels, encoding, activation, n_members):
    pipe, df = _classifier(labels, input_encoding=encoding, activation=activation,
                           n_members=n_members)
    proto = skl2onnx.to_onnx(pipe, df[:1], options={id(pipe[-1]): {"zipmap": False}})
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    assert {i.name for i in proto.graph.input} == set(NUMERIC + CATEGORICAL)
    label, proba = _session(proto).run(None, _feeds(df))
    diff = np.abs(proba - pipe.predict_proba(df)).max()
    print(f"\n{labels} {encoding}/{activation}: max |onnx - predict_proba| = {diff:.2e}")
    assert diff <= TOL
    np.testing.assert_array_equal(label, pipe.predict(df))
    assert label.dtype == (object if isinstance(labels[0], str) else np.int64)


def test_zipmap_and_nocl_options():
    pipe, df = _classifier(["no", "yes"])
    label, zipped = _session(skl2onnx.to_onnx(pipe, df[:1])).run(None, _feeds(df))
    expected = pipe.predict_proba(df)
    assert isinstance(zipped, list) and set(zipped[0]) == {"no", "yes"}
    got = np.array([[row["no"], row["yes"]] for row in zipped])
    assert np.abs(got - expected).max() <= TOL
    proto = skl2onnx.to_onnx(pipe, df[:1], options={DistilledClassifier: {
        "zipmap": False, "nocl": True}})
    index, _ = _session(proto).run(None, _feeds(df))
    np.testing.assert_array_equal(pipe[-1].classes_[index], pipe.predict(df))


def test_regressor_pipeline_one_graph():
    df, signal = _mixed(seed=1)
    pipe = make_pipeline(_preprocess(), DistilledRegressor(
        teachers=[("ridge", Ridge())], cv=2, augmentation=None, max_epochs=5,
        n_members=2, random_state=0)).fit(df, signal)
    proto = skl2onnx.to_onnx(pipe, df[:1])
    (pred,) = _session(proto).run(None, _feeds(df))
    assert pred.shape == (len(df), 1)
    expected = pipe.predict(df)
    diff = np.abs(pred[:, 0] - expected).max()
    print(f"\nregressor: max |onnx - predict| = {diff:.2e}")
    # The graph computes in float32: relative to the targets' scale.
    assert diff <= TOL * max(1.0, np.abs(expected).max())


def test_bare_estimator_double_input_and_serving_copy():
    pipe, df = _classifier([3, 7, 11])
    model = serving(pipe[-1])  # a serving copy converts like the original
    Xt = pipe[:-1].transform(df)  # float64: the converter casts to float32
    proto = skl2onnx.to_onnx(model, Xt[:1], options={"zipmap": False})
    label, proba = _session(proto).run(None, {"X": Xt})
    assert proba.dtype == np.float64
    assert np.abs(proba - model.predict_proba(Xt)).max() <= TOL
    np.testing.assert_array_equal(label, model.predict(Xt))
    # The same student nodes as skdistill.to_onnx (skl2onnx may order them differently).
    ops = Counter(n.op_type for n in proto.graph.node)
    own = Counter(n.op_type for n in skdistill.to_onnx(model).graph.node[:-2])  # minus head
    assert own <= ops


def test_integral_float_labels_become_int64():
    pipe, df = _classifier([1.0, 2.0])
    label, _ = _session(skl2onnx.to_onnx(pipe, df[:1], options={"zipmap": False})).run(
        None, _feeds(df))
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, pipe.predict(df))


def test_import_does_not_load_skl2onnx():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import skdistill; "
            "print(sorted({'skl2onnx', 'onnx', 'onnxruntime'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_raw_table_model_is_refused_with_the_way_out():
    df, signal = _mixed(n=200)
    # A raw table: the teacher gets skdistill's own encoding, the student a TableInput.
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], cv=2,
                                augmentation=None, max_epochs=2, random_state=0)
    model.fit(df, signal > np.median(signal))
    # Both with one input per column (a DataFrame sample: skl2onnx would first object to
    # their number) and with one float tensor.
    for sample in (df[:1], np.zeros((1, df.shape[1]), dtype=np.float32)):
        with pytest.raises(RuntimeError, match="categorical columns.*skdistill.to_onnx"):
            skl2onnx.to_onnx(model, sample)

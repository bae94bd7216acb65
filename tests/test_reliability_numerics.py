"""No silent NaN: extreme values at fit and at predict give finite outputs or a clear error.

The student computes in float32 when it trains and in its ONNX graph; a finite float64
above float32's range (|x| > 3.4e38) used to become inf there, then NaN probabilities,
and ``predict`` returned the first class. Every path here must either return finite
numbers or raise, never return NaN or inf.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, DistilledRegressor, to_onnx

X, Y = load_iris(return_X_y=True)
EXTREMES = [1e308, -1e308, 3.5e38, -3.5e38, 3.4e38, 1e38, 1e30, np.inf, -np.inf, np.nan]


@pytest.fixture(scope="module")
def models():
    clf = DistilledClassifier(teachers=[("lr", make_pipeline(StandardScaler(),
                                                             LogisticRegression()))],
                              cv=2, max_epochs=5, random_state=0).fit(X, Y)
    reg = DistilledRegressor(teachers=[("ridge", Ridge())], cv=2, max_epochs=5,
                             random_state=0).fit(X, X[:, 0] * 100)
    return clf, reg


def _outcome(call, rows):
    """'finite' or 'error'; anything else (a NaN or inf result) fails the test."""
    try:
        out = np.asarray(call(rows), dtype=np.float64)
    except ValueError:
        return "error"
    assert np.isfinite(out).all(), f"silent non-finite output {out} for {rows}"
    return "finite"


@pytest.mark.parametrize("value", EXTREMES)
@pytest.mark.parametrize("column", [0, 2])
def test_extreme_values_at_predict(models, value, column):
    clf, reg = models
    row = X[:2].copy()
    row[1, column] = value
    outcomes = {_outcome(f, row) for f in (clf.predict_proba, clf.predict_log_proba,
                                           reg.predict)}
    if not np.isfinite(value) or abs(value) > 3.4028235e38:
        assert outcomes == {"error"}


def test_beyond_float32_names_the_problem(models):
    clf, _ = models
    row = X[:1].copy()
    row[0, 3] = 1e308
    with pytest.raises(ValueError, match=r"float32's range.*columns \[3\]"):
        clf.predict(row)


def test_dataframe_predict_refuses_the_same(models):
    pd = pytest.importorskip("pandas")
    clf = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                              max_epochs=3, random_state=0)
    df = pd.DataFrame(X, columns=list("abcd"))
    clf.fit(df, Y)
    bad = df.iloc[:3].copy()
    bad.iloc[1, 0] = 1e308
    with pytest.raises(ValueError, match="float32"):
        clf.predict_proba(bad)


@pytest.mark.parametrize("huge", [1e308, 3.5e38])
def test_fit_refuses_columns_beyond_float32(huge):
    bad = X.copy()
    bad[:, 1] = huge  # its mean overflows float32 (and, at 1e308, the float64 variance)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], max_epochs=2)
    with pytest.raises(ValueError, match=r"X has values beyond float32's range"):
        model.fit(bad, Y)
    assert not hasattr(model, "student_")


def test_a_column_float32_cannot_resolve_warns_at_fit():
    shifted = X.copy()
    shifted[:, 1] += 1.6e9  # float32's spacing there is 128; the column varies by 0.4
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], cv=2, max_epochs=2,
                                random_state=0)
    with pytest.warns(UserWarning, match=r"Columns \[1\] vary little .* Subtract a constant"):
        model.fit(shifted, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The teacher's own solver may struggle on unscaled columns; that is not ours.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        model.fit(X * 1e3 + 1e6, Y)  # large, but resolved
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"kind": np.array(["a", "b", "c"])[Y], "x": X[:, 0],
                          "ts": shifted[:, 1]})
    with pytest.warns(UserWarning, match=r"Columns \['ts'\] vary little"):
        model.fit(frame, Y)  # named, not its position among the student's inputs


@pytest.mark.parametrize("scale", [1e300, 1e39])
def test_regressor_refuses_targets_beyond_float32(scale):
    model = DistilledRegressor(teachers=[("ridge", Ridge())], max_epochs=2)
    with pytest.raises(ValueError, match=r"y has values beyond float32's range"):
        model.fit(X, X[:, 0] * scale)


@pytest.mark.parametrize("scale", [1e30, 1e36])
def test_regressor_huge_but_representable_targets_are_finite_or_refused(scale):
    model = DistilledRegressor(teachers=[("ridge", Ridge())], max_epochs=3, random_state=0)
    try:
        model.fit(X, X[:, 0] * scale)
    except (ValueError, FloatingPointError):
        return  # refused with a message: acceptable
    pred = model.predict(X)
    assert np.isfinite(pred).all()


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from(EXTREMES),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=arrays(np.float64, st.tuples(st.integers(1, 4), st.just(4)),
                   elements=finite_or_not))
def test_property_predict_never_returns_nan(models, rows):
    clf, reg = models
    for call in (clf.predict_proba, reg.predict):
        outcome = _outcome(call, rows)
        if outcome == "finite" and call is clf.predict_proba:
            np.testing.assert_allclose(call(rows).sum(axis=1), 1.0, rtol=1e-9)


def test_onnx_graph_fails_instead_of_returning_nan(models):
    ort = pytest.importorskip("onnxruntime")
    clf, reg = models
    for model in (clf, reg):
        session = ort.InferenceSession(to_onnx(model).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        for value in (np.inf, -np.inf, np.nan):
            rows = X[:3].astype(np.float32)
            rows[1, 2] = value
            with pytest.raises(Exception, match="check_finite_input"):
                session.run(None, {"X": rows})
        out = session.run(None, {"X": X.astype(np.float32)})[0]
        assert np.isfinite(out).all()
        assert session.run(None, {"X": X[:0].astype(np.float32)})[0].shape[0] == 0


def test_cli_predict_refuses_values_beyond_float32(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from skdistill.cli import main

    frame = pd.DataFrame(X, columns=list("abcd")).assign(target=Y)
    frame.to_csv(tmp_path / "train.csv", index=False)
    bad = frame.drop(columns="target").iloc[:3].copy()
    bad.iloc[1, 0] = 1e308
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["fit", str(tmp_path / "train.csv"), "--target", "target", "-o",
                 str(tmp_path / "m.skd"), "--teachers", "rf", "--n-estimators", "5",
                 "--holdout", "0", "-q"]) == 0
    capsys.readouterr()
    code = main(["predict", str(tmp_path / "m.skd"), str(tmp_path / "bad.csv"), "--proba"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("skdistill: error:") and "float32" in err

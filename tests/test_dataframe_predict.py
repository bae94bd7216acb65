"""predict on a DataFrame: the fast path gives exactly the validated path's answers."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, DistilledRegressor

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def frame():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def fitted(frame):
    X, y = frame
    teacher = make_pipeline(StandardScaler(), LogisticRegression())
    clf = DistilledClassifier(teachers=[("lr", teacher)], cv=2, max_epochs=4,
                              random_state=0).fit(X, y)
    reg = DistilledRegressor(teachers=[("ridge", Ridge())], cv=2, max_epochs=4,
                             random_state=0).fit(X, X.iloc[:, 0])
    return clf, reg


def test_fast_path_matches_the_validated_path(frame, fitted):
    X, _ = frame
    clf, reg = fitted
    assert clf._fast_array(X.iloc[:3]) is not None
    from sklearn.utils.validation import validate_data

    slow = validate_data(clf, X, reset=False)
    np.testing.assert_array_equal(clf.student_.forward(slow), clf.student_.forward(
        clf._fast_array(X)))
    for row in (X.iloc[:1], X.iloc[[5]], X.astype(np.float32).iloc[:7]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "X does not have valid names"
            expected = clf.predict_proba(row.to_numpy())  # through validate_data
        np.testing.assert_array_equal(clf.predict_proba(row), expected)
    assert reg.predict(X.iloc[:4]).shape == (4,)


def test_integer_columns_take_the_fast_path(frame, fitted):
    X, _ = frame
    clf, _ = fitted
    ints = X.round().astype(np.int64)
    assert clf._fast_array(ints) is not None
    np.testing.assert_array_equal(clf.predict(ints), clf.predict(ints.astype(np.float64)))


def test_other_frames_fall_back_to_full_validation(frame, fitted):
    X, _ = frame
    clf, _ = fitted
    reordered = X[list(X.columns[::-1])].iloc[:2]
    assert clf._fast_array(reordered) is None
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(reordered)
    text = X.iloc[:2].astype(object)
    text.iloc[0, 0] = "abc"
    assert clf._fast_array(text) is None
    with pytest.raises(ValueError):
        clf.predict(text)
    assert clf._fast_array(X.iloc[:0]) is None
    with pytest.raises(ValueError):
        clf.predict(X.iloc[:0])

"""Fit-time reliability: broken teachers are named, fit-time state is kept, no side effects.

Teacher output checks (every soft target passes through one validation function), the
teacher weights stored at fit time, ``random_state=None`` leaving numpy's global RNG
alone, integer-like ``cv`` values, the scikit-learn config reaching parallel workers,
and the compat layer's uniform sample-weight rules.
"""

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import StratifiedKFold

from skdistill import DistilledClassifier, DistilledRegressor
from skdistill._compat import _check_sample_weight, check_cv
from skdistill._teachers import _seeds, default_teachers, make_splits

FAST = dict(hidden_layer_sizes=(8,), max_epochs=3, augmentation=None, cv=2, random_state=0)


@pytest.fixture(scope="module")
def clf_data():
    return make_classification(n_samples=80, n_features=5, n_informative=3, random_state=0)


@pytest.fixture(scope="module")
def reg_data():
    return make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)


# --- scikit-learn compatibility --------------------------------------------------------

@pytest.mark.parametrize("cv", [3, np.int64(3), np.int32(3)])
def test_integer_like_cv_gives_the_same_shuffled_folds(clf_data, cv):
    X, y = clf_data
    expected = list(StratifiedKFold(3, shuffle=True, random_state=7).split(X, y))
    splits = make_splits(len(y), y, cv, 7, classification=True)
    assert len(splits) == 3
    for (train, test), (e_train, e_test) in zip(splits, expected):
        np.testing.assert_array_equal(test, e_test)
        np.testing.assert_array_equal(train, e_train)


def test_numpy_integer_cv_fits(clf_data, reg_data):
    X, y = clf_data
    DistilledClassifier(teachers=[("lr", LogisticRegression())],
                        **{**FAST, "cv": np.int64(3)}).fit(X, y)
    X, y = reg_data
    DistilledRegressor(teachers=[("ols", LinearRegression())],
                       **{**FAST, "cv": np.int64(3)}).fit(X, y)


def test_check_cv_shuffles_regression_folds():
    folds = check_cv(4, None, classifier=False, shuffle=True, random_state=0)
    (_, first_test), *_ = folds.split(np.zeros((40, 1)))
    assert not np.array_equal(first_test, np.arange(10))  # not the first rows in order


class ConfigRecorder(ClassifierMixin, BaseEstimator):
    """Records scikit-learn's ``working_memory`` setting as seen inside ``fit``."""

    def fit(self, X, y):
        self.working_memory_ = sklearn.get_config()["working_memory"]
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_sklearn_config_reaches_parallel_teacher_fits(clf_data):
    # joblib's own Parallel starts workers with the default config; scikit-learn's
    # Parallel carries the caller's config into each job.
    X, y = clf_data
    model = DistilledClassifier(teachers=[("a", ConfigRecorder()), ("b", ConfigRecorder())],
                                keep_teachers=True, n_jobs=2, **FAST)
    with sklearn.config_context(working_memory=123):
        model.fit(X, y)
    assert [t.working_memory_ for t in model.teachers_] == [123, 123]


def test_all_zero_sample_weights_are_refused_on_every_version(clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match="at least one non-zero"):
        _check_sample_weight(np.zeros(len(y)), X)
    with pytest.raises(ValueError, match="at least one non-zero"):
        DistilledClassifier(teachers=[("lr", LogisticRegression())], **FAST).fit(
            X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="[Nn]egative"):
        _check_sample_weight(-np.ones(len(y)), X, ensure_non_negative=True)


def test_no_private_sklearn_import_outside_compat():
    # A new scikit-learn release must break at most one module: _compat.py.
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "skdistill"
    offenders = []
    for path in root.glob("*.py"):
        if path.name == "_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
                names = node.module.split(".") + [a.name for a in node.names]
                if any(n.startswith("_") for n in names):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []

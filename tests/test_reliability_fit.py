"""Fit-time reliability: broken teachers are named, fit-time state is kept, no side effects.

Teacher output checks (every soft target passes through one validation function), the
teacher weights stored at fit time, ``random_state=None`` leaving numpy's global RNG
alone, integer-like ``cv`` values and splitters whose test folds miss rows or repeat
them, the scikit-learn config reaching parallel workers,
and the compat layer's uniform sample-weight rules.
"""

import threading

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import (
    KFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    TimeSeriesSplit,
)

from skdistill import DistilledClassifier, DistilledRegressor
from skdistill._compat import _check_sample_weight, check_cv
from skdistill._teachers import _seeds, default_teachers, fit_teachers, make_splits

FAST = dict(hidden_layer_sizes=(8,), max_epochs=3, augmentation=None, cv=2, random_state=0)


@pytest.fixture(scope="module")
def clf_data():
    return make_classification(n_samples=80, n_features=5, n_informative=3, random_state=0)


@pytest.fixture(scope="module")
def reg_data():
    return make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)


# --- deliberately broken teachers -------------------------------------------------------

class BrokenProba(ClassifierMixin, BaseEstimator):
    """A classifier whose predict_proba is broken in the way ``mode`` names."""

    def __init__(self, mode="nan"):
        self.mode = mode

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        n, k = len(X), len(self.classes_)
        p = np.full((n, k), 1.0 / k)
        if self.mode == "nan":
            p[0, 0] = np.nan
        elif self.mode == "inf":
            p[:, 0] = np.inf
        elif self.mode == "one_column":  # e.g. only P(class 1) of a binary problem
            p = p[:, :1]
        elif self.mode == "extra_column":
            p = np.full((n, k + 1), 1.0 / (k + 1))
        elif self.mode == "flat":  # a 1-D array instead of (n, k)
            p = p[:, 0]
        elif self.mode == "out_of_range":  # rows still sum to 1
            p[:, 0], p[:, 1] = 1.5, -0.5
        elif self.mode == "unnormalized":
            p *= 0.9
        elif self.mode == "text":
            p = np.full((n, k), "a", dtype=object)
        elif self.mode == "tiny_drift":  # float rounding: fixed silently
            p *= 1 + 1e-5
        return p

    def predict(self, X):
        return self.classes_[np.zeros(len(X), dtype=int)]


class BrokenRegressor(RegressorMixin, BaseEstimator):
    """A regressor whose predict is broken in the way ``mode`` names."""

    def __init__(self, mode="nan"):
        self.mode = mode

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        out = np.full(len(X), self.mean_)
        if self.mode == "nan":
            out[-1] = np.nan
        elif self.mode == "short":
            out = out[:-1]
        elif self.mode == "two_columns":
            out = np.column_stack([out, out])
        return out


class DoubledOOBForest(RandomForestClassifier):
    """A forest whose out-of-bag estimates do not sum to 1 (but stay in [0, 1])."""

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight=sample_weight)
        if self.oob_score:
            self.oob_decision_function_ = self.oob_decision_function_ * 0.5
        return self


CLASSIFICATION_BREAKS = [
    ("nan", "non-finite"),
    ("inf", "non-finite"),
    ("one_column", r"shape \(\d+, 1\)"),
    ("extra_column", r"shape \(\d+, 3\)"),
    ("flat", r"shape \(\d+,\)"),
    ("out_of_range", r"outside \[0, 1\]"),
    ("unnormalized", "sum to 1"),
    ("text", "not numbers"),
]


@pytest.mark.parametrize("mode, message", CLASSIFICATION_BREAKS)
@pytest.mark.parametrize("soft_targets", ["oof", "in_sample"])
def test_broken_classifier_teacher_is_named(clf_data, mode, message, soft_targets):
    X, y = clf_data
    model = DistilledClassifier(
        teachers=[("lr", LogisticRegression()), ("bad", BrokenProba(mode))],
        soft_targets=soft_targets, **FAST)
    with pytest.raises(ValueError, match=message) as exc:
        model.fit(X, y)
    assert "'bad'" in str(exc.value) and "BrokenProba" in str(exc.value)
    assert not hasattr(model, "student_")  # a failed fit leaves the model unfitted


@pytest.mark.parametrize("mode, message", CLASSIFICATION_BREAKS[:4])
def test_broken_prefit_teacher_is_named(clf_data, mode, message):
    X, y = clf_data
    frozen = FrozenEstimator(BrokenProba(mode).fit(X, y))
    with pytest.raises(ValueError, match=message) as exc:
        DistilledClassifier(teachers=[("bad", frozen)], **FAST).fit(X, y)
    assert "'bad'" in str(exc.value)


def test_broken_refit_teacher_is_named_on_transfer_rows(clf_data):
    # The refitted teacher labels the transfer (unlabeled) rows: the same checks apply.
    X, y = clf_data

    class BadOnNewRows(BrokenProba):
        def predict_proba(self, X):
            p = super().predict_proba(X)
            return p * 0.5 if len(X) == 7 else p

    model = DistilledClassifier(teachers=[("late", BadOnNewRows("ok"))], **FAST)
    with pytest.raises(ValueError, match="'late'.*sum to 1"):
        model.fit(X, y, X_unlabeled=X[:7])


def test_broken_oob_estimates_are_named(clf_data):
    X, y = clf_data
    forest = DoubledOOBForest(n_estimators=15, bootstrap=True, random_state=0)
    model = DistilledClassifier(teachers=[("forest", forest)], soft_targets="oob", **FAST)
    with pytest.raises(ValueError, match="'forest'.*oob_decision_function_.*sum to 1"):
        model.fit(X, y)


def test_tiny_probability_drift_is_renormalized(clf_data):
    X, y = clf_data
    model = DistilledClassifier(teachers=[("drift", BrokenProba("tiny_drift"))],
                                keep_teachers=True, **FAST).fit(X, y)
    proba = model.teacher_predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(proba, 0.5)


@pytest.mark.parametrize("mode, message", [
    ("nan", "non-finite"),
    ("short", r"shape \(\d+,\); expected \(\d+,\)"),
    ("two_columns", r"shape \(\d+, 2\)"),
])
def test_broken_regressor_teacher_is_named(reg_data, mode, message):
    X, y = reg_data
    model = DistilledRegressor(
        teachers=[("ols", LinearRegression()), ("bad", BrokenRegressor(mode))], **FAST)
    with pytest.raises(ValueError, match=message) as exc:
        model.fit(X, y)
    assert "'bad'" in str(exc.value) and "BrokenRegressor" in str(exc.value)


# --- fit-time state ---------------------------------------------------------------------

def _two_teachers():
    return [("lr", LogisticRegression()),
            ("rf", RandomForestClassifier(n_estimators=10, random_state=0))]


def test_teacher_weights_are_frozen_at_fit(clf_data):
    X, y = clf_data
    model = DistilledClassifier(teachers=_two_teachers(), teacher_weights=[1.0, 0.0],
                                keep_teachers=True, **FAST).fit(X, y)
    np.testing.assert_array_equal(model.teacher_weights_, [1.0, 0.0])
    before = model.teacher_predict_proba(X)
    # Only the first teacher counts: the ensemble output is its probabilities.
    np.testing.assert_allclose(before, model.named_teachers_["lr"].predict_proba(X))

    model.set_params(teacher_weights=[0.0, 1.0])
    np.testing.assert_array_equal(model.teacher_predict_proba(X), before)
    # The report compares the student with the ensemble it learned from, too.
    report = model.report(X, y)
    assert report is not None


def test_teacher_weights_default_is_none(clf_data):
    X, y = clf_data
    model = DistilledClassifier(teachers=_two_teachers(), **FAST).fit(X, y)
    assert model.teacher_weights_ is None


def test_random_state_none_leaves_global_rng_alone(clf_data):
    X, y = clf_data
    np.random.seed(1234)
    state = np.random.get_state()
    # LogisticRegression (lbfgs) draws no random numbers, so any change would be ours.
    DistilledClassifier(teachers=[("lr", LogisticRegression())],
                        **{**FAST, "random_state": None}).fit(X, y)
    default_teachers(random_state=None)
    after = np.random.get_state()
    assert after[0] == state[0] and after[2:] == state[2:]
    np.testing.assert_array_equal(after[1], state[1])


def test_seeds_are_reproducible_for_ints_and_fresh_for_none():
    assert _seeds(0, 3) == _seeds(0, 3) == _seeds(np.random.RandomState(0), 3)
    assert _seeds(None, 3) != _seeds(None, 3)  # 1 in 2**93 to collide


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


def test_cv_takes_a_list_of_splits_as_scikit_learn_does(clf_data):
    X, y = clf_data
    splitter = KFold(3, shuffle=True, random_state=0)
    fit = [DistilledClassifier(teachers=[("lr", LogisticRegression())],
                               **{**FAST, "cv": cv}).fit(X, y)
           for cv in (splitter, list(splitter.split(X)))]
    np.testing.assert_array_equal(fit[0].predict_proba(X), fit[1].predict_proba(X))
    # A generator is spent after one fit: refused, with the kinds accepted.
    with pytest.raises(ValueError, match="'cv' parameter .* an array-like"):
        DistilledClassifier(cv=iter(splitter.split(X))).fit(X, y)


def test_a_group_splitter_is_answered_with_its_splits_as_the_way(clf_data):
    from sklearn.model_selection import GroupKFold

    X, y = clf_data
    groups = np.arange(len(y)) % 7
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())],
                                **{**FAST, "cv": GroupKFold(3)})
    with pytest.raises(ValueError, match=r"splits by groups.*cv=list\(GroupKFold"):
        model.fit(X, y)
    model.set_params(cv=list(GroupKFold(3).split(X, y, groups))).fit(X, y)
    assert model.fit_info_["teacher_folds"] is None  # the splits decide


def test_a_fold_whose_training_rows_all_weigh_zero_is_named(clf_data):
    X, y = clf_data
    w = np.zeros(len(y))
    w[:2] = 1.0  # both in one test fold of these splits
    splits = [(np.arange(2, len(y)), np.arange(2)), (np.arange(2), np.arange(2, len(y)))]
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())],
                                **{**FAST, "cv": splits})
    with pytest.raises(ValueError, match=r"training rows of fold 1 of 2 \(cv\) all have "
                                         r"weight 0: only 2 row\(s\)"):
        model.fit(X, y, sample_weight=w)


def test_fewer_rows_than_folds_names_cv_and_the_way_out(clf_data):
    X, y = clf_data
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())],
                                **{**FAST, "cv": 5})
    with pytest.raises(ValueError, match=r"5 folds \(cv\) need at least 5 training rows; "
                                         r"got 4 sample\(s\).*soft_targets='in_sample'"):
        model.fit(X[:4], [0, 1, 0, 1])
    assert not hasattr(model, "n_features_in_")
    model.set_params(soft_targets="in_sample").fit(X[:4], [0, 1, 0, 1])
    # "auto" takes no more folds than the largest class has rows: here 2.
    auto = model.set_params(soft_targets="oof", cv="auto").fit(X[:4], [0, 1, 0, 1])
    assert auto.fit_info_["teacher_folds"] == 2


def test_validation_rows_stay_near_the_fraction_with_many_tiny_classes():
    model = DistilledClassifier(validation_fraction=0.1)
    pairs = np.repeat(np.arange(100), 2)  # 100 classes of 2 rows: 100 used to be held out
    train, valid = model._validation_split(pairs, 0)
    assert len(valid) == 40 and len(train) == 160
    # A single rare class still gets its validation row, and keeps training rows.
    rare = np.r_[np.zeros(997, dtype=int), [1, 1, 1]]
    train, valid = model._validation_split(rare, 0)
    assert (rare[valid] == 1).sum() == 1 and (rare[train] == 1).sum() == 2


#: Teacher fits seen by FitRecorder (one process: n_jobs=None).
FITTED = []


class FitRecorder(ClassifierMixin, BaseEstimator):
    """A classifier that records its fits and predicts the class shares."""

    def fit(self, X, y):
        FITTED.append(len(y))
        self.classes_, counts = np.unique(y, return_counts=True)
        self.share_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.share_, (len(X), 1))


class FitRecorderRegressor(RegressorMixin, BaseEstimator):
    """A regressor that records its fits and predicts the mean."""

    def fit(self, X, y):
        FITTED.append(len(y))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


@pytest.mark.parametrize("Estimator", [DistilledClassifier, DistilledRegressor])
@pytest.mark.parametrize("cv", [ShuffleSplit(n_splits=2, test_size=0.2, random_state=0),
                                TimeSeriesSplit(n_splits=3)])
def test_cv_that_leaves_rows_out_of_every_test_fold_is_refused_before_any_fit(
        clf_data, reg_data, Estimator, cv):
    """A row in no test fold would get no out-of-fold target (zeros, silently)."""
    X, y = clf_data if Estimator is DistilledClassifier else reg_data
    teacher = FitRecorder() if Estimator is DistilledClassifier else FitRecorderRegressor()
    model = Estimator(teachers=[("t", teacher)], **{**FAST, "cv": cv})
    FITTED.clear()
    with pytest.raises(ValueError, match="out of every test fold.*RepeatedStratifiedKFold"):
        model.fit(X, y)
    assert FITTED == []
    assert not hasattr(model, "student_")


def test_repeated_splitter_averages_each_rows_out_of_fold_targets(clf_data):
    """RepeatedStratifiedKFold puts each row in two test folds: its soft target is the
    mean of the two out-of-fold predictions, each from a fit without that row."""
    X, y = clf_data
    cv = RepeatedStratifiedKFold(n_splits=2, n_repeats=2, random_state=0)
    teachers = [("lr", LogisticRegression())]
    _, soft = fit_teachers(teachers, X, y, None, n_outputs=2, task="classification",
                           method="oof", cv=cv, refit=False, random_state=0, n_jobs=None,
                           weights=None)
    expected = np.zeros((len(y), 2))
    for train, test in cv.split(X, y):
        expected[test] += LogisticRegression().fit(X[train], y[train]).predict_proba(X[test])
    np.testing.assert_allclose(soft, expected / 2, rtol=1e-10)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    model = DistilledClassifier(teachers=teachers, **{**FAST, "cv": cv}).fit(X, y)
    assert np.isfinite(model.predict_proba(X)).all()


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


class _Gate(LogisticRegression):
    """Holds its fit until the test has looked at the model mid-refit."""

    entered = threading.Event()
    release = threading.Event()

    def fit(self, X, y, sample_weight=None):
        _Gate.entered.set()
        _Gate.release.wait(60)
        return super().fit(X, y, sample_weight=sample_weight)


def test_a_refit_swaps_the_whole_model_in_at_once():
    # A model that serves while it refits in another thread: until the refit ends,
    # predictions come from the old model whole (not the old student with the new
    # classes_); a refit that fails leaves the old model whole too.
    X, y = make_classification(300, 5, random_state=0)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], max_epochs=2,
                                random_state=0).fit(X, np.where(y == 1, "a", "b"))
    before = model.predict_proba(X)
    _Gate.entered.clear()
    _Gate.release.clear()
    model.set_params(teachers=[("gate", _Gate())])
    refit = threading.Thread(target=model.fit, args=(X[:, :4], np.where(y == 1, "x", "y")))
    refit.start()
    try:
        assert _Gate.entered.wait(60)
        assert list(model.classes_) == ["a", "b"] and model.n_features_in_ == 5
        np.testing.assert_array_equal(model.predict_proba(X), before)
    finally:
        _Gate.release.set()
        refit.join()
    assert list(model.classes_) == ["x", "y"] and model.n_features_in_ == 4
    state = dict(model.__dict__)
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(X, np.zeros(300))
    assert model.__dict__ == state

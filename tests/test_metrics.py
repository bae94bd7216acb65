"""Fidelity, KL and calibration: the plain metrics and the scorer objects."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import (
    DistilledClassifier,
    DistilledRegressor,
    expected_calibration_error,
    fidelity_score,
    fidelity_scorer,
    neg_ece_scorer,
    neg_kl_scorer,
    teacher_student_kl,
)

TINY = dict(teachers=[("lr", LogisticRegression())], max_epochs=5, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return DistilledClassifier(keep_teachers=True, **TINY).fit(X, y)


def test_fidelity_score_labels_and_probabilities():
    assert fidelity_score([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert fidelity_score(np.eye(3), np.eye(3)[[0, 2, 1]]) == pytest.approx(1 / 3)
    assert fidelity_score([0, 1], [1, 1], sample_weight=[3, 1]) == 0.25
    with pytest.raises(ValueError, match="same kind"):
        fidelity_score([0, 1], np.eye(2))


def test_kl_matches_definition_and_is_zero_for_equal():
    rng = np.random.RandomState(0)
    p = rng.dirichlet(np.ones(4), size=50)
    q = rng.dirichlet(np.ones(4), size=50)
    expected = np.mean(np.sum(p * np.log(p / q), axis=1))
    assert teacher_student_kl(p, q) == pytest.approx(expected, rel=1e-9)
    assert teacher_student_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    # 1-D input is the positive class of a binary problem.
    assert teacher_student_kl(p[:, 0], q[:, 0]) == pytest.approx(
        teacher_student_kl(np.c_[1 - p[:, 0], p[:, 0]], np.c_[1 - q[:, 0], q[:, 0]]))
    # An exact zero in the student stays finite.
    assert np.isfinite(teacher_student_kl([[0.5, 0.5]], [[1.0, 0.0]]))
    with pytest.raises(ValueError, match="same shape"):
        teacher_student_kl(p, q[:, :3])


def test_ece_known_values():
    # Perfectly calibrated: 80%-confident rows right 4 times in 5.
    proba = np.tile([[0.8, 0.2]], (5, 1))
    assert expected_calibration_error([0, 0, 0, 0, 1], proba) == pytest.approx(0.0)
    # Always 100% confident and right half the time: ECE 0.5.
    assert expected_calibration_error([0, 1], [[1.0, 0.0], [1.0, 0.0]]) == pytest.approx(0.5)
    # String labels with explicit label order; a test set missing a class.
    assert expected_calibration_error(["b", "b"], [[0.0, 1.0, 0.0]] * 2,
                                      labels=["a", "b", "c"]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="labels=model.classes_"):
        expected_calibration_error(["b", "b"], [[0.0, 1.0, 0.0]] * 2)


def test_ece_refuses_inputs_it_cannot_score():
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        expected_calibration_error([0, 1], proba * 100)
    with pytest.raises(ValueError, match="not among labels"):
        expected_calibration_error([0, 2], proba, labels=[0, 1])
    with pytest.raises(ValueError):
        expected_calibration_error([0, 1], proba, sample_weight=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-zero"):
        expected_calibration_error([0, 1], proba, sample_weight=[0.0, 0.0])
    with pytest.warns(Warning, match="column-vector y"):
        assert expected_calibration_error(np.array([[0], [1]]), proba) == \
            expected_calibration_error([0, 1], proba)


def test_fidelity_and_kl_refuse_what_are_not_probabilities_of_the_same_classes():
    p2 = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match="2 classes but student_pred has 3"):
        fidelity_score(p2, np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        fidelity_score(np.array([[np.nan, np.nan], [0.2, 0.8]]), p2)
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        teacher_student_kl([[-0.5, 1.5]], [[0.5, 0.5]])
    # Scores of one class each (one-vs-rest), not a distribution: named, as log_loss does.
    scores = np.array([[0.5, 0.5], [0.7, 0.6]])
    for metric in (lambda: teacher_student_kl(scores, p2),
                   lambda: expected_calibration_error([0, 1], scores)):
        with pytest.warns(UserWarning, match="1 row\\(s\\) that do not sum to one \\(row 1 "
                          "sums to 1.3\\)"):
            metric()
    # The argmax alone matters to fidelity: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fidelity_score(scores, p2) == 0.5
        teacher_student_kl(p2.astype(np.float32), p2)


def test_ece_equals_bin_definition():
    rng = np.random.RandomState(1)
    proba = rng.dirichlet(np.ones(3), size=400)
    y = rng.randint(0, 3, size=400)
    conf, pred = proba.max(1), proba.argmax(1)
    edges = np.linspace(0, 1, 11)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    assert expected_calibration_error(y, proba, n_bins=10) == pytest.approx(ece)


def test_scorers_on_fitted_model(fitted, data):
    X, y = data
    p_t, p_s = fitted.teacher_predict_proba(X), fitted.predict_proba(X)
    assert fidelity_scorer(fitted, X, y) == fidelity_score(p_t, p_s)
    assert neg_kl_scorer(fitted, X, y) == pytest.approx(-teacher_student_kl(p_t, p_s))
    assert neg_ece_scorer(fitted, X, y) == pytest.approx(
        -expected_calibration_error(y, p_s, labels=fitted.classes_))
    assert repr(fidelity_scorer) == "fidelity_scorer"


def test_scorers_need_kept_teachers(data):
    X, y = data
    model = DistilledClassifier(**TINY).fit(X, y)
    with pytest.raises(AttributeError, match="keep_teachers=True"):
        fidelity_scorer(model, X, y)
    # The calibration scorer needs only the student.
    assert neg_ece_scorer(model, X, y) <= 0


def test_scorers_in_grid_search_and_pipeline(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), DistilledClassifier(keep_teachers=True, **TINY))
    search = GridSearchCV(
        pipe, {"distilledclassifier__temperature": [1.0, 3.0]}, cv=2,
        scoring={"acc": "accuracy", "fid": fidelity_scorer, "kl": neg_kl_scorer,
                 "ece": neg_ece_scorer},
        refit="fid",
    ).fit(X, y)
    fid = search.cv_results_["mean_test_fid"]
    assert np.all((fid >= 0) & (fid <= 1))
    assert np.all(search.cv_results_["mean_test_kl"] <= 0)
    scores = cross_validate(pipe, X, y, cv=2, scoring=fidelity_scorer)
    assert scores["test_score"].shape == (2,)


def test_scorers_score_a_fitted_search_in_nested_cross_validation(data):
    X, y = data
    search = GridSearchCV(DistilledClassifier(keep_teachers=True, **TINY),
                          {"alpha": [0.5, 0.9]}, cv=2)
    scores = cross_val_score(search, X, y, cv=2, scoring=fidelity_scorer,
                             error_score="raise")
    assert np.all((scores > 0.5) & (scores <= 1))
    fitted = search.fit(X, y)
    assert fidelity_scorer(fitted, X, y) == fidelity_scorer(fitted.best_estimator_, X, y)


def test_scorers_take_routed_sample_weight_once_requested(data):
    import sklearn

    X, y = data
    w = np.where(y == 0, 1.0, 0.01)
    model = DistilledClassifier(keep_teachers=True, **TINY)
    folds = KFold(2)
    with sklearn.config_context(enable_metadata_routing=True):
        model.set_fit_request(sample_weight=False)
        weighted = neg_ece_scorer.set_score_request(sample_weight=True)
        assert neg_ece_scorer.get_metadata_routing().score.requests["sample_weight"] is None
        result = cross_validate(model, X, y, cv=folds, params={"sample_weight": w},
                                scoring={"ece": weighted}, return_estimator=True)
        for (_, test), est, score in zip(folds.split(X), result["estimator"],
                                         result["test_ece"]):
            expected = expected_calibration_error(y[test], est.predict_proba(X[test]),
                                                  sample_weight=w[test])
            assert score == pytest.approx(-expected)
        # Unrequested, routed weights are refused, as by scikit-learn's own scorers.
        with pytest.raises(Exception, match="set_score_request"):
            cross_validate(model, X, y, cv=folds, params={"sample_weight": w},
                           scoring={"ece": neg_ece_scorer})


def test_scorers_reject_non_distillers(data):
    X, y = data
    with pytest.raises(TypeError, match="not a distiller"):
        fidelity_scorer(LogisticRegression().fit(X, y), X, y)


def test_regression_fidelity_is_r2_against_teacher():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    model = DistilledRegressor(teachers=[("lin", LinearRegression())], keep_teachers=True,
                               max_epochs=20, random_state=0).fit(X, y)
    from sklearn.metrics import r2_score

    assert fidelity_scorer(model, X, y) == pytest.approx(
        r2_score(model.teacher_predict(X), model.predict(X)))
    with pytest.raises(TypeError, match="regressor"):
        neg_kl_scorer(model, X, y)

"""DistilledClassifier: behaviour users rely on, beyond scikit-learn's common checks."""

import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from xgboost import XGBClassifier

from skdistill import DistilledClassifier, default_teachers
from skdistill._teachers import fit_teachers


def small(**params):
    """A fast configuration: two light teachers and a tiny student."""
    defaults = dict(
        teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression())),
                  ("rf", RandomForestClassifier(n_estimators=20, random_state=0))],
        cv=3, hidden_layer_sizes=(32,), max_epochs=60, random_state=0,
        # Synthetic rows are tested in test_augment.py; here they would only add time.
        augmentation=None,
    )
    defaults.update(params)
    return DistilledClassifier(**defaults)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


# --- accuracy on real held-out data ---------------------------------------------------

@pytest.mark.slow
def test_student_keeps_teacher_accuracy_on_real_data(real_dataset):
    X, y = real_dataset("spambase")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)
    model = DistilledClassifier(
        teachers=[("rf", RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)),
                  ("xgb", XGBClassifier(n_estimators=100, max_depth=5, random_state=0))],
        keep_teachers=True, random_state=0,
    ).fit(np.log1p(X_train), y_train)
    teacher_pred = model.classes_[model.teacher_predict_proba(np.log1p(X_test)).argmax(1)]
    student_pred = model.predict(np.log1p(X_test))
    teacher_acc = np.mean(teacher_pred == y_test)
    student_acc = np.mean(student_pred == y_test)
    assert teacher_acc > 0.93
    assert student_acc >= teacher_acc - 0.015
    assert np.mean(student_pred == teacher_pred) >= 0.95


def test_distillation_beats_chance_and_tracks_teacher(cancer):
    X_train, X_test, y_train, y_test = cancer
    model = small(keep_teachers=True).fit(X_train, y_train)
    teacher_pred = model.teacher_predict_proba(X_test).argmax(1)
    assert model.score(X_test, y_test) > 0.93
    assert np.mean(model.predict(X_test) == model.classes_[teacher_pred]) > 0.93


# --- scikit-learn integration ---------------------------------------------------------

def test_pipeline_with_column_transformer_on_mixed_pandas():
    rng = np.random.RandomState(0)
    n = 400
    df = pd.DataFrame({
        "city": rng.choice(["paris", "oslo", "lima"], n),
        "plan": rng.choice(["a", "b"], n),
        "age": rng.normal(40, 10, n),
        "income": rng.lognormal(10, 1, n),
    })
    y = np.where((df.city == "oslo") ^ (df.age > 40), "yes", "no")
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        (StandardScaler(), ["age", "income"]),
    )
    pipe = make_pipeline(pre, small()).fit(df, y)
    assert set(pipe.predict(df)) <= {"yes", "no"}
    assert pipe.score(df, y) > 0.9


def test_grid_search_over_distillation_hyperparameters(cancer):
    X_train, _, y_train, _ = cancer
    search = GridSearchCV(
        small(max_epochs=15),
        {"temperature": [1.0, 4.0], "alpha": [0.5, 1.0], "hidden_layer_sizes": [(8,), (16,)],
         "teachers__rf__n_estimators": [10]},
        cv=2,
    ).fit(X_train, y_train)
    assert search.best_estimator_.teachers[1][1].n_estimators == 10
    assert len(search.cv_results_["params"]) == 8


def test_cross_val_score(cancer):
    X_train, _, y_train, _ = cancer
    scores = cross_val_score(small(max_epochs=20), X_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_clone_of_fitted_model_is_unfitted(cancer):
    X_train, X_test, y_train, _ = cancer
    fitted = small().fit(X_train, y_train)
    with pytest.raises(NotFittedError):
        clone(fitted).predict(X_test)


def test_nested_teacher_parameters_and_teachers_never_mutated(cancer):
    X_train, _, y_train, _ = cancer
    rf = RandomForestClassifier(n_estimators=20, random_state=0)
    model = small(teachers=[("rf", rf)])
    model.set_params(teachers__rf__n_estimators=7)
    assert model.get_params()["teachers__rf__n_estimators"] == 7
    with pytest.raises(ValueError, match=r"No teacher named 'xgb'; the teachers are \['rf'\]"):
        model.set_params(teachers__xgb__max_depth=3)
    with pytest.raises(ValueError, match=r"teachers=default_teachers\(\)"):
        small(teachers=None).set_params(teachers__rf__n_estimators=3)
    model.fit(X_train, y_train)
    assert not hasattr(rf, "estimators_")  # the user's object was cloned, not fitted


# --- labels -----------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog"]), np.array([3, 10]), np.array([-1, 1]),
    np.array(["x", "y", "z"]), np.array([2, 5, 11]),
])
def test_labels_are_returned_as_given(labels):
    X, y_idx = make_classification(n_samples=300, n_features=6, n_informative=4,
                                   n_classes=len(labels), random_state=0)
    y = labels[y_idx]
    model = small(max_epochs=30).fit(X, y)
    np.testing.assert_array_equal(model.classes_, np.sort(labels))
    assert set(model.predict(X)) <= set(labels)
    assert model.score(X, y) > 0.7
    proba = model.predict_proba(X)
    assert proba.dtype == np.float64 and proba.shape == (300, len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_many_classes():
    X, y = make_classification(n_samples=2600, n_features=20, n_informative=15, n_classes=26,
                               n_clusters_per_class=1, class_sep=2.0, random_state=0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    model = small(teachers=[("lr", LogisticRegression())]).fit(X, letters[y])
    assert len(model.classes_) == 26
    assert model.score(X, letters[y]) > 0.7


def test_fold_missing_a_class_keeps_columns_aligned():
    # Class 2 has a single row, so one training fold lacks it. XGBoost insists on
    # contiguous labels there: the teacher layer re-encodes and maps columns back.
    rng = np.random.RandomState(0)
    y = np.array([0] * 40 + [1] * 40 + [2])
    X = np.c_[y + rng.normal(0, 0.1, y.size), rng.normal(size=y.size)]
    teachers = [("xgb", XGBClassifier(n_estimators=20, max_depth=2)),
                ("lr", LogisticRegression())]
    _, soft = fit_teachers(teachers, X, y, None, n_outputs=3, task="classification",
                           method="oof", cv=2, refit=False, random_state=0, n_jobs=None,
                           weights=None)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    # Misaligned columns would put class 1's mass on class 2: accuracy near 0.5, not 1.
    assert np.mean(soft[:80].argmax(axis=1) == y[:80]) >= 0.95


# --- pandas and feature names --------------------------------------------------------

def test_pandas_feature_names_kept_and_checked(cancer):
    X_train, X_test, y_train, _ = cancer
    cols = [f"f{i}" for i in range(X_train.shape[1])]
    model = small().fit(pd.DataFrame(X_train, columns=cols), y_train)
    np.testing.assert_array_equal(model.feature_names_in_, cols)
    shuffled = pd.DataFrame(X_test, columns=cols[::-1])
    with pytest.raises(ValueError, match="feature names"):
        model.predict(shuffled)
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X_test)


# --- sample weights ---------------------------------------------------------------

class _WeightRecorder(ClassifierMixin, BaseEstimator):
    """A teacher that remembers the weights it saw."""

    seen = []

    def fit(self, X, y, sample_weight=None):
        type(self).seen.append(sample_weight)
        self.classes_ = np.unique(y)
        self.lr_ = LogisticRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict_proba(self, X):
        return self.lr_.predict_proba(X)


def test_sample_weight_reaches_teachers_and_the_student():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 3))
    y = rng.randint(0, 2, 400)  # labels unrelated to X
    weights = np.where(y == 1, 20.0, 1.0)
    _WeightRecorder.seen = []
    model = small(teachers=[("rec", _WeightRecorder())], cv=2)
    model.fit(X, y, sample_weight=weights)
    assert len(_WeightRecorder.seen) == 2 and all(w is not None for w in _WeightRecorder.seen)
    # Heavily weighted class 1 dominates the student's predictions; unweighted, it doesn't.
    assert np.mean(model.predict(X) == 1) > 0.9
    unweighted = small(teachers=[("rec", _WeightRecorder())], cv=2).fit(X, y)
    assert np.mean(unweighted.predict(X) == 1) < 0.9


def test_sample_weight_reaches_a_regressor_inside_a_target_transformer():
    # The default regression ensemble's MLP is wrapped so; its fit passes the weights on.
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge

    from skdistill import DistilledRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = 5 * X[:, 0] + rng.randn(300)
    teacher = TransformedTargetRegressor(regressor=make_pipeline(StandardScaler(), Ridge()),
                                        transformer=StandardScaler())
    fits = []
    for w in (None, np.where(X[:, 1] > 0, 20.0, 1.0)):
        model = DistilledRegressor(teachers=[("ttr", teacher)], keep_teachers=True,
                                   max_epochs=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "fitted unweighted" warning
            fits.append(model.fit(X, y, sample_weight=w).teacher_predict(X))
    assert np.abs(fits[0] - fits[1]).max() > 0.1


def test_sample_weight_reaches_wrapped_teachers_under_metadata_routing():
    # With routing on, Pipeline and TransformedTargetRegressor take sample_weight by its
    # own name and route it; the default ensembles hold both.
    import sklearn
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge

    from skdistill import DistilledRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y_reg = 5 * X[:, 0] + rng.randn(300)
    w = np.where(X[:, 1] > 0, 20.0, 1.0)
    clf = small(teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))],
                keep_teachers=True, max_epochs=2)
    ttr = TransformedTargetRegressor(regressor=make_pipeline(StandardScaler(), Ridge()),
                                     transformer=StandardScaler())
    reg = DistilledRegressor(teachers=[("ttr", ttr)], keep_teachers=True, max_epochs=2,
                             random_state=0)
    y_clf = (X[:, 0] > 0).astype(int)
    outputs = {}
    for routing in (False, True):
        with sklearn.config_context(enable_metadata_routing=routing):
            outputs[routing] = (
                clone(clf).fit(X, y_clf, sample_weight=w).teacher_predict_proba(X),
                clone(reg).fit(X, y_reg, sample_weight=w).teacher_predict(X),
                # class_weight makes weights too, with the default (wrapped) teachers.
                small(teachers=None, class_weight="balanced", max_epochs=2, cv=2)
                .fit(X[:100], y_clf[:100]).predict_proba(X),
                # A meta-estimator that routes to its own estimator, and a regressor that
                # a TransformedTargetRegressor builds itself.
                small(teachers=[("cal", CalibratedClassifierCV(LogisticRegression(), cv=2))],
                      keep_teachers=True, max_epochs=2)
                .fit(X, y_clf, sample_weight=w).teacher_predict_proba(X),
                DistilledRegressor(teachers=[("ttr", TransformedTargetRegressor())],
                                   keep_teachers=True, max_epochs=2, random_state=0)
                .fit(X, y_reg, sample_weight=w).teacher_predict(X),
            )
    for off, on in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(on, off)


def test_teacher_without_sample_weight_support_warns():
    class NoWeights(LogisticRegression):
        def fit(self, X, y):
            return super().fit(X, y)

    X, y = make_classification(n_samples=200, random_state=0)
    with pytest.warns(UserWarning, match="do not accept sample_weight"):
        small(teachers=[("nw", NoWeights())]).fit(X, y, sample_weight=np.ones(200))


# --- persistence and state ------------------------------------------------------------

def _holds_torch(obj, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if type(obj).__module__.startswith("torch"):
        return True
    if isinstance(obj, dict):
        return any(_holds_torch(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_holds_torch(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return _holds_torch(vars(obj), seen)
    return False


def test_pickle_and_joblib_round_trip(cancer, tmp_path):
    X_train, X_test, y_train, _ = cancer
    model = small().fit(X_train, y_train)
    expected = model.predict_proba(X_test)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X_test), expected)
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X_test),
                                  expected)
    # Nothing device-bound is kept, so a model trained on CUDA unpickles on a CPU box.
    assert not _holds_torch(model)
    assert not hasattr(again, "teachers_")


def test_pickle_holds_teachers_only_when_kept(cancer):
    X_train, _, y_train, _ = cancer
    lean = small().fit(X_train, y_train)
    kept = small(keep_teachers=True).fit(X_train, y_train)
    assert len(kept.teachers_) == 2
    # The kept pickle carries the fitted teachers on top of the student.
    extra = len(pickle.dumps(kept)) - len(pickle.dumps(lean))
    assert extra >= 0.9 * len(pickle.dumps(kept.teachers_)) > 10_000
    assert b"estimators_" not in pickle.dumps(lean)  # no fitted forest inside


def test_refit_without_keep_teachers_drops_old_teachers(cancer):
    X_train, _, y_train, _ = cancer
    model = small(keep_teachers=True).fit(X_train, y_train)
    model.set_params(keep_teachers=False).fit(X_train, y_train)
    assert not hasattr(model, "teachers_")


def test_frozen_prefit_teacher_is_used_as_is(cancer):
    X_train, X_test, y_train, _ = cancer
    prefit = RandomForestClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
    trees_before = [id(t) for t in prefit.estimators_]
    model = small(teachers=[("mine", FrozenEstimator(prefit))], keep_teachers=True)
    model.fit(X_train, y_train)
    assert [id(t) for t in prefit.estimators_] == trees_before  # never refitted
    np.testing.assert_allclose(model.teacher_predict_proba(X_test),
                               prefit.predict_proba(X_test))
    assert np.mean(model.predict(X_test) == prefit.predict(X_test)) > 0.93


@pytest.mark.parametrize("method", ["in_sample", "oob"])
def test_other_soft_target_methods(cancer, method):
    X_train, X_test, y_train, y_test = cancer
    rf = RandomForestClassifier(n_estimators=30, random_state=0)
    lr = make_pipeline(StandardScaler(), LogisticRegression())
    model = small(teachers=[("rf", rf), ("lr", lr)],
                  soft_targets=method).fit(X_train, y_train)
    assert model.score(X_test, y_test) > 0.9
    # In-sample targets use no folds; out-of-bag ones fold the teachers without an
    # out-of-bag estimate (lr here).
    assert model.fit_info_["teacher_folds"] == (None if method == "in_sample" else 3)
    if method == "oob":  # with only forests, no teacher is folded
        forest_only = small(teachers=[("rf", rf)], soft_targets=method, max_epochs=5)
        assert forest_only.fit(X_train, y_train).fit_info_["teacher_folds"] is None


def test_hard_label_baseline_fits_no_teacher(cancer):
    X_train, X_test, y_train, y_test = cancer
    model = small(alpha=0.0).fit(X_train, y_train)
    assert model.fit_info_["teacher_fit_seconds"] < 0.01
    assert model.fit_info_["teacher_folds"] is None
    assert model.score(X_test, y_test) > 0.9


def test_hard_label_baseline_says_which_teacher_settings_it_ignores(cancer):
    X_train, X_test, y_train, y_test = cancer
    with pytest.warns(UserWarning, match="X_unlabeled is ignored with alpha=0"):
        model = small(alpha=0.0, max_epochs=5).fit(X_train, y_train, X_unlabeled=X_test)
    # No teacher is fitted only to label rows nothing trains on.
    assert model.fit_info_["teacher_fit_seconds"] < 0.01
    assert model.fit_info_["n_transfer_rows"] == 0
    with pytest.warns(UserWarning, match="validation_target='teachers' has no effect"):
        small(alpha=0.0, max_epochs=5, validation_target="teachers").fit(X_train, y_train)


def test_default_teachers_are_the_documented_ensemble():
    names = [n for n, _ in default_teachers(random_state=0)]
    assert names == ["rf", "et", "xgb", "lgbm", "mlp"]
    a, b = default_teachers(random_state=1), default_teachers(random_state=1)
    assert [e.get_params()["random_state"] for _, e in a if "random_state" in e.get_params()] \
        == [e.get_params()["random_state"] for _, e in b if "random_state" in e.get_params()]


# --- determinism and global state ---------------------------------------------------

def test_same_random_state_same_predictions_and_globals_untouched(cancer):
    X_train, X_test, y_train, _ = cancer
    np.random.seed(123)
    torch.manual_seed(123)
    np_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    threads = torch.get_num_threads()
    a = small(dropout=0.1).fit(X_train, y_train).predict_proba(X_test)
    b = small(dropout=0.1).fit(X_train, y_train).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert torch.get_num_threads() == threads


def test_history_and_early_stopping(cancer):
    X_train, _, y_train, _ = cancer
    model = small(max_epochs=300, n_iter_no_change=5).fit(X_train, y_train)
    assert model.n_iter_ == len(model.history_) < 300
    assert {"train_loss", "valid_loss", "valid_accuracy"} <= set(model.history_[0])
    best = min(h["valid_loss"] for h in model.history_)
    # The restored epoch is the best one up to the improvement tolerance (1e-4).
    assert model.history_[model.fit_info_["best_epoch"] - 1]["valid_loss"] <= best + 1e-4


# --- bad input: clear errors, nothing half-fitted ---------------------------------------

@pytest.mark.parametrize("bad, match", [
    (np.array([[np.nan, 1.0]] * 10), "Column .x0. has no value.*Drop it"),
    (np.array([[np.inf, 1.0]] * 10), "infinity"),
    (np.arange(10.0), "Expected 2D array"),
    (np.empty((0, 2)), "0 sample"),
])
def test_bad_X_is_rejected_with_a_clear_message(bad, match):
    y = np.array([0, 1] * 5)[:len(bad)]
    with pytest.raises(ValueError, match=match):
        small().fit(bad, y)


@pytest.mark.parametrize("y, match", [
    (np.zeros(20), "at least 2 classes"),
    (np.linspace(0, 1, 20), "Unknown label type"),
])
def test_bad_y_is_rejected(y, match):
    with pytest.raises(ValueError, match=match):
        small().fit(np.random.RandomState(0).normal(size=(20, 2)), y)


@pytest.mark.parametrize("params, match", [
    ({"temperature": 0}, "temperature"),
    ({"temperature": -1.0}, "temperature"),
    ({"alpha": 1.5}, "alpha"),
    ({"alpha": -0.1}, "alpha"),
    ({"teachers": [("lin", LinearRegression())]}, "predict_proba"),
    ({"teacher_weights": [1.0]}, "teacher_weights"),
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": "wide"}, "hidden_layer_sizes"),
    ({"weight_averaging": "swa"}, "weight_averaging"),
])
def test_bad_parameters_are_rejected(cancer, params, match):
    X_train, _, y_train, _ = cancer
    with pytest.raises((ValueError, TypeError), match=match):
        small(**params).fit(X_train, y_train)


def test_wrong_number_of_features_at_predict(cancer):
    X_train, X_test, y_train, _ = cancer
    model = small().fit(X_train, y_train)
    with pytest.raises(ValueError, match="features"):
        model.predict(X_test[:, :5])


def test_failed_fit_leaves_previous_state_intact(cancer):
    X_train, X_test, y_train, _ = cancer
    model = small().fit(X_train, y_train)
    before = model.predict_proba(X_test)
    model.set_params(teachers=[("lin", LinearRegression())])
    with pytest.raises(TypeError):
        model.fit(X_train[:, :10], y_train)
    assert model.n_features_in_ == X_train.shape[1]
    np.testing.assert_array_equal(model.predict_proba(X_test), before)


def test_failed_first_fit_leaves_an_unfitted_estimator(cancer):
    X_train, X_test, y_train, _ = cancer
    model = small(teachers=[("lin", LinearRegression())])
    with pytest.raises(TypeError):
        model.fit(X_train, y_train)
    assert not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        model.predict(X_test)


def test_missing_cuda_is_refused_before_the_teachers_fit(cancer, monkeypatch):
    X_train, _, y_train, _ = cancer
    _WeightRecorder.seen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda'.*device='auto'"):
        small(teachers=[("rec", _WeightRecorder())], device="cuda").fit(X_train, y_train)
    assert _WeightRecorder.seen == []

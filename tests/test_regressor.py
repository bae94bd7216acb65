"""DistilledRegressor: the same distillation for regression, on the shared core."""

import pickle

import numpy as np
import pytest
from lightgbm import LGBMRegressor
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBRegressor

from skdistill import DistilledRegressor, default_regression_teachers


def small(**params):
    defaults = dict(
        teachers=[("ridge", Ridge()),
                  ("rf", RandomForestRegressor(n_estimators=30, random_state=0))],
        cv=3, hidden_layer_sizes=(32,), max_epochs=80, random_state=0,
    )
    defaults.update(params)
    return DistilledRegressor(**defaults)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.mark.slow
def test_student_keeps_teacher_r2_on_real_data(real_dataset):
    X, y = real_dataset("537_houses")
    X_train, X_test, y_train, y_test = train_test_split(X[:8000], y[:8000], test_size=0.25,
                                                        random_state=0)
    model = DistilledRegressor(
        teachers=[("lgbm", LGBMRegressor(n_estimators=200, verbose=-1, random_state=0)),
                  ("rf", RandomForestRegressor(n_estimators=60, n_jobs=-1, random_state=0))],
        keep_teachers=True, random_state=0,
    ).fit(X_train, y_train)
    teacher_r2 = r2_score(y_test, model.teacher_predict(X_test))
    student_r2 = r2_score(y_test, model.predict(X_test))
    assert teacher_r2 > 0.75
    assert student_r2 >= 0.93 * teacher_r2


def test_predictions_are_in_target_units(diabetes):
    X_train, X_test, y_train, y_test = diabetes
    model = small().fit(X_train, y_train)
    pred = model.predict(X_test)
    assert pred.shape == (len(X_test),) and pred.dtype == np.float64
    assert abs(pred.mean() - y_train.mean()) < 0.2 * y_train.std()
    assert r2_score(y_test, pred) > 0.3


def test_pipeline_grid_search_and_pickle(diabetes):
    X_train, X_test, y_train, _ = diabetes
    search = GridSearchCV(make_pipeline(StandardScaler(), small(max_epochs=20)),
                          {"distilledregressor__alpha": [0.5, 1.0]}, cv=2)
    search.fit(X_train, y_train)
    best = search.best_estimator_
    again = pickle.loads(pickle.dumps(best))
    np.testing.assert_array_equal(again.predict(X_test), best.predict(X_test))


def test_determinism(diabetes):
    X_train, X_test, y_train, _ = diabetes
    a = small().fit(X_train, y_train).predict(X_test)
    b = small().fit(X_train, y_train).predict(X_test)
    np.testing.assert_array_equal(a, b)


def test_sample_weight_shifts_the_fit(diabetes):
    X_train, X_test, y_train, _ = diabetes
    w = np.where(y_train > np.median(y_train), 10.0, 1.0)
    plain = small().fit(X_train, y_train).predict(X_test).mean()
    weighted = small().fit(X_train, y_train, sample_weight=w).predict(X_test).mean()
    assert weighted > plain + 5


@pytest.mark.parametrize("offset", [1e9 + 31, -1.6e10])
def test_a_target_far_from_zero_keeps_its_units(diabetes, offset):
    # float32 holds 1e9 only to within 64: the folded mean alone would be off by tens
    # of units on a target that varies by a few. The student's shift layer keeps it.
    X_train, X_test, _, _ = diabetes
    y = 300 * X_train[:, 2] + 200 * X_train[:, 8] + offset
    model = small(teachers=[("ridge", Ridge(alpha=1e-3))], keep_teachers=True).fit(X_train, y)
    assert model.student_.layers[-1].kind == "shift"
    gap = model.predict(X_test) - model.teacher_predict(X_test)
    assert abs(gap.mean()) < 0.2 * y.std() and r2_score(model.teacher_predict(X_test),
                                                         model.predict(X_test)) > 0.9
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X_test), model.predict(X_test))
    # float32 exports cannot hold that precision: they say so (numbers near 1e9 to 32).
    pytest.importorskip("onnx")
    from skdistill import to_onnx, to_torch

    for export in (to_onnx, to_torch):
        with pytest.warns(UserWarning, match="in float32 to within (32|512)"):
            export(model)


@pytest.mark.parametrize("offset, scale", [(1e9, 1.0), (0.0, 1e-7), (0.0, 1e-13)])
def test_tree_teachers_fit_a_target_of_any_units(diabetes, offset, scale):
    # Trees cancel far from zero and boosters stop splitting below absolute gains: the
    # teachers then fit the target standardized, and predict in its units.
    X_train, X_test, y_train, y_test = diabetes
    params = dict(teachers=[("rf", RandomForestRegressor(n_estimators=20, random_state=0)),
                            ("xgb", XGBRegressor(n_estimators=50, n_jobs=1,
                                                 random_state=0))],
                  keep_teachers=True, max_epochs=20)
    plain = small(**params).fit(X_train, y_train)
    moved = small(**params).fit(X_train, y_train * scale + offset)
    for model, y in ((plain, y_test), (moved, y_test * scale + offset)):
        model.r2 = (r2_score(y, model.teacher_predict(X_test)), model.score(X_test, y))
    assert moved.r2 == pytest.approx(plain.r2, abs=0.03)


def test_out_of_bag_targets_of_a_standardized_forest_are_in_target_units(diabetes):
    X_train, X_test, y_train, y_test = diabetes
    forest = [("rf", RandomForestRegressor(n_estimators=30, random_state=0))]
    fits = [small(teachers=forest, soft_targets="oob", keep_teachers=True, max_epochs=20)
            .fit(X_train, y_train + offset) for offset in (0.0, 1e9)]
    for model in fits:
        assert model.fit_info_["teacher_folds"] is None  # out-of-bag: no folds
    scores = [model.score(X_test, y_test + offset) for model, offset in zip(fits, (0, 1e9))]
    assert scores[1] == pytest.approx(scores[0], abs=0.03)


@pytest.mark.parametrize("value", [0.0, 5.0, 1e20])
def test_a_constant_target_is_predicted_exactly(diabetes, value):
    X_train, X_test, _, _ = diabetes
    model = small(max_epochs=5, keep_teachers=True).fit(X_train, np.full(len(X_train), value))
    np.testing.assert_array_equal(model.predict(X_test), value)
    # Its teachers agree with the constant to float64's rounding only: R² against that
    # noise would be anything; the fidelity says the student is the same constant.
    assert model.report(X_test, np.full(len(X_test), value)).fidelity == 1.0


def test_rows_weighed_zero_leave_the_student(diabetes):
    # As in scikit-learn, weight 0 leaves a row out: here rows with absurd targets and
    # inputs, which would otherwise set the student's target scale and input encoding.
    X_train, X_test, y_train, y_test = diabetes
    rng = np.random.default_rng(0)
    X = np.vstack([X_train, rng.normal(size=(5, X_train.shape[1])) * 1e6])
    y = np.r_[y_train, np.full(5, 1e7)]
    w = np.r_[np.ones(len(y_train)), np.zeros(5)]
    model = small(teachers=[("ridge", Ridge())]).fit(X, y, sample_weight=w)
    dropped = small(teachers=[("ridge", Ridge())]).fit(X_train, y_train)
    assert model.fit_info_["n_real_rows"] == dropped.fit_info_["n_real_rows"]
    assert abs(model.score(X_test, y_test) - dropped.score(X_test, y_test)) < 0.05


def test_sample_weight_scale_changes_nothing(diabetes):
    X_train, X_test, y_train, _ = diabetes
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y_train))
    # A fitted teacher: a teacher's own fit may depend on the scale (Ridge's penalty).
    teachers = [("ridge", FrozenEstimator(Ridge().fit(X_train, y_train)))]
    # 1e-30 sank below the loss's guard (nothing was learnt); 1e300 overflowed float32.
    # 1e37 in float32: their float32 sum overflows.
    weights = [w * 1e-30, w, w * 1e300, (w * 1e37).astype(np.float32)]
    predictions = [small(teachers=teachers, max_epochs=5)
                   .fit(X_train, y_train, sample_weight=weights).predict(X_test)
                   for weights in weights]
    for p in predictions[2:] + predictions[:1]:
        np.testing.assert_allclose(p, predictions[1], rtol=1e-5)


def test_a_text_target_points_to_the_classifier(diabetes):
    X_train, _, _, _ = diabetes
    for y in (np.array(["a", "b"] * 10), np.array(["a", "b"] * 10, dtype=object)):
        with pytest.raises(ValueError, match="numeric target; y holds text such as 'a'. "
                                             "For class labels use DistilledClassifier"):
            small().fit(X_train[:20], y)


def test_multi_output_target_is_rejected_clearly(diabetes):
    X_train, _, y_train, _ = diabetes
    with pytest.raises(ValueError, match="single target.*MultiOutputRegressor"):
        small().fit(X_train, np.c_[y_train, y_train])


def test_classifier_teacher_is_rejected(diabetes):
    from sklearn.linear_model import LogisticRegression

    X_train, _, y_train, _ = diabetes
    with pytest.raises(TypeError, match="regressors"):
        small(teachers=[("lr", LogisticRegression())]).fit(X_train, y_train)


def test_default_regression_teachers():
    assert [n for n, _ in default_regression_teachers(0)] == ["rf", "et", "xgb", "lgbm", "mlp"]

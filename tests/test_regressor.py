"""DistilledRegressor: the same distillation for regression, on the shared core."""

import pickle

import numpy as np
import pytest
from lightgbm import LGBMRegressor
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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

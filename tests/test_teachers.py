"""The user's own teachers: prefit models and pipelines that read named columns,
meta-estimators (stacking, voting, searches), their weights, and errors that name them."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    RandomForestClassifier,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, DistilledRegressor

COLUMNS = [f"f{i}" for i in range(5)]


@pytest.fixture(scope="module")
def frame():
    X, y = make_classification(400, 5, n_informative=3, n_redundant=0, n_classes=3,
                               random_state=0)
    return pd.DataFrame(X, columns=COLUMNS), y


def _small(teachers, **kw):
    return DistilledClassifier(teachers=teachers, max_epochs=3, hidden_layer_sizes=(8,),
                               random_state=0, **kw)


def test_a_prefit_teacher_reads_the_columns_by_name(frame):
    df, y = frame
    prod = LogisticRegression().fit(df.iloc[:200], y[:200])
    with warnings.catch_warnings():
        # No "X does not have valid feature names": the teacher gets the named frame.
        warnings.simplefilter("error")
        model = _small([("prod", FrozenEstimator(prod))], keep_teachers=True)
        model.fit(df.iloc[200:], y[200:])
    np.testing.assert_allclose(model.teacher_predict_proba(df), prod.predict_proba(df))
    # The same columns in another order were read by position; now the teacher refuses
    # them, by name.
    with pytest.raises(ValueError, match="(?s)Teacher .prod. failed.*same order"):
        _small([("prod", FrozenEstimator(prod))]).fit(df.iloc[200:, ::-1], y[200:])


def test_a_column_transformer_teacher_selects_columns_by_name(frame):
    df, y = frame
    own = make_pipeline(ColumnTransformer([("scale", StandardScaler(), ["f0", "f2", "f3"])]),
                        LogisticRegression())
    model = _small([("own", own)], keep_teachers=True).fit(df, y)
    expected = own.fit(df, y).predict_proba(df)
    np.testing.assert_allclose(model.teacher_predict_proba(df), expected, rtol=1e-6)


def test_teacher_names_never_clash_with_skdistills_own_steps(frame):
    df, y = frame
    table = df.assign(color=np.where(y == 1, "red", "blue"))
    for name in ("table", "encode"):
        teacher = make_pipeline(StandardScaler(), LogisticRegression())
        teacher.steps[0] = ("encode", teacher.steps[0][1])
        _small([(name, teacher)]).fit(table, y)
    for name in ("", "skdistill_table"):
        with pytest.raises(ValueError, match="empty or starts with 'skdistill_'"):
            _small([(name, LogisticRegression())]).fit(df, y)


def test_stacking_with_its_default_final_estimator_is_a_teacher():
    X, y = make_classification(200, 5, random_state=0)
    stack = StackingClassifier([("lr", LogisticRegression())], cv=2)
    _small([("stack", stack)]).fit(X, y)
    Xr, yr = make_regression(200, 5, random_state=0)
    DistilledRegressor(teachers=[("stack", StackingRegressor([("r", Ridge())], cv=2))],
                       max_epochs=3, random_state=0).fit(Xr, yr)


@pytest.mark.parametrize("kind", ["voting", "search"])
def test_sample_weight_reaches_meta_estimator_teachers(kind):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = rng.randint(0, 2, 300)  # labels unrelated to X: only the weights tilt them
    w = np.where(y == 1, 20.0, 1.0)
    teacher = (VotingClassifier([("lr", LogisticRegression())], voting="soft")
               if kind == "voting" else GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted unweighted" warning
        model = _small([("meta", teacher)], keep_teachers=True).fit(X, y, sample_weight=w)
    assert model.teacher_predict_proba(X)[:, 1].mean() > 0.8
    # A member that cannot take the weights (a Pipeline wants step__sample_weight; a
    # stacking's final KNN none): the meta-estimator cannot either.
    from sklearn.neighbors import KNeighborsClassifier

    for unweighted in (
            VotingClassifier([("p", make_pipeline(StandardScaler(), LogisticRegression()))],
                             voting="soft"),
            StackingClassifier([("lr", LogisticRegression())], cv=2,
                               final_estimator=KNeighborsClassifier())):
        with pytest.warns(UserWarning, match=r"Teachers \['meta'\] do not accept "
                                             "sample_weight"):
            _small([("meta", unweighted)]).fit(X, y, sample_weight=w)


def test_a_failing_teacher_is_named(frame):
    df, y = frame
    narrow = LogisticRegression().fit(df.iloc[:, :4].to_numpy(), y)
    with pytest.raises(ValueError, match="Teacher 'prod' failed.*expecting 4 features"):
        _small([("prod", FrozenEstimator(narrow))]).fit(df.to_numpy(), y)
    # scikit-learn's own error types keep their type (InvalidParameterError here).
    with pytest.raises(ValueError, match="Teacher 'lr' failed \\(on a cross-fitting fold\\)"
                       ".*InvalidParameterError"):
        _small([("lr", LogisticRegression(C=-1.0))]).fit(df, y)


def test_teacher_weights_of_any_scale_and_the_dict_mistake(frame):
    df, y = frame
    teachers = [("lr", LogisticRegression()),
                ("rf", RandomForestClassifier(n_estimators=5, random_state=0))]
    equal = _small(teachers).fit(df, y).predict_proba(df)
    huge = _small(teachers, teacher_weights=[1e308, 1e308]).fit(df, y).predict_proba(df)
    np.testing.assert_array_equal(huge, equal)
    with pytest.raises(TypeError, match="one weight per teacher, in the order of teachers"):
        _small(teachers, teacher_weights={"lr": 1.0, "rf": 2.0}).fit(df, y)


def test_a_clusterer_is_not_a_regression_teacher():
    X, y = make_regression(100, 3, random_state=0)
    with pytest.raises(TypeError, match="'km' is a clusterer"):
        DistilledRegressor(teachers=[("km", KMeans(3, n_init=1))]).fit(X, y)


@pytest.mark.parametrize("n_positive", [1, 2])
def test_a_class_of_one_or_two_rows_cross_fits(n_positive):
    # A fold whose training rows hold one class says that class; an MLP that cannot
    # hold out a stratified validation split fits without early stopping.
    from sklearn.neural_network import MLPClassifier
    from xgboost import XGBClassifier

    X, _ = make_classification(300, 4, random_state=0)
    y = np.zeros(300, dtype=int)
    y[:n_positive] = 1
    teachers = [("xgb", XGBClassifier(n_estimators=5, n_jobs=1)),
                ("mlp", MLPClassifier(early_stopping=True, max_iter=20, random_state=0))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP's ConvergenceWarning at 20 iterations
        model = _small(teachers, keep_teachers=True).fit(X, y)
    proba = model.teacher_predict_proba(X)
    assert np.isfinite(proba).all() and proba.shape == (300, 2)


def test_tiny_tables_fit_teachers_with_early_stopping():
    from sklearn.neural_network import MLPRegressor

    X = np.random.RandomState(0).normal(size=(10, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        DistilledRegressor(teachers=[("mlp", MLPRegressor(early_stopping=True, max_iter=20))],
                           max_epochs=2, random_state=0).fit(X, X[:, 0])


def test_auto_folds_never_outnumber_the_largest_class():
    X, _ = make_classification(180, 4, random_state=0)
    y = np.repeat(np.arange(60), 3)  # 60 classes of 3 rows
    model = _small([("lr", LogisticRegression(max_iter=50))]).fit(X, y)
    assert model.fit_info_["teacher_folds"] == 3
    with pytest.raises(ValueError, match="5 stratified folds.*largest class has 3.*cv=3"):
        _small([("lr", LogisticRegression())], cv=5).fit(X, y)
    with pytest.raises(ValueError, match="Every class of y has a single row"):
        _small([("lr", LogisticRegression())]).fit(X[:3], [0, 1, 2])

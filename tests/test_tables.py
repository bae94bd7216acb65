"""Raw tables in: categorical columns and missing values, without a Pipeline.

A DataFrame with category, text and numeric columns holding NaN fits as it is: the
teachers that read such tables natively get them, the others a scikit-learn encoding,
and the student its own input layer (imputation, missing-value flags, one-hot), which
numpy predict, pickle, ``.skd`` and ONNX all carry.
"""

import json
import pickle
import warnings

import numpy as np
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skdistill import DistilledClassifier, DistilledRegressor, TableSchema, load, save, to_onnx
from skdistill._student import TableInput

pd = pytest.importorskip("pandas")

N = 900


def _table(seed=0, n=N):
    """Two numeric columns with missing values, a text and a category column; the label
    depends on all four, so a model that drops any of them loses accuracy."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    income = rng.lognormal(3, 0.5, n)
    city = rng.choice(["Oslo", "Paris", "Rome", "Lima"], n, p=[0.4, 0.3, 0.2, 0.1])
    plan = rng.choice(["basic", "pro"], n)
    logit = (age - 40) / 6 + np.where(city == "Rome", 2.5, 0) - np.where(plan == "pro", 1.5, 0) \
        + (np.log(income) - 3) * 2
    y = (logit + rng.logistic(size=n) * 0.5 > 0).astype(int)
    frame = pd.DataFrame({"age": age, "income": income, "city": city.astype(object),
                          "plan": pd.Categorical(plan)})
    frame.loc[rng.random(n) < 0.1, "age"] = np.nan
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame.loc[rng.random(n) < 0.05, "city"] = None
    return frame, y


def _teachers():
    return [("lgbm", LGBMClassifier(n_estimators=40, verbose=-1, random_state=0)),
            ("rf", RandomForestClassifier(n_estimators=40, random_state=0))]


def _model(**params):
    params = {"teachers": _teachers(), "max_epochs": 30, "random_state": 0,
              "augment_factor": 2.0, **params}
    return DistilledClassifier(**params)


@pytest.fixture(scope="module")
def split():
    frame, y = _table()
    return train_test_split(frame, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(split):
    X_train, _, y_train, _ = split
    return _model(keep_teachers=True).fit(X_train, y_train)


# -- fit and predict on the raw table ---------------------------------------------------

def test_a_raw_table_fits_and_follows_its_teachers(fitted, split):
    _, X_test, _, y_test = split
    assert isinstance(fitted.table_, TableSchema)
    assert [c["kind"] for c in fitted.table_.columns] == ["numeric", "numeric",
                                                          "categorical", "categorical"]
    assert isinstance(fitted.student_.layers[0], TableInput)
    proba = fitted.predict_proba(X_test)
    assert np.isfinite(proba).all()
    teacher = fitted.teacher_predict_proba(X_test).argmax(axis=1)
    accuracy = np.mean(fitted.predict(X_test) == y_test)
    assert accuracy >= np.mean(teacher == y_test) - 0.04
    assert np.mean(fitted.predict(X_test) == teacher) >= 0.9


def test_each_column_matters(fitted, split):
    """The student reads the categories and the missing-value flags, not only numbers."""
    _, X_test, _, _ = split
    rome, oslo = X_test.copy(), X_test.copy()
    rome["city"], oslo["city"] = "Rome", "Oslo"
    assert (fitted.predict_proba(rome)[:, 1] > fitted.predict_proba(oslo)[:, 1]).mean() > 0.9


def test_teachers_get_the_table_natively_or_through_sklearn_encoders(fitted):
    lgbm, rf = fitted.named_teachers_["lgbm"], fitted.named_teachers_["rf"]
    # LightGBM saw pandas category columns; the forest saw imputed, one-hot columns.
    assert lgbm[-1].booster_.pandas_categorical is not None
    assert [name for name, _ in rf.steps] == ["skdistill_table", "skdistill_encode", "rf"]
    assert rf[-1].n_features_in_ > 4


def test_hist_gradient_boosting_reads_categories_from_dtype(split):
    X_train, X_test, y_train, _ = split
    model = _model(teachers=[("hgb", HistGradientBoostingClassifier(max_iter=30))],
                   keep_teachers=True, max_epochs=3).fit(X_train, y_train)
    hgb = model.named_teachers_["hgb"][-1]
    np.testing.assert_array_equal(hgb.is_categorical_, [False, False, True, True])


def test_a_prefit_teacher_gets_the_original_column_names(split):
    X_train, X_test, y_train, _ = split
    # A missing category reaches a prefit teacher as NaN (under pandas 2 an object column
    # keeps None, which OneHotEncoder tells from NaN), as the user guide says: fit on NaN.
    X_train, X_test = (X.assign(city=X["city"].fillna(np.nan)) for X in (X_train, X_test))
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    own = make_pipeline(make_column_transformer(
        (SimpleImputer(), ["age", "income"]),
        (OneHotEncoder(handle_unknown="ignore"), ["city", "plan"])),
        RandomForestClassifier(n_estimators=20, random_state=0)).fit(X_train, y_train)
    model = _model(teachers=[("own", FrozenEstimator(own))], max_epochs=3,
                   keep_teachers=True).fit(X_train, y_train)
    np.testing.assert_allclose(model.teacher_predict_proba(X_test), own.predict_proba(X_test))


def test_a_teacher_that_selects_columns_by_dtype_finds_them(split):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    X_train, X_test, y_train, _ = split
    X_train, X_test = (X.assign(city=X["city"].fillna(np.nan)) for X in (X_train, X_test))
    text = make_pipeline(SimpleImputer(strategy="constant", fill_value="none"),
                         OneHotEncoder(handle_unknown="ignore"))
    own = make_pipeline(make_column_transformer(
        (text, make_column_selector(dtype_include=object)),
        (OneHotEncoder(), make_column_selector(dtype_include="category")),
        (SimpleImputer(), make_column_selector(dtype_include="number"))),
        LogisticRegression(max_iter=1000))
    model = _model(teachers=[("own", own)], max_epochs=3, keep_teachers=True)
    model.fit(X_train, y_train)
    # The teacher saw the user's kinds: text as object, the category column as category.
    kept = model.named_teachers_["own"].named_steps["columntransformer"]
    assert [list(cols) for _, _, cols in kept.transformers_] == [
        ["city"], ["plan"], ["age", "income"]]
    alone = clone(own).fit(X_train, y_train)
    np.testing.assert_allclose(model.teacher_predict_proba(X_test),
                               alone.predict_proba(X_test), atol=1e-8)


def test_user_dtypes_keep_missing_values_missing():
    # A bool column marked categorical: NaN must not become True on its way back.
    frame = pd.DataFrame({"flag": [True, False, True], "city": ["a", "b", None]})
    schema = TableSchema.fit(frame, categorical_features=["flag"])
    query = pd.DataFrame({"flag": [True, None, False], "city": [None, "b", "zz"]})
    with pytest.warns(UserWarning, match="not seen at fit"):
        back = schema.to_frame(schema.encode(query), user_dtypes=True)
    assert back["flag"].tolist()[0] is True and pd.isna(back["flag"][1])
    assert pd.isna(back["city"][0]) and back["city"][1] == "b" and pd.isna(back["city"][2])


def test_a_column_of_many_values_keeps_its_most_frequent(split, tmp_path):
    from skdistill._table import MAX_KEPT_CATEGORIES

    X_train, X_test, y_train, _ = split
    # An ID-like column: one value twice as common as the others, and many singletons.
    ids = [f"id-{i:05d}" for i in range(len(X_train))]
    ids[:40] = ["id-common"] * 40
    X_ids = X_train.assign(ref=ids)
    # HistGradientBoosting reads at most 255 categories natively.
    model = _model(teachers=[("hgb", HistGradientBoostingClassifier(max_iter=20))],
                   max_epochs=3)
    with pytest.warns(UserWarning, match=r"'ref' \(\d+\)\. Each keeps its 255 most frequent"):
        model.fit(X_ids, y_train)
    ref = model.table_.columns[-1]
    assert len(ref["categories"]) == MAX_KEPT_CATEGORIES and "id-common" in ref["categories"]
    assert ref["n_rare"] == len(set(ids)) - MAX_KEPT_CATEGORIES
    loaded = load(save(model, tmp_path / "ids.skd"))
    test = X_test.assign(ref="id-00300")  # seen once at fit, not kept
    with pytest.warns(UserWarning, match=r"or too rare to be kept: \['ref'\]"):
        np.testing.assert_array_equal(loaded.predict_proba(test), model.predict_proba(test))


def test_parquet_category_columns_read_back_with_arrow_types(fitted, split, tmp_path):
    # pd.read_parquet(dtype_backend="pyarrow") gives a category column Arrow's dictionary
    # type; it is the same text column, at any batch size (few-row lookups or not).
    pytest.importorskip("pyarrow")
    X_train, X_test, y_train, _ = split
    path = tmp_path / "t.parquet"
    X_test.to_parquet(path)
    arrow = pd.read_parquet(path, dtype_backend="pyarrow")
    assert "dictionary" in str(arrow["plan"].dtype)
    for rows in (5, len(arrow)):
        np.testing.assert_array_equal(fitted.predict_proba(arrow.head(rows)),
                                      fitted.predict_proba(X_test.head(rows)))
    X_train.to_parquet(path)
    model = _model(max_epochs=2).fit(pd.read_parquet(path, dtype_backend="pyarrow"), y_train)
    assert model.table_.columns[3]["categories"] == ["basic", "pro"]


def test_a_regressor_fits_a_raw_table(split):
    X_train, X_test, _, _ = split
    target = X_train["age"].fillna(40).to_numpy() * 2 + (X_train["city"] == "Rome") * 10
    model = DistilledRegressor(teachers=[("lgbm", LGBMRegressor(n_estimators=40, verbose=-1))],
                               max_epochs=20, random_state=0).fit(X_train, target)
    assert model.score(X_train, target) > 0.8
    assert np.isfinite(model.predict(X_test)).all()


def test_inside_a_pipeline(split):
    X_train, X_test, y_train, _ = split
    pipe = make_pipeline(FunctionTransformer(feature_names_out="one-to-one"),
                         _model(max_epochs=3)).fit(X_train, y_train)
    assert np.isfinite(pipe.predict_proba(X_test)).all()


def test_unlabeled_rows_and_sample_weight_read_the_same_table(split):
    X_train, X_test, y_train, _ = split
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both teachers take sample_weight: no warning
        model = _model(max_epochs=3).fit(X_train, y_train, X_unlabeled=X_test,
                                         sample_weight=np.ones(len(y_train)))
    assert model.fit_info_["n_transfer_rows"] > len(X_test)


def test_out_of_bag_soft_targets_through_the_encoding(split):
    X_train, _, y_train, _ = split
    model = _model(soft_targets="oob", max_epochs=3).fit(X_train, y_train)
    assert np.isfinite(model.predict_proba(X_train)).all()


def test_synthetic_rows_keep_categories_and_missing_values(split):
    X_train, _, y_train, _ = split
    model = _model(max_epochs=2)
    data = model._check_inputs(X_train, y_train, None, None)
    synthetic = model._synthesize(data.X, data.categorical, 0)
    for j in np.flatnonzero(data.categorical):
        seen = set(np.unique(data.X[:, j][~np.isnan(data.X[:, j])]))
        assert set(np.unique(synthetic[:, j][~np.isnan(synthetic[:, j])])) <= seen
    rates = np.isnan(data.X).mean(axis=0), np.isnan(synthetic).mean(axis=0)
    np.testing.assert_allclose(rates[1], rates[0], atol=0.03)


# -- arrays: missing values and marked categorical columns ------------------------------

def test_an_array_with_missing_values_fits_and_imputes():
    frame, y = _table()
    X = frame[["age", "income"]].to_numpy()
    model = _model(max_epochs=5).fit(X, y)
    assert model.student_.accepts_missing
    assert np.isfinite(model.predict_proba(np.array([[np.nan, np.nan], [30.0, 20.0]]))).all()


def test_a_model_fitted_without_missing_values_refuses_them():
    frame, y = _table()
    X = frame[["age", "income"]].fillna(1.0).to_numpy()
    model = _model(max_epochs=2).fit(X, y)
    assert model.table_ is None and not model.student_.accepts_missing
    # Every path says which columns, and that this model could have learnt to fill them
    # (not scikit-learn's generic advice to use another estimator).
    message = r"Input X contains NaN \(missing values\) in columns \[0\].*fit on data with"
    for rows in (np.array([[np.nan, 1.0]]), [[np.nan, 1.0]],
                 pd.DataFrame({"a": [np.nan], "b": [1.0]}).astype("Float64")):
        with pytest.raises(ValueError, match=message):
            model.predict(rows)
    with pytest.raises(ValueError, match=r"Input X contains infinity in columns \[1\]"):
        model.predict([[1.0, np.inf]])
    with pytest.raises(ValueError, match=r"Input X contains infinity in columns \[0\]"):
        _model(max_epochs=2).fit(np.where(np.arange(X.size).reshape(X.shape) == 0, np.inf, X), y)
    with pytest.raises(ValueError, match=r"Input X_unlabeled contains NaN .* columns \[1\]"):
        _model(max_epochs=2).fit(X, y, X_unlabeled=np.array([[1.0, np.nan]]))


def test_categorical_features_marks_array_columns_as_categories():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=400), rng.integers(0, 5, 400) * 10.0])
    y = (X[:, 1] == 20).astype(int)
    model = _model(categorical_features=[1], max_epochs=40).fit(X, y)
    assert model.table_.columns[1]["categories"] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert model.score(X, y) > 0.95
    with pytest.warns(UserWarning, match=r"'x1': 1 row\(s\), e.g. 25.0"):
        model.predict(np.array([[0.0, 25.0]]))


# -- bad input: clear errors ------------------------------------------------------------

def test_an_unseen_category_warns_with_its_count(fitted, split):
    _, X_test, _, _ = split
    new = X_test.iloc[:5].copy()
    new["city"] = ["Berlin", "Berlin", "Oslo", "Tokyo", None]
    with pytest.warns(UserWarning, match=r"'city': 3 row\(s\), e\.g\. 'Berlin'"):
        proba = fitted.predict_proba(new)
    assert np.isfinite(proba).all()


@pytest.mark.parametrize("column, value, message", [
    ("age", "old", "Column 'age' held numbers at fit but holds 'old'"),
    ("city", 3.0, "Column 'city' held text categories at fit"),
    ("city", ["Oslo"], r"Column 'city' held text categories at fit .* holds \['Oslo'\]"),
])
@pytest.mark.parametrize("n_rows", [3, 100])  # few-row lookups, and the column path
def test_a_column_of_the_wrong_kind_is_named(fitted, split, column, value, message, n_rows):
    _, X_test, _, _ = split
    bad = X_test.iloc[:n_rows].copy().astype({column: object})
    bad[column] = pd.Series([value] * n_rows, index=bad.index, dtype=object)
    with pytest.raises(ValueError, match=message):
        fitted.predict(bad)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.assign(age=np.nan), "Column 'age' has no value: every cell is missing"),
    (lambda f: f.assign(city=["a", 1] * (len(f) // 2)), "Column 'city' mixes kinds"),
    (lambda f: f.assign(city=pd.Series([["a"]] * len(f), index=f.index, dtype=object)),
     r"Column 'city' holds list values such as \['a'\]"),
])
def test_bad_tables_are_refused_at_fit(split, change, message):
    X_train, _, y_train, _ = split
    model = _model(max_epochs=2)
    with pytest.raises(ValueError, match=message):
        model.fit(change(X_train.iloc[:len(X_train) // 2 * 2]), y_train[:len(X_train) // 2 * 2])
    assert not hasattr(model, "student_") and not hasattr(model, "n_features_in_")


def test_a_row_passed_as_a_series_is_refused_with_the_fix(fitted, split):
    _, X_test, _, _ = split
    with pytest.raises(ValueError, match=r"Expected a 2-dimensional table.*df\.iloc\[\[i\]\]"):
        fitted.predict(X_test.iloc[0])


def test_wrong_columns_at_predict_are_named(fitted, split):
    _, X_test, _, _ = split
    with pytest.raises(ValueError, match="city"):
        fitted.predict(X_test.drop(columns="city"))


# -- the one encoding everywhere: pickle, .skd, ONNX ------------------------------------

def test_pickle_and_skd_round_trips_are_exact(fitted, split, tmp_path):
    _, X_test, _, _ = split
    expected = fitted.predict_proba(X_test)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X_test), expected)
    loaded = load(save(fitted, tmp_path / "table.skd"))
    assert loaded.table_ == fitted.table_
    np.testing.assert_array_equal(loaded.predict_proba(X_test), expected)


def test_onnx_reads_the_codes_and_imputes_in_the_graph(fitted, split):
    ort = pytest.importorskip("onnxruntime")
    import json

    _, X_test, _, _ = split
    proto = to_onnx(fitted)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert TableSchema.from_dict(json.loads(meta["table"])) == fitted.table_
    codes = fitted.table_.encode(X_test).astype(np.float32)
    assert np.isnan(codes).any()
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    proba = session.run(None, {"X": codes})[0]
    assert np.abs(proba - fitted.predict_proba(X_test)).max() < 1e-5
    with pytest.raises(Exception, match="check_finite_input"):
        session.run(None, {"X": np.full((1, 4), np.inf, dtype=np.float32)})


def test_a_tampered_schema_is_refused(fitted, tmp_path):
    from skdistill import ModelFormatError

    with pytest.raises(ValueError, match="schema is invalid"):
        TableSchema.from_dict({"columns": [{"name": "a", "kind": "text"}]})
    path = save(fitted, tmp_path / "m.skd")
    import skdistill._persist as persist

    members = persist._read_members(path)
    header = json.loads(members[persist._HEADER])
    header["fitted"]["table_"]["columns"].pop()
    members[persist._HEADER] = json.dumps(header).encode()
    persist._write_atomic(path, persist._seal(
        {k: v for k, v in members.items() if k not in (persist._CHECKSUM,)}, None))
    with pytest.raises(ModelFormatError, match="table schema does not fit"):
        load(path)


def test_a_boolean_in_a_column_of_integer_categories_is_unseen_at_any_batch_size():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200),
                          "k": pd.Categorical(rng.integers(0, 3, 200))})
    model = _model(max_epochs=2).fit(frame, (frame["x"] > 0).astype(int))
    row = pd.DataFrame({"x": [0.5], "k": [True]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unknown = model.predict_proba(row.assign(k=[7]))
    # True == 1, but it is not the category 1: unseen, on the few-row path (up to 64
    # rows) as on the column-wise one.
    for n in (1, 65):
        with pytest.warns(UserWarning, match="not seen at fit.*e.g. True") as caught:
            proba = model.predict_proba(pd.concat([row] * n))
        assert caught[0].filename == __file__  # the caller's line, not skdistill's
        np.testing.assert_allclose(proba, np.repeat(unknown, n, axis=0), rtol=1e-12)


def test_few_row_lookups_equal_the_column_path(fitted, split):
    _, X_test, _, _ = split
    assert len(X_test) > 64  # encoded column by column
    whole = fitted.table_.encode(X_test)
    few = np.vstack([fitted.table_.encode(X_test.iloc[i:i + 7]) for i in range(0, 63, 7)])
    np.testing.assert_array_equal(few, whole[:63])

"""Sparse input: fit and predict take scipy sparse matrices, and give the dense answers.

The equality tests use teachers whose outputs are the same for sparse and dense input
(a random forest, a prefit model): XGBoost reads an absent sparse entry as *missing*, so
its sparse and dense fits legitimately differ, and would hide a real difference here.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import skdistill
from skdistill import (
    DistillationPipeline,
    DistilledClassifier,
    DistilledRegressor,
    _augment,
    _sparse,
    default_regression_teachers,
    default_teachers,
    munge,
)

# Few epochs, a small network: each fit takes well under a second.
_SMALL = dict(cv=2, hidden_layer_sizes=(16,), max_epochs=8, batch_size=32, random_state=0)


def _rf(task="classification"):
    if task == "classification":
        return RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)
    return RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0)


def _tree_regressor():
    # Not a forest: a bootstrap-weighted regression tree sums its squared errors in a
    # different order on sparse input, and near-equal splits can then go either way.
    return DecisionTreeRegressor(max_depth=6, random_state=0)


def _table(n=300, seed=0):
    """Two categorical columns (codes) and two continuous ones, with a mixed target."""
    rng = np.random.default_rng(seed)
    cats = np.column_stack([rng.integers(0, 4, n), rng.integers(0, 6, n)])
    nums = rng.normal(size=(n, 2))
    y = ((cats[:, 0] % 2 == 1) ^ (nums[:, 0] + 0.5 * nums[:, 1] > 0)).astype(int)
    return cats, nums, y


def _one_hot(n=300, seed=0):
    """OneHotEncoder's default (sparse) output next to two continuous columns, as CSR."""
    cats, nums, y = _table(n, seed)
    encoded = OneHotEncoder().fit_transform(cats)
    assert sp.issparse(encoded)  # the default output that used to be refused
    return sp.hstack([encoded, sp.csr_matrix(nums)], format="csr"), y


def _arrays(student):
    return [a for layer in student.layers for a in layer.arrays().values()]


# -- fit and predict ---------------------------------------------------------------------
@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.csr_array,
                                       sp.csc_array, sp.coo_matrix])
def test_classifier_fits_and_predicts_sparse(container):
    X, y = _one_hot()
    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(container(X), y)
    proba = model.predict_proba(container(X))
    assert proba.shape == (X.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.n_features_in_ == X.shape[1]
    assert model.score(container(X), y) > 0.75


def test_a_dataframe_of_sparse_columns_fits_as_its_sparse_matrix(monkeypatch):
    pd = pytest.importorskip("pandas")
    X, y = _one_hot()
    names = [f"c{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame.sparse.from_spmatrix(X, columns=names)  # as get_dummies(sparse=True)
    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(frame, y)
    assert list(model.feature_names_in_) == names
    same = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(frame), same.predict_proba(X))
    # A large one predicts by sparse blocks, not through one dense copy.
    from skdistill import _base

    monkeypatch.setattr(_base, "_FEW_FAST_ROWS", 10)
    assert model._fast_array(frame) is None
    np.testing.assert_array_equal(model.predict_proba(frame), same.predict_proba(X))


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix])
def test_regressor_fits_and_predicts_sparse(container):
    X, y = _one_hot()
    target = y + X[:, -1].toarray().ravel()
    model = DistilledRegressor(teachers=[("rf", _rf("regression"))], **_SMALL)
    pred = model.fit(container(X), target).predict(container(X))
    assert pred.shape == (X.shape[0],) and np.isfinite(pred).all()


def test_one_hot_sparse_fit_equals_the_dense_fit():
    # MUNGE on (the default), early stopping on: every stage sees the same numbers.
    X, y = _one_hot()
    params = dict(teachers=[("rf", _rf())], **_SMALL)
    sparse_model = DistilledClassifier(**params).fit(X, y)
    dense_model = DistilledClassifier(**params).fit(X.toarray(), y)
    assert sparse_model.fit_info_["n_transfer_rows"] > 0  # synthetic rows were made
    for a, b in zip(_arrays(sparse_model.student_), _arrays(dense_model.student_)):
        np.testing.assert_array_equal(a, b)
    assert sparse_model.history_ == [
        {**r, "duration": s["duration"]} for r, s in zip(dense_model.history_,
                                                         sparse_model.history_)]
    np.testing.assert_array_equal(sparse_model.predict_proba(X),
                                  dense_model.predict_proba(X.toarray()))


def test_sparse_regressor_fit_equals_the_dense_fit():
    X, y = _one_hot()
    target = 3.0 * y + X[:, -1].toarray().ravel()
    params = dict(teachers=[("tree", _tree_regressor())], input_encoding="piecewise_linear",
                  **_SMALL)
    a = DistilledRegressor(**params).fit(X, target)
    b = DistilledRegressor(**params).fit(X.toarray(), target)
    np.testing.assert_array_equal(a.predict(X), b.predict(X.toarray()))


def test_prefit_teacher_on_sparse_input_equals_dense():
    X, y = _one_hot()
    prefit = LogisticRegression(max_iter=1000).fit(X, y)
    params = dict(teachers=[("mine", FrozenEstimator(prefit))], **_SMALL)
    a = DistilledClassifier(**params).fit(X, y)
    b = DistilledClassifier(**params).fit(X.toarray(), y)
    # A linear model's sparse and dense products may round differently in the last
    # bit; the students then agree to float32 precision.
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X.toarray()), atol=1e-5)


def test_predict_takes_either_kind_whatever_the_fit_took():
    X, y = _one_hot()
    params = dict(teachers=[("rf", _rf())], **_SMALL)
    fitted_sparse = DistilledClassifier(**params).fit(X, y)
    fitted_dense = DistilledClassifier(**params).fit(X.toarray(), y)
    for model in (fitted_sparse, fitted_dense):
        expected = model.predict_proba(X.toarray())
        for rows in (X, X.tocsc(), sp.csr_array(X), X.tocoo()):
            np.testing.assert_array_equal(model.predict_proba(rows), expected)
        np.testing.assert_array_equal(model.predict_proba(X.astype(np.float32)),
                                      model.predict_proba(X.toarray().astype(np.float32)))
        np.testing.assert_array_equal(model.predict(X[:1]), model.predict(X.toarray()[:1]))


def test_predict_densifies_bounded_blocks_with_the_same_answers(monkeypatch):
    X, y = _one_hot()
    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(X, y)
    expected = model.predict_proba(X)
    monkeypatch.setattr(_sparse, "DENSE_BLOCK_ELEMENTS", 7 * X.shape[1])  # 7-row blocks
    # float64 matrix products may round a row differently by the size of its batch
    # (BLAS kernels), by about one unit in the last place; no more.
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-13, atol=1e-15)


# -- memory: nothing densifies the whole matrix --------------------------------------------
def test_fit_and_predict_never_densify_the_whole_matrix(monkeypatch):
    X, y = _one_hot(n=400)
    n, d = X.shape
    limit = 40 * d  # blocks of 40 rows for predict and validation, 2-column blocks
    monkeypatch.setattr(_sparse, "DENSE_BLOCK_ELEMENTS", limit)
    monkeypatch.setattr(_augment, "_BLOCK_ELEMENTS", limit)
    shapes = []
    for cls in (sp.csr_matrix, sp.csc_matrix):
        original = cls.toarray

        def recording(self, *args, _original=original, **kwargs):
            out = _original(self, *args, **kwargs)
            shapes.append(out.shape)
            return out

        monkeypatch.setattr(cls, "toarray", recording)

    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(X, y)
    model.predict_proba(X)
    assert shapes, "nothing was densified: the test does not see the densification"
    batch = _SMALL["batch_size"]
    # Row blocks of bounded size, mini-batches (four for the untrained network's loss),
    # or a few columns at a time (the encoding statistics); never the whole matrix.
    # MUNGE's brute-force neighbour search may densify row-by-row distance blocks (n x n,
    # scikit-learn 1.6 does): distances, not the data, so they are left out here.
    data_blocks = [(r, c) for r, c in shapes if not (r == c and r != d)]
    assert all(r * c <= limit or r <= 4 * batch or c <= 3 for r, c in data_blocks), \
        sorted(set(shapes))
    assert not any(r >= n and c == d for r, c in shapes)
    # The training loop densifies one mini-batch at a time.
    assert (_SMALL["batch_size"], d) in shapes


def test_training_batches_are_densified_one_at_a_time(monkeypatch):
    from skdistill import _training

    seen = []
    original = _training.SparseRows.__getitem__

    def recording(self, idx):
        out = original(self, idx)
        seen.append(tuple(out.shape))
        return out

    monkeypatch.setattr(_training.SparseRows, "__getitem__", recording)
    X, y = _one_hot()
    DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(X, y)
    assert seen and max(r for r, _ in seen) <= 4 * _SMALL["batch_size"]  # the start loss
    assert sum(r == _SMALL["batch_size"] for r, _ in seen) > 10


# -- teachers --------------------------------------------------------------------------------
# Teachers are cloned, and clone deep-copies a list parameter: the logs live here.
_LOGS = {}


class _Recorder(ClassifierMixin, BaseEstimator):
    """A teacher that records the kind of X it is given, with a settable sparse tag."""

    def __init__(self, sparse=True, log="default"):
        self.sparse = sparse
        self.log = log

    def fit(self, X, y):
        _LOGS.setdefault(self.log, []).append(("fit", sp.issparse(X)))
        self.inner_ = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        _LOGS.setdefault(self.log, []).append(("predict_proba", sp.issparse(X)))
        _LOGS.setdefault(self.log + " rows", []).append(X.shape[0])
        return self.inner_.predict_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.sparse
        return tags


def test_teachers_get_sparse_when_their_tags_accept_it_else_dense():
    X, y = _one_hot()
    _LOGS.clear()
    DistilledClassifier(teachers=[("s", _Recorder(True, "s")), ("d", _Recorder(False, "d"))],
                        **_SMALL).fit(X, y)
    takes_sparse, dense_only = _LOGS["s"], _LOGS["d"]
    assert takes_sparse and all(is_sparse for _, is_sparse in takes_sparse)
    assert dense_only and not any(is_sparse for _, is_sparse in dense_only)
    # Both labelled the synthetic rows too (predict_proba after the refit).
    assert takes_sparse.count(("fit", True)) == 3  # 2 folds + the refit
    assert ("predict_proba", True) in takes_sparse[3:]


def test_a_dense_only_teacher_labels_sparse_rows_in_bounded_blocks(monkeypatch):
    X, y = _one_hot()
    monkeypatch.setattr(_sparse, "DENSE_BLOCK_ELEMENTS", 50 * X.shape[1])
    _LOGS.clear()
    model = DistilledClassifier(teachers=[("d", _Recorder(False, "d"))], keep_teachers=True,
                                **_SMALL).fit(X, y)
    # Synthetic rows (thousands) and teacher_predict_output: 50 dense rows per call.
    _LOGS["d rows"].clear()
    proba = model.teacher_predict_proba(X)
    assert max(_LOGS["d rows"]) <= 50 and sum(_LOGS["d rows"]) == X.shape[0]
    np.testing.assert_array_equal(proba, model.teacher_predict_proba(X.toarray()))


def test_a_pipeline_teacher_that_centres_gets_a_dense_copy():
    X, y = _one_hot()
    teacher = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=5,
                                                                     random_state=0))
    assert not _sparse.accepts_sparse(teacher)
    with pytest.raises(ValueError, match="Cannot center sparse matrices"):
        clone(teacher).fit(X, y)  # what the teacher would do with the sparse matrix
    model = DistilledClassifier(teachers=[("tree", teacher)], **_SMALL).fit(X, y)
    assert model.score(X, y) > 0.7


def test_default_teachers_for_sparse_input_fit_sparse_data():
    X, y = _one_hot(n=120)
    target = y + X[:, -1].toarray().ravel()
    for teachers, yy in ((default_teachers(0, sparse=True), y),
                         (default_regression_teachers(0, sparse=True), target)):
        for name, est in teachers:
            est = clone(est)
            if "n_estimators" in est.get_params():
                est.set_params(n_estimators=5)
            assert _sparse.accepts_sparse(est), name
            est.fit(X, yy).predict(X[:5])


def test_default_teachers_for_dense_input_are_unchanged():
    def scaler(teachers):
        mlp = dict(teachers)["mlp"]
        pipe = getattr(mlp, "regressor", mlp)
        return pipe.steps[0][1].get_params()

    assert scaler(default_teachers(0))["with_mean"] is True
    assert scaler(default_regression_teachers(0))["with_mean"] is True
    assert scaler(default_teachers(0, sparse=True))["with_mean"] is False
    dense, sparse = default_teachers(0), default_teachers(0, sparse=True)
    for (name, a), (_, b) in zip(dense[:4], sparse[:4]):
        assert a.get_params() == b.get_params(), name


def test_distiller_uses_the_sparse_default_teachers_for_sparse_x(monkeypatch):
    built = []

    def small_defaults(random_state=None, *, sparse=False):
        built.append(sparse)
        return [("rf", _rf())]

    monkeypatch.setattr(skdistill._classifier, "default_teachers", small_defaults)
    X, y = _one_hot(n=100)
    DistilledClassifier(**_SMALL).fit(X, y)
    DistilledClassifier(**_SMALL).fit(X.toarray(), y)
    assert built == [True, False]


def test_teachers_are_asked_in_the_kind_they_were_fitted_on():
    # XGBoost reads an absent sparse entry as missing and a dense 0 as the value 0: its
    # sparse and dense outputs differ. teacher_predict_output converts the rows to the
    # kind the teachers were fitted on, so the answer does not depend on the input kind.
    xgboost = pytest.importorskip("xgboost")
    X, y = _one_hot()
    xgb = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0)
    model = DistilledClassifier(teachers=[("xgb", xgb)], keep_teachers=True, **_SMALL)
    model.fit(X, y)
    np.testing.assert_array_equal(model.teacher_predict_proba(X.toarray()),
                                  model.teacher_predict_proba(X))
    dense_fit = clone(model).fit(X.toarray(), y)
    np.testing.assert_array_equal(dense_fit.teacher_predict_proba(X),
                                  dense_fit.teacher_predict_proba(X.toarray()))


def test_report_and_teacher_outputs_take_sparse_rows():
    X, y = _one_hot()
    model = DistilledClassifier(teachers=[("rf", _rf())], keep_teachers=True, **_SMALL)
    model.fit(X[:200], y[:200])
    np.testing.assert_array_equal(model.teacher_predict_proba(X[200:]),
                                  model.teacher_predict_proba(X[200:].toarray()))
    report = model.report(X[200:], y[200:])
    dense_report = model.report(X[200:].toarray(), y[200:])
    assert report.fidelity == dense_report.fidelity
    assert report.metrics["accuracy"] == dense_report.metrics["accuracy"]


# -- MUNGE ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_munge_on_sparse_rows_gives_the_dense_rows(dtype):
    X, _ = _one_hot(n=80)
    X = X.astype(dtype)
    synthetic = munge(X, 500, p=0.5, s=1.0, random_state=3)
    assert sp.issparse(synthetic) and synthetic.format == "csr"
    assert synthetic.dtype == dtype
    np.testing.assert_array_equal(synthetic.toarray(),
                                  munge(X.toarray(), 500, p=0.5, s=1.0, random_state=3))
    # Zero wherever the row and its neighbour are: about as sparse as the real rows.
    assert synthetic.nnz / synthetic.shape[0] <= 2 * X.nnz / X.shape[0]
    assert munge(X, 0).shape == (0, X.shape[1])


def test_munge_blocks_on_wide_input_are_the_same_for_both_kinds(monkeypatch):
    rng = np.random.default_rng(0)
    X = sp.random(60, 40, density=0.1, format="csr", random_state=1)
    X = sp.hstack([X, sp.csr_matrix(rng.normal(size=(60, 1)))], format="csr")
    monkeypatch.setattr(_augment, "_BLOCK_ELEMENTS", 41 * 7)  # 7-row blocks
    np.testing.assert_array_equal(munge(X, 100, random_state=0).toarray(),
                                  munge(X.toarray(), 100, random_state=0))


def test_munge_refuses_categorical_features_with_sparse_x():
    X, _ = _one_hot(n=20)
    with pytest.raises(ValueError, match="categorical_features with sparse X"):
        munge(X, 5, categorical_features=[0])


# -- the student's encoding statistics ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(50, 1), (50, 2), (37, 3), (200, 7), (1, 4)])
@pytest.mark.parametrize("max_elements", [None, 60])
def test_column_statistics_equal_the_dense_computation(shape, max_elements):
    rng = np.random.default_rng(shape[0] * shape[1])
    dense = rng.normal(size=shape) * rng.integers(0, 2, size=shape) * 1e3
    X = sp.csr_matrix(dense)
    mean, std = _sparse.column_statistics(X, max_elements)
    np.testing.assert_array_equal(mean, dense.mean(axis=0))
    np.testing.assert_array_equal(std, dense.std(axis=0))
    scale = np.where(std > 0, std, 1.0)
    columns = list(_sparse.standardized_columns(X, mean, scale, max_elements))
    np.testing.assert_array_equal(np.column_stack(columns), (dense - mean) / scale)


@pytest.mark.parametrize("encoding", ["standard", "piecewise_linear", "periodic"])
def test_build_student_from_sparse_equals_dense(encoding):
    from skdistill._student import build_student

    X, _ = _one_hot()
    a = build_student(X, 2, (8,), input_encoding=encoding, random_state=0)
    b = build_student(X.toarray(), 2, (8,), input_encoding=encoding, random_state=0)
    for x, z in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(x, z)


# -- pipelines and shipping ---------------------------------------------------------------------
def test_pipeline_with_the_default_one_hot_encoder():
    cats, _, y = _table()
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"),
                         DistilledClassifier(teachers=[("rf", _rf())], **_SMALL))
    pipe.fit(cats, y)
    assert sp.issparse(pipe[:-1].transform(cats))
    assert pipe.predict(cats[:5]).shape == (5,)
    dense = make_pipeline(OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                          DistilledClassifier(teachers=[("rf", _rf())], **_SMALL))
    np.testing.assert_array_equal(pipe.predict_proba(cats), dense.fit(cats, y).predict_proba(cats))
    served = pickle.loads(pickle.dumps(skdistill.serving(pipe)))
    np.testing.assert_array_equal(served.predict_proba(cats), pipe.predict_proba(cats))
    # The teacher-student scorers look through the Pipeline to the sparse rows.
    pipe.set_params(distilledclassifier__keep_teachers=True).fit(cats, y)
    assert 0.5 < skdistill.fidelity_scorer(pipe, cats, y) <= 1.0


def test_distillation_pipeline_with_sparse_unlabeled_rows():
    cats, _, _ = _table()
    y = (cats[:, 0] % 2 == 1).astype(int)
    pipe = DistillationPipeline([
        ("encode", OneHotEncoder(handle_unknown="ignore")),
        ("model", DistilledClassifier(teachers=[("rf", _rf())], **_SMALL)),
    ])
    pipe.fit(cats[:150], y[:150], X_unlabeled=cats[150:])
    assert pipe[-1].fit_info_["n_transfer_rows"] >= 150
    assert pipe.score(cats[150:], y[150:]) > 0.9


def test_save_load_and_serving_predict_sparse(tmp_path):
    X, y = _one_hot()
    model = DistilledClassifier(teachers=[("rf", _rf())], keep_teachers=True, **_SMALL)
    model.fit(X, y)
    expected = model.predict_proba(X)
    skdistill.save(model, tmp_path / "m.skd")
    np.testing.assert_array_equal(skdistill.load(tmp_path / "m.skd").predict_proba(X), expected)
    slim = skdistill.serving(model)
    assert not hasattr(slim, "_teacher_input_sparse")
    np.testing.assert_array_equal(slim.predict_proba(X), expected)


def test_frontier_on_sparse_rows():
    X, y = _one_hot()
    rows = skdistill.distillation_frontier(
        DistilledClassifier(teachers=[("rf", _rf())], **_SMALL), X[:200], y[:200], X[200:],
        y[200:], hidden_layer_sizes=[(8,)], n_latency_calls=5)
    assert [r["model"] for r in rows] == ["teachers", "student"]
    assert 0.0 <= rows[1]["fidelity"] <= 1.0


def test_sparse_rows_reach_a_model_fitted_with_missing_values():
    X, y = _one_hot()
    dense = X.toarray()
    dense[::7, -1] = np.nan  # the model learns to fill them: it has a table_
    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL)
    model.fit(dense, y, X_unlabeled=X[:20])  # unlabeled rows may come sparse too
    assert model.table_ is not None
    np.testing.assert_array_equal(model.predict_proba(X[:50]),
                                  model.predict_proba(X[:50].toarray()))


# -- clear errors ---------------------------------------------------------------------------------
def test_stored_nan_or_inf_is_refused():
    X, y = _one_hot(n=40)
    messages = {np.nan: "sparse matrix holding NaN: .* Pass X.toarray",
                np.inf: r"Input X contains infinity in columns \[\d+\]"}
    for value, message in messages.items():
        bad = X.copy()
        bad.data[3] = value
        with pytest.raises(ValueError, match=message):
            DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(bad, y)
    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL).fit(X, y)
    bad = X.copy()
    bad.data[0] = np.nan
    # Not sklearn's advice to use HistGradientBoosting: this model could have learned NaN.
    with pytest.raises(ValueError, match="contains NaN .* fit on data with missing values"):
        model.predict(bad)


def test_sparse_errors_name_the_problem():
    X, y = _one_hot(n=40)
    model = DistilledClassifier(teachers=[("rf", _rf())], **_SMALL)
    with pytest.raises(ValueError, match="categorical_features cannot be used with sparse X"):
        clone(model).set_params(categorical_features=[0]).fit(X, y)
    assert not hasattr(model, "n_features_in_")  # a failed fit leaves no fitted state
    huge = X.copy()
    huge.data[5] = 1e300
    with pytest.raises(ValueError, match=r"beyond float32's range .* columns \[\d+\]"):
        clone(model).fit(huge, y)
    model.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :-1])
    with pytest.raises(ValueError, match="features"):
        model.fit(X, y, X_unlabeled=sp.csr_matrix((3, 2)))

"""skdistill on a Dask cluster: the joblib backend, and the skdistill.dask estimators.

Every test runs on a distributed.LocalCluster started here, with two worker processes
(processes, because lightgbm.dask and xgboost.dask allow one worker per process).
"""

import contextlib
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")  # needs pyarrow

import cloudpickle  # noqa: E402  (installed with distributed)
import dask  # noqa: E402
import joblib  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin, clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402

import skdistill  # noqa: E402
from skdistill import DistilledClassifier  # noqa: E402
from skdistill.dask import (  # noqa: E402
    STREAM_MIX_PARTITIONS,
    DaskDistilledClassifier,
    DaskDistilledRegressor,
    default_dask_teachers,
)

# Teachers defined here must reach the worker processes, which cannot import this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

ROWS, PART = 3000, 500
SMALL = dict(max_epochs=4, hidden_layer_sizes=(16,), n_bins=4, random_state=0)


@contextlib.contextmanager
def _cluster(**kwargs):
    """A LocalCluster of two worker processes; this process's environment as it was after.

    distributed's Nanny writes its pre-spawn variables (OMP_NUM_THREADS=1 and the like)
    into this process's os.environ for good. Later tests that start subprocesses would
    then run numpy on one BLAS thread while this process uses several, and results that
    must match bit for bit across processes (tests/test_serving.py) would differ in the
    last bit.
    """
    saved = dict(os.environ)
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, worker_dashboard_address=None,
                                      silence_logs=logging.ERROR, **kwargs) as cluster:
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(ROWS, 8, n_informative=5, random_state=0)
    return X, y


def _rf():
    return [("rf", RandomForestClassifier(n_estimators=15, random_state=0))]


def _small_boosters():
    teachers = default_dask_teachers(random_state=0)
    for _, est in teachers:
        est.set_params(n_estimators=15)
    return teachers


# -- skdistill.dask -------------------------------------------------------------------------
def test_fit_predict_to_local_round_trip(client, data, tmp_path):
    import pandas as pd

    X, y = data
    names = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names).assign(label=np.where(y == 1, "yes", "no"))
    df = dd.from_pandas(frame, npartitions=ROWS // PART)
    model = DaskDistilledClassifier(teachers=_small_boosters(), epoch_rows=100_000, **SMALL)
    model.fit(df[names], df["label"])

    assert list(model.classes_) == ["no", "yes"]
    assert model.fit_info_["teachers"] == {"lgbm": "dask", "xgb": "dask"}
    assert list(model.feature_names_in_) == names
    # The client streamed the transfer set a few partitions at a time, never all of it.
    assert 0 < model.fit_info_["max_client_rows"] <= (STREAM_MIX_PARTITIONS + 1) * PART

    pred = model.predict(df[names])
    proba = model.predict_proba(df[names])
    assert isinstance(pred, da.Array) and isinstance(proba, da.Array)
    pred, proba = dask.compute(pred, proba)
    local = model.to_local()
    assert type(local) is DistilledClassifier and local.teachers == ["lgbm", "xgb"]
    # The training parameters the two share carry over, the epoch size among them.
    assert local.epoch_rows == model.epoch_rows and local.max_epochs == model.max_epochs
    # ... and the student's shape and kept weights, not the local class's defaults.
    assert (local.hidden_layer_sizes, local.weight_averaging) == ((16,), "none")
    np.testing.assert_array_equal(pred, local.predict(frame[names]))
    np.testing.assert_allclose(proba, local.predict_proba(frame[names]))
    assert model.score(df[names], df["label"]) > 0.8
    # to_local is a copy: the two models share no array.
    assert not any(np.shares_memory(a, b) for la, lb in zip(local.student_.layers,
                                                            model.student_.layers)
                   for a, b in zip(la.arrays().values(), lb.arrays().values()))

    path = tmp_path / "model.skd"
    skdistill.save(model.to_local(), path)
    loaded = skdistill.load(path)
    np.testing.assert_array_equal(loaded.predict(frame[names]), pred)
    served = skdistill.serving(model.to_local())
    np.testing.assert_array_equal(served.predict(frame[names]), pred)


def test_to_onnx_of_the_local_model(client, data):
    pytest.importorskip("onnxruntime")
    X, y = data
    # A packed student, so that its layers cross to_local and the ONNX graph too.
    model = DaskDistilledClassifier(teachers=_rf(), n_members=2, **SMALL).fit(
        da.from_array(X, chunks=PART), da.from_array(y, chunks=PART))
    assert model.to_local().n_members == model.to_local().student_.n_members == 2
    import onnxruntime as ort

    onnx_model = skdistill.to_onnx(model.to_local())
    session = ort.InferenceSession(onnx_model.SerializeToString())
    inputs = {session.get_inputs()[0].name: X[:50].astype(np.float32)}
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
    proba = next(v for k, v in outputs.items() if "prob" in k.lower())
    np.testing.assert_allclose(proba, model.predict_proba(X[:50]), atol=1e-4)


def test_regressor_round_trip(client, tmp_path):
    X, y = make_regression(ROWS, 6, noise=5.0, random_state=0)
    y = y + 1000.0  # the target scale is folded into the student
    Xd, yd = da.from_array(X, chunks=PART), da.from_array(y, chunks=PART)
    model = DaskDistilledRegressor(teachers=[("ridge", Ridge())], n_members=2,
                                   **{**SMALL, "max_epochs": 30}).fit(Xd, yd)
    assert model.student_.n_members == 2
    assert model.fit_info_["teachers"] == {"ridge": "sample"}
    pred = model.predict(Xd).compute()
    local = model.to_local()
    np.testing.assert_allclose(pred, local.predict(X))
    assert model.score(Xd, yd) > 0.9
    # A target in units that tree teachers fit badly: the dask teachers are not
    # standardized, so fit says to standardize it.
    with pytest.warns(UserWarning, match="Standardize y before a Dask fit"):
        DaskDistilledRegressor(teachers=[("ridge", Ridge())], **SMALL).fit(
            Xd, da.from_array(y + 1e9, chunks=PART))
    # Its teachers' names: a refit would otherwise train the default ensemble.
    assert local.teachers == ["ridge"]
    with pytest.raises(TypeError, match=r"to_local\(\).*teacher names: \['ridge'\]"):
        local.fit(X, y)
    path = tmp_path / "r.skd"
    skdistill.save(local, path)
    np.testing.assert_allclose(skdistill.load(path).predict(X), pred)


def test_the_student_time_limit_ends_training_on_a_cluster(client, data, caplog):
    X, y = data
    Xd, yd = da.from_array(X, chunks=PART), da.from_array(y, chunks=PART)
    caplog.set_level(logging.INFO, logger="skdistill")
    model = DaskDistilledClassifier(teachers=_rf(), student_time_limit=1e-9, verbose=1,
                                    **{**SMALL, "max_epochs": 50}).fit(Xd, yd)
    assert model.n_iter_ == 1 and model.fit_info_["stopped_by"] == "time_limit"
    # verbose progress (plain lines: pytest's stderr is not a terminal) says why it ended.
    assert "student stopped after epoch 1 (ended by the time limit)" in caplog.messages[-1]
    local = model.to_local()
    assert local.student_time_limit == 1e-9
    np.testing.assert_allclose(local.predict_proba(X), model.predict_proba(Xd).compute())


def test_empty_partitions_names_and_missing_labels(client, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    # A filtered DataFrame keeps its emptied partitions; they carry no rows, no error.
    names = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names).assign(y=y, day=np.repeat(range(4), len(y) // 4))
    ddf = dd.from_pandas(frame, npartitions=4)
    kept = ddf[ddf.day < 3]
    assert 0 in kept.map_partitions(len).compute().tolist()
    model = DaskDistilledClassifier(teachers=_rf(), **SMALL)
    model.fit(kept[names], kept["y"])
    assert list(model.feature_names_in_) == names
    # A refit on unnamed columns drops the last fit's names.
    model.fit(da.from_array(X[:, :4], chunks=PART), da.from_array(y, chunks=PART))
    assert model.n_features_in_ == 4 and not hasattr(model, "feature_names_in_")
    labels = np.where(y == 1, "yes", "no").astype(object)
    labels[3] = None
    with pytest.raises(ValueError, match="y contains None or pd.NA"):
        DaskDistilledClassifier(teachers=_rf(), **SMALL).fit(
            da.from_array(X, chunks=PART), da.from_array(labels, chunks=PART))


def test_nullable_columns_and_mixed_collections_in_fit_and_score(client, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X[:, :3], columns=list("abc")).assign(
        flag=X[:, 3] > 0, n=pd.array(np.round(X[:, 4] * 10).astype(int), dtype="Int64"))
    ddf = dd.from_pandas(frame, npartitions=4)
    labels = dd.from_pandas(pd.Series(y, dtype="Int64"), npartitions=4)
    model = DaskDistilledClassifier(teachers=_rf(), **SMALL).fit(ddf, labels)
    local = frame.astype(np.float64).to_numpy()
    np.testing.assert_array_equal(model.predict(ddf).compute(), model.predict(local))
    # X and y of different kinds, as fit takes them: score pairs their rows.
    expected = float(np.mean(model.predict(local) == y))
    assert model.score(ddf, da.from_array(y, chunks=PART)) == pytest.approx(expected)
    assert model.score(da.from_array(local, chunks=PART), labels) == pytest.approx(expected)
    # NaN at predict: the fix offered is one a Dask model can use (its fit refuses NaN).
    local[5, 1] = np.nan
    for rows in (local, da.from_array(local, chunks=PART), dd.from_pandas(
            pd.DataFrame(local, columns=frame.columns), npartitions=4)):
        with pytest.raises(ValueError, match=r"columns \[1\].*fillna on the dask DataFrame"):
            np.asarray(model.predict_proba(rows))


def test_validation_target_teachers_without_teachers_warns(client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=PART), da.from_array(y, chunks=PART)
    model = DaskDistilledClassifier(teachers=_rf(), alpha=0.0, validation_target="teachers",
                                    student_time_limit=1e-9, **SMALL)
    with pytest.warns(UserWarning, match="validation_target='teachers' has no effect"):
        model.fit(Xd, yd)


def test_grid_search_over_a_teacher_parameter(client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=PART), da.from_array(y, chunks=PART)
    model = DaskDistilledClassifier(teachers=_rf(), client=client, **SMALL)
    model.set_params(teachers__rf__n_estimators=4)
    assert model.get_params()["teachers__rf__n_estimators"] == 4
    fitted = clone(model).fit(Xd, yd)
    assert fitted.teachers[0][1].n_estimators == 4 and fitted.predict(Xd).compute().shape == y.shape
    with pytest.raises(ValueError, match=r"teachers=default_dask_regression_teachers\(\)"):
        DaskDistilledRegressor().set_params(teachers__lgbm__max_depth=3)


def test_clone_shares_an_explicit_client(client):
    model = DaskDistilledClassifier(teachers=_rf(), client=client, max_epochs=3)
    copy = clone(model)  # deepcopy of a Client failed: no GridSearchCV with client=
    assert copy.client is client and copy is not model and model.client is client
    assert copy.get_params()["max_epochs"] == 3


def test_same_random_state_and_partitions_give_the_same_model(client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=PART), da.from_array(y, chunks=PART)
    first = DaskDistilledClassifier(teachers=_rf(), **SMALL).fit(Xd, yd)
    second = DaskDistilledClassifier(teachers=_rf(), **SMALL).fit(Xd, yd)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    other = DaskDistilledClassifier(teachers=_rf(), **{**SMALL, "random_state": 1}).fit(Xd, yd)
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


def test_sampled_teachers_see_at_most_teacher_sample_rows(client, data, tmp_path):
    X, y = data
    model = DaskDistilledClassifier(teachers=[("lr", _RowCounter(str(tmp_path)))],
                                    teacher_sample_rows=300, **SMALL)
    model.fit(da.from_array(X, chunks=PART), da.from_array(y, chunks=PART))
    rows = [int(p.read_text()) for p in tmp_path.iterdir()]
    # Bernoulli sampling: about 300 rows per fold, two folds, never all 1,500 of a fold.
    assert len(rows) == 2 and all(200 < r < 400 for r in rows), rows


class _RowCounter(ClassifierMixin, BaseEstimator):
    """A logistic regression that writes down how many rows it was fitted on."""

    def __init__(self, folder=None):
        self.folder = folder

    def fit(self, X, y):
        with open(os.path.join(self.folder, f"fit-{os.getpid()}-{id(self)}"), "w") as fh:
            fh.write(str(len(X)))
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def test_input_errors_are_clear(client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=PART), da.from_array(y, chunks=PART)
    model = DaskDistilledClassifier(teachers=_rf(), **SMALL)
    with pytest.raises(TypeError, match="from_array"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="only 1 partition"):
        model.fit(da.from_array(X, chunks=ROWS), da.from_array(y, chunks=ROWS))
    with pytest.raises(ValueError, match="same partitions"):
        model.fit(Xd, da.from_array(y, chunks=PART * 2))
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(da.from_array(X_nan, chunks=PART), yd)
    with pytest.raises(ValueError, match="float32's range"):
        model.fit(da.from_array(X * 1e39, chunks=PART), yd)
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(Xd, da.zeros_like(yd))
    assert not hasattr(model, "student_") and not hasattr(model, "classes_")
    y_nan = y.astype(float)
    y_nan[7] = np.inf
    regressor = DaskDistilledRegressor(teachers=[("ridge", Ridge())], **SMALL)
    with pytest.raises(ValueError, match="y contains 1 NaN or infinite"):
        regressor.fit(Xd, da.from_array(y_nan, chunks=PART))
    assert not hasattr(regressor, "student_")


# -- a worker dies during the teacher phase -------------------------------------------------
class _DiesOnFit(ClassifierMixin, BaseEstimator):
    """Kills the worker process that fits it, ``times`` times (counted in files).

    Each death first claims a file ``death-<k>`` that no other process can also create
    (``O_EXCL``): two folds fitted at once on two workers then cannot both take the
    same death, as they could when they counted the files and both saw none.
    """

    def __init__(self, folder=None, times=1):
        self.folder = folder
        self.times = times

    def fit(self, X, y):
        for k in range(self.times):
            try:
                os.close(os.open(os.path.join(self.folder, f"death-{k}"),
                                 os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            os._exit(1)
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def test_a_worker_killed_while_fitting_a_teacher_is_retried(data, tmp_path):
    X, y = data
    with _cluster() as cluster, distributed.Client(cluster) as c:
        model = DaskDistilledClassifier(teachers=[("dies", _DiesOnFit(str(tmp_path)))],
                                        client=c, **SMALL)
        model.fit(da.from_array(X, chunks=PART), da.from_array(y, chunks=PART))
    assert len(os.listdir(tmp_path)) == 1  # it did die once
    assert model.predict(X).shape == (ROWS,)


def test_a_teacher_that_always_kills_its_worker_fails_clearly(data, tmp_path):
    X, y = data
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with _cluster() as cluster, distributed.Client(cluster) as c:
            model = DaskDistilledClassifier(
                teachers=[("dies", _DiesOnFit(str(tmp_path), times=100))], client=c, **SMALL)
            before = dict(model.__dict__)
            with pytest.raises(RuntimeError, match="'dies'.*died too often"):
                model.fit(da.from_array(X, chunks=PART), da.from_array(y, chunks=PART))
    assert model.__dict__ == before  # nothing half-fitted


# -- the joblib dask backend for the in-memory estimator -----------------------------------
def test_joblib_dask_backend_scatters_once_and_runs_one_thread_per_job(client, data,
                                                                       monkeypatch):
    X, y = data
    teachers = [("rf", RandomForestClassifier(n_estimators=10, n_jobs=-1, random_state=0)),
                ("lr", LogisticRegression(max_iter=500))]
    params = dict(teachers=teachers, cv=3, keep_teachers=True, augmentation=None, **SMALL)
    sequential = DistilledClassifier(**params).fit(X, y)
    assert sequential.named_teachers_["rf"].n_jobs == -1  # sequential fits keep settings

    scattered = []
    scatter = client.scatter

    def counting_scatter(data, *args, **kwargs):
        scattered.append(data)
        return scatter(data, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", counting_scatter)
    with joblib.parallel_config(backend="dask"):
        on_cluster = DistilledClassifier(**params).fit(X, y)
    # Eight jobs (two teachers x three folds, plus two refits) read X; it went to the
    # cluster once, not once per job.
    full = [a for a in scattered if getattr(a, "shape", None) == X.shape]
    assert len(full) == 1, [getattr(a, "shape", type(a)) for a in scattered]
    assert on_cluster.named_teachers_["rf"].n_jobs == 1
    np.testing.assert_array_equal(on_cluster.predict_proba(X), sequential.predict_proba(X))


def test_import_skdistill_does_not_import_dask():
    code = ("import sys, skdistill; bad = [m for m in ('dask', 'distributed') if m in "
            "sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("estimator, methods", [
    (DaskDistilledClassifier(), ("predict", "predict_proba")),
    (DaskDistilledRegressor(), ("predict",)),
])
def test_an_unfitted_estimator_says_so_on_predict(estimator, methods):
    from sklearn.exceptions import NotFittedError

    for method in methods:
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(estimator, method)(np.zeros((2, 3)))

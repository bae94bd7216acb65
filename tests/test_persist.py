"""The safe .skd format and the compact pickle: exact round trips, refusal of bad files."""

import copy
import hashlib
import json
import pickle
import zipfile

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold

import skdistill
from skdistill import DistilledClassifier, load, save, serving
from skdistill._persist import FORMAT_VERSION, ModelFormatError, _digest, read_header


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    # String labels: classes_ is an object array, which np.save could only pickle.
    return X, np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]


@pytest.fixture(scope="module")
def clf(iris):
    X, y = iris
    return DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                               max_epochs=3, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def saved(clf, tmp_path_factory):
    path = tmp_path_factory.mktemp("persist") / "iris.skd"
    save(clf, path, metadata={"note": "hello", "numbers": [1, 2.5]})
    return path


def _rewrite(src, dst, edit_header=None, edit_members=None, keep_checksum=False):
    """Copy a .skd file, changing its header or members, optionally re-signing it."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    checksum = members.pop("SHA256")
    if edit_header is not None:
        header = json.loads(members["skdistill.json"])
        edit_header(header)
        members["skdistill.json"] = json.dumps(header).encode()
    if edit_members is not None:
        edit_members(members)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("SHA256", checksum if keep_checksum else _digest(members))
    return dst


def test_round_trip_is_exact(clf, saved, iris):
    X, _ = iris
    model = load(saved)
    assert type(model) is DistilledClassifier
    np.testing.assert_array_equal(model.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), clf.predict(X))
    assert model.classes_.dtype == clf.classes_.dtype
    assert model.n_features_in_ == clf.n_features_in_
    assert model.history_ == clf.history_
    assert model.fit_info_ == clf.fit_info_
    assert model.n_iter_ == clf.n_iter_
    params = clf.get_params(deep=False)
    params["teachers"] = ["lr"]  # documented: the teachers' names, not the teachers
    assert model.get_params(deep=False) == params


def test_a_loaded_model_refits_only_with_its_teachers_set_again(clf, saved, iris, tmp_path):
    # teachers=None would be the default ensemble: a silent refit with other teachers.
    X, y = iris
    with pytest.raises(TypeError, match=r"read by skdistill.load\(\).*teacher names: \['lr'\]"):
        load(saved).fit(X, y)
    refit = clone(load(saved)).set_params(teachers=[("lr", LogisticRegression(max_iter=500))])
    np.testing.assert_array_equal(refit.fit(X, y).predict_proba(X), clf.predict_proba(X))
    # A serving copy's names are saved as names; a default ensemble stays None.
    assert read_header(save(serving(clf), tmp_path / "s.skd"))["teacher_names"] == ["lr"]
    default = clone(clf).set_params(teachers=None)
    default.__dict__.update({k: v for k, v in clf.__dict__.items() if k.endswith("_")})
    assert load(save(default, tmp_path / "d.skd")).teachers is None


def test_metadata_requests_are_not_stored(clf, iris, tmp_path):
    # Routing settings of this session (needed to route weights), not of the model.
    X, _ = iris
    requested = copy.deepcopy(clf)
    with sklearn.config_context(enable_metadata_routing=True):
        requested.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    loaded = load(save(requested, tmp_path / "r.skd"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert "_metadata_request" not in loaded.__dict__


def test_metadata_and_header(saved):
    _, metadata = load(saved, return_metadata=True)
    assert metadata == {"note": "hello", "numbers": [1, 2.5]}
    header = read_header(saved)
    assert header["format_version"] == FORMAT_VERSION
    assert header["skdistill_version"] == skdistill.__version__
    assert header["estimator"] == "DistilledClassifier"
    assert header["teacher_names"] == ["lr"]
    assert header["fitted"]["classes_"]["__ndarray__"] == ["setosa", "versicolor", "virginica"]


def test_load_runs_no_pickle(saved, iris, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used on the load path")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    model = load(saved)
    assert model.predict(iris[0][:3]).shape == (3,)


def test_feature_names_and_numeric_labels_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                                max_epochs=2, random_state=0).fit(X, y)
    loaded = load(save(model, tmp_path / "m.skd"))
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    assert loaded.classes_.dtype == model.classes_.dtype
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(X.rename(columns=lambda c: c.upper()))
    assert isinstance(X, pd.DataFrame)


def test_non_json_params_fall_back_to_defaults(iris, tmp_path):
    X, y = iris
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                                hidden_layer_sizes=(8,), max_epochs=2,
                                random_state=np.random.RandomState(0)).fit(X, y)
    path = save(model, tmp_path / "m.skd")
    assert read_header(path)["dropped_params"] == ["random_state"]
    loaded = load(path)
    assert loaded.random_state is None
    assert loaded.hidden_layer_sizes == (8,)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # A cache folder is the saving machine's: a refit elsewhere would unpickle from it.
    cached = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                                 max_epochs=2, memory=str(tmp_path / "cache"),
                                 random_state=0).fit(X, y)
    path = save(cached, tmp_path / "c.skd")
    assert read_header(path)["dropped_params"] == ["memory"] and load(path).memory is None


def test_a_list_of_splits_is_not_written(iris, tmp_path):
    X, y = iris
    splits = list(StratifiedKFold(3).split(X, y))  # fold indices: as large as the table
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
                                cv=splits, max_epochs=2, random_state=0).fit(X, y)
    path = save(model, tmp_path / "m.skd")
    assert read_header(path)["dropped_params"] == ["cv"]
    assert load(path).cv == "auto"


def test_regressor_round_trip(tmp_path):
    DistilledRegressor = getattr(skdistill, "DistilledRegressor", None)
    if DistilledRegressor is None:
        pytest.skip("DistilledRegressor is not in this tree yet")
    X, y = load_diabetes(return_X_y=True)
    model = DistilledRegressor(teachers=[("ridge", Ridge())], cv=2, max_epochs=3,
                               random_state=0).fit(X, y)
    loaded = load(save(model, tmp_path / "r.skd"))
    assert type(loaded) is DistilledRegressor
    assert read_header(tmp_path / "r.skd")["task"] == "regression"
    assert not hasattr(loaded, "classes_")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict(X).ndim == 1


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "not_a_zip", "empty"])
def test_corrupt_files_are_refused(saved, tmp_path, damage):
    data = bytearray(saved.read_bytes())
    if damage == "flip_byte":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "not_a_zip":
        data = b"this is not a model"
    else:
        data = b""
    bad = tmp_path / "bad.skd"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError):
        load(bad)


def test_tampered_weights_fail_the_checksum(saved, tmp_path):
    def zero_bias(members):
        buf = bytearray(members["arrays/0.mean.npy"])
        buf[-4:] = b"\0\0\0\0"
        members["arrays/0.mean.npy"] = bytes(buf)

    bad = _rewrite(saved, tmp_path / "bad.skd", edit_members=zero_bias, keep_checksum=True)
    with pytest.raises(ModelFormatError, match="checksum"):
        load(bad)


def test_incompatible_format_version_is_refused(saved, tmp_path):
    def bump(header):
        header["format_version"] = FORMAT_VERSION + 1

    bad = _rewrite(saved, tmp_path / "future.skd", edit_header=bump)
    with pytest.raises(ModelFormatError, match="format version"):
        load(bad)


def test_crafted_header_cannot_name_a_class_or_method(saved, tmp_path):
    def other_class(header):
        header["estimator"] = "os.system"

    with pytest.raises(ModelFormatError, match="does not know"):
        load(_rewrite(saved, tmp_path / "a.skd", edit_header=other_class))

    def shadow_method(header):
        header["fitted"]["predict"] = 1

    with pytest.raises(ModelFormatError, match="invalid fitted attribute"):
        load(_rewrite(saved, tmp_path / "b.skd", edit_header=shadow_method))


def test_crafted_arrays_that_cannot_predict_are_refused(saved, tmp_path):
    import io

    def nan_weights(members):
        name = sorted(k for k in members if k.endswith(".weight.npy"))[0]
        weights = np.load(io.BytesIO(members[name]))
        buffer = io.BytesIO()
        np.save(buffer, np.full_like(weights, np.nan))
        members[name] = buffer.getvalue()

    with pytest.raises(ModelFormatError, match=r"non-finite values in \['linear.weight'\]"):
        load(_rewrite(saved, tmp_path / "a.skd", edit_members=nan_weights))

    def as_regressor(header):  # three outputs read as one prediction
        header.update(estimator="DistilledRegressor", task="regression")

    with pytest.raises(ModelFormatError, match="student has 3 outputs, not 1"):
        load(_rewrite(saved, tmp_path / "b.skd", edit_header=as_regressor))


def test_missing_file_and_wrong_objects(tmp_path, clf):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.skd")
    with pytest.raises(TypeError, match="DistilledClassifier"):
        save(LogisticRegression(), tmp_path / "lr.skd")
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save(DistilledClassifier(), tmp_path / "unfitted.skd")
    with pytest.raises(TypeError, match="JSON"):
        save(clf, tmp_path / "meta.skd", metadata={"f": object()})


def test_checksum_covers_every_member(saved):
    with zipfile.ZipFile(saved) as zf:
        names = set(zf.namelist())
        digest = zf.read("SHA256").decode()
        members = {n: zf.read(n) for n in names - {"SHA256"}}
    assert digest == _digest(members)
    assert len(digest) == len(hashlib.sha256().hexdigest())


def test_pickle_is_compact(clf, iris):
    """A default-architecture model pickles to at most 1.5x its raw float32 weights."""
    blob = pickle.dumps(clf, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(blob) <= 1.5 * clf.student_.nbytes
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.predict_proba(iris[0]), clf.predict_proba(iris[0]))

    # The worst case of the defaults: a full max_epochs=200 history, the largest piece of
    # metadata, on a 4-feature input (the smallest weights). Simulated to keep this fast.
    rng = np.random.RandomState(0)
    keys = list(clf.history_[0])
    clone.history_ = [{k: (i + 1 if k == "epoch" else float(rng.rand())) for k in keys}
                      for i in range(200)]
    assert len(pickle.dumps(clone, protocol=pickle.HIGHEST_PROTOCOL)) <= 1.5 * clf.student_.nbytes


# -- signing: the checksum detects accidents, the HMAC detects tampering --------------
def test_signed_file_round_trip_and_key_types(clf, iris, tmp_path):
    X, _ = iris
    path = save(clf, tmp_path / "signed.skd", key="s3cret")
    for key in ("s3cret", b"s3cret", bytearray(b"s3cret")):
        np.testing.assert_array_equal(load(path, key=key).predict_proba(X),
                                      clf.predict_proba(X))
        assert read_header(path, key=key)["estimator"] == "DistilledClassifier"
    # Documented choice: without a key the signature is not checked, and the file loads.
    np.testing.assert_array_equal(load(path).predict_proba(X), clf.predict_proba(X))
    with zipfile.ZipFile(path) as zf:
        assert "HMAC-SHA256" in zf.namelist()
    with pytest.raises(ModelFormatError, match="signature"):
        load(path, key="other")
    with pytest.raises(ModelFormatError, match="signature"):
        read_header(path, key=b"other")
    with pytest.raises(TypeError, match="bytes or str"):
        load(path, key=123)
    with pytest.raises(ValueError, match="empty"):
        save(clf, tmp_path / "x.skd", key="")


def test_key_given_but_file_not_signed(saved):
    with pytest.raises(ModelFormatError, match="not signed"):
        load(saved, key="s3cret")


def test_signature_catches_what_the_checksum_cannot(clf, tmp_path):
    """Edited weights with a recomputed sha256 pass the checksum, but not the HMAC."""
    path = save(clf, tmp_path / "signed.skd", key=b"k")

    def zero_bias(members):
        buf = bytearray(members["arrays/2.bias.npy"])
        buf[-4:] = b"\0\0\0\0"
        members["arrays/2.bias.npy"] = bytes(buf)

    forged = _rewrite(path, tmp_path / "forged.skd", edit_members=zero_bias)
    load(forged)  # the recomputed checksum passes: sha256 is not authentication
    with pytest.raises(ModelFormatError, match="signature"):
        load(forged, key=b"k")

    def drop_signature(members):
        del members["HMAC-SHA256"]

    stripped = _rewrite(path, tmp_path / "stripped.skd", edit_members=drop_signature)
    with pytest.raises(ModelFormatError, match="not signed"):
        load(stripped, key=b"k")


def test_signed_file_passes_a_reader_that_predates_signing(clf, tmp_path):
    """The checksum covers the signature member, as an older reader computes it."""
    path = save(clf, tmp_path / "signed.skd", key="k")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    expected = members.pop("SHA256").decode()
    assert _digest(members) == expected  # what format-1 readers without signing check


# -- atomic save -----------------------------------------------------------------------
def test_save_leaves_no_temporary_file(clf, tmp_path, monkeypatch):
    save(clf, tmp_path / "a.skd")
    assert [p.name for p in tmp_path.iterdir()] == ["a.skd"]
    (tmp_path / "dir.skd").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save(clf, tmp_path / "dir.skd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.skd", "dir.skd"]

    import os

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save(clf, tmp_path / "a.skd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.skd", "dir.skd"]


def test_save_refuses_a_model_that_load_would_refuse(iris, tmp_path):
    # Labels longer than the reader's string limit: the file is never written.
    X, y = iris
    long = np.array(["a" * 2000, "b", "c"])[np.unique(y, return_inverse=True)[1]]
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                                max_epochs=1, random_state=0).fit(X, long)
    (tmp_path / "m.skd").write_bytes(b"the previous file")
    with pytest.raises(ValueError, match=r"did not write .*m.skd', as load\(\) would refuse "
                                         r"the file: string dtype '<U2000'"):
        save(model, tmp_path / "m.skd")
    assert [p.name for p in tmp_path.iterdir()] == ["m.skd"]
    assert (tmp_path / "m.skd").read_bytes() == b"the previous file"


def test_saved_file_has_the_usual_permissions(clf, tmp_path):
    import os
    import stat

    path = save(clf, tmp_path / "m.skd")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


# -- labels ----------------------------------------------------------------------------
@pytest.mark.parametrize("unit", ["D", "ns"])
def test_datetime_labels_round_trip(tmp_path, unit):
    X, y = load_iris(return_X_y=True)
    dates = np.array(["2020-01-01", "2021-06-01", "2022-12-31"], dtype=f"datetime64[{unit}]")
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                                hidden_layer_sizes=(4,), max_epochs=2,
                                random_state=0).fit(X, dates[y])
    assert model.classes_.dtype == dates.dtype
    loaded = load(save(model, tmp_path / "dates.skd"))
    assert loaded.classes_.dtype == dates.dtype
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict(X).dtype == model.predict(X).dtype

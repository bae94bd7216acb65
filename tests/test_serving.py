"""skdistill.serving: a copy that pickles to the student's size and loads without teachers.

The serving copy's pickle is measured against the raw float32 weights
(``student_.nbytes``), and a fresh interpreter in which ``import torch``, ``import
xgboost`` and ``import lightgbm`` all fail unpickles it and predicts.
"""

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skdistill
from skdistill import DistilledClassifier, DistilledRegressor, serving

REPO = Path(__file__).resolve().parent.parent

# The pickle of a serving copy may exceed the raw float32 weights by at most this factor.
MAX_OVERHEAD = 1.2

# A meta-path finder, first in sys.meta_path, that makes each listed top-level package
# (and its submodules) fail to import, as on a machine where it is not installed. It
# extends tests/test_torch_free.py's blocker from torch alone to the teachers' libraries.
BLOCKER = textwrap.dedent("""
    import sys
    class _Blocker:
        blocked = {blocked!r}
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, _Blocker())
    for _name in {blocked!r}:
        try:
            __import__(_name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"the blocker did not stop {{_name}}")
""")

SCRIPT = textwrap.dedent("""
    sys.path.insert(0, {repo!r})
    import pickle
    import numpy as np
    X = np.load({x!r})
    with open({pkl!r}, "rb") as fh:
        model = pickle.load(fh)
    np.save({out!r}, model.{method}(X))
    assert not {{"torch", "lightgbm", "xgboost"}} & set(sys.modules), sorted(sys.modules)
    # The unslimmed model needs its teachers' library just to unpickle: the control.
    try:
        with open({original!r}, "rb") as fh:
            pickle.load(fh)
    except ImportError as exc:
        print("original needs:", exc)
    print("served ok")
""")


def _run_blocked(tmp_path, served, original, X, method):
    paths = {k: str(tmp_path / f"{k}.bin") for k in ("x", "pkl", "original", "out")}
    paths["x"] += ".npy"
    paths["out"] += ".npy"
    np.save(paths["x"], X)
    with open(paths["pkl"], "wb") as fh:
        pickle.dump(served, fh)
    with open(paths["original"], "wb") as fh:
        pickle.dump(original, fh)
    code = (BLOCKER.format(blocked=("torch", "xgboost", "lightgbm"))
            + SCRIPT.format(repo=str(REPO), method=method, **paths))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "served ok" in result.stdout
    return np.load(paths["out"]), result.stdout


def _lgbm():
    lightgbm = pytest.importorskip("lightgbm")
    return lightgbm.LGBMClassifier(n_estimators=200, num_leaves=31, verbose=-1, random_state=0)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def lgbm_model(cancer):
    """A student distilled from a prefit LightGBM model (wrapped in FrozenEstimator)."""
    X, y = cancer
    booster = _lgbm().fit(X, y)
    return DistilledClassifier(teachers=[("lgbm", FrozenEstimator(booster))],
                               augmentation=None, max_epochs=3, random_state=0).fit(X, y)


def test_frozen_lgbm_pickle_is_the_student(lgbm_model, cancer, tmp_path):
    X, _ = cancer
    slim = serving(lgbm_model)
    full_size = len(pickle.dumps(lgbm_model))
    slim_size = len(pickle.dumps(slim))
    weights = lgbm_model.student_.nbytes
    print(f"\nFrozenEstimator(LGBM): original pickle {full_size:,} B, serving {slim_size:,} B, "
          f"raw float32 weights {weights:,} B, ratio {slim_size / weights:.3f}")
    assert slim_size <= MAX_OVERHEAD * weights
    # The control: what serving removed is the teacher.
    teacher_size = len(pickle.dumps(lgbm_model.teachers[0][1]))
    assert full_size - slim_size > 0.9 * teacher_size
    assert slim.teachers == ["lgbm"]
    np.testing.assert_array_equal(slim.predict_proba(X), lgbm_model.predict_proba(X))
    out, stdout = _run_blocked(tmp_path, slim, lgbm_model, X, "predict_proba")
    np.testing.assert_array_equal(out, lgbm_model.predict_proba(X))
    assert "original needs:" in stdout and "lightgbm" in stdout


def test_frozen_forest_pickle_is_the_student(cancer):
    X, y = cancer
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    model = DistilledClassifier(teachers=[("rf", FrozenEstimator(forest))], augmentation=None,
                                max_epochs=3, random_state=0).fit(X, y)
    slim = serving(model)
    slim_size = len(pickle.dumps(slim))
    print(f"\nFrozenEstimator(RF): original pickle {len(pickle.dumps(model)):,} B, serving "
          f"{slim_size:,} B, weights {model.student_.nbytes:,} B, "
          f"ratio {slim_size / model.student_.nbytes:.3f}")
    assert slim_size <= MAX_OVERHEAD * model.student_.nbytes
    np.testing.assert_array_equal(slim.predict(X), model.predict(X))
    assert slim.score(X, y) == model.score(X, y)


def test_pipeline_keeps_preprocessing_and_slims_the_last_step(cancer, tmp_path):
    X, y = cancer
    scaler = StandardScaler().fit(X)
    booster = _lgbm().fit(scaler.transform(X), y)
    pipe = make_pipeline(
        StandardScaler(),
        DistilledClassifier(teachers=[("lgbm", FrozenEstimator(booster))], augmentation=None,
                            max_epochs=3, random_state=0),
    ).fit(X, y)
    slim = serving(pipe)
    assert type(slim) is type(pipe)
    assert [n for n, _ in slim.steps] == [n for n, _ in pipe.steps]
    assert slim.steps[-1][1] is not pipe.steps[-1][1]
    assert pipe.steps[-1][1].teachers[0][0] == "lgbm"  # the original is untouched
    np.testing.assert_array_equal(slim.steps[0][1].mean_, pipe.steps[0][1].mean_)
    preprocessing = len(pickle.dumps(pipe[:-1]))
    weights = pipe[-1].student_.nbytes
    slim_size = len(pickle.dumps(slim))
    print(f"\nPipeline: original pickle {len(pickle.dumps(pipe)):,} B, serving {slim_size:,} B, "
          f"weights {weights:,} B + preprocessing {preprocessing:,} B, "
          f"ratio {slim_size / (weights + preprocessing):.3f}")
    assert slim_size <= MAX_OVERHEAD * weights + preprocessing
    out, _ = _run_blocked(tmp_path, slim, pipe, X, "predict_proba")
    np.testing.assert_array_equal(out, pipe.predict_proba(X))
    assert slim.score(X, y) == pipe.score(X, y)


def test_regressor_and_dataframe_inputs(tmp_path):
    pd = pytest.importorskip("pandas")
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target
    model = DistilledRegressor(teachers=[("lr", LinearRegression())], augmentation=None,
                               cv=2, max_epochs=3, keep_teachers=True, random_state=0).fit(X, y)
    slim = serving(model)
    assert isinstance(X, pd.DataFrame)
    np.testing.assert_array_equal(slim.predict(X), model.predict(X))
    assert slim.score(X, y) == model.score(X, y)
    assert list(slim.feature_names_in_) == list(X.columns)
    assert not hasattr(slim, "teachers_") and hasattr(model, "teachers_")
    model.teacher_predict(X)  # the original still has its kept teachers
    # The safe format stores a serving copy as it stores the original.
    path = tmp_path / "slim.skd"
    skdistill.save(slim, path)
    loaded = skdistill.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    # ...and loads as the original's file does: no teachers, fittable once they are set.
    loaded.set_params(teachers=[("lr", LinearRegression())]).fit(X, y)


def test_fit_is_refused_with_a_clear_error(cancer):
    X, y = cancer
    model = DistilledClassifier(teachers=[("lr", make_pipeline(StandardScaler(),
                                                                LogisticRegression()))],
                                augmentation=None, cv=2, max_epochs=1, random_state=0).fit(X, y)
    slim = serving(model)
    before = slim.predict_proba(X)
    with pytest.raises(TypeError, match=r"serving copy.*Fit the original"):
        slim.fit(X, y)
    np.testing.assert_array_equal(slim.predict_proba(X), before)  # state unchanged
    # A clone keeps the names-only teachers, and is refused too...
    with pytest.raises(TypeError, match=r"teacher names: \['lr'\]"):
        clone(slim).fit(X, y)
    # ...until real teachers are set again.
    refit = clone(slim).set_params(teachers=[("lr", LogisticRegression(max_iter=5000))])
    refit.fit(X, y)
    # The default ensemble (teachers=None) stays None, and the copy is still refused.
    default = clone(model).set_params(teachers=None)
    default.__dict__.update(model.__dict__)
    default.teachers = None
    slim_default = serving(default)
    assert slim_default.teachers is None
    with pytest.raises(TypeError, match="serving copy"):
        slim_default.fit(X, y)


def test_refuses_what_it_cannot_slim(cancer):
    X, y = cancer
    with pytest.raises(NotFittedError):
        serving(DistilledClassifier())
    with pytest.raises(TypeError, match="ending in LogisticRegression"):
        serving(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    with pytest.raises(TypeError, match="got LogisticRegression"):
        serving(LogisticRegression())

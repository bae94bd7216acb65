"""Every ```python block of README.md runs as written.

The blocks run in order, in one namespace (later blocks use ``search`` and ``model`` from
earlier ones), from an empty temporary directory (they write ``cache_dir``, ``model.pkl``,
``churn.skd``, ``model.onnx``). The README leaves its data to the reader, so before each
block the test puts in the namespace what that block names: small tables with the
README's columns (``city``, ``plan``, ``age``, ``income``), a churn label, a prefit
model. A new block must be given its inputs in ``_SETUPS``; shell blocks are not run.

One change to the defaults, and only for speed: the default teacher ensembles are built
by the real ``default_teachers`` / ``default_regression_teachers`` (sparse variant
included) and then shrunk to 10 trees or boosting rounds, 50 MLP iterations and one
thread each, because the usage block's grid search fits them four times over.
"""

import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

import skdistill

pd = pytest.importorskip("pandas")

README = Path(__file__).resolve().parent.parent / "README.md"

# ```python, possibly indented (a block inside a list item), up to its closing fence.
_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def python_blocks(text):
    """The source of every ```python block of a Markdown text, dedented, in order."""
    return [textwrap.dedent(m.group(2)) for m in _BLOCK.finditer(text)]


# -- the inputs the README's blocks name ----------------------------------------------------
def _churn_table(n, seed):
    """Rows with the README's columns and a churn label that depends on all four.

    30 cities make the encoded matrix sparse enough (density under 0.3) for the
    ColumnTransformer to keep OneHotEncoder's sparse output, so the usage block
    exercises sparse input.
    """
    rng = np.random.default_rng(seed)
    cities = np.array([f"city_{i}" for i in range(30)])
    X = pd.DataFrame({
        "city": rng.choice(cities, n),
        "plan": rng.choice(["basic", "plus", "pro"], n),
        # float32, as an ONNX graph reads them: the skl2onnx block converts this table.
        "age": rng.normal(40, 12, n).astype(np.float32),
        "income": rng.lognormal(10, 0.5, n).astype(np.float32),
    })
    score = ((X["plan"] == "basic") * 1.0 + (X["age"] < 35) - np.log(X["income"]) / 10
             + np.isin(X["city"], cities[:10]) + rng.normal(0, 0.3, n))
    y = np.where(score > np.median(score), "churn", "stay")
    return X, y


def _raw_split():
    X_train, y_train = _churn_table(240, 0)
    X_test, y_test = _churn_table(80, 1)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}


def _raw_table():
    """The README's table as users hold it: a category column and missing values."""
    split = _raw_split()
    for key in ("X_train", "X_test"):
        X = split[key].copy()
        X["plan"] = X["plan"].astype("category")
        X.loc[X.index[::7], "age"] = np.nan
        X.loc[X.index[::11], "city"] = None
        split[key] = X
    return split


def _numeric(X):
    return np.array(X[["age", "income"]], dtype=np.float64)  # writable: torch.as_tensor


def _prefit():
    from sklearn.ensemble import RandomForestClassifier

    split = _raw_split()
    X_train, X_test = _numeric(split["X_train"]), _numeric(split["X_test"])
    fitted = RandomForestClassifier(n_estimators=20, random_state=0).fit(X_train,
                                                                          split["y_train"])
    return {**split, "X_train": X_train, "X_test": X_test, "my_fitted_model": fitted}


def _regression():
    split = _raw_split()
    X_train = _numeric(split["X_train"])
    return {"X_train": X_train, "y_train": X_train[:, 1] / 1e4 + X_train[:, 0] / 10}


def _numeric_test_rows():
    return {"X_test": _numeric(_raw_split()["X_test"])}


# (text the block contains, what it needs in the namespace, optional modules it imports)
_SETUPS = [
    ("search = GridSearchCV(", _raw_split, ()),
    ("print(model.table_)", _raw_table, ()),
    ("FrozenEstimator(my_fitted_model)", _prefit, ()),
    ("DistilledRegressor(random_state=0)", _regression, ()),
    ("skdistill.serving(search.best_estimator_)", dict, ()),
    ('skdistill.save(model, "churn.skd", metadata=', dict, ()),
    ("key = b\"a secret from your vault\"", dict, ()),
    ('skdistill.to_onnx(model, "model.onnx")', dict, ("onnx",)),
    ("skl2onnx.to_onnx(search.best_estimator_", _raw_split, ("onnx", "skl2onnx")),
    ("skdistill.to_torch(model)", _numeric_test_rows, ("torch",)),
]


def _setup_for(block):
    found = [s for s in _SETUPS if s[0] in block]
    assert len(found) == 1, (
        f"README block has {len(found)} matching setups in tests/test_readme.py; give it "
        f"exactly one (its inputs):\n{block}")
    return found[0]


# -- speed: the real default ensembles, shrunk ----------------------------------------------
def _shrunk(teachers):
    small = []
    for name, est in teachers:
        est = clone(est)
        params = est.get_params()
        if "n_estimators" in params:
            est.set_params(n_estimators=10)
        for key in params:
            if key.endswith("max_iter"):
                est.set_params(**{key: 50})
            if key.endswith("n_jobs"):  # one thread: these fits are too small to share
                est.set_params(**{key: 1})
        small.append((name, est))
    return small


@pytest.fixture
def small_default_teachers(monkeypatch):
    from skdistill import _classifier, _regressor

    real_c, real_r = _classifier.default_teachers, _regressor.default_regression_teachers
    monkeypatch.setattr(_classifier, "default_teachers",
                        lambda random_state=None, *, sparse=False:
                        _shrunk(real_c(random_state, sparse=sparse)))
    monkeypatch.setattr(_regressor, "default_regression_teachers",
                        lambda random_state=None, *, sparse=False:
                        _shrunk(real_r(random_state, sparse=sparse)))


def test_readme_has_the_blocks_this_test_knows():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= len(_SETUPS)
    for block in blocks:
        _setup_for(block)


def test_readme_python_blocks_run(tmp_path, monkeypatch, small_default_teachers):
    import importlib.util

    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    skipped = []
    seen = []
    for i, block in enumerate(python_blocks(README.read_text(encoding="utf-8"))):
        marker, inputs, modules = _setup_for(block)
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            skipped.append(f"block {i} ({marker}): {missing} not installed")
            continue
        namespace.update(inputs())
        with warnings.catch_warnings():
            # The shrunk MLP teachers stop before converging; that is the point.
            warnings.filterwarnings("ignore", message=".*(converge|Maximum iterations).*")
            try:
                exec(compile(block, f"README.md block {i}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"README block {i} failed:\n{block}") from exc
        seen.append(marker)
        if marker == "search = GridSearchCV(":
            # The usage example really takes sparse input: OneHotEncoder's default output.
            best = namespace["search"].best_estimator_
            assert sp.issparse(best[:-1].transform(namespace["X_test"]))
            assert namespace["search"].score(namespace["X_test"], namespace["y_test"]) > 0.6
    assert isinstance(namespace.get("model"), skdistill.DistilledClassifier)
    if skipped:
        pytest.skip("ran " + ", ".join(seen) + "; skipped " + "; ".join(skipped))

"""A fitted model imports, unpickles, loads and predicts in a Python without torch."""

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, save

REPO = Path(__file__).resolve().parent.parent

# A fake `torch` package, first on sys.path, whose import raises ImportError: what a
# machine without torch does. (sys.modules["torch"] = None would block it too, but scipy's
# array-API helpers then trip over the None entry, which no real machine has.)
BLOCKER = 'raise ModuleNotFoundError("No module named \'torch\'", name="torch")\n'

# Runs in a fresh interpreter where `import torch` fails.
SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {blocker!r})
    sys.path.insert(1, {repo!r})
    try:
        import torch
    except ImportError:
        pass
    else:
        raise SystemExit("the torch blocker did not work")
    import pickle
    import numpy as np
    import skdistill
    X = np.load({x!r})
    with open({pkl!r}, "rb") as fh:
        model = pickle.load(fh)
    np.save({out_pickle!r}, model.predict_proba(X))
    np.save({out_skd!r}, skdistill.load({skd!r}).predict_proba(X))
    single = model.predict_proba(X[:1])
    assert single.shape == (1, len(model.classes_))
    assert "torch" not in sys.modules
    print("torch-free ok")
""")


@pytest.fixture(scope="module")
def fitted():
    X, y = load_wine(return_X_y=True)
    model = DistilledClassifier(
        teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))],
        cv=2, max_epochs=3, random_state=0,
    ).fit(X, y)
    return model, X


@pytest.fixture
def blocker(tmp_path):
    (tmp_path / "blocker" / "torch").mkdir(parents=True)
    (tmp_path / "blocker" / "torch" / "__init__.py").write_text(BLOCKER)
    return str(tmp_path / "blocker")


def test_predicts_without_torch(fitted, tmp_path, blocker):
    model, X = fitted
    paths = {k: str(tmp_path / name) for k, name in [
        ("x", "X.npy"), ("pkl", "model.pkl"), ("skd", "model.skd"),
        ("out_pickle", "p1.npy"), ("out_skd", "p2.npy")]}
    np.save(paths["x"], X)
    with open(paths["pkl"], "wb") as fh:
        pickle.dump(model, fh)
    save(model, paths["skd"])
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(repo=str(REPO), blocker=blocker, **paths)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "torch-free ok" in result.stdout
    expected = model.predict_proba(X)
    np.testing.assert_allclose(np.load(paths["out_pickle"]), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.load(paths["out_skd"]), expected, rtol=0, atol=1e-6)


def test_import_does_not_load_torch():
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import skdistill, skdistill.cli; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_training_without_torch_says_what_is_missing(blocker):
    """Fitting does need torch: the error must say so, not fail obscurely."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {blocker!r})
        sys.path.insert(1, {str(REPO)!r})
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from skdistill import DistilledClassifier
        X = np.random.RandomState(0).rand(40, 3); y = np.arange(40) % 2
        try:
            DistilledClassifier(teachers=[("lr", LogisticRegression())], cv=2,
                                max_epochs=1).fit(X, y)
        except ImportError as exc:
            print("ImportError", exc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "ImportError" in result.stdout and "torch" in result.stdout, result.stderr

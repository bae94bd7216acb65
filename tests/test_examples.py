"""Every script in examples/ runs to completion.

Each runs in a fresh interpreter, from an empty temporary directory (so a script that
writes files by relative path would write there, never into the repository), with
matplotlib's non-interactive Agg backend.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.py"))

# What each example needs beyond the core dependencies.
OPTIONAL = {
    "production_export.py": ["onnx", "onnxruntime", "pandas"],
    "frontier_plot.py": ["matplotlib"],
    "pipeline_grid_search.py": ["pandas"],
    "raw_tables.py": ["pandas"],
    "pipeline_onnx.py": ["onnx", "onnxruntime", "skl2onnx", "pandas", "lightgbm"],
    "scaling_out.py": ["distributed"],
}

def test_examples_exist():
    assert len(EXAMPLES) >= 6, [p.name for p in EXAMPLES]


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    for module in OPTIONAL.get(script.name, []):
        pytest.importorskip(module)
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    # The repository first on the path, so the examples run against this checkout even
    # when skdistill is not installed.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    # The examples are small: one thread per pool avoids oversubscribing a shared CI
    # machine, where OpenMP and torch pools that spin-wait cost far more than they give.
    env.setdefault("OMP_NUM_THREADS", "1")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n--- stdout ---\n"
        f"{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
    )
    assert not list(tmp_path.iterdir()), "examples must write only under tempfile dirs"

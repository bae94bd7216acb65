"""Real tabular datasets for the benchmarks and the slow tests.

Reads ``NAME.tsv.gz`` from a data folder (the project's ``../shared/datasets`` by
default, or ``$SKDISTILL_DATA_DIR``); where a file is missing, fetches the same data
from OpenML by id, or returns None when that is impossible (offline), so that callers
can skip with a message.
"""

import os
from pathlib import Path

import numpy as np

#: name -> (task, OpenML id or None). Ids from the shared MANIFEST.tsv.
DATASETS = {
    "diabetes": ("classification", 37),
    "vehicle": ("classification", 54),
    "credit_g": ("classification", 31),
    "segmentation": ("classification", 36),
    "kr_vs_kp": ("classification", 3),
    "spambase": ("classification", 44),
    "phoneme": ("classification", 1489),
    "optdigits": ("classification", 28),
    "satimage": ("classification", 182),
    "magic": ("classification", 1120),
    "letter": ("classification", 6),
    "electricity": ("classification", 151),
    "adult": ("classification", 1590),
    "connect_4": ("classification", 40668),
    "fars": ("classification", 40672),
    "537_houses": ("regression", 537),
    "197_cpu_act": ("regression", 197),
    "225_puma8NH": ("regression", 225),
}


def default_data_dir():
    """``$SKDISTILL_DATA_DIR``, else ``../shared/datasets`` beside the repository."""
    env = os.environ.get("SKDISTILL_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def load_dataset(name, data_dir=None, allow_download=True):
    """Load ``(X, y)`` for a named dataset, or None when it cannot be had.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    data_dir : str or Path, optional
        Folder holding ``NAME.tsv.gz``. Defaults to :func:`default_data_dir`.
    allow_download : bool
        Fall back to ``sklearn.datasets.fetch_openml`` when the file is missing.

    Returns
    -------
    (X, y) as float64 and label/target arrays, or None.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known: {sorted(DATASETS)}.")
    task, openml_id = DATASETS[name]
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    file = path / f"{name}.tsv.gz"
    if file.exists():
        import pandas as pd

        df = pd.read_csv(file, sep="\t")
        y = df.pop("target").to_numpy()
        return df.to_numpy(dtype=np.float64), y
    if not allow_download or openml_id is None:
        return None
    try:
        from sklearn.datasets import fetch_openml

        bunch = fetch_openml(data_id=openml_id, as_frame=True)
    except Exception:  # offline, or OpenML down: the caller skips with a message
        return None
    X = bunch.data
    for col in X.columns:
        if not np.issubdtype(X[col].dtype, np.number):
            X[col] = X[col].astype("category").cat.codes
    X = X.to_numpy(dtype=np.float64)
    keep = np.isfinite(X).all(axis=1)
    y = np.asarray(bunch.target)
    if task == "regression":
        y = y.astype(np.float64)
    return X[keep], y[keep]

"""Distill on a Dask cluster, then ship the in-memory model.

The training table is generated on the workers, partition by partition, so it never
sits in this process; with real data, read it there instead (for example with
``dask.dataframe.read_parquet``). A LocalCluster stands in for a real cluster: with one,
connect ``Client("scheduler-address:8786")`` instead and leave the rest unchanged.

Needs the dask extra: ``pip install "skdistill[dask]"``.
"""

import tempfile
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import skdistill
from skdistill.dask import DaskDistilledClassifier

N_FEATURES, PARTITION_ROWS = 8, 5_000


def make_partition(partition, rows, split):
    """One partition of a table with an interaction the student has to learn."""
    rng = np.random.default_rng([split, partition])
    X = rng.standard_normal((rows, N_FEATURES))
    logit = 3 * np.sign(X[:, 0] * X[:, 1]) + X[:, 2] - np.abs(X[:, 3])
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return X, y


def make_table(n_partitions, split):
    X_parts, y_parts = [], []
    for i in range(n_partitions):
        X, y = dask.delayed(make_partition, nout=2)(i, PARTITION_ROWS, split)
        X_parts.append(da.from_delayed(X, (PARTITION_ROWS, N_FEATURES), dtype=np.float64))
        y_parts.append(da.from_delayed(y, (PARTITION_ROWS,), dtype=np.int64))
    return da.concatenate(X_parts), da.concatenate(y_parts)


def main():
    # Worker processes: lightgbm.dask and xgboost.dask allow one worker per process.
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        X, y = make_table(8, split=0)  # 40,000 rows in 8 partitions
        # Persisted: computed once on the workers, and held there while we use it.
        X_test, y_test = client.persist(make_table(2, split=1))

        # The default teachers (LightGBM and XGBoost) train on the cluster, two folds
        # assigned by partition; the student streams the labelled partitions.
        model = DaskDistilledClassifier(max_epochs=15, random_state=0).fit(X, y)
        print(f"held-out accuracy: {model.score(X_test, y_test):.3f}")
        print(f"teachers: {model.fit_info_['teachers']}, "
              f"{model.fit_info_['teacher_fit_seconds']:.0f} s; student: "
              f"{model.n_iter_} epochs, {model.fit_info_['student_fit_seconds']:.0f} s")
        print(f"most training rows held by this process at once: "
              f"{model.fit_info_['max_client_rows']:,} of {X.shape[0]:,}")

        # predict runs on the workers and returns a dask array.
        proba = model.predict_proba(X_test)
        print("predict_proba:", proba.shape, "mean", proba.mean(axis=0).compute().round(3))

    # The in-memory model: numpy only, for save, to_onnx and serving.
    local = model.to_local()
    X_check = make_partition(0, 100, split=2)[0]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.skd"
        skdistill.save(local, path)
        loaded = skdistill.load(path)
    assert (loaded.predict(X_check) == local.predict(X_check)).all()
    print(f"saved and loaded a {type(loaded).__name__} of "
          f"{loaded.student_.n_parameters:,} parameters")


if __name__ == "__main__":
    main()

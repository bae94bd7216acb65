import os

# `make test` runs two xdist workers on a two-core machine. OpenMP pools of one thread per
# core in each (LightGBM, HistGradientBoosting, BLAS, torch) oversubscribe the cores, and
# their spin-waiting threads can then make a sub-second fit take minutes. One thread per
# pool, set before any of those libraries loads; a value the user set wins. Subprocesses
# (examples, serving) inherit it, so their results still match this process's bit for bit.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from skdistill._datasets import default_data_dir, load_dataset


def pytest_addoption(parser):
    parser.addoption(
        "--data-dir", default=None,
        help="folder with the real datasets (NAME.tsv.gz); default $SKDISTILL_DATA_DIR "
             "or ../shared/datasets",
    )


@pytest.fixture(scope="session")
def data_dir(request):
    return request.config.getoption("--data-dir") or default_data_dir()


@pytest.fixture(scope="session")
def real_dataset(data_dir):
    """Load a real dataset by name, or skip the test with a message."""
    def load(name):
        # Tests never try the network: without the data folder, they skip.
        data = load_dataset(name, data_dir, allow_download=False)
        if data is None:
            pytest.skip(f"dataset {name!r} is not in {data_dir}; pass --data-dir or set "
                        "SKDISTILL_DATA_DIR to the shared datasets folder")
        return data
    return load

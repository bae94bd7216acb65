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

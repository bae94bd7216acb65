# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
PIP = $(PYTHON) -m pip

# torch is pinned here, and installed first, only because these machines keep a CPU
# build of 2.13.0 on disk: an unpinned resolve can pull a multi-gigabyte CUDA build.
# The package itself asks for torch>=2.2.
install-torch:
	$(PIP) install --quiet torch==2.13.0

demo: install-torch
	$(PIP) install --quiet -e .
	$(PYTHON) -m skdistill demo

test: install-torch
	$(PIP) install --quiet -e ".[test]"
	$(PYTHON) -m pytest -n 2 --durations=25

.PHONY: install-torch demo test

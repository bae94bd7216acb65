"""skdistill's benchmarks: the measured claims behind the README and the defaults.

Run them from the repository root, e.g. ``python -m benchmarks.run --suite quick``;
see ``benchmarks/README.md``.
"""

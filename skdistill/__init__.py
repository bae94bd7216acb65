"""skdistill: distill a large tabular ensemble into one small, fast neural network.

The public API lives here; modules starting with ``_`` are private.
"""

from ._classifier import DistilledClassifier
from ._onnx import to_onnx
from ._persist import load, save
from ._student import MLPStudent
from ._teachers import default_regression_teachers, default_teachers

__version__ = "0.1.0"

__all__ = [
    "DistilledClassifier",
    "MLPStudent",
    "default_regression_teachers",
    "default_teachers",
    "load",
    "save",
    "to_onnx",
    "__version__",
]

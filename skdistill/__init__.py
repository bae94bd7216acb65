"""skdistill: distill a large tabular ensemble into one small, fast neural network.

The public API lives here; modules starting with ``_`` are private.
"""

from ._augment import munge
from ._classifier import DistilledClassifier
from ._frontier import distillation_frontier
from ._metrics import (
    expected_calibration_error,
    fidelity_score,
    fidelity_scorer,
    neg_ece_scorer,
    neg_kl_scorer,
    teacher_student_kl,
)
from ._onnx import to_onnx
from ._persist import ModelFormatError, load, save
from ._pipeline import DistillationPipeline
from ._regressor import DistilledRegressor
from ._report import DistillationReport
from ._serving import serving
from ._skl2onnx import register_skl2onnx
from ._student import MLPStudent
from ._table import TableSchema
from ._teachers import default_regression_teachers, default_teachers
from ._torch_export import from_torch, to_torch

__version__ = "0.9.2"

__all__ = [
    "DistillationPipeline",
    "DistilledClassifier",
    "DistilledRegressor",
    "MLPStudent",
    "ModelFormatError",
    "default_regression_teachers",
    "default_teachers",
    "distillation_frontier",
    "DistillationReport",
    "expected_calibration_error",
    "fidelity_score",
    "from_torch",
    "fidelity_scorer",
    "neg_ece_scorer",
    "neg_kl_scorer",
    "teacher_student_kl",
    "load",
    "munge",
    "register_skl2onnx",
    "save",
    "serving",
    "TableSchema",
    "to_onnx",
    "to_torch",
    "__version__",
]

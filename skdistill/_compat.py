"""Every private scikit-learn name skdistill uses, in one place.

scikit-learn may move or change anything whose name starts with an underscore in any
release. Importing those names only here means a new scikit-learn breaks one module,
and a version-dependent difference is bridged once, not in each caller. The supported
range is the one in ``pyproject.toml``; CI runs the tests at both of its ends.

Version differences bridged here:

- ``check_cv`` takes ``shuffle`` and ``random_state`` only from scikit-learn 1.9 on;
  :func:`check_cv` below gives that behaviour on every supported version.
- ``_check_sample_weight`` refuses all-zero weights from 1.9 on (and the common checks
  of 1.9 require that refusal); 1.6-1.8 accept them, so the wrapper below refuses them
  there too, with the same message, instead of training on a zero loss.
- ``Pipeline._validate_steps`` is a private method; :func:`validate_pipeline_steps`
  calls it where it exists.
"""

import inspect
import numbers

import numpy as np
import sklearn
from sklearn.base import _fit_context  # noqa: F401  (re-exported)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.model_selection import check_cv as _sklearn_check_cv
from sklearn.model_selection._search import BaseSearchCV  # noqa: F401  (re-exported)
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.fixes import parse_version
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight as _sklearn_check_sample_weight

__all__ = [
    "BaseSearchCV",
    "HasMethods",
    "Interval",
    "StrOptions",
    "SKLEARN_VERSION",
    "_check_sample_weight",
    "_fit_context",
    "check_cv",
    "validate_params",
    "validate_pipeline_steps",
]

#: The installed scikit-learn's version, without any ``.dev``/``rc`` suffix.
SKLEARN_VERSION = parse_version(parse_version(sklearn.__version__).base_version)

_SAMPLE_WEIGHT_KWARGS = set(inspect.signature(_sklearn_check_sample_weight).parameters)


def _check_sample_weight(sample_weight, X, *, dtype=None, ensure_non_negative=False):
    """scikit-learn's ``_check_sample_weight``, refusing all-zero weights on every version.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), float or None
    X : array-like of shape (n_samples, n_features)
    dtype : dtype or None, default=None
    ensure_non_negative : bool, default=False
        Raise on negative weights.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    kwargs = {"dtype": dtype, "ensure_non_negative": ensure_non_negative}
    if "allow_all_zero_weights" in _SAMPLE_WEIGHT_KWARGS:
        kwargs["allow_all_zero_weights"] = False
    sample_weight = _sklearn_check_sample_weight(sample_weight, X, **kwargs)
    if "allow_all_zero_weights" not in _SAMPLE_WEIGHT_KWARGS and np.all(sample_weight == 0):
        # scikit-learn >= 1.9's own message, so that both ends of the range read alike.
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight


def check_cv(cv, y=None, *, classifier=False, shuffle=False, random_state=None):
    """``sklearn.model_selection.check_cv`` with the ``shuffle`` of scikit-learn 1.9.

    An integer ``cv`` (any :class:`numbers.Integral`, ``np.int64`` included) becomes
    :class:`~sklearn.model_selection.StratifiedKFold` when ``classifier`` is true and
    ``y`` is binary or multiclass, and :class:`~sklearn.model_selection.KFold`
    otherwise, shuffled with ``random_state`` when ``shuffle`` is true. Anything else
    (a splitter, an iterable of splits) goes through scikit-learn's own ``check_cv``.

    Parameters
    ----------
    cv : int, cross-validation generator, iterable or None
    y : array-like or None, default=None
    classifier : bool, default=False
    shuffle : bool, default=False
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    cross-validator
    """
    cv = 5 if cv is None else cv
    if isinstance(cv, numbers.Integral):
        # Built here rather than by check_cv: before 1.9 it has no shuffle, and its folds
        # would follow the row order, which is often sorted by time or by class.
        kwargs = {"shuffle": shuffle, "random_state": random_state if shuffle else None}
        if classifier and y is not None and type_of_target(y) in ("binary", "multiclass"):
            return StratifiedKFold(int(cv), **kwargs)
        return KFold(int(cv), **kwargs)
    return _sklearn_check_cv(cv, y, classifier=classifier)


def validate_pipeline_steps(pipeline):
    """Run a Pipeline's own step validation (a private method) where it exists."""
    validate = getattr(pipeline, "_validate_steps", None)
    if validate is not None:
        validate()

"""Warnings that point at the user's line, not at skdistill's internals.

A fixed ``stacklevel`` is right for one call path only: the same warning is reached
from ``fit``, ``predict``, a Pipeline or a search, each a different depth below the
user's code. :func:`warn` counts the frames instead (Python 3.12's
``skip_file_prefixes`` does the same, but skdistill supports 3.10).
"""

import os
import sys
import warnings

import sklearn

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Frames skipped: skdistill's, and scikit-learn's (a Pipeline or a search calling it).
_SKIPPED = (_PACKAGE, os.path.dirname(os.path.abspath(sklearn.__file__)) + os.sep)


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the nearest caller outside skdistill and
    scikit-learn.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn("a message")
    >>> caught[0].filename.startswith(_PACKAGE)
    False
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_SKIPPED):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)

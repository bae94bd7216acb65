"""The safe model format: numpy arrays and a JSON header in a zip, no code on load.

A pickle runs code when it is loaded, so a pickle from an untrusted source is a security
hole, and a pickle ties the file to the class layout of the version that wrote it. The
``.skd`` format stores only data:

- ``skdistill.json``: the header. Format name and version, the skdistill version that
  wrote it, the estimator class and task, its JSON-able hyperparameters, the fitted
  metadata (``classes_``, ``feature_names_in_``, ``n_features_in_``, ``n_iter_``,
  ``fit_info_``, ``history_`` and the estimator's other fitted values), optional user
  metadata, and the list of arrays with their dtypes and shapes.
- ``arrays/NAME.npy``: the student's float32 weights, read back with
  ``np.load(allow_pickle=False)``.
- ``SHA256``: a sha256 digest over every other member, so that a truncated, corrupted or
  edited file is refused instead of silently predicting something else.

Loading builds the estimator by its class name from a fixed list of skdistill classes;
nothing in the file can name a class or function to call.
"""

import hashlib
import inspect
import io
import json
import zipfile
import zlib
from numbers import Integral, Real
from pathlib import Path

import numpy as np

FORMAT_NAME = "skdistill"
#: Bumped on any change a reader of the previous version could not read correctly.
FORMAT_VERSION = 2

_HEADER = "skdistill.json"
_CHECKSUM = "SHA256"
_ARRAY_DIR = "arrays/"

#: Fitted state that is never stored: the student is stored as arrays; the teachers
#: are arbitrary code; ``_sklearn_version`` is written afresh on load.
_NOT_STORED = {"student_", "teachers_", "named_teachers_", "_teacher_columns",
               "_sklearn_version"}


class ModelFormatError(ValueError):
    """A ``.skd`` file is unreadable, corrupted, tampered with or of another version."""


def _estimator_classes():
    # The only classes load() can build; looked up by name, never imported from the file.
    from ._classifier import DistilledClassifier
    from ._regressor import DistilledRegressor

    return {"DistilledClassifier": DistilledClassifier, "DistilledRegressor": DistilledRegressor}


# -- JSON encoding of parameters and fitted values -----------------------------------
class _NotJSONable(Exception):
    pass


def _to_json(value):
    """Encode a value as JSON data, tagging tuples and arrays so they round-trip."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v) for v in value]}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if any(k.startswith("__") for k in value):
            raise _NotJSONable("dict keys starting with '__' are reserved")
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUO":
        return {"__ndarray__": [_to_json(v) for v in value.tolist()],
                "dtype": value.dtype.str if value.dtype.kind != "O" else "object"}
    raise _NotJSONable(type(value).__name__)


def _from_json(value):
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_from_json(v) for v in value["__tuple__"])
        if "__ndarray__" in value:
            dtype = object if value["dtype"] == "object" else np.dtype(value["dtype"])
            if dtype is not object and np.dtype(dtype).kind not in "biufU":
                raise ModelFormatError(f"unsupported array dtype {value['dtype']!r} in header")
            return _rebuild_array(value["__ndarray__"], dtype)
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _rebuild_array(items, dtype):
    if dtype is object:
        # np.array would turn a list of strings into a fixed-width unicode array; an
        # object array must come back as an object array (predict returns its labels).
        arr = np.empty(len(items), dtype=object)
        arr[:] = [_from_json(v) for v in items]
        return arr
    return np.array(items, dtype=dtype)


def _default_params(cls):
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


# -- checksum ---------------------------------------------------------------------
def _digest(members):
    """sha256 over (name, length, bytes) of each member, in name order."""
    h = hashlib.sha256()
    for name in sorted(members):
        data = members[name]
        h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode("ascii") + b"\0")
        h.update(data)
    return h.hexdigest()


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# -- save -------------------------------------------------------------------------
def save(model, path, *, metadata=None):
    """Save a fitted distilled model in the safe ``.skd`` format.

    The file holds the student's weights as numpy arrays and everything else as JSON:
    ``classes_``, feature names, the JSON-able hyperparameters, ``fit_info_``,
    ``history_``, the skdistill and format versions and a sha256 checksum.
    :func:`load` reads it back without running any code from the file (no pickle), and
    refuses a corrupted, truncated, edited or incompatible file.

    Not stored: the teachers. The ``teachers`` parameter (a list of arbitrary
    estimators) comes back as ``None`` and its names are kept in the header; fitted
    teachers (``keep_teachers=True``) are dropped. Other parameters that are not plain
    data (a ``RandomState`` instance, a ``joblib.Memory``, a CV splitter) come back as
    their defaults and are listed in the header under ``"dropped_params"``. Predictions
    are unaffected.

    Parameters
    ----------
    model : DistilledClassifier or DistilledRegressor
        A fitted model.
    path : str or path-like
        Where to write; ``.skd`` is the conventional suffix.
    metadata : dict, optional
        Extra JSON-able data to store alongside, returned by
        ``load(path, return_metadata=True)``. The command line stores its column
        encoding here.

    Returns
    -------
    path : pathlib.Path
        The written file.

    See Also
    --------
    load : Read the file back.
    to_onnx : Export the student as an ONNX graph.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, save, load
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
    ...                             max_epochs=5, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.skd")
    >>> _ = save(model, path)
    >>> same = load(path)
    >>> bool(np.array_equal(same.predict_proba(X), model.predict_proba(X)))
    True
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    classes = _estimator_classes()
    name = type(model).__name__
    if name not in classes or not isinstance(model, classes[name]):
        raise TypeError(
            f"save() stores DistilledClassifier and DistilledRegressor models; got "
            f"{type(model).__name__}. Save a Pipeline's last step, or use pickle/joblib for "
            "other objects."
        )
    check_is_fitted(model)
    if model._task not in ("classification", "regression"):
        raise ValueError(f"Unknown task {model._task!r} on {name}.")

    params, dropped = {}, []
    for key, value in model.get_params(deep=False).items():
        if key == "teachers":
            continue  # arbitrary estimators: never stored, see the docstring
        try:
            params[key] = _to_json(value)
        except _NotJSONable:
            dropped.append(key)
    teacher_names = (None if model.teachers is None
                     else [str(t[0]) if isinstance(t, (list, tuple)) else repr(t)
                           for t in model.teachers])

    fitted = {}
    param_names = set(model.get_params(deep=False))
    for key, value in model.__dict__.items():
        if key in _NOT_STORED or key in param_names:
            continue
        try:
            fitted[key] = _to_json(value)
        except _NotJSONable as exc:
            raise ValueError(
                f"Cannot store the fitted attribute {key!r} ({exc}) in the safe format. "
                "Remove it from the model, or report this as a bug in skdistill."
            ) from None
    if metadata is not None:
        try:
            metadata = _to_json(metadata)
        except _NotJSONable as exc:
            raise TypeError(f"metadata must be JSON-able data; it holds a {exc}.") from None

    student = model.student_
    layers, arrays = student.to_state()

    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "skdistill_version": __version__,
        "estimator": name,
        "task": model._task,
        "params": params,
        "dropped_params": dropped,
        "teacher_names": teacher_names,
        "fitted": fitted,
        "student": {"layers": layers, "encoding": student.encoding,
                    "activation": student.activation, "layer_sizes": student.layer_sizes,
                    "n_parameters": student.n_parameters},
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
        "metadata": metadata,
    }
    members = {_HEADER: json.dumps(header, indent=1).encode("utf-8")}
    for key, value in arrays.items():
        members[f"{_ARRAY_DIR}{key}.npy"] = _npy_bytes(value)

    path = Path(path)
    # Write to a temporary name, then rename: a crash mid-write never leaves a
    # half-written file under the real name.
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
        zf.writestr(_CHECKSUM, _digest(members))
    tmp.replace(path)
    return path


# -- load -------------------------------------------------------------------------
def _read_members(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: zf.read(info) for info in zf.infolist()}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
        raise ModelFormatError(
            f"{str(path)!r} is not a readable skdistill model file (truncated, corrupted, "
            f"or not written by skdistill.save): {exc}"
        ) from None
    if _HEADER not in members or _CHECKSUM not in members:
        raise ModelFormatError(
            f"{str(path)!r} is not a skdistill model file: it lacks {_HEADER} or {_CHECKSUM}."
        )
    expected = members.pop(_CHECKSUM).decode("ascii", "replace").strip()
    if _digest(members) != expected:
        raise ModelFormatError(
            f"{str(path)!r} failed its sha256 checksum: the file was corrupted or modified "
            "after it was saved. Re-save the model from its source."
        )
    return members


def read_header(path):
    """The verified JSON header of a ``.skd`` file, without building the model.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        Format and skdistill versions, estimator, task, params, fitted metadata,
        student layout, user metadata.
    """
    header = _parse_header(_read_members(path), path)
    return header


def _parse_header(members, path):
    try:
        header = json.loads(members[_HEADER].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{str(path)!r} has an unreadable header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFormatError(f"{str(path)!r} is not a skdistill model file.")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{str(path)!r} uses model format version {version}, written by skdistill "
            f"{header.get('skdistill_version')}; this skdistill reads version {FORMAT_VERSION}. "
            "Load it with a matching skdistill version, or re-save it from the source."
        )
    return header


def load(path, *, return_metadata=False):
    """Load a model saved with :func:`save`, running no code from the file.

    Arrays are read with ``np.load(allow_pickle=False)`` and everything else is JSON.
    The file's sha256 checksum and format version are checked first.

    Parameters
    ----------
    path : str or path-like
    return_metadata : bool, default=False
        Also return the ``metadata`` dict given to :func:`save` (or None).

    Returns
    -------
    model : DistilledClassifier or DistilledRegressor
        Fitted; predicts exactly as the saved model did. ``teachers`` is None.
    metadata : dict or None
        Only when ``return_metadata=True``.

    Raises
    ------
    ModelFormatError
        The file is truncated, corrupted, modified after saving, not a skdistill file,
        or of an incompatible format version. A subclass of ``ValueError``.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdistill import DistilledClassifier, load, save
    >>> X, y = load_wine(return_X_y=True)
    >>> teacher = make_pipeline(StandardScaler(), LogisticRegression())
    >>> model = DistilledClassifier(teachers=[("lr", teacher)], max_epochs=3,
    ...                             random_state=0).fit(X, y)
    >>> path = save(model, os.path.join(tempfile.mkdtemp(), "wine.skd"),
    ...             metadata={"owner": "me"})
    >>> loaded, metadata = load(path, return_metadata=True)
    >>> metadata
    {'owner': 'me'}
    >>> loaded.teachers is None  # the teacher list is not stored
    True
    >>> bool((loaded.predict(X) == model.predict(X)).all())
    True
    """
    members = _read_members(path)
    header = _parse_header(members, path)
    try:
        classes = _estimator_classes()
        name = header["estimator"]
        if name not in classes:
            raise ModelFormatError(
                f"{str(path)!r} holds a {name!r}, which this skdistill version does not know."
            )
        cls = classes[name]
        if cls._task != header["task"]:
            raise ModelFormatError(f"{str(path)!r}: task {header['task']!r} does not match {name}.")

        arrays = {}
        for key, spec in header["arrays"].items():
            data = members.get(f"{_ARRAY_DIR}{key}.npy")
            if data is None:
                raise ModelFormatError(f"{str(path)!r} lacks the array {key!r}.")
            arr = np.load(io.BytesIO(data), allow_pickle=False)
            if arr.dtype.str != spec["dtype"] or list(arr.shape) != spec["shape"]:
                raise ModelFormatError(f"{str(path)!r}: array {key!r} does not match the header.")
            arrays[key] = arr

        params = _default_params(cls)
        params.update({k: _from_json(v) for k, v in header["params"].items() if k in params})
        params["teachers"] = None
        model = cls(**params)
        for key, value in header["fitted"].items():
            # Only data attributes: a crafted header must not shadow a method or a dunder.
            if not key.isidentifier() or key.startswith("__") or hasattr(cls, key):
                raise ModelFormatError(f"{str(path)!r}: invalid fitted attribute {key!r}.")
            setattr(model, key, _from_json(value))

        student = _build_student(header, arrays, path)
        model.student_ = student
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{str(path)!r} has an invalid header ({type(exc).__name__}: "
                               f"{exc}).") from None
    if return_metadata:
        return model, _from_json(header.get("metadata"))
    return model


def _build_student(header, arrays, path):
    """The student from its layer list and named arrays, checked to chain from the input."""
    from ._student import MLPStudent

    try:
        # The arrays are used as stored (no recomputation), so predictions stay bit-for-bit
        # those of the saved model.
        student = MLPStudent.from_state(header["student"]["layers"], arrays)
        n_out = student.check(int(header["fitted"]["n_features_in_"]))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFormatError(f"{str(path)!r}: the student's layers do not fit together "
                               f"({type(exc).__name__}: {exc}).") from None
    classes = header["fitted"].get("classes_")
    if header["task"] == "classification" and classes is not None:
        n_classes = len(_from_json(classes))
        if n_classes != n_out:
            raise ModelFormatError(f"{str(path)!r}: {n_classes} classes but the student has "
                                   f"{n_out} outputs.")
    return student

"""The safe model format: numpy arrays and a JSON header in a zip, no code on load.

A pickle runs code when it is loaded, so a pickle from an untrusted source is a security
hole, and a pickle ties the file to the class layout of the version that wrote it. The
``.skd`` format stores only data:

- ``skdistill.json``: the header. Format name and version, the skdistill version that
  wrote it, the estimator class and task, its JSON-able hyperparameters, the fitted
  metadata (``classes_``, ``feature_names_in_``, ``n_features_in_``, ``n_iter_``,
  ``fit_info_``, ``history_`` and the estimator's other fitted values), optional user
  metadata, and the list of arrays with their dtypes and shapes.
- ``arrays/NAME.npy``: the student's float32 weights, read back without pickle after
  their ``.npy`` header has been checked against the member's length.
- ``HMAC-SHA256`` (only when saved with ``key=``): an HMAC-SHA256 over the header and
  arrays, which :func:`load` verifies when given the same key.
- ``SHA256``: a sha256 digest over every other member, so that a truncated or corrupted
  file is refused instead of silently predicting something else. Anyone can recompute
  it, so it detects accidents, not tampering; the HMAC is what detects tampering.

Loading builds the estimator by its class name from a fixed list of skdistill classes;
nothing in the file can name a class or function to call. The reader is bounded: it
checks the zip directory before decompressing anything, reads every member with a hard
cap, and limits the JSON header's size, nesting, integers and arrays, so a hostile file
costs at most a few times its own size in memory and fails with :class:`ModelFormatError`.
"""

import contextlib
import hashlib
import hmac
import inspect
import io
import json
import os
import re
import struct
import tempfile
import zipfile
import zlib
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from ._serving import SERVING_FLAG, teacher_names

FORMAT_NAME = "skdistill"
#: Bumped on any change a reader of the previous version could not read correctly.
#: Version 2 stores the student as a list of layers (kinds, configs, named arrays).
#: The optional signature member needed no bump: older readers ignore it (it is covered
#: by the checksum like any other member) and load the file unverified.
FORMAT_VERSION = 2

_HEADER = "skdistill.json"
_CHECKSUM = "SHA256"
_SIGNATURE = "HMAC-SHA256"
_ARRAY_DIR = "arrays/"

#: Fitted state that is never stored: the student is stored as arrays; the teachers
#: are arbitrary code; ``_sklearn_version`` is written afresh on load; the metadata
#: requests (``set_fit_request``, ``set_score_request``) are settings of this Python
#: session's routing, not of the model.
# SERVING_FLAG too: a loaded model holds its teachers' names only, whichever copy was
# saved, and setting teachers again makes it fittable.
_NOT_STORED = {"student_", "teachers_", "named_teachers_", "_teacher_columns",
               "_teacher_input_sparse", "_sklearn_version", "_metadata_request",
               SERVING_FLAG}

# -- limits of the reader -------------------------------------------------------------
# A model file is a header, a checksum, maybe a signature and two arrays per layer plus
# the input scaling: a few dozen members of at most a few MiB. The limits leave ample
# room above that and stop a hostile file long before it can exhaust memory.
_MAX_MEMBERS = 256
_MAX_MEMBER_BYTES = 64 * 2**20
_MAX_TOTAL_BYTES = 256 * 2**20
_MAX_DIRECTORY_BYTES = 2**20      # the zip central directory itself
_MAX_HEADER_BYTES = 4 * 2**20
# Deflate gives ~1.1x on float32 weights and ~10x on JSON; zeros reach ~1000x. Ratios
# only matter for members big enough to hurt.
_MAX_RATIO = 200
_RATIO_FLOOR = 2**20
_MAX_JSON_DEPTH = 64
_MAX_INT_DIGITS = 30
_MAX_STR_CHARS = 1024              # item size of a string array in the header
_MAX_HEADER_ARRAY_BYTES = 16 * 2**20
# (kind, itemsize) of the .npy arrays a reader accepts: float32/64, int64, bool.
_NPY_DTYPES = {("f", 4), ("f", 8), ("i", 8), ("b", 1)}
# dtype strings a header array may name: numbers, bounded strings, datetimes.
_HEADER_DTYPE = re.compile(
    r"[<>|=]?(b1|[iu][1248]|f[248]|U\d{1,4}|[Mm]8(\[\d{0,6}[a-zA-Z]{1,2}\])?)")


class ModelFormatError(ValueError):
    """A ``.skd`` file is unreadable, corrupted, tampered with or of another version.

    Every failure of :func:`load` to read a file raises this error, whatever the damage:
    a truncated or corrupted zip, a failed checksum or signature, a member over the
    reader's size limits, a malformed header, arrays that do not fit together, or an
    incompatible format version. The message names the file and the reason. A missing
    file raises ``FileNotFoundError`` instead. A subclass of ``ValueError``, so existing
    ``except ValueError`` handlers keep working.

    See Also
    --------
    load : Read a ``.skd`` file.

    Examples
    --------
    >>> import os, tempfile
    >>> from skdistill import ModelFormatError, load
    >>> path = os.path.join(tempfile.mkdtemp(), "not-a-model.skd")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"hello")
    >>> try:
    ...     load(path)
    ... except ModelFormatError as exc:
    ...     print("refused")
    refused
    """


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
    if isinstance(value, np.ndarray) and value.dtype.kind in "Mm":
        # datetime64/timedelta64 (datetime class labels): their int64 counts, with the
        # unit kept in the dtype string ("<M8[D]"), round-trip exactly, NaT included.
        return {"__ndarray__": value.view(np.int64).tolist(), "dtype": value.dtype.str}
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
            return _rebuild_array(value["__ndarray__"], value["dtype"])
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _header_dtype(name):
    """The dtype a header array names, refused unless it is small plain data."""
    if name == "object":
        return object
    if not isinstance(name, str) or not _HEADER_DTYPE.fullmatch(name):
        raise ModelFormatError(f"unsupported array dtype {name!r} in header")
    dtype = np.dtype(name)
    # np.array(["a"], dtype="<U100000000") would allocate 400 MB per element.
    if dtype.kind == "U" and dtype.itemsize // 4 > _MAX_STR_CHARS:
        raise ModelFormatError(f"string dtype {name!r} in header is longer than "
                               f"{_MAX_STR_CHARS} characters")
    return dtype


def _count_items(items):
    # Iterative, so a nested list cannot recurse; the header's size bounds the work.
    count, stack = 0, [items]
    while stack:
        top = stack.pop()
        if isinstance(top, list):
            stack.extend(top)
        else:
            count += 1
    return count


def _rebuild_array(items, dtype_name):
    dtype = _header_dtype(dtype_name)
    if not isinstance(items, list):
        raise ModelFormatError("a header array is not a list")
    if dtype is object:
        # np.array would turn a list of strings into a fixed-width unicode array; an
        # object array must come back as an object array (predict returns its labels).
        arr = np.empty(len(items), dtype=object)
        arr[:] = [_from_json(v) for v in items]
        return arr
    if _count_items(items) * dtype.itemsize > _MAX_HEADER_ARRAY_BYTES:
        raise ModelFormatError(f"a header array of dtype {dtype_name!r} is over "
                               f"{_MAX_HEADER_ARRAY_BYTES} bytes")
    if dtype.kind in "Mm":
        return np.array(items, dtype=np.int64).view(dtype)
    return np.array(items, dtype=dtype)


def _default_params(cls):
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


# -- checksum and signature -----------------------------------------------------------
def _feed(h, members):
    """Feed (name, length, bytes) of each member, in name order, to a hash or an HMAC."""
    for name in sorted(members):
        data = members[name]
        h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode("ascii") + b"\0")
        h.update(data)


def _digest(members):
    """sha256 over (name, length, bytes) of each member, in name order."""
    h = hashlib.sha256()
    _feed(h, members)
    return h.hexdigest()


def _signature(members, key):
    """HMAC-SHA256 under ``key`` over the same input as :func:`_digest`."""
    h = hmac.new(key, digestmod=hashlib.sha256)
    _feed(h, members)
    return h.hexdigest()


def _check_key(key):
    """The signing key as bytes (a str is utf-8 encoded), or None."""
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"key must be bytes or str, not {type(key).__name__}.")
    key = bytes(key)
    if not key:
        raise ValueError("key must not be empty: an empty key authenticates nothing.")
    return key


def _seal(members, key):
    """The members to write: the payload, its signature when keyed, then the checksum."""
    members = dict(members)
    if key is not None:
        members[_SIGNATURE] = _signature(members, key).encode("ascii")
    # The checksum covers the signature too, so readers that predate signing still
    # verify a signed file (and ignore the signature member).
    members[_CHECKSUM] = _digest(members).encode("ascii")
    return members


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# -- save -------------------------------------------------------------------------
def save(model, path, *, metadata=None, key=None):
    """Save a fitted distilled model in the safe ``.skd`` format.

    The file holds the student's weights as numpy arrays and everything else as JSON:
    ``classes_``, feature names, the JSON-able hyperparameters, ``fit_info_``,
    ``history_``, the skdistill and format versions and a sha256 checksum.
    :func:`load` reads it back without running any code from the file (no pickle), and
    refuses a corrupted, truncated, edited or incompatible file.

    Not stored: the teachers. The ``teachers`` parameter (a list of arbitrary
    estimators) comes back as their names (None for the default ensemble), which
    refuse ``fit`` until teachers are set again; fitted teachers
    (``keep_teachers=True``) are dropped. ``memory`` is not stored either (a cache
    folder is this machine's, and a refit would unpickle what it finds there). Other
    parameters that are not plain data (a ``RandomState`` instance, a CV splitter) come
    back as their defaults. Both are listed in the header under ``"dropped_params"``.
    Predictions are unaffected.

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
    key : bytes or str, optional
        Sign the file with HMAC-SHA256 under this secret key (a str is utf-8
        encoded); ``load(path, key=key)`` then refuses a file that was not signed
        with it. Without a key, the file carries only its sha256 checksum, which
        detects corruption but not deliberate edits.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    IsADirectoryError
        ``path`` is a directory.

    Notes
    -----
    The file is written to a unique temporary file in the same folder, flushed to
    disk, then renamed over ``path``: a reader, or a crash, sees the old file or the
    new one, never half of one, even with several processes saving to one path.

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

    Signed with a secret key, the file is refused under any other key:

    >>> _ = save(model, path, key=b"a secret from your vault")
    >>> same = load(path, key=b"a secret from your vault")
    """
    from . import __version__

    signing_key = _check_key(key)
    name = _check_savable(model)
    params, dropped = _stored_params(model)
    fitted = _stored_fitted(model)
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
        "teacher_names": teacher_names(model.teachers),
        "fitted": fitted,
        "student": {"layers": layers, "encoding": student.encoding,
                    "activation": student.activation, "layer_sizes": student.layer_sizes,
                    "n_parameters": student.n_parameters},
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
        "metadata": metadata,
    }
    members = {_HEADER: json.dumps(header, indent=1).encode("utf-8")}
    for array_name, value in arrays.items():
        members[f"{_ARRAY_DIR}{array_name}.npy"] = _npy_bytes(value)
    return _write_atomic(Path(path), _seal(members, signing_key),
                         check=lambda written: load(written, key=key))


def _check_savable(model):
    """The estimator's class name, once ``model`` is a fitted estimator of this package."""
    from sklearn.utils.validation import check_is_fitted

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
    return name


def _stored_params(model):
    """``(params, dropped)``: the JSON-able hyperparameters, and the names of the others
    (they come back as their defaults). The teachers are never stored."""
    params, dropped = {}, []
    for key, value in model.get_params(deep=False).items():
        if key == "teachers":
            continue  # arbitrary estimators: never stored, see save's docstring
        if key == "cv" and isinstance(value, (list, tuple)):
            dropped.append(key)  # fold indices: data, as large as the table, not a setting
            continue
        if key == "memory" and value is not None:
            # A folder of the machine that saved: a refit elsewhere would unpickle what
            # it finds there, a file chosen by whoever wrote the model file.
            dropped.append(key)
            continue
        try:
            params[key] = _to_json(value)
        except _NotJSONable:
            dropped.append(key)
    return params, dropped


def _stored_fitted(model):
    """The fitted attributes as JSON (the student's arrays go apart, as ``.npy``)."""
    fitted = {}
    param_names = set(model.get_params(deep=False))
    for key, value in model.__dict__.items():
        if key in _NOT_STORED or key in param_names:
            continue
        if key == "table_" and value is not None:
            value = value.to_dict()  # the TableSchema as the plain data that defines it
        try:
            fitted[key] = _to_json(value)
        except _NotJSONable as exc:
            raise ValueError(
                f"Cannot store the fitted attribute {key!r} ({exc}) in the safe format. "
                "Remove it from the model, or report this as a bug in skdistill."
            ) from None
    return fitted


def _umask():
    # Read without changing it where Linux allows: os.umask() sets it process-wide, so
    # the set-and-restore fallback is briefly visible to other threads.
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(path, members, check=None):
    """Write a zip to a unique temporary file next to ``path``, then rename it over.

    Readers see the old file or the new one, never half of one: ``os.replace`` is
    atomic on one filesystem, which a temporary file in the same folder guarantees, and
    a unique name lets concurrent savers of one path not write into each other's file.
    ``check(temporary path)`` reads the file back first: a file that :func:`load` would
    refuse (a model beyond the reader's limits) is never written under ``path``.
    """
    if path.is_dir():
        raise IsADirectoryError(
            f"{str(path)!r} is a directory; save() needs a file path such as "
            f"{str(path / 'model.skd')!r}."
        )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for member, data in members.items():
                    zf.writestr(member, data)
            f.flush()
            # On disk before the rename, so a crash cannot leave an empty file under
            # the real name on filesystems that reorder metadata and data writes.
            os.fsync(f.fileno())
        if check is not None:
            _check_written(check, tmp, path)
        # mkstemp creates the file private (0600); give it the mode open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# -- load -------------------------------------------------------------------------
# Everything that malformed bytes can make the standard library or numpy raise while
# reading: each becomes a ModelFormatError naming the file. NotImplementedError is an
# unsupported zip compression, RuntimeError an encrypted member, RecursionError a
# nesting the limits missed.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError,
                RuntimeError, RecursionError, OverflowError, ValueError, KeyError,
                IndexError, TypeError, AttributeError, struct.error, zlib.error,
                EOFError, OSError)


def _check_written(check, tmp, path):
    try:
        check(tmp)
    except ModelFormatError as exc:
        reason = str(exc)
        for named in (f"{str(tmp)!r} is not a readable skdistill model file: ",
                      f"{str(tmp)!r}: "):
            reason = reason.removeprefix(named)
        raise ValueError(
            f"save() did not write {str(path)!r}, as load() would refuse the file: "
            f"{reason.rstrip('.')}. "
            "The reader's limits keep a hostile file harmless; a model this large is "
            "better shipped with pickle or joblib, or made smaller (fewer or narrower "
            "hidden layers, shorter class labels)."
        ) from None


@contextlib.contextmanager
def _format_errors(path):
    try:
        yield
    except FileNotFoundError:
        raise
    except ModelFormatError as exc:
        raise _naming(exc, path) from None
    except _READ_ERRORS as exc:
        raise ModelFormatError(
            f"{str(path)!r} is not a readable skdistill model file (truncated, corrupted, "
            f"or not written by skdistill.save): {type(exc).__name__}: {exc}"
        ) from None


def _naming(exc, path):
    # Errors raised deep in the JSON decoding do not know the file; add its name.
    return exc if str(path) in str(exc) else ModelFormatError(f"{str(path)!r}: {exc}")


def _refuse(path, reason):
    raise ModelFormatError(f"{str(path)!r} is not a readable skdistill model file: {reason}.")


def _check_end_record(fp, size, path):
    """Refuse a zip whose end record announces too many members or too big a directory.

    zipfile builds an object per directory entry as it opens the file, before
    ``infolist`` can be checked, so the counts are read here first.
    """
    tail_size = min(size, 22 + 65535)  # the end record, then a comment of <= 64 KiB
    fp.seek(size - tail_size)
    tail = fp.read(tail_size)
    pos = tail.rfind(b"PK\x05\x06", 0, max(len(tail) - 18, 0))
    if pos < 0:
        _refuse(path, "it is not a zip file (no end of central directory)")
    _, _, _, _, entries, dir_size, _, _ = struct.unpack("<4s4H2LH", tail[pos:pos + 22])
    # A zip64 file stores 0xFFFF/0xFFFFFFFF here, which these limits refuse as well:
    # skdistill never writes zip64.
    if entries > _MAX_MEMBERS or dir_size > _MAX_DIRECTORY_BYTES:
        _refuse(path, f"its zip directory announces {entries} members in {dir_size} bytes "
                      f"(limits: {_MAX_MEMBERS} members, {_MAX_DIRECTORY_BYTES} bytes)")
    fp.seek(0)


def _check_directory(infos, path):
    """Refuse a zip by its central directory, before decompressing any member."""
    if len(infos) > _MAX_MEMBERS:
        _refuse(path, f"it has {len(infos)} members (limit {_MAX_MEMBERS})")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        # Two members of one name: which one a reader sees would depend on the reader.
        _refuse(path, "it has two members with the same name")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            _refuse(path, f"member {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            _refuse(path, f"member {info.filename!r} uses compression method "
                          f"{info.compress_type} (skdistill writes only deflate)")
        limit = _MAX_HEADER_BYTES if info.filename == _HEADER else _MAX_MEMBER_BYTES
        if info.file_size > limit:
            _refuse(path, f"member {info.filename!r} declares {info.file_size} bytes "
                          f"(limit {limit})")
        if info.file_size > _RATIO_FLOOR and info.file_size > _MAX_RATIO * info.compress_size:
            _refuse(path, f"member {info.filename!r} declares a compression ratio over "
                          f"{_MAX_RATIO} (a zip bomb?)")
        total += info.file_size
    if total > _MAX_TOTAL_BYTES:
        _refuse(path, f"its members declare {total} bytes in all (limit {_MAX_TOTAL_BYTES})")


def _read_member(zf, info, path):
    """A member's bytes, read in chunks and never more than its declared size + 1."""
    chunks, n = [], 0
    with zf.open(info) as f:
        while True:
            # The declared size was checked against the limits, but the stream is not
            # trusted to honour it: one byte more than declared is proof of a lie.
            chunk = f.read(min(2**20, info.file_size + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
            if n > info.file_size:
                _refuse(path, f"member {info.filename!r} holds more than its declared "
                              f"{info.file_size} bytes")
    if n != info.file_size:
        _refuse(path, f"member {info.filename!r} holds {n} bytes, not the declared "
                      f"{info.file_size}")
    return b"".join(chunks)


def _read_zip(path):
    with open(path, "rb") as fp:
        # The size of the open file, not of the path: a concurrent save() may replace
        # the path between a stat() and the open().
        size = os.fstat(fp.fileno()).st_size
        if size > _MAX_TOTAL_BYTES:
            _refuse(path, f"it is {size} bytes (limit {_MAX_TOTAL_BYTES})")
        _check_end_record(fp, size, path)
        with zipfile.ZipFile(fp) as zf:
            infos = zf.infolist()
            _check_directory(infos, path)
            return {info.filename: _read_member(zf, info, path) for info in infos}


def _verify(members, path, key):
    """Check the checksum, then the signature when a key is given; drop both members."""
    if _HEADER not in members or _CHECKSUM not in members:
        raise ModelFormatError(
            f"{str(path)!r} is not a skdistill model file: it lacks {_HEADER} or {_CHECKSUM}."
        )
    expected = members.pop(_CHECKSUM).strip()
    if not hmac.compare_digest(_digest(members).encode("ascii"), expected):
        raise ModelFormatError(
            f"{str(path)!r} failed its sha256 checksum: the file was corrupted or modified "
            "after it was saved. Re-save the model from its source."
        )
    signature = members.pop(_SIGNATURE, None)
    if key is None:
        return members  # documented: a signed file loads unverified without a key
    if signature is None:
        raise ModelFormatError(
            f"{str(path)!r} is not signed, but a key was given: it was saved without "
            "key=, or its signature was removed."
        )
    if not hmac.compare_digest(_signature(members, key).encode("ascii"), signature.strip()):
        raise ModelFormatError(
            f"{str(path)!r} failed its HMAC-SHA256 signature: it was signed with another "
            "key, or modified after it was signed."
        )
    return members


def _read_members(path, key=None):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model file at {str(path)!r}.")
    with _format_errors(path):
        return _verify(_read_zip(path), path, key)


def _read_npy(data, path, name):
    """An array from ``.npy`` bytes, its header checked before anything is allocated.

    np.load would trust the declared shape; here the dtype must be one the format
    stores and the shape must account for exactly the bytes present.
    """
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        _refuse(path, f"array {name!r} uses .npy version {version}")
    if (dtype.kind, dtype.itemsize) not in _NPY_DTYPES or dtype.fields or dtype.subdtype:
        _refuse(path, f"array {name!r} has dtype {dtype} (not a stored weight dtype)")
    count = 1
    for dim in shape:
        count *= dim  # Python ints: a hostile shape cannot overflow
    offset = fp.tell()
    if count * dtype.itemsize != len(data) - offset:
        _refuse(path, f"array {name!r} declares shape {shape}, which does not match its "
                      f"{len(data) - offset} bytes of data")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    arr = flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)
    # A writable copy in the stored memory order, as np.load would return.
    return arr.copy(order="K")


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _json_depth(text):
    """The deepest nesting of brackets outside strings, without recursion."""
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8"), dtype=np.uint8)
    step = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(skeleton, (ord("]"), ord("}"))))
    return int(np.cumsum(step).max(initial=0))


def _parse_int(text):
    # int() of a 4 MB digit string is quadratic; no header value needs 30 digits.
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits in the header")
    return int(text)


def read_header(path, *, key=None):
    """The verified JSON header of a ``.skd`` file, without building the model.

    Parameters
    ----------
    path : str or path-like
    key : bytes or str, optional
        Verify the file's HMAC-SHA256 signature with this key, as :func:`load` does.

    Returns
    -------
    dict
        Format and skdistill versions, estimator, task, params, fitted metadata,
        student layout, user metadata.

    Raises
    ------
    ModelFormatError
        As :func:`load`.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, save
    >>> from skdistill._persist import read_header
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
    ...                             max_epochs=2, random_state=0).fit(X, y)
    >>> path = save(model, os.path.join(tempfile.mkdtemp(), "iris.skd"))
    >>> header = read_header(path)
    >>> header["estimator"], header["teacher_names"]
    ('DistilledClassifier', ['lr'])
    """
    header = _parse_header(_read_members(path, _check_key(key)), path)
    return header


def _parse_header(members, path):
    with _format_errors(path):
        raw = members[_HEADER]
        if len(raw) > _MAX_HEADER_BYTES:
            _refuse(path, f"its header is {len(raw)} bytes (limit {_MAX_HEADER_BYTES})")
        text = raw.decode("utf-8")
        depth = _json_depth(text)
        if depth > _MAX_JSON_DEPTH:
            _refuse(path, f"its header nests {depth} levels deep (limit {_MAX_JSON_DEPTH})")
        try:
            header = json.loads(text, parse_int=_parse_int)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
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


def load(path, *, return_metadata=False, key=None):
    """Load a model saved with :func:`save`, running no code from the file.

    Arrays are read from their ``.npy`` bytes without pickle, and everything else is
    JSON. The reader is bounded: the zip directory is checked before anything is
    decompressed, each member is read with a hard size cap, and the header's size,
    nesting, integers and arrays are limited, so a hostile file fails with
    :class:`ModelFormatError` instead of exhausting memory. The file's sha256
    checksum (and signature, with ``key``) and format version are checked before the
    model is built.

    Parameters
    ----------
    path : str or path-like
    return_metadata : bool, default=False
        Also return the ``metadata`` dict given to :func:`save` (or None).
    key : bytes or str, optional
        Verify the file's HMAC-SHA256 signature with this key: a file saved without a
        key, signed with another key, or edited after signing is refused. Without
        ``key``, a signed file loads and its signature is not checked.

    Returns
    -------
    model : DistilledClassifier or DistilledRegressor
        Fitted; predicts exactly as the saved model did. ``teachers`` holds the
        teachers' names (None for the default ensemble): with names, ``fit`` is refused
        until teachers are set again, as on a serving copy.
    metadata : dict or None
        Only when ``return_metadata=True``.

    Raises
    ------
    ModelFormatError
        The file is truncated, corrupted, modified after saving, over the reader's
        limits, not a skdistill file, of an incompatible format version, or (with
        ``key``) unsigned or wrongly signed. A subclass of ``ValueError``.
    FileNotFoundError
        No file at ``path``.

    Notes
    -----
    The sha256 checksum detects accidental damage only: anyone who edits a file can
    recompute it. To detect tampering, save with ``key=`` and load with the same key.

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
    >>> loaded.teachers  # their names: the teachers are not stored
    ['lr']
    >>> bool((loaded.predict(X) == model.predict(X)).all())
    True
    """
    # ``key`` is used here only: the loop over the arrays below reuses the name.
    members = _read_members(path, _check_key(key))
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
            arr = _read_npy(data, path, key)
            if arr.dtype.str != spec["dtype"] or list(arr.shape) != spec["shape"]:
                raise ModelFormatError(f"{str(path)!r}: array {key!r} does not match the header.")
            arrays[key] = arr

        params = _default_params(cls)
        params.update({k: _from_json(v) for k, v in header["params"].items() if k in params})
        # The names, not None: None would mean the default ensemble, and a refit would
        # silently train other teachers. Names only, a refit is refused (as a serving
        # copy's is) until teachers are set again.
        params["teachers"] = header.get("teacher_names")
        model = cls(**params)
        for key, value in header["fitted"].items():
            # Only data attributes: a crafted header must not shadow a method or a dunder.
            if not key.isidentifier() or key.startswith("__") or hasattr(cls, key):
                raise ModelFormatError(f"{str(path)!r}: invalid fitted attribute {key!r}.")
            if key not in _NOT_STORED:  # files of 0.9.0 and earlier hold SERVING_FLAG
                setattr(model, key, _from_json(value))

        student = _build_student(header, arrays, path)
        model.student_ = student
        model.table_ = _build_table(header, student, path)
    except ModelFormatError as exc:
        raise _naming(exc, path) from None
    except _READ_ERRORS as exc:
        raise ModelFormatError(f"{str(path)!r} has an invalid header ({type(exc).__name__}: "
                               f"{exc}).") from None
    if return_metadata:
        with _format_errors(path):
            return model, _from_json(header.get("metadata"))
    return model


def _build_table(header, student, path):
    """The model's TableSchema (or None), refused unless it fits the student."""
    from ._table import TableSchema

    data = header["fitted"].get("table_")
    if data is None:
        if student.accepts_missing:
            raise ModelFormatError(f"{str(path)!r}: the student reads a table, but the file "
                                   "has no table schema.")
        return None
    try:
        table = TableSchema.from_dict(data)
    except ValueError as exc:
        raise ModelFormatError(f"{str(path)!r}: {exc}") from None
    if len(table) != header["fitted"]["n_features_in_"] or not student.accepts_missing:
        raise ModelFormatError(f"{str(path)!r}: the table schema does not fit the student.")
    return table


def _build_student(header, arrays, path):
    """The student from its layer list and named arrays, refused unless they fit together.

    The checksum proves the file is what some writer wrote, not that the writer wrote
    something consistent; a crafted file with a recomputed checksum must fail here
    rather than at predict time.
    """
    from ._student import MLPStudent, nonfinite_arrays

    def bad(reason):
        raise ModelFormatError(
            f"{str(path)!r}: the student's arrays do not fit together: {reason}.")

    n_features = header["fitted"].get("n_features_in_")
    if type(n_features) is not int or n_features < 1:
        bad(f"n_features_in_ is {n_features!r}")
    try:
        # The arrays are used as stored (no recomputation), so predictions stay bit-for-bit
        # those of the saved model.
        student = MLPStudent.from_state(header["student"]["layers"], arrays)
        n_out = student.check(n_features)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        bad(f"{type(exc).__name__}: {exc}")
    if header["task"] == "classification":
        classes = _from_json(header["fitted"]["classes_"])
        if not isinstance(classes, np.ndarray) or classes.shape != (n_out,):
            bad(f"{len(classes)} classes for {n_out} outputs")
    elif n_out != 1:
        bad(f"a regressor's student has {n_out} outputs, not 1")
    nonfinite = nonfinite_arrays(student)
    if nonfinite:
        bad(f"non-finite values in {nonfinite}")
    return student

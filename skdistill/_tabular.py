"""CSV files for the command line: text columns in, the model's columns out.

The command line reads every CSV column as text, then decides what is a number: a
column is numeric when all its non-missing values parse as numbers, text otherwise.
Reading everything as text makes the decision independent of pandas' per-file type
guesses, which differ between a training file and a prediction file (``1`` vs ``1.0``
when a value is missing).

The encoding itself (median fill, missing-value flags, categories) is the model's: the
estimators take the typed table as it is and keep a :class:`~skdistill.TableSchema`,
stored in the ``.skd`` file. This module only checks columns, parses numbers, and
reads the target.
"""

import os

import numpy as np

#: A numeric target is treated as regression (with ``task="auto"``) when it has more
#: than this many distinct values, or any non-integer value.
MAX_CLASSES_AUTO = 20


class ColumnError(ValueError):
    """The columns of a table do not match what the model expects."""


#: Separators :func:`read_csv` recognizes in a header that parsed as a single column.
_OTHER_SEPARATORS = (";", "\t", "|", ",")


def read_csv(path, sep=",", encoding="utf-8"):
    r"""Read a CSV file with every column as text (missing cells as NaN).

    A file whose header parses as one column holding another common separator (a
    semicolon CSV read with ``sep=","``) is refused with a hint, rather than read as one
    column that later shows up as "missing columns".

    Examples
    --------
    >>> import io
    >>> from skdistill._tabular import read_csv
    >>> read_csv(io.StringIO("a;b\n1;2\n"), sep=";").columns.tolist()
    ['a', 'b']
    >>> try:
    ...     read_csv(io.StringIO("a;b\n1;2\n"))
    ... except ValueError as exc:
    ...     print(str(exc).split(": ")[1])
    its fields look separated by ';', not ','. Pass --sep ';'.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True,
                            skipinitialspace=True, encoding=encoding)
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start:exc.start + 1].hex()
        raise ValueError(
            f"{str(path)!r} is not {encoding} text (it holds the byte 0x{byte}, which "
            f"{encoding} cannot decode). "
            "Pass its encoding, for example --encoding latin-1 (or cp1252, common in files "
            "from Excel), or re-save it as UTF-8."
        ) from None
    except LookupError:
        raise ValueError(f"Unknown text encoding {encoding!r}; try utf-8 or latin-1.") \
            from None
    except FileNotFoundError:
        raise FileNotFoundError(f"No such CSV file: {str(path)!r}.") from None
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{str(path)!r} is empty: expected a CSV file with a header row.") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{str(path)!r} is not a readable CSV file: {exc}") from None
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        for other in _OTHER_SEPARATORS:
            if other != sep and other in header:
                shown = "\\t" if other == "\t" else other
                name = repr(str(path)) if isinstance(path, (str, os.PathLike)) else "The data"
                raise ColumnError(
                    f"{name} has a single column {header!r}: its fields look "
                    f"separated by '{shown}', not {sep!r}. Pass --sep '{shown}'."
                )
    return frame


def _as_numbers(values):
    """Parse text values as float64; None when any non-missing value is not a number."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().sum() != values.isna().sum():
        return None
    return numbers.to_numpy(dtype=np.float64)


def typed_frame(frame):
    """The columns of a text table as the estimator reads them: numbers or text.

    A column whose non-missing values all parse as numbers (and that has at least one)
    becomes float64, NaN where missing; any other column stays text (object dtype,
    ``None`` where missing), which the model's :class:`~skdistill.TableSchema` treats as
    categorical. The model does all the encoding; this only decides what is a number.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table as read by :func:`read_csv`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> from skdistill._tabular import typed_frame
    >>> typed = typed_frame(pd.DataFrame({"age": ["31", None], "city": ["Oslo", None]}))
    >>> typed.dtypes.astype(str).tolist(), typed["city"].tolist()
    (['float64', 'object'], ['Oslo', None])
    """
    import pandas as pd

    data = {}
    for name in frame.columns:
        values = frame[name]
        numbers = _as_numbers(values)
        if numbers is not None and not np.isnan(numbers).all():
            data[str(name)] = numbers
        else:
            data[str(name)] = _text(values)
    return pd.DataFrame(data, index=frame.index)


def _text(values):
    # Object dtype with None for a missing cell: what TableSchema reads as text.
    return values.astype(object).where(values.notna(), None)


def check_columns(present, expected, ignore=(), ignore_extra=False):
    """Refuse a table whose columns are not the model's.

    Parameters
    ----------
    present : sequence of str
        The table's columns.
    expected : sequence of str
        The model's input columns; any order is accepted.
    ignore : sequence of str
        Columns allowed in the table that the model does not use (e.g. the target).
    ignore_extra : bool, default=False
        Allow any column the model does not use, rather than refusing it.

    Returns
    -------
    list of str
        The table's columns that the model does not use and ``ignore`` does not name.

    Raises
    ------
    ColumnError
        Columns missing, or unknown ones without ``ignore_extra``.

    Examples
    --------
    >>> from skdistill._tabular import check_columns
    >>> check_columns(["id", "age", "city"], ["city", "age"], ignore_extra=True)
    ['id']
    """
    missing = [c for c in expected if c not in present]
    if missing:
        raise ColumnError(
            f"missing column(s) {', '.join(map(repr, missing))}: the model was fitted "
            f"on {', '.join(map(repr, expected))}."
        )
    unknown = [c for c in present if c not in expected and c not in set(ignore)]
    if unknown and not ignore_extra:
        raise ColumnError(
            f"unknown column(s) {', '.join(map(repr, unknown))}: the model expects "
            f"exactly {', '.join(map(repr, expected))}. Drop the extra columns, or "
            "pass --ignore-extra (and --id COL to copy a column to the output)."
        )
    return unknown


def model_columns(model):
    """The input columns of a fitted model, as :class:`~skdistill.TableSchema` describes
    them: a list of ``{"name", "kind", ...}``.

    A model with a schema (fitted on text columns or missing values) describes its own
    columns; any other model takes numbers only, named by ``feature_names_in_`` or, for a
    model fitted on an array, ``x0, x1, ...``.
    """
    table = getattr(model, "table_", None)
    if table is not None:
        return [dict(c) for c in table.columns]
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = [f"x{i}" for i in range(model.n_features_in_)]
    return [{"name": str(n), "kind": "numeric"} for n in np.asarray(names).tolist()]


def reads_text(column):
    """Whether a model column holds text categories (the others hold numbers)."""
    return column["kind"] == "categorical" and isinstance(column["categories"][0], str)


def model_input(frame, columns):
    """The model's input columns of a text table, converted to the kinds the model knows.

    A column of numbers (numeric, or categories that are numbers, as in a model fitted
    from Python with ``categorical_features``) is parsed; a column of text categories
    stays text, so that ``"01"`` stays the category ``"01"``. Category matching, unseen
    categories and imputation are the model's.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table as read by :func:`read_csv`, holding every column of ``columns``.
    columns : list of dict
        :func:`model_columns`' output.

    Returns
    -------
    pandas.DataFrame
        The columns in the model's order.

    Raises
    ------
    ColumnError
        Text in a column of numbers, naming the column and the row.

    Examples
    --------
    >>> import pandas as pd
    >>> from skdistill._tabular import model_input
    >>> columns = [{"name": "age", "kind": "numeric"},
    ...            {"name": "zip", "kind": "categorical", "categories": ["01", "75"]}]
    >>> model_input(pd.DataFrame({"zip": ["01"], "age": ["50"]}), columns).to_dict("list")
    {'age': [50.0], 'zip': ['01']}
    >>> try:
    ...     model_input(pd.DataFrame({"zip": ["01"], "age": ["old"]}), columns)
    ... except ValueError as exc:
    ...     print(exc)
    column 'age' must hold numbers, but holds 'old' (row 1 of the data).
    """
    import pandas as pd

    data = {}
    for c in columns:
        values = frame[c["name"]]
        if reads_text(c):
            data[c["name"]] = _text(values)
            continue
        numbers = _as_numbers(values)
        if numbers is None:
            bad = values[pd.to_numeric(values, errors="coerce").isna() & values.notna()]
            raise ColumnError(
                f"column {c['name']!r} must hold numbers, but holds {bad.iloc[0]!r} "
                f"(row {bad.index[0] + 1} of the data)."
            )
        data[c["name"]] = numbers
    return pd.DataFrame(data, index=frame.index)


def detect_task(target):
    """``"regression"`` for a numeric target with many distinct or fractional values.

    Parameters
    ----------
    target : pandas.Series of text
        The target column as read by :func:`read_csv`, without missing values.

    Returns
    -------
    {"classification", "regression"}

    Examples
    --------
    >>> import pandas as pd
    >>> from skdistill._tabular import detect_task
    >>> detect_task(pd.Series(["yes", "no", "yes"]))
    'classification'
    >>> detect_task(pd.Series(["0", "1", "1"]))
    'classification'
    >>> detect_task(pd.Series(["1.5", "2.25", "3.0"]))
    'regression'
    """
    numbers = _as_numbers(target)
    if numbers is None:
        return "classification"
    fractional = bool(np.any(numbers != np.round(numbers)))
    if fractional or len(np.unique(numbers)) > MAX_CLASSES_AUTO:
        return "regression"
    return "classification"


def encode_target(target, task):
    """Target values for fitting: float64 for regression, labels for classification.

    Integer-valued numeric labels become int64 (so ``classes_`` are numbers), all other
    labels stay text, and so do codes written with leading zeros (``"007"``), which are
    names rather than numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> encode_target(pd.Series(["1", "0", "1"]), "classification")
    array([1, 0, 1])
    >>> encode_target(pd.Series(["007", "010"]), "classification")
    array(['007', '010'], dtype=object)
    """
    numbers = _as_numbers(target)
    if task == "regression":
        if numbers is None:
            bad = target[target.notna()].iloc[0]
            raise ValueError(
                f"a regression target must be numeric, but the target holds {bad!r}. "
                "Use --task classification for class labels."
            )
        return numbers
    padded = target.astype(str).str.strip().str.match(r"^[+-]?0\d").any()
    if numbers is not None and np.all(numbers == np.round(numbers)) and not padded:
        return numbers.astype(np.int64)
    return target.astype(str).to_numpy(dtype=object)

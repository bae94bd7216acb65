"""Raw CSV columns to the numeric matrix a model was fitted on, and back to JSON.

The command line fits on a CSV file and later predicts on raw rows of another. The
column encoding that joins the two (which columns are numbers, the categories of each
text column, the fill value of each numeric column) is learnt here at fit time and
stored as plain JSON inside the saved model, so ``predict`` needs nothing else.

Every column is read as text first and then classified: a column is numeric when all
its non-missing values parse as numbers, categorical otherwise. Reading everything as
text makes the decision independent of pandas' per-file type guesses, which differ
between a training file and a prediction file (``1`` vs ``1.0`` when a value is
missing).
"""

import os

import numpy as np

#: A text column keeps at most this many categories (the most frequent); rarer ones are
#: encoded like unseen ones, as all zeros, so an ID-like column cannot blow up the input.
MAX_CATEGORIES = 50

#: A numeric target is treated as regression (with ``task="auto"``) when it has more
#: than this many distinct values, or any non-integer value.
MAX_CLASSES_AUTO = 20


class ColumnError(ValueError):
    """The columns of a table do not match what the model expects."""


#: Separators :func:`read_csv` recognizes in a header that parsed as a single column.
_OTHER_SEPARATORS = (";", "\t", "|", ",")


def read_csv(path, sep=","):
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
                            skipinitialspace=True)
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


class TableEncoder:
    """Encode raw table columns as the numeric matrix of a fitted model.

    Numeric columns pass through, with missing values filled by the training median.
    Text columns are one-hot encoded over their training categories (at most
    :data:`MAX_CATEGORIES`, the most frequent); an unseen or missing category encodes as
    all zeros.

    Parameters
    ----------
    columns : list of dict
        One spec per input column, in order: ``{"name", "kind": "numeric", "fill"}`` or
        ``{"name", "kind": "categorical", "categories": [...]}``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skdistill._tabular import TableEncoder
    >>> frame = pd.DataFrame({"age": ["31", "45", None], "city": ["Paris", "Oslo", "Paris"]})
    >>> enc = TableEncoder.fit(frame)
    >>> enc.feature_names
    ['age', 'city=Paris', 'city=Oslo']
    >>> enc.transform(pd.DataFrame({"city": ["Oslo"], "age": ["50"]}))
    array([[50.,  0.,  1.]])
    """

    def __init__(self, columns):
        self.columns = columns

    @classmethod
    def fit(cls, frame):
        """Learn the encoding of every column of ``frame`` (a DataFrame of text)."""
        columns = []
        for name in frame.columns:
            values = frame[name]
            numbers = _as_numbers(values)
            if numbers is not None and not np.isnan(numbers).all():
                fill = float(np.nanmedian(numbers))
                columns.append({"name": str(name), "kind": "numeric", "fill": fill})
            else:
                counts = values.dropna().astype(str).value_counts(sort=True)
                categories = [str(c) for c in counts.index[:MAX_CATEGORIES]]
                columns.append({"name": str(name), "kind": "categorical",
                                "categories": categories})
        return cls(columns)

    @property
    def input_columns(self):
        """Names of the raw columns, in order."""
        return [c["name"] for c in self.columns]

    @property
    def categorical_columns(self):
        """Names of the text (one-hot encoded) columns."""
        return [c["name"] for c in self.columns if c["kind"] == "categorical"]

    @property
    def feature_names(self):
        """Names of the encoded features the model sees: ``col`` or ``col=category``."""
        names = []
        for c in self.columns:
            if c["kind"] == "numeric":
                names.append(c["name"])
            else:
                names.extend(f"{c['name']}={cat}" for cat in c["categories"])
        return names

    def transform(self, frame, ignore=(), ignore_extra=False):
        """Encode ``frame`` (a DataFrame of text) as a float64 matrix.

        Parameters
        ----------
        frame : pandas.DataFrame
        ignore : sequence of str
            Columns allowed in ``frame`` that the model does not use (e.g. the target).
        ignore_extra : bool, default=False
            Allow any column the model does not use, rather than refusing it.

        Raises
        ------
        ColumnError
            Columns missing, unknown, or a numeric column holding text.
        """
        expected = self.input_columns
        present = [str(c) for c in frame.columns]
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
        frame = frame.set_axis(present, axis=1)
        parts = []
        for c in self.columns:
            values = frame[c["name"]]
            if c["kind"] == "numeric":
                numbers = _as_numbers(values)
                if numbers is None:
                    import pandas as pd

                    bad = values[pd.to_numeric(values, errors="coerce").isna() & values.notna()]
                    raise ColumnError(
                        f"column {c['name']!r} must hold numbers, but holds "
                        f"{bad.iloc[0]!r} (row {bad.index[0] + 1} of the data)."
                    )
                numbers = np.where(np.isnan(numbers), c["fill"], numbers)
                parts.append(numbers[:, None])
            else:
                text = values.astype(object).where(values.notna(), None).to_numpy()
                cats = np.asarray(c["categories"], dtype=object)
                parts.append((text[:, None] == cats[None, :]).astype(np.float64))
        if not parts:
            return np.empty((len(frame), 0))
        return np.hstack(parts)

    def unseen_categories(self, frame):
        """Per text column, the rows whose category was not seen in training.

        Such cells (and categories cut by :data:`MAX_CATEGORIES`) encode as all zeros,
        which the model has rarely seen; the command line warns with these counts.
        Missing cells are not counted.

        Returns
        -------
        dict of str to (int, list of str)
            Column name to the number of such rows and up to three of the values.

        Examples
        --------
        >>> import pandas as pd
        >>> from skdistill._tabular import TableEncoder
        >>> enc = TableEncoder.fit(pd.DataFrame({"city": ["Paris", "Oslo"]}))
        >>> enc.unseen_categories(pd.DataFrame({"city": ["Rome", "Oslo", "Rome", None]}))
        {'city': (2, ['Rome'])}
        """
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        out = {}
        for c in self.columns:
            if c["kind"] != "categorical" or c["name"] not in frame.columns:
                continue
            values = frame[c["name"]].dropna().astype(str)
            unseen = values[~values.isin(c["categories"])]
            if len(unseen):
                out[c["name"]] = (int(len(unseen)), [str(v) for v in unseen.unique()[:3]])
        return out

    def to_dict(self):
        """JSON-able description, the inverse of :meth:`from_dict`."""
        return {"columns": self.columns}

    @classmethod
    def from_dict(cls, data):
        """Rebuild an encoder from :meth:`to_dict`'s output."""
        try:
            columns = data["columns"]
            for c in columns:
                if c["kind"] not in ("numeric", "categorical") or not isinstance(c["name"], str):
                    raise ValueError(c)
        except (KeyError, TypeError, ValueError):
            raise ValueError("the stored column encoding is invalid.") from None
        return cls(columns)


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
    labels stay text.
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
    if numbers is not None and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return target.astype(str).to_numpy(dtype=object)

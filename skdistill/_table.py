"""Raw tables in: which columns are categories, and the one matrix every consumer reads.

A model fitted on a table with categorical columns or missing values keeps a
:class:`TableSchema`. It turns any input table into one float matrix, the *codes*:

- a numeric column holds its values, NaN where missing;
- a categorical column holds the index of its category in the schema's list
  (0, 1, ...), NaN where missing and ``-1`` for a category not seen at fit.

Everything downstream reads the codes: MUNGE (categories are swapped, never perturbed),
the student (whose :class:`~skdistill._student.TableInput` layer imputes, flags missing
values and one-hot encodes the categories, in numpy, torch and ONNX alike), the saved
file and the ONNX graph's encoded-input mode. Teachers get the codes turned back into a
pandas DataFrame with ``category`` columns (:meth:`TableSchema.to_frame`), which is what
LightGBM, XGBoost and HistGradientBoosting read natively; the other teachers get
:func:`default_encoder` in front, built from scikit-learn's own transformers.

A table of numbers without missing values has no schema: it takes the plain float path.
"""

from collections.abc import Hashable

import numpy as np

from ._warnings import warn

#: Categories per column that get a one-hot slot in the student and in
#: :func:`default_encoder` (the most frequent ones at fit): rarer ones encode like unseen
#: ones, so an ID-like column cannot blow up the student's input layer.
MAX_CATEGORIES = 50

_NUMERIC, _CATEGORICAL = "numeric", "categorical"

#: Categories a column keeps at fit (its most frequent ones); rarer ones read as unseen
#: ones, for the teachers too. HistGradientBoosting reads at most this many natively, and
#: the saved file's header, which lists them, stays small.
MAX_KEPT_CATEGORIES = 255

#: Frames of at most this many rows are encoded by dictionary lookups (serving requests).
_FEW_ROWS = 64
_REAL = (int, float, np.integer, np.floating, bool, np.bool_)


class TableSchema:
    """The columns of a fitted table: their names, kinds and categories.

    Parameters
    ----------
    columns : list of dict
        One entry per input column, in order: ``{"name": str, "kind": "numeric"}`` or
        ``{"name": str, "kind": "categorical", "categories": [...]}``, categories as
        plain JSON values (str, int, float or bool), all of one kind.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skdistill._table import TableSchema
    >>> frame = pd.DataFrame({"age": [31.0, np.nan, 45.0], "city": ["Oslo", "Paris", None]})
    >>> schema = TableSchema.fit(frame)
    >>> [c["kind"] for c in schema.columns]
    ['numeric', 'categorical']
    >>> schema.encode(pd.DataFrame({"age": [50.0], "city": ["Paris"]}))
    array([[50.,  1.]])
    """

    def __init__(self, columns):
        self.columns = columns

    # -- fit --------------------------------------------------------------------------
    @classmethod
    def fit(cls, X, categorical_features=None, names=None):
        """Learn the kind and the categories of every column of ``X``.

        A column is categorical when its pandas dtype is ``category``, string or
        object, or when ``categorical_features`` marks it (indices, a boolean mask or
        names). Every other column is numeric and may hold NaN. ``names`` names the
        columns of an array (default ``x0, x1, ...``).

        Raises
        ------
        ValueError
            A column that is entirely missing, or an object column that mixes text and
            numbers; the message names the column.
        """
        from ._augment import _resolve_categorical

        frame = _as_frame(X, names)
        names = [str(c) for c in frame.columns]
        marked = _resolve_categorical(categorical_features, len(names),
                                      names if _is_frame(X) else None)
        columns = []
        for j, name in enumerate(names):
            values = frame.iloc[:, j]
            if _missing(values).all():
                raise ValueError(
                    f"Column {name!r} has no value: every cell is missing. Drop it before "
                    "fitting; it carries no information."
                )
            if marked[j] or not _is_numeric(values):
                # The dtype too: the user's own teachers may select columns by it.
                columns.append({"name": name, "kind": _CATEGORICAL,
                                **_kept_categories(values, _categories(values, name)),
                                "dtype": str(values.dtype)})
            else:
                columns.append({"name": name, "kind": _NUMERIC})
        _warn_rare(columns)
        return cls(columns)

    # -- views ------------------------------------------------------------------------
    @property
    def names(self):
        return [c["name"] for c in self.columns]

    @property
    def categorical_mask(self):
        """Boolean mask of the categorical columns."""
        return np.array([c["kind"] == _CATEGORICAL for c in self.columns], dtype=bool)

    def __len__(self):
        return len(self.columns)

    def __repr__(self):
        n_cat = int(self.categorical_mask.sum())
        return f"TableSchema({len(self) - n_cat} numeric, {n_cat} categorical columns)"

    # -- encode -----------------------------------------------------------------------
    def encode(self, X, warn_unseen=True):
        """The codes of ``X``: a float64 matrix with one column per input column.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_rows, n_columns)
            Columns in the fitted order (the estimator checks names first).
        warn_unseen : bool, default=True
            Warn, with the count per column, when categories unseen at fit occur; they
            encode as ``-1`` ("unknown").

        Raises
        ------
        ValueError
            A column of the wrong kind: text in a numeric column, or numbers in a
            column whose categories are text (or the reverse).
        """
        if type(X) is np.ndarray and X.dtype.kind == "f" and X.ndim == 2:
            return self._encode_numbers(X, warn_unseen)
        frame = _as_frame(X)
        if frame.shape[1] != len(self.columns):
            raise ValueError(
                f"X has {frame.shape[1]} columns, but the model was fitted on "
                f"{len(self.columns)}: {self.names}."
            )
        if len(frame) <= _FEW_ROWS:
            out = self._encode_few(frame)
            if out is not None:
                return out
        out = np.empty(frame.shape, dtype=np.float64)
        unseen = {}
        for j, col in enumerate(self.columns):
            values = frame.iloc[:, j]
            if col["kind"] == _NUMERIC:
                out[:, j] = _numbers(values, col["name"])
            else:
                out[:, j], count, example = _codes(values, col)
                if count:
                    unseen[col["name"]] = (count, example)
        if unseen and warn_unseen:
            _warn_unseen(unseen, self.columns)
        return out

    def _encode_few(self, frame):
        """Codes of a few rows (a serving request) by dictionary lookups, or None.

        The column-wise path costs a pandas Index lookup per column, which dominates a
        single-row prediction. This one reads the frame once as Python objects. It gives
        up (None) on anything unusual (text in a numeric column, an unseen category, a
        value of the wrong kind), and the column-wise path then handles the rows and
        raises or warns.
        """
        import pandas as pd

        lookups = self.__dict__.get("_lookups")
        if lookups is None:
            # Per column: None (numeric), or (category -> code, the categories' kind).
            lookups = [None if c["kind"] == _NUMERIC else
                       ({v: float(i) for i, v in enumerate(c["categories"])},
                        _value_kind(c["categories"][0]) if c["categories"] else None)
                       for c in self.columns]
            self.__dict__["_lookups"] = lookups
        values = frame.to_numpy(dtype=object)
        out = np.empty(values.shape, dtype=np.float64)
        for j, lookup in enumerate(lookups):
            for i, v in enumerate(values[:, j]):
                if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                    out[i, j] = np.nan
                elif lookup is None:
                    if not isinstance(v, _REAL):
                        return None
                    out[i, j] = v
                else:
                    # The kind too: a dict finds True under 1 (True == 1), where the
                    # column-wise path, like pandas, treats it as unseen.
                    code = lookup[0].get(v) if isinstance(v, Hashable) else None
                    if code is None or _value_kind(v) != lookup[1]:
                        return None
                    out[i, j] = code
        return out

    def __getstate__(self):
        return {"columns": self.columns}  # not the lookup cache

    def _encode_numbers(self, X, warn_unseen):
        """Codes of a float array (a model fitted on an array): categories are values."""
        if X.shape[1] != len(self.columns):
            raise ValueError(
                f"X has {X.shape[1]} columns, but the model was fitted on "
                f"{len(self.columns)}."
            )
        out = X.astype(np.float64, copy=True)
        unseen = {}
        for j in np.flatnonzero(self.categorical_mask):
            col = self.columns[j]
            cats = np.asarray(col["categories"])
            if cats.dtype.kind not in "fiub":
                raise ValueError(
                    f"Column {col['name']!r} holds categories {list(cats[:3])!r} (text), but "
                    "X is an array of numbers. Pass a DataFrame with that column's text."
                )
            values = X[:, j]
            missing = np.isnan(values)
            idx = np.clip(np.searchsorted(cats.astype(np.float64), values), 0, len(cats) - 1)
            known = cats.astype(np.float64)[idx] == values
            code = np.where(known, idx, -1).astype(np.float64)
            code[missing] = np.nan
            out[:, j] = code
            bad = ~known & ~missing
            if bad.any():
                unseen[col["name"]] = (int(bad.sum()), values[bad][0].item())
        if unseen and warn_unseen:
            _warn_unseen(unseen, self.columns)
        return out

    # -- back to a table, for the teachers --------------------------------------------
    def to_frame(self, codes, positional_names=False, user_dtypes=False):
        """The codes as a pandas DataFrame: numeric columns as float, categorical ones as
        ``category`` (missing and unseen values as NaN).

        Parameters
        ----------
        codes : ndarray of shape (n_rows, n_columns)
        positional_names : bool, default=False
            Name the columns ``x0, x1, ...`` instead of the fitted names: boosters refuse
            some characters (``[``, ``<``, ``"``) in feature names.
        user_dtypes : bool, default=False
            Give each categorical column its dtype at fit instead (numbers as float), so
            that the user's own teachers, whose ColumnTransformers may select columns by
            dtype (``make_column_selector(dtype_include=object)``), find them.
        """
        import pandas as pd

        codes = np.asarray(codes, dtype=np.float64)
        data = {}
        for j, col in enumerate(self.columns):
            name = f"x{j}" if positional_names else col["name"]
            values = codes[:, j]
            if col["kind"] == _NUMERIC:
                data[name] = values
                continue
            known = np.where(np.isnan(values) | (values < 0), -1, values).astype(np.int64)
            column = pd.Categorical.from_codes(known, categories=col["categories"])
            dtype = col.get("dtype", "category")  # schemas saved before 0.9.1 have none
            data[name] = column if not user_dtypes or dtype == "category" else \
                _as_dtype(column, dtype)
        return pd.DataFrame(data, copy=False)

    # -- the student's one-hot slots --------------------------------------------------
    def one_hot_codes(self, codes):
        """Per categorical column, the codes that get a one-hot slot in the student.

        The :data:`MAX_CATEGORIES` most frequent categories among ``codes`` (the real
        training rows), in code order.

        Returns
        -------
        list of (column index, ndarray of codes)
        """
        out = []
        for j in np.flatnonzero(self.categorical_mask):
            values = codes[:, j]
            values = values[~np.isnan(values) & (values >= 0)].astype(np.int64)
            counts = np.bincount(values, minlength=len(self.columns[j]["categories"]))
            present = np.flatnonzero(counts)
            if len(present) > MAX_CATEGORIES:
                # Most frequent first; ties go to the lower code, so the choice is stable.
                order = np.lexsort((present, -counts[present]))
                present = np.sort(present[order[:MAX_CATEGORIES]])
            out.append((int(j), present))
        return out

    # -- state --------------------------------------------------------------------------
    def to_dict(self):
        """JSON-able description, the inverse of :meth:`from_dict`."""
        return {"columns": [dict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data):
        """Rebuild a schema from :meth:`to_dict`'s output; ValueError when malformed."""
        try:
            columns = [dict(c) for c in data["columns"]]
            for c in columns:
                if not isinstance(c["name"], str) or c["kind"] not in (_NUMERIC, _CATEGORICAL):
                    raise ValueError
                if c["kind"] == _CATEGORICAL:
                    cats = c["categories"]
                    if not isinstance(cats, list) or len(set(map(repr, cats))) != len(cats):
                        raise ValueError
        except (KeyError, TypeError, ValueError):
            raise ValueError("the stored table schema is invalid.") from None
        return cls(columns)

    def __eq__(self, other):
        return isinstance(other, TableSchema) and self.columns == other.columns

    __hash__ = None


def needs_schema(X, categorical_features):
    """Whether ``X`` goes through a :class:`TableSchema`: a DataFrame with a non-numeric
    column, or any input with ``categorical_features`` set. (Missing values in a table of
    numbers are found after validation, see ``_base``.)"""
    if categorical_features is not None:
        spec = np.atleast_1d(np.asarray(categorical_features))
        if spec.any() if spec.dtype == bool else spec.size:
            return True
    return _is_frame(X) and not all(_is_numeric(X.iloc[:, j]) for j in range(X.shape[1]))


def default_encoder(schema, positional_names=False):
    """The encoding a teacher without native support for categories and NaN gets.

    Built from scikit-learn's transformers, on the frame of :meth:`TableSchema.to_frame`:

    - numeric columns: ``SimpleImputer(strategy="median", add_indicator=True)``: the
      median fills a missing value, and a 0/1 column per numeric column with missing
      values at fit says where;
    - categorical columns: ``OneHotEncoder(handle_unknown="infrequent_if_exist",
      max_categories=MAX_CATEGORIES + 1)``: a missing value is a category of its own
      when it occurs at fit, unseen and rare categories share the "infrequent" column.

    Returns
    -------
    sklearn.compose.ColumnTransformer
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    names = [f"x{j}" for j in range(len(schema))] if positional_names else schema.names
    cat = schema.categorical_mask
    parts = []
    numeric = [n for n, c in zip(names, cat) if not c]
    categorical = [n for n, c in zip(names, cat) if c]
    if numeric:
        parts.append(("numeric", SimpleImputer(strategy="median", add_indicator=True,
                                               keep_empty_features=True), numeric))
    if categorical:
        parts.append(("categorical", OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES + 1,
            sparse_output=False), categorical))
    return ColumnTransformer(parts, verbose_feature_names_out=False)


# -- helpers --------------------------------------------------------------------------
def _is_frame(X):
    return hasattr(X, "columns") and hasattr(X, "iloc") and hasattr(X, "dtypes")


def _as_frame(X, names=None):
    import pandas as pd

    if _is_frame(X):
        return X
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(f"Expected a 2-D table, got an array of shape {array.shape}.")
    if names is None:
        names = [f"x{j}" for j in range(array.shape[1])]
    return pd.DataFrame(array, columns=list(names), copy=False)


def _is_numeric(values):
    import pandas as pd

    dtype = values.dtype
    return (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)) \
        and not isinstance(dtype, pd.CategoricalDtype)


def _missing(values):
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def _categories(values, name):
    """The sorted distinct non-missing values of a column, as plain JSON values."""
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
    else:
        try:
            cats = pd.Index(pd.unique(values[~_missing(values)]))
        except TypeError:  # lists, dicts or sets (a JSON source) cannot be categories
            odd = next(v for v in values if not isinstance(v, Hashable))
            raise ValueError(
                f"Column {name!r} holds {type(odd).__name__} values such as {odd!r}; "
                "categories must be text, numbers or booleans. Turn each into one value "
                "(text with .astype(str), or a column per item) before fitting."
            ) from None
    plain = [_plain(v) for v in cats.tolist()]
    odd = [v for v in plain if not isinstance(v, (str, bool, int, float))]
    if odd:
        raise ValueError(
            f"Column {name!r} holds {type(odd[0]).__name__} values such as {odd[0]!r}; "
            "categories must be text, numbers or booleans. Convert the column: to numbers "
            "where its values have an order (a date as a number of days, for example), "
            "else to text with .astype(str)."
        )
    if pd.api.types.infer_dtype(cats, skipna=True) in ("mixed", "mixed-integer"):
        other = next(v for v in plain if type(v) is not type(plain[0]))
        raise ValueError(
            f"Column {name!r} mixes kinds of values (for example {plain[0]!r} and "
            f"{other!r}). Make it all text (df[{name!r}].astype(str)) or all numbers."
        )
    try:
        return sorted(plain)
    except TypeError:  # bools with numbers: keep the order of first appearance
        return plain


def _kept_categories(values, categories):
    """``{"categories": ...}``: at most :data:`MAX_KEPT_CATEGORIES`, the most frequent
    ones (ties to the earlier), in their sorted order; ``"n_rare"`` counts the others."""
    if len(categories) <= MAX_KEPT_CATEGORIES:
        return {"categories": categories}
    codes = _codes(values, {"name": None, "categories": categories})[0]
    counts = np.bincount(codes[~np.isnan(codes)].astype(np.int64), minlength=len(categories))
    order = np.lexsort((np.arange(len(categories)), -counts))
    kept = np.sort(order[:MAX_KEPT_CATEGORIES])
    return {"categories": [categories[i] for i in kept],
            "n_rare": len(categories) - MAX_KEPT_CATEGORIES}


def _warn_rare(columns):
    rare = {c["name"]: c["n_rare"] + len(c["categories"]) for c in columns if "n_rare" in c}
    if rare:
        detail = ", ".join(f"{name!r} ({n})" for name, n in rare.items())
        warn(f"Columns with more than {MAX_KEPT_CATEGORIES} distinct values: {detail}. "
             f"Each keeps its {MAX_KEPT_CATEGORIES} most frequent as categories; the rarer "
             "ones read as unknown, for the teachers and the student alike (your own "
             "Pipeline or prefit teachers get NaN there). An ID or free-text column "
             "seldom helps a model: consider dropping it.")


def _as_dtype(column, dtype):
    """A Categorical's values in the column's dtype at fit: numbers as float64 (NaN
    where missing), text in its own string dtype where pandas can rebuild it, else as
    ``object``."""
    import pandas as pd

    values = column.to_numpy(dtype=object, na_value=np.nan)
    if len(column.categories) and _value_kind(column.categories[0]) == "number":
        return values.astype(np.float64)
    try:
        # Only a string dtype: bool (or object) would not keep NaN apart (NaN -> True).
        text = pd.api.types.is_string_dtype(pd.api.types.pandas_dtype(dtype))
    except (TypeError, ValueError, ImportError):
        text = False
    if dtype == "object" or not text:
        return values
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError, ImportError):
        return values


def _value_kind(v):
    """"text", "bool" or "number": values that compare equal across kinds (``True == 1``)
    are still different categories."""
    if isinstance(v, str):
        return "text"
    return "bool" if isinstance(v, (bool, np.bool_)) else "number"


def _numbers(values, name):
    """A numeric column as float64 (NaN where missing); text raises, naming the column."""
    import pandas as pd

    if _is_numeric(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_numeric(values.astype(object), errors="coerce")
    bad = pd.isna(parsed) & ~pd.isna(values)
    if bad.any():
        raise ValueError(
            f"Column {name!r} held numbers at fit but holds "
            f"{_plain(values[bad].iloc[0])!r} now. Pass numbers in that column, with NaN for a "
            "missing value."
        )
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan)


def _codes(values, column):
    """(codes, number of unseen values, an unseen example) of one categorical column."""
    import pandas as pd

    cats = column["categories"]
    missing = _missing(values)
    present = values[~missing]
    if len(present) and cats and _is_text(pd.Series(cats)) != _is_text(present):
        raise ValueError(
            f"Column {column['name']!r} held {'text' if isinstance(cats[0], str) else 'numeric'}"
            f" categories at fit (for example {cats[0]!r}) but holds {_plain(present.iloc[0])!r}"
            " now. "
            "Pass the same kind of values as at fit."
        )
    code = pd.Index(cats).get_indexer(np.asarray(values, dtype=object)).astype(np.float64)
    unseen = (code < 0) & ~missing
    code[missing] = np.nan
    example = values[unseen].iloc[0] if unseen.any() else None
    return code, int(unseen.sum()), example


def _is_text(values):
    """Whether a column's (non-missing) values are text."""
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.cat.categories
    elif isinstance(values.dtype, pd.ArrowDtype):
        # Arrow's dictionary type (a Parquet category column) infers as "unknown-array".
        values = values.astype(object)
    return pd.api.types.infer_dtype(values, skipna=True) == "string"


def _plain(value):
    """A numpy scalar as the Python value it holds, for messages: 7, not np.int64(7)."""
    return value.item() if isinstance(value, np.generic) else value


def _warn_unseen(unseen, columns):
    detail = "; ".join(f"{name!r}: {n} row(s), e.g. {_plain(example)!r}"
                       for name, (n, example) in unseen.items())
    capped = [c["name"] for c in columns if c["name"] in unseen and "n_rare" in c]
    rare = (f" (or too rare to be kept: {capped} kept their {MAX_KEPT_CATEGORIES} most "
            "frequent)" if capped else "")
    warn(f"Categories not seen at fit{rare}, encoded as unknown (no category): {detail}.")

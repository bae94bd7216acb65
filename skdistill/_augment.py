"""MUNGE: synthetic rows for the transfer set (Bucilua, Caruana and Niculescu-Mizil, 2006).

A student learns the teachers' function only where it sees inputs. On a small table the
training rows cover that function thinly, so the student is free to disagree with the
teachers between them. MUNGE makes plausible new rows near the real ones: each synthetic
row starts from a real row and borrows, attribute by attribute, values from that row's
nearest neighbour. The teachers then label the new rows, so the student learns the
teachers' behaviour in the gaps without any new true labels.

This module knows nothing of teachers or students: it turns a table into more rows.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_array, check_random_state

from ._compat import Interval, validate_params

_MAX_SEED = np.iinfo(np.int32).max

# Rows generated per block: the random draws and temporaries of one block are
# a few (block x n_features) float64 arrays, so memory beyond the output stays a few MB.
# Wide tables (more than _BLOCK_ELEMENTS / _BLOCK_ROWS = 256 columns) get fewer rows per
# block, so that a one-hot matrix of thousands of columns stays bounded too. The block
# size depends on the width alone, never on the input's kind: sparse and dense inputs
# consume the random stream in the same shapes, and so give the same rows.
_BLOCK_ROWS = 8192
_BLOCK_ELEMENTS = _BLOCK_ROWS * 256

# A categorical column with more levels than this is placed in the neighbour search by its
# standardized code instead of one-hot, to bound the width of the search space.
_MAX_ONE_HOT_LEVELS = 64


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "n_samples": [Interval(Integral, 0, None, closed="left"), None],
        "p": [Interval(Real, 0, 1, closed="both")],
        "s": [Interval(Real, 0, None, closed="neither")],
        "categorical_features": ["array-like", None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def munge(X, n_samples=None, *, p=0.5, s=10.0, categorical_features=None, random_state=None):
    """Generate synthetic rows near the given ones with MUNGE.

    Each synthetic row starts as a copy of a real row ``e``. Let ``e'`` be the nearest
    other row of ``X`` to ``e`` (Euclidean distance on standardized continuous columns;
    each categorical column adds 1 to the squared distance when the two rows differ; one
    with more than 64 levels enters as its standardized code instead, to bound the width).
    Then every attribute ``a``, independently with probability ``p``, is replaced:

    - a continuous value by a draw from ``N(e'_a, |e_a - e'_a| / s)``;
    - a categorical value by ``e'_a`` (a swap).

    A missing value stays missing: a synthetic cell is missing when the value it copies
    (the row's own, or the neighbour's when swapped) is, so each column keeps its rate of
    missing values. In the neighbour search a missing value sits at its column's mean,
    plus a distance of one standard deviation to rows where it is present.

    Rows are visited in passes over ``X``, each pass with fresh random draws, until
    ``n_samples`` rows are made; the last, partial pass uses a random subset of rows.

    Parameters
    ----------
    X : array-like, sparse matrix or pandas DataFrame of shape (n_rows, n_features)
        Numeric data with at least 2 rows; NaN marks a missing value (infinity is
        refused). A DataFrame may also hold non-numeric columns (strings,
        ``category``, ``bool``): those are always treated as categorical. A scipy sparse
        matrix (any format, finite values) gives sparse synthetic rows;
        ``categorical_features`` cannot be used with it.
    n_samples : int or None, default=None
        Synthetic rows to make. ``None`` makes one pass: ``n_rows`` rows.
    p : float, default=0.5
        Probability, per attribute, of taking the neighbour's value, in [0, 1]. ``p=0``
        returns copies of the rows.
    s : float, default=10.0
        Local-variance divisor, > 0. The larger ``s``, the closer continuous draws stay
        to the neighbour's value.
    categorical_features : array-like of int or bool, or None, default=None
        Columns to treat as categorical: indices or a boolean mask; with a DataFrame,
        column names too. Categorical values are only ever swapped, so every value in a
        synthetic row's categorical column occurs in that column of ``X``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws. The same seed and data give the same rows.

    Returns
    -------
    X_synthetic : ndarray, CSR matrix or DataFrame of shape (n_samples, n_features)
        An ndarray in the input's float precision (float32 stays float32, anything else
        becomes float64) holding the original values in categorical columns; or, for a
        DataFrame, a DataFrame with the same columns in the same order, where
        categorical columns keep their dtype and continuous ones become float; or, for
        sparse X, a CSR matrix (same precision rule) holding the same values as the
        ndarray that the dense X would give.

    Notes
    -----
    The paper's pseudo-code modifies a copy of the data in place, one row at a time, and
    changes the neighbour ``e'`` along with ``e``. That makes each result depend on the
    order in which rows are visited, and a row near many others gets moved many times in
    one pass. Here every synthetic row comes from exactly one (row, neighbour) pair and
    only the row is changed. The neighbour gets its own change when its turn comes, so
    each real row yields the same number of synthetic rows. This rule is order-free, so
    it runs as array operations over blocks of rows. When two rows are each other's
    nearest neighbour, which is common, the result is the paper's symmetric swap.

    Sparse X: a synthetic row is zero wherever both its row and the neighbour are (the
    draw ``N(0, 0)`` is 0), so the synthetic rows stay about as sparse as the real ones,
    and rows are made in dense blocks of bounded size, each stored as CSR. The
    neighbour search runs on the sparse matrix with columns scaled but not centred
    (centring moves every row alike, so distances do not change). The random draws are
    the dense path's, so sparse X gives the rows dense X gives, unless a row has several
    nearest neighbours at exactly the same distance: then the sparse and the dense
    search may each pick a different one of them.

    Integer-valued columns not named in ``categorical_features`` are treated as
    continuous: a binary column then takes values near 0 or 1 (within
    ``|e_a - e'_a| / s``), not exactly 0 or 1. Declare such columns categorical when
    their values must stay exact.

    References
    ----------
    .. [1] C. Bucilua, R. Caruana and A. Niculescu-Mizil, "Model Compression",
       KDD 2006, section 3.3.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import munge
    >>> X = np.array([[0.0, 1.0], [0.1, 1.0], [5.0, 2.0], [5.2, 2.0]])
    >>> X_new = munge(X, n_samples=8, categorical_features=[1], random_state=0)
    >>> X_new.shape
    (8, 2)
    >>> sorted(set(X_new[:, 1].tolist()))  # categorical values come from X only
    [1.0, 2.0]
    >>> np.array_equal(munge(X, p=0.0, random_state=0), X)  # p=0: copies of the rows
    True
    """
    frame_columns, frame_dtypes, values, categorical, levels = _as_codes(X, categorical_features)
    n_rows, n_features = values.shape
    if n_rows < 2:
        raise ValueError(
            f"munge needs at least 2 rows to find nearest neighbours; got {n_rows}."
        )
    if n_samples is None:
        n_samples = n_rows

    rng = check_random_state(random_state)
    # A numpy Generator draws normals several times faster than the legacy RandomState
    # that scikit-learn's random_state convention hands us; seed one from it.
    gen = np.random.default_rng(int(rng.randint(_MAX_SEED)))

    sparse = sp.issparse(values)
    out = [] if sparse else np.empty((n_samples, n_features), dtype=values.dtype)
    if n_samples:
        n_full, rest = divmod(n_samples, n_rows)
        base = np.concatenate([np.tile(np.arange(n_rows), n_full),
                               np.sort(gen.choice(n_rows, size=rest, replace=False))])
        # Fewer synthetic rows than real ones: only the drawn rows need a neighbour
        # (on a million rows, finding every row's would cost most of the fit).
        neighbour = _nearest_other_row(values, categorical, levels,
                                       rows=base if n_full == 0 else None)
        # Per-column noise scale: 1/s for continuous columns, 0 for categorical ones, so
        # that one expression gives a Gaussian draw or an exact swap.
        inv_s = np.where(categorical, 0.0, 1.0 / s).astype(values.dtype)
        block_rows = _block_rows(n_features)
        for start in range(0, n_samples, block_rows):
            rows = base[start:start + block_rows]
            a = _dense(values[rows])
            b = _dense(values[neighbour[rows]])
            take = gen.random(a.shape) < p
            noise = gen.standard_normal(a.shape, dtype=values.dtype)
            drawn = b + np.abs(a - b) * inv_s * noise
            # A missing value on either side has no spread to draw from: take the
            # neighbour's value as it is (missing or not), as a categorical swap does.
            drawn = np.where(np.isnan(drawn), b, drawn)
            if sparse:
                out.append(sp.csr_matrix(np.where(take, drawn, a)))
            else:
                out[start:start + len(rows)] = np.where(take, drawn, a)
    if sparse:
        if not out:
            return sp.csr_matrix((0, n_features), dtype=values.dtype)
        return sp.vstack(out, format="csr")
    return _from_codes(out, frame_columns, frame_dtypes, categorical, levels)


def _block_rows(n_features):
    """Synthetic rows per block: 8192, fewer for tables wider than 256 columns."""
    return max(1, min(_BLOCK_ROWS, _BLOCK_ELEMENTS // max(n_features, 1)))


def _dense(rows):
    return rows.toarray() if sp.issparse(rows) else rows


def _as_codes(X, categorical_features):
    """Validate X and return (columns, dtypes, values, categorical mask, levels).

    ``values`` is a float array in which categorical columns hold level codes
    0..k-1; ``levels[j]`` holds column j's distinct values (None for continuous).
    ``columns`` and ``dtypes`` are None unless X is a DataFrame.
    """
    columns = dtypes = None
    if hasattr(X, "columns") and hasattr(X, "dtypes"):  # a pandas DataFrame
        columns, dtypes = X.columns, X.dtypes
        n_features = len(columns)
        categorical = _resolve_categorical(categorical_features, n_features, list(columns))
        for j, dtype in enumerate(dtypes):
            # Strings, categories and booleans cannot be perturbed, only swapped.
            if dtype.kind not in "iuf":
                categorical[j] = True
        if len(X) < 2:
            raise ValueError(
                f"munge needs at least 2 rows to find nearest neighbours; got {len(X)}.")
        columns_out = []
        levels = [None] * n_features
        for j in range(n_features):
            col = X.iloc[:, j]
            if categorical[j]:
                codes, uniques = _factorize(col, columns[j])
                levels[j] = uniques
                columns_out.append(codes.astype(np.float64))
            else:
                columns_out.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
        values = np.column_stack(columns_out) if columns_out else np.empty((len(X), 0))
        values = check_array(values, ensure_all_finite="allow-nan", ensure_min_samples=2,
                             input_name="X")
        return columns, dtypes, values, categorical, levels

    # Sparse X stays sparse, as CSR: rows are what the blocks below take. Dense X may
    # hold NaN (missing values); sparse X must be finite.
    values = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32],
                         ensure_all_finite=True if sp.issparse(X) else "allow-nan",
                         ensure_min_samples=1, input_name="X")
    n_features = values.shape[1]
    categorical = _resolve_categorical(categorical_features, n_features, None)
    if sp.issparse(values) and categorical.any():
        raise ValueError(
            "munge cannot take categorical_features with sparse X: swapping category "
            "codes needs those columns dense. One-hot columns (OneHotEncoder's sparse "
            "output) need no declaration; otherwise pass X dense."
        )
    levels = [None] * n_features
    if categorical.any():
        values = values.copy()
        for j in np.flatnonzero(categorical):
            levels[j], codes = np.unique(values[:, j], return_inverse=True)
            values[:, j] = codes
    return columns, dtypes, values, categorical, levels


def _factorize(column, name):
    import pandas as pd

    # A missing value is a level of its own: swapped like any other, never invented.
    codes, uniques = pd.factorize(column, sort=True, use_na_sentinel=False)
    return codes, uniques


def _resolve_categorical(spec, n_features, names):
    """Indices, a boolean mask or (with a DataFrame) names, as a boolean mask."""
    mask = np.zeros(n_features, dtype=bool)
    if spec is None:
        return mask
    spec = np.asarray(spec)
    if spec.dtype == bool:
        if spec.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask must have {n_features} entries, one "
                f"per feature; got shape {spec.shape}."
            )
        return spec.copy()
    if spec.dtype.kind in "iu":
        if spec.size and (spec.min() < -n_features or spec.max() >= n_features):
            raise ValueError(
                f"categorical_features indices must lie in [0, {n_features}); got {spec.tolist()}."
            )
        mask[spec] = True
        return mask
    if spec.size == 0:
        return mask
    if names is None:
        raise ValueError(
            "categorical_features was given as names, but X has no column names. Pass a "
            "pandas DataFrame, or give column indices or a boolean mask instead."
        )
    missing = [str(v) for v in spec.ravel() if v not in set(names)]
    if missing:
        raise ValueError(f"categorical_features names {missing} are not columns of X.")
    mask[np.isin(np.asarray(names, dtype=object), spec)] = True
    return mask


def _nearest_other_row(values, categorical, levels, rows=None):
    """Index of each row's nearest other row, in the distance the docstring defines.

    With ``rows`` (sorted indices), only those rows' neighbours are searched for (among
    all rows); the returned array still has one entry per row, the others -1.
    """
    if sp.issparse(values):
        return _search_other_row(_sparse_distance_space(values), rows)
    parts = []
    cont = values[:, ~categorical].astype(np.float64)
    if cont.shape[1]:
        missing = np.isnan(cont)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
            scale = np.nanstd(cont, axis=0)
            centre = np.nanmean(cont, axis=0)
        # A constant column carries no distance; dividing by 1 keeps it at 0.
        scale[~(scale > 1e-12)] = 1.0
        centre[~np.isfinite(centre)] = 0.0
        # A missing value sits at the column's mean, and being missing where the other
        # row is not counts like one standard deviation.
        parts.append(np.where(missing, 0.0, (cont - centre) / scale))
        parts.append(missing[:, missing.any(axis=0)].astype(np.float64))
    for j in np.flatnonzero(categorical):
        codes = values[:, j].astype(np.intp)
        k = len(levels[j])
        if k <= _MAX_ONE_HOT_LEVELS:
            # One-hot scaled by 1/sqrt(2): two rows that differ here are sqrt(2) * (1/sqrt(2))
            # apart in squared terms 1/2 + 1/2 = 1, like one standard deviation of a
            # continuous column, however rare either level is.
            one_hot = np.zeros((len(codes), k))
            one_hot[np.arange(len(codes)), codes] = np.sqrt(0.5)
            parts.append(one_hot)
        else:
            code = codes.astype(np.float64)
            parts.append(((code - code.mean()) / max(code.std(), 1e-12))[:, None])
    Z = np.hstack(parts) if parts else np.zeros((values.shape[0], 1))
    return _search_other_row(Z, rows)


def _search_other_row(Z, rows):
    """Each row's (or each of ``rows``') nearest other row of ``Z``."""
    nn = NearestNeighbors(n_neighbors=1).fit(Z)
    if rows is None:
        # kneighbors() without X leaves each row out of its own neighbours, even when the
        # data hold exact duplicates of it (then a duplicate is the neighbour).
        return nn.kneighbors(return_distance=False)[:, 0]
    # The same with query rows: their two nearest rows include the row itself (or an
    # exact duplicate, tied with it); the other one is its nearest other row.
    asked = np.unique(rows)
    two = nn.kneighbors(Z[asked], n_neighbors=2, return_distance=False)
    neighbour = np.full(Z.shape[0], -1, dtype=np.intp)
    neighbour[asked] = np.where(two[:, 0] == asked, two[:, 1], two[:, 0])
    return neighbour


def _sparse_distance_space(values):
    """``_nearest_other_row``'s space for a sparse matrix without categorical columns.

    The same distance, on columns scaled to unit variance but not centred: centring
    subtracts one vector from every row, which changes no distance, and would make the
    matrix dense. The scaled matrix is as sparse as ``values``; NearestNeighbors
    searches it by brute force.
    """
    from ._sparse import column_statistics

    _, scale = column_statistics(values)
    scale[~(scale > 1e-12)] = 1.0
    Z = sp.csr_matrix(values, dtype=np.float64) @ sp.diags(1.0 / scale)
    return Z.tocsr()


def _from_codes(out, columns, dtypes, categorical, levels):
    if columns is None:
        for j in np.flatnonzero(categorical):
            out[:, j] = levels[j][out[:, j].astype(np.intp)]
        return out
    import pandas as pd

    data = {}
    for j in range(len(columns)):
        if categorical[j]:
            col = pd.Series(levels[j].take(out[:, j].astype(np.intp)))
            data[j] = col.astype(dtypes.iloc[j])
        else:
            data[j] = pd.Series(out[:, j])
    frame = pd.DataFrame(data)
    frame.columns = columns
    return frame

"""Sparse input: how the distillers hold, densify and hand on a ``scipy.sparse`` matrix.

The rules, in one place:

- ``fit`` and ``predict`` accept every scipy sparse format. ``validate_data`` with
  :data:`ACCEPT_SPARSE` converts the others (COO, LIL, DOK, BSR, DIA) to CSR, and
  :func:`as_csr` converts CSC once, so everything below sees CSR.
- An absent entry is a zero, as everywhere in scikit-learn. A *stored* NaN or infinity is
  refused like a dense one (scikit-learn checks the stored values, ``X.data``).
- Nothing densifies the whole matrix: the student is trained one densified mini-batch at
  a time, predicts in row blocks of at most :data:`DENSE_BLOCK_ELEMENTS` values, and its
  encoding statistics are computed a few columns at a time.
- A teacher receives the matrix as given when its tags say it accepts sparse input
  (``get_tags(est).input_tags.sparse``), and a dense copy otherwise.

This module imports numpy and scipy, never torch: the predict path uses it.
"""

import numpy as np
import scipy.sparse as sp

#: What ``validate_data(accept_sparse=...)`` keeps as it is; other formats become CSR.
ACCEPT_SPARSE = ("csr", "csc")

#: Values in one densified block (rows for predict, columns for statistics): 2**21
#: float64 values are 16 MiB, whatever the shape of the matrix.
DENSE_BLOCK_ELEMENTS = 2**21


def is_sparse(X):
    """Whether ``X`` is a scipy sparse matrix or array."""
    return sp.issparse(X)


def is_sparse_frame(X):
    """Whether ``X`` is a DataFrame of sparse columns only (``pd.get_dummies(...,
    sparse=True)``), which scikit-learn's validation turns into a sparse matrix."""
    return getattr(X, "ndim", 0) == 2 and hasattr(X, "sparse")


def as_csr(X):
    """``X`` unchanged when dense or CSR, else converted once to CSR (CSC, after validation).

    Row slices of CSR are cheap, and every consumer here (folds, mini-batches, predict
    blocks) takes rows.
    """
    if sp.issparse(X) and X.format != "csr":
        return X.tocsr()
    return X


def to_dense(X):
    """A dense ndarray of ``X`` (for a few rows: callers bound the size)."""
    return X.toarray() if sp.issparse(X) else X


def n_rows(X):
    """Rows of an array or sparse matrix (``len`` is refused by sparse matrices)."""
    return X.shape[0]


def rows_per_block(n_features, max_elements=None):
    """Rows of a dense block of at most ``max_elements`` values (at least one row)."""
    max_elements = DENSE_BLOCK_ELEMENTS if max_elements is None else max_elements
    return max(1, max_elements // max(int(n_features), 1))


def dense_row_blocks(X, max_elements=None):
    """Yield ``X``'s rows as dense ndarrays, in order, at most ``max_elements`` values each."""
    step = rows_per_block(X.shape[1], max_elements)
    for start in range(0, X.shape[0], step):
        yield to_dense(X[start:start + step])


def stack_rows(parts):
    """Stack row blocks: one CSR matrix when any block is sparse, else one ndarray.

    Synthetic rows stay sparse (a MUNGE row is zero wherever its row and neighbour are),
    so a sparse transfer set holds about the real rows' density, never a dense copy.
    """
    if any(sp.issparse(p) for p in parts):
        return sp.vstack([p if sp.issparse(p) else sp.csr_matrix(p) for p in parts],
                         format="csr")
    return np.vstack(parts)


def like_fit_input(X, sparse):
    """Rows in the kind the teachers were fitted on: CSR when ``sparse``, else dense.

    XGBoost reads an absent sparse entry as *missing* but a dense zero as the value 0, so
    a teacher fitted on sparse rows must be asked about sparse rows (and a teacher fitted
    on dense rows about dense ones) for its answers to mean the same thing. Converting a
    dense block to CSR drops its zeros, which is exactly the sparse reading of it.
    """
    if sparse:
        return X if sp.issparse(X) else sp.csr_matrix(X)
    return to_dense(X)


# -- teachers --------------------------------------------------------------------------
def accepts_sparse(estimator):
    """Whether ``estimator`` takes sparse X, by its scikit-learn tags.

    The tags are the estimator's own statement (a Pipeline's combine its steps': a
    ``StandardScaler()`` step, which cannot centre a sparse matrix, makes it False). An
    estimator without readable tags is treated as dense-only: a dense copy always works.
    """
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(estimator).input_tags.sparse)
    except Exception:  # third-party objects without tags: the safe answer
        return False


def teacher_input(estimator, X, dense=None):
    """``X`` as ``estimator`` takes it: sparse when it accepts sparse, else dense.

    ``dense``, when given, is a dense copy of ``X`` to reuse (one copy for all the
    dense-only teachers of a fit).
    """
    if not sp.issparse(X) or accepts_sparse(estimator):
        return X
    return X.toarray() if dense is None else dense


# -- the student's input statistics ------------------------------------------------------
def _column_blocks(n_rows, n_columns, max_elements=None):
    """``(start, stop)`` column ranges of at least two columns (unless there is one).

    numpy reduces a C-ordered ``(n, k)`` block over axis 0 row by row for ``k >= 2``, as
    it does the whole ``(n, d)`` matrix, but a single column by pairwise summation: a
    last block of one column is merged into the one before, so the sums match the dense
    computation bit for bit.
    """
    max_elements = DENSE_BLOCK_ELEMENTS if max_elements is None else max_elements
    width = max(2, max_elements // max(int(n_rows), 1))
    edges = list(range(0, n_columns, width)) + [n_columns]
    if len(edges) > 2 and edges[-1] - edges[-2] == 1:
        edges.pop(-2)
    return list(zip(edges[:-1], edges[1:]))


def _dense_column_blocks(X, max_elements=None):
    """Yield ``(start, stop, float64 C-ordered block)`` of ``X``'s columns."""
    Xc = X.tocsc()
    for start, stop in _column_blocks(X.shape[0], X.shape[1], max_elements):
        block = Xc[:, start:stop].toarray()
        yield start, stop, np.ascontiguousarray(block, dtype=np.float64)


def column_statistics(X, max_elements=None):
    """Per-column mean and standard deviation of sparse ``X``, a few columns at a time.

    Equal bit for bit to ``X.toarray().astype(np.float64)``'s ``mean(axis=0)`` and
    ``std(axis=0)``, so a student fitted on sparse rows starts from the same
    standardization as one fitted on the same rows dense.

    Parameters
    ----------
    X : sparse matrix of shape (n_samples, n_features)
    max_elements : int or None
        Values per densified block of columns (at least two columns); None for
        :data:`DENSE_BLOCK_ELEMENTS`.

    Returns
    -------
    mean, std : ndarray of shape (n_features,), float64
    """
    mean = np.empty(X.shape[1])
    std = np.empty(X.shape[1])
    for start, stop, block in _dense_column_blocks(X, max_elements):
        mean[start:stop] = block.mean(axis=0)
        std[start:stop] = block.std(axis=0)
    return mean, std


def standardized_columns(X, mean, scale, max_elements=None):
    """Yield each column of ``(X - mean) / scale`` as a dense float64 vector, in order.

    Elementwise the same arithmetic as the dense ``(X - mean) / scale``, so quantile bins
    fitted on these columns equal the dense ones.
    """
    for start, stop, block in _dense_column_blocks(X, max_elements):
        block -= mean[start:stop]
        block /= scale[start:stop]
        yield from block.T


# -- checks --------------------------------------------------------------------------------
def check_no_missing(X):
    """Refuse NaN or inf among a sparse fit's stored values (absent entries are zeros).

    The student learns to fill missing values from a table's schema, which reads dense
    columns; a sparse matrix has none.
    """
    from ._student import check_finite_input

    if np.isnan(X.data).any():
        raise ValueError(
            "X is a sparse matrix holding NaN: missing values are learned from dense "
            "input only. Pass X.toarray() (or a DataFrame), or impute the NaN first, "
            "for example with SimpleImputer in a Pipeline."
        )
    check_finite_input(X, accepts_missing=False)  # infinity is left


def check_float32_range(X, what="X"):
    """``_student.check_float32_range`` for sparse or dense ``X``.

    Only the stored values of a sparse matrix can exceed float32's range (absent entries
    are zeros), so those are checked, and the message names their columns.
    """
    from ._student import FLOAT32_MAX
    from ._student import check_float32_range as check_dense

    if not sp.issparse(X):
        return check_dense(X, what)
    if X.dtype != np.float64 or X.nnz == 0:
        return None
    coo = X.tocoo()
    bad = np.abs(coo.data) > FLOAT32_MAX
    if bad.any():
        columns = np.unique(coo.col[bad])
        raise ValueError(
            f"{what} has values beyond float32's range (|x| > {FLOAT32_MAX:.3g}) in columns "
            f"{columns[:10].tolist()}. The student computes in float32: rescale those columns "
            "(for example with a log transform or a MaxAbsScaler in a Pipeline)."
        )
    return None


def check_no_categorical(categorical):
    """Refuse ``categorical_features`` with sparse X, naming the fix."""
    if np.any(categorical):
        raise ValueError(
            "categorical_features cannot be used with sparse X: MUNGE would have to "
            "densify those columns to swap their codes. A sparse matrix's categories are "
            "usually one-hot columns already (OneHotEncoder), which need no declaration: "
            "leave categorical_features=None, or pass X dense."
        )


def student_output(student, X):
    """``_student.student_output`` on sparse ``X`` that validation has checked (finite,
    within float32's range), densified a bounded block at a time.

    The network computes each row on its own (float64), so the result equals the dense
    computation bit for bit.
    """
    from ._student import student_output as dense_output

    return np.vstack([dense_output(student, block, checked=True)
                      for block in dense_row_blocks(X)])

"""The one distillation pipeline that the classifier and the regressor share.

Order of work in ``fit``: validate, fit the teachers and collect their soft targets,
extend the transfer set (unlabeled and synthetic rows labelled by the teachers), then
train the student. The estimator classes only say how their targets are encoded and
how the student's raw output becomes a prediction.
"""

import copy
import time
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import (
    check_is_fitted,
    check_memory,
    check_X_y,
    validate_data,
)

from . import _sparse
from ._compat import HasMethods, Interval, StrOptions, _check_sample_weight
from ._student import (
    ACTIVATIONS,
    INPUT_ENCODINGS,
    check_finite_input,
    check_student_finite,
    student_output,
)
from ._teachers import (
    AUTO_MAX_TEACHER_ROWS,
    SOFT_TARGET_METHODS,
    _seeds,
    adapt_teachers,
    average_outputs,
    check_teachers,
    fit_teachers_each,
    label_rows,
    label_rows_each,
    resolve_folds,
    uses_folds,
)
from ._warnings import warn

# Float inputs stay in their own precision; anything else becomes float64.
_FLOAT_DTYPES = [np.float64, np.float32]
_FAST_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
#: Up to this many rows a DataFrame takes the fast path without asking whether its
#: columns are sparse (which costs more than a single row's prediction).
_FEW_FAST_ROWS = 1024


def warn_idle_validation_target(alpha, validation_target):
    """Warn that ``validation_target="teachers"`` does nothing with ``alpha=0``."""
    if alpha == 0 and validation_target == "teachers":
        warn("validation_target='teachers' has no effect with alpha=0: early stopping "
             "watches the true labels, as nothing is learned from the teachers. Set "
             "alpha > 0, or validation_target='labels'.")


def _check_some_weight(sample_weight):
    if not sample_weight.any():
        raise ValueError("The rows' weights are 0 for every row (sample_weight times "
                         "class_weight's): at least one row needs a positive weight.")


@dataclass
class _FitData:
    """The validated inputs of one fit (``X`` and ``X_unlabeled`` dense or CSR)."""

    X: object
    y: np.ndarray
    y_enc: np.ndarray
    n_outputs: int
    sample_weight: object
    X_unlabeled: object
    hidden: object  # a tuple of widths, or "auto"
    weights: object
    categorical: np.ndarray
    table: object  # a TableSchema (X then holds its codes), or None for a table of numbers

    @property
    def row_weights(self):
        """The student's weight per row: ``sample_weight`` scaled to a mean of 1.

        The losses divide by the weights' sum, so the scale changes nothing but float32's
        range: weights of 1e300 would overflow it, and weights of 1e-30 would sink below
        the losses' guard against a zero sum.
        """
        if self.sample_weight is None:
            return np.ones(self.X.shape[0])
        # By the largest first: a float32 sum of 1e37s, or a float64 one of 1e306s, is inf.
        w = self.sample_weight.astype(np.float64)
        w = w / w.max()
        return w / w.mean()


@dataclass
class _TransferSet:
    """The rows the student trains on, with their teacher and true targets."""

    X: object  # ndarray, or CSR when X or X_unlabeled was sparse
    target: np.ndarray
    y: np.ndarray
    labeled: np.ndarray
    weight: np.ndarray
    teacher_target: np.ndarray  # all real rows (validation rows included)
    true_target: np.ndarray
    n_real: int
    n_extra: int  # unlabeled and synthetic rows
    n_synthetic: int


#: Parameter constraints of the teachers' average, the student and its training, shared by
#: the in-memory and the dask estimators (each adds those of its own teacher phase).
TRAINING_PARAMETER_CONSTRAINTS = {
    "teachers": [list, None],
    "teacher_weights": ["array-like", None],
    "alpha": [Interval(Real, 0, 1, closed="both")],
    "hidden_layer_sizes": [tuple, list, StrOptions({"auto"})],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "epoch_rows": [Interval(Integral, 1, None, closed="left"), None],
    "student_time_limit": [Interval(Real, 0, None, closed="neither"), None],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "validation_target": [StrOptions({"labels", "teachers"})],
    "lr_schedule": [StrOptions({"plateau", "cosine"})],
    "weight_averaging": [StrOptions({"ema", "none"})],
    "input_encoding": [StrOptions(set(INPUT_ENCODINGS))],
    "n_bins": [Interval(Integral, 2, None, closed="left")],
    "n_frequencies": [Interval(Integral, 1, None, closed="left")],
    "n_members": [Interval(Integral, 1, None, closed="left")],
    "device": [StrOptions({"auto", "cpu", "cuda"})],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class NamedTeachersMixin:
    """``teachers__<name>`` and ``teachers__<name>__<param>`` in ``get_params`` and
    ``set_params``, for a ``teachers`` list of ``(name, estimator)`` pairs.

    VotingClassifier exposes members as ``<name>__<param>``; here they live under the
    ``teachers__`` prefix so that they can never clash with the distiller's own parameters.
    """

    #: Named in the error for a teacher name that ``teachers=None`` leaves undefined.
    _default_teachers_function = "default_teachers"

    def get_params(self, deep=True):
        out = super().get_params(deep=False)
        if deep and isinstance(self.teachers, (list, tuple)):
            # Only well-formed pairs; fit() explains what is wrong with the others.
            pairs = [t for t in self.teachers
                     if isinstance(t, (list, tuple)) and len(t) == 2 and isinstance(t[0], str)]
            for name, est in pairs:
                out[f"teachers__{name}"] = est
                if hasattr(est, "get_params"):
                    for key, value in est.get_params(deep=True).items():
                        out[f"teachers__{name}__{key}"] = value
        return out

    def set_params(self, **params):
        if "teachers" in params:
            super().set_params(teachers=params.pop("teachers"))
        nested = {}
        for key in [k for k in params if k.startswith("teachers__")]:
            name, _, sub = key[len("teachers__"):].partition("__")
            nested.setdefault(name, {})[sub] = params.pop(key)
        if nested:
            names = [t[0] for t in self.teachers] if isinstance(self.teachers, (list, tuple)) \
                else []
            teachers = list(self.teachers or [])
            for name, sub_params in nested.items():
                if name not in names:
                    raise ValueError(
                        f"No teacher named {name!r}; the teachers are {names}. With "
                        f"teachers=None, pass teachers={self._default_teachers_function}() "
                        "to tune its members."
                    )
                i = names.index(name)
                if "" in sub_params:  # teachers__<name>=estimator replaces the member
                    teachers[i] = (name, sub_params.pop(""))
                if sub_params:
                    teachers[i][1].set_params(**sub_params)
            super().set_params(teachers=teachers)
        if params:
            super().set_params(**params)
        return self


class _BaseDistiller(NamedTeachersMixin, BaseEstimator):
    """Shared fit and predict machinery. Not part of the public API."""

    _task = None  # "classification" or "regression", set by subclasses

    _parameter_constraints = {
        **TRAINING_PARAMETER_CONSTRAINTS,
        "soft_targets": [StrOptions(set(SOFT_TARGET_METHODS))],
        # "array-like": a list of (train, test) index pairs, as scikit-learn's own cv
        # takes (a generator is not: it would be spent after one fit).
        "cv": [Interval(Integral, 2, None, closed="left"), HasMethods(["split", "get_n_splits"]),
               "array-like", StrOptions({"auto"})],
        "max_teacher_rows": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}),
                             None],
        "augmentation": [StrOptions({"munge", "auto"}), None],
        "augment_factor": [Interval(Real, 0, None, closed="left")],
        "munge_p": [Interval(Real, 0, 1, closed="both")],
        "munge_s": [Interval(Real, 0, None, closed="neither")],
        "max_augment_rows": [Interval(Integral, 0, None, closed="left")],
        "categorical_features": ["array-like", None],
        "memory": [None, str, HasMethods(["cache"])],
        "keep_teachers": ["boolean"],
        "n_jobs": [Integral, None],
    }

    # -- hooks the subclasses fill in ---------------------------------------------------
    def _default_teachers(self, random_state, sparse=False):
        raise NotImplementedError

    def _encode_target(self, y, sample_weight=None):
        """Return (encoded y for teachers, n_outputs) and set target attributes."""
        raise NotImplementedError

    def _weigh_rows(self, y, sample_weight):
        """The rows' weights from ``sample_weight`` and the estimator's own settings."""
        return sample_weight

    def _student_targets(self, soft_targets, y_enc):
        """Arrays the training loop consumes: (teacher targets, true targets)."""
        raise NotImplementedError

    def _adapt_task_teachers(self, teachers):
        """The teachers as the task fits them (the regressor may standardize the target)."""
        return teachers

    def _finish_student(self, student):
        """Last chance to change the trained network (the regressor folds its target scale)."""
        return student

    def _loss_params(self):
        """Task-specific keyword arguments of the training loss (the classifier's temperature)."""
        return {}

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, X_unlabeled=None):
        from ._serving import refuse_fit

        refuse_fit(self)  # a serving copy has no teachers left to fit: say so first
        return fit_atomically(self, lambda work: work._fit_impl(X, y, sample_weight,
                                                                X_unlabeled))

    def _fit_impl(self, X, y, sample_weight, X_unlabeled):
        data = self._check_inputs(X, y, sample_weight, X_unlabeled)
        seeds = self._draw_seeds()
        teachers = self._resolve_teachers(seeds["teachers"], data)
        fitted, soft, teacher_time, teachers_key = self._soft_targets(teachers, data,
                                                                      seeds["splits"])
        teacher_info = {"teacher_fit_seconds": teacher_time, "teacher_folds":
                        self._teacher_folds(data.X.shape[0], teachers
                                            if self._fits_teachers(data) else [], data.y_enc)}
        train_idx, valid_idx = self._student_rows(data, seeds["validation"])
        transfer = self._transfer_set(data, fitted, soft, train_idx, seeds["augment"],
                                      teachers_key)
        result, student_time = self._train(data, transfer, valid_idx, seeds["student"])
        self._store(data, fitted, result, transfer, valid_idx, teacher_info, student_time)
        return self

    def _check_inputs(self, X, y, sample_weight, X_unlabeled):
        """Validate everything a fit reads before any teacher is fitted."""
        X, y, table = self._check_table(X, y)
        _sparse.check_float32_range(X, "X")
        if sample_weight is not None:
            # Refuses all-zero weights too (see _compat), before the target's scale.
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        y_enc, n_outputs = self._encode_target(y, sample_weight)
        sample_weight = self._weigh_rows(y, sample_weight)
        if sample_weight is not None:
            _check_some_weight(sample_weight)  # class_weight may have zeroed every row
        if self.device == "cuda":
            # Refuse a missing GPU before the (long) teacher fits, not after them.
            from ._training import resolve_device

            resolve_device(self.device)
        X_extra = self._drop_unused_teacher_inputs(self._unlabeled_rows(X_unlabeled, table))
        return _FitData(X=X, y=y, y_enc=y_enc, n_outputs=n_outputs,
                        sample_weight=sample_weight, X_unlabeled=X_extra,
                        hidden=check_hidden_layer_sizes(self.hidden_layer_sizes),
                        weights=check_teacher_weights(self.teacher_weights),
                        categorical=(self._categorical_mask(X.shape[1]) if table is None
                                     else table.categorical_mask),
                        table=table)

    def _drop_unused_teacher_inputs(self, X_unlabeled):
        """With ``alpha=0`` the student trains on the labels alone: say which settings
        that leaves without effect, and drop the unlabeled rows (only teachers label them)."""
        if self.alpha > 0:
            return X_unlabeled
        if X_unlabeled is not None:
            warn("X_unlabeled is ignored with alpha=0: its rows carry only the teachers' "
                 "targets, which alpha=0 does not train on. Set alpha > 0 to use them.")
            X_unlabeled = None
        warn_idle_validation_target(self.alpha, self.validation_target)
        return X_unlabeled

    def _check_table(self, X, y):
        """(X as floats, y, schema): a table with categories or missing values becomes
        the codes of its :class:`~skdistill._table.TableSchema`; a table of numbers
        without missing values (or a sparse matrix) stays as it is, with no schema."""
        from ._table import TableSchema, needs_schema

        regression = self._task == "regression"
        if _sparse.is_sparse(X) or _sparse.is_sparse_frame(X):
            if self.categorical_features is not None:
                _sparse.check_no_categorical(self._categorical_mask(X.shape[1]))
            X, y = validate_data(
                self, X, y, reset=True, dtype=_FLOAT_DTYPES, y_numeric=regression,
                # Any format: others become CSR here, CSC becomes CSR in as_csr.
                accept_sparse=_sparse.ACCEPT_SPARSE, ensure_all_finite=False)
            _sparse.check_no_missing(X)
            return _sparse.as_csr(X), y, None
        if not needs_schema(X, self.categorical_features):
            X, y = validate_data(self, X, y, reset=True, dtype=_FLOAT_DTYPES,
                                 ensure_all_finite=False, y_numeric=regression)
            check_finite_input(X, accepts_missing=True)  # NaN makes a table, below
            if not np.isnan(X).any():
                return X, y, None
            names = getattr(self, "feature_names_in_", None)
            table = TableSchema.fit(X, names=names)
            return X.astype(np.float64, copy=False), y, table
        # Names and n_features_in_ from the table itself; its values are checked as codes.
        validate_data(self, X, reset=True, skip_check_array=True)
        table = TableSchema.fit(X, self.categorical_features)
        codes, y = check_X_y(table.encode(X, warn_unseen=False), y, dtype=np.float64,
                             ensure_all_finite=False, y_numeric=regression)
        check_finite_input(codes, accepts_missing=True)
        return codes, y, table

    def _unlabeled_rows(self, X_unlabeled, table):
        """``X_unlabeled`` checked as predict's rows, with errors that name it; None for
        none or zero rows (a filter may leave none)."""
        if X_unlabeled is None or has_zero_rows(X_unlabeled):
            return None
        try:
            return self._validated_rows(X_unlabeled, table, "X_unlabeled")
        except ValueError as exc:
            if "X_unlabeled" in str(exc):
                raise
            raise ValueError(f"X_unlabeled: {exc}") from exc

    def _validated_rows(self, X, table, what="X"):
        """Rows to label or predict, checked against the fit: floats (dense or CSR) or a
        table's codes."""
        if table is None:
            # Finiteness checked below, with a message that knows what this model accepts.
            X = _sparse.as_csr(validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES,
                                             accept_sparse=_sparse.ACCEPT_SPARSE,
                                             ensure_all_finite=False))
            check_finite_input(X, accepts_missing=False, what=what)
        else:
            if getattr(X, "ndim", 2) != 2:
                # skip_check_array below would call a row "no features".
                raise ValueError(
                    f"Expected a 2-dimensional table but got {type(X).__name__} of "
                    f"{getattr(X, 'ndim', '?')} dimension(s). Pass a DataFrame with one "
                    "row per sample (for one row, df.iloc[[i]] rather than df.iloc[i]).")
            if not self._has_fitted_columns(X):
                validate_data(self, X, reset=False, skip_check_array=True)
            if _sparse.is_sparse(X):
                # The codes are dense whatever comes in, so densifying costs no more.
                X = X.toarray()
            X = table.encode(X)  # float64, one column per fitted column
            if X.shape[0] == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                                 f"minimum of 1 is required by {type(self).__name__}.")
            check_finite_input(X, accepts_missing=True, what=what)
        _sparse.check_float32_range(X, what)
        return X

    def _has_fitted_columns(self, X):
        """Whether X is a DataFrame with exactly the fitted column names, in order."""
        names = getattr(self, "feature_names_in_", None)
        columns = getattr(X, "columns", None)
        return (names is not None and columns is not None and len(columns) == len(names)
                and bool((np.asarray(columns, dtype=object) == names).all()))

    def _draw_seeds(self):
        # _seeds draws from a fresh generator for random_state=None, so that the user's
        # global np.random stream is not advanced by fitting.
        names = ("teachers", "splits", "validation", "augment", "student")
        return dict(zip(names, _seeds(self.random_state, len(names))))

    def _resolve_teachers(self, seed, data):
        teachers = (self._default_teachers(seed, sparse=_sparse.is_sparse(data.X))
                    if self.teachers is None
                    else check_teachers(self.teachers, self._task))
        names = None if _sparse.is_sparse(data.X) else getattr(self, "feature_names_in_", None)
        teachers = self._adapt_task_teachers(adapt_teachers(teachers, data.table, names))
        check_weight_count(data.weights, teachers)
        if data.sample_weight is not None:
            self._warn_unweighted_teachers(teachers)
        return teachers

    def _needs_teachers(self, data):
        """Whether fitted teachers are needed after the soft targets (to label more rows)."""
        return (self.keep_teachers or data.X_unlabeled is not None
                or self._augmentation_enabled())

    def _fits_teachers(self, data):
        """Whether this fit fits teachers: not for the hard-label baseline (``alpha=0``),
        which uses no teacher output, unless they are kept."""
        return self.alpha > 0 or self._needs_teachers(data)

    def _soft_targets(self, teachers, data, split_seed):
        """Fit the teachers and label the training rows (cached on disk when memory is set).

        Returns ``(fitted, soft, seconds, teachers_key)``: ``teachers_key`` is the hash of
        everything the fitted teachers depend on when ``memory`` caches, else None.
        """
        start = time.perf_counter()
        needs_teachers = self._needs_teachers(data)
        if not self._fits_teachers(data):
            return None, np.zeros((data.X.shape[0], data.n_outputs)), 0.0, None
        memory = check_memory(self.memory)
        if memory.location is not None and not isinstance(self.random_state, Integral):
            given = ("None" if self.random_state is None
                     else f"a {type(self.random_state).__name__}")
            warn(f"memory is set but random_state is {given}: teacher seeds and folds are "
                 "redrawn on every fit, so cached teachers are never reused. Set "
                 "random_state to an int.")
        # Not teacher_weights: the cache holds each teacher's outputs, weighed below, so
        # a search over the weights fits the teachers once.
        key_args = dict(
            teachers=teachers, X=data.X, y=data.y_enc, sample_weight=data.sample_weight,
            n_outputs=data.n_outputs, task=self._task, method=self.soft_targets, cv=self.cv,
            refit=needs_teachers, random_state=split_seed,
            classes=getattr(self, "classes_", None), max_rows=self._max_teacher_rows(),
        )
        teachers_key = None if memory.location is None else _cache_key(
            # Keyed by the values: a DataFrame's (column-major) array and a row-major one
            # hash alike.
            {**key_args, "X": data.X if _sparse.is_sparse(data.X)
             else np.ascontiguousarray(data.X)})
        fitted, outputs = memory.cache(_fit_keyed_teachers, ignore=["fit_args", "n_jobs",
                                                                    "progress"])(
            teachers_key, key_args, n_jobs=self.n_jobs,
            progress=self._teacher_progress() if self.verbose else None,
        )
        soft = average_outputs(outputs, data.weights)
        return fitted, soft, time.perf_counter() - start, teachers_key

    def _label_extra(self, fitted, X_extra, data, teachers_key):
        """The teachers' weighted average on the unlabeled and synthetic rows. Cached
        (``memory``), each teacher's outputs are kept, so that other ``teacher_weights``
        reuse them; otherwise only each chunk's average, which holds a teacher's share
        of the memory."""
        fit_sparse = _sparse.is_sparse(data.X)
        if not teachers_key:
            return label_rows(fitted, X_extra, n_outputs=data.n_outputs, task=self._task,
                              weights=data.weights, fit_sparse=fit_sparse)
        label = check_memory(self.memory).cache(label_rows_each, ignore=["fitted"])
        return average_outputs(list(label(fitted, X_extra, n_outputs=data.n_outputs,
                                          task=self._task, fit_sparse=fit_sparse,
                                          teachers_key=teachers_key)), data.weights)

    def _max_teacher_rows(self):
        return AUTO_MAX_TEACHER_ROWS if self.max_teacher_rows == "auto" else self.max_teacher_rows

    def _teacher_folds(self, n_rows, teachers=None, y=None):
        """The number of folds an integer or ``"auto"`` ``cv`` stands for on ``n_rows``
        rows (with labels ``y``, if known: ``"auto"`` takes no more folds than the
        largest class has rows); None for a splitter, whose own ``split`` decides, and
        where no teacher uses folds: in-sample soft targets, frozen teachers, ``"oob"``
        with only bagged forests, no teacher fitted at all (``teachers=[]``).
        ``teachers=None``: the folds the settings alone imply."""
        if teachers is not None and not uses_folds(teachers, self.soft_targets):
            return None
        if self.soft_targets == "in_sample":
            return None
        largest = (np.unique(y, return_counts=True)[1].max()
                   if y is not None and self._task == "classification" else None)
        folds = resolve_folds(self.cv, n_rows, self._max_teacher_rows(), largest)
        return int(folds) if isinstance(folds, Integral) else None

    def _transfer_set(self, data, fitted, soft, train_idx, seed, teachers_key=None):
        """Real training rows, then unlabeled and synthetic rows labelled by the teachers.

        Validation rows are held out before any row is synthesized from the others, so
        the validation score stays honest. With ``memory``, the labels are cached too,
        keyed by the rows and ``teachers_key`` (see :meth:`_soft_targets`): a search over
        student settings then labels each split's rows once.
        """
        teacher_target, true_target = self._student_targets(soft, data.y_enc)
        X_real = data.X[train_idx]
        extra = []
        if data.X_unlabeled is not None and data.X_unlabeled.shape[0]:
            extra.append(data.X_unlabeled)
        n_synthetic = 0
        if self._augmentation_enabled():
            synthetic = self._synthesize(X_real, data.categorical, seed)
            n_synthetic = synthetic.shape[0]
            if n_synthetic:  # teachers' predict_proba refuses zero rows
                extra.append(synthetic)
        X_parts, target_parts = [X_real], [teacher_target[train_idx]]
        if extra:
            # Sparse when any part is (MUNGE rows of sparse rows are sparse too): CSR.
            X_extra = _sparse.stack_rows(extra).astype(data.X.dtype, copy=False)
            extra_soft = self._label_extra(fitted, X_extra, data, teachers_key)
            X_parts.append(X_extra)
            target_parts.append(self._student_targets(extra_soft, None)[0])
        n_real = len(train_idx)
        n_extra = sum(part.shape[0] for part in X_parts[1:])
        w = data.row_weights
        y_train = true_target[train_idx]
        if n_extra:
            filler = np.zeros((n_extra,) + y_train.shape[1:], dtype=y_train.dtype)
            y_train = np.concatenate([y_train, filler])
        return _TransferSet(
            X=_sparse.stack_rows(X_parts) if n_extra else X_real,
            target=np.concatenate(target_parts).astype(np.float32),
            y=y_train,
            labeled=np.concatenate([np.ones(n_real, bool), np.zeros(n_extra, bool)]),
            # Transfer rows weigh as much as an average real row (on average, with
            # BOUNDARY_EMPHASIS).
            weight=np.concatenate([w[train_idx], w[train_idx].mean() * _boundary_weights(
                target_parts[1:], self._task)]),
            teacher_target=teacher_target, true_target=true_target,
            n_real=n_real, n_extra=n_extra, n_synthetic=n_synthetic,
        )

    def _initial_student(self, X_real, n_outputs, hidden, seed, table=None):
        """The untrained network: input encoding fitted on the real rows, random weights."""
        from ._student import TASK_COMBINE, build_student

        return build_student(
            X_real, n_outputs, hidden, activation=self.activation,
            input_encoding=self.input_encoding, n_bins=self.n_bins,
            n_frequencies=self.n_frequencies, table=table, n_members=self.n_members,
            combine=TASK_COMBINE[self._task],
            random_state=seed,
        )

    def _train(self, data, transfer, valid_idx, seed):
        from ._progress import train_with_progress
        from ._training import train_student  # torch is imported here, not at import time

        # The transfer set starts with the real training rows: fit the encoding on those.
        student = self._initial_student(transfer.X[:transfer.n_real], data.n_outputs,
                                        data.hidden, seed, data.table)
        has_valid = len(valid_idx) > 0
        w = data.row_weights
        start = time.perf_counter()
        result = train_with_progress(
            train_student, student, transfer.X.astype(np.float32), transfer.target, transfer.y,
            transfer.labeled, transfer.weight.astype(np.float32),
            data.X[valid_idx].astype(np.float32) if has_valid else None,
            transfer.true_target[valid_idx] if has_valid else None,
            w[valid_idx].astype(np.float32) if has_valid else None,
            (transfer.teacher_target[valid_idx].astype(np.float32)
             if has_valid and self.alpha > 0 else None),
            task=self._task, dropout=self.dropout, batch_size=self.batch_size,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            max_epochs=self.max_epochs, n_iter_no_change=self.n_iter_no_change, tol=self.tol,
            alpha=self.alpha, validation_target=self.validation_target,
            lr_schedule=self.lr_schedule, weight_averaging=self.weight_averaging,
            device=self.device, seed=seed,
            epoch_rows=_epoch_rows(transfer, self.epoch_rows),
            time_limit=self.student_time_limit,
            always_rows=(transfer.n_real + transfer.n_extra - transfer.n_synthetic
                         if REAL_ROWS_EVERY_EPOCH else 0),
            verbose=self.verbose,
            **self._loss_params(),
        )
        return result, time.perf_counter() - start

    def _store(self, data, fitted, result, transfer, valid_idx, teacher_info, student_time):
        """Set the fitted attributes, once the student is known to compute finite outputs."""
        student = self._finish_student(result["student"])
        check_student_finite(student, next(_sparse.dense_row_blocks(data.X[:1000])))
        self.student_ = student
        # The schema of a table with categories or missing values: predict reads its
        # columns through it. None for a table of numbers.
        self.table_ = data.table
        # The weights the soft targets were averaged with: teacher_predict_output uses
        # these, so a later set_params(teacher_weights=...) cannot change the kept ensemble.
        self.teacher_weights_ = data.weights
        self.history_ = result["history"]
        self.n_iter_ = result["n_iter"]
        self.fit_info_ = {
            **teacher_info,
            "student_fit_seconds": student_time,
            "n_real_rows": transfer.n_real,
            "n_validation_rows": len(valid_idx),
            "n_transfer_rows": transfer.n_extra,
            "best_epoch": result["best_epoch"],
            "stopped_by": result["stopped_by"],
            "device": result["device"],
        }
        if self.keep_teachers:
            self.teachers_ = [t.estimator for t in fitted]
            self._teacher_columns = [t.columns for t in fitted]
            # teacher_predict_output hands rows to the teachers in this kind.
            self._teacher_input_sparse = _sparse.is_sparse(data.X)
            self.named_teachers_ = dict(zip([t.name for t in fitted], self.teachers_))
        else:
            drop_teachers(self)

    # -- fit helpers ------------------------------------------------------------------
    def _categorical_mask(self, n_features):
        """Resolve ``categorical_features`` (indices, boolean mask or names) to a mask."""
        from ._augment import _resolve_categorical

        return _resolve_categorical(self.categorical_features, n_features,
                                    getattr(self, "feature_names_in_", None))

    def _augmentation_enabled(self):
        if self.augmentation is None or self.augment_factor == 0 or self.max_augment_rows == 0:
            return False
        if self.alpha == 0:
            # Transfer rows carry only teacher targets, which alpha=0 ignores.
            return False
        return True

    def _synthesize(self, X, categorical, seed):
        from ._augment import munge

        n_samples = int(min(round(self.augment_factor * X.shape[0]), self.max_augment_rows))
        if X.shape[0] < 2:
            # MUNGE needs a neighbour for every row; a one-row training part (tiny data,
            # scikit-learn's common checks) simply gets no synthetic rows.
            n_samples = 0
        if n_samples == 0:
            return X[:0]
        return munge(X, n_samples=n_samples, p=self.munge_p, s=self.munge_s,
                     categorical_features=categorical, random_state=seed)

    def _student_rows(self, data, seed):
        """The real rows the student trains and validates on: those with a positive
        weight. As in scikit-learn, a weight of 0 leaves a row out: of the student's
        input encoding, MUNGE's neighbours and the early-stopping score (the teachers
        get every row and its weight)."""
        if data.sample_weight is None or data.sample_weight.all():
            return self._validation_split(data.y_enc, seed)
        rows = np.flatnonzero(data.sample_weight > 0)
        train, valid = self._validation_split(data.y_enc[rows], seed)
        return rows[train], rows[valid]

    def _validation_split(self, y_enc, seed):
        n = y_enc.shape[0]
        all_rows = np.arange(n)
        n_valid = int(np.ceil(self.validation_fraction * n))
        if not self.early_stopping or n - n_valid < 1:
            return all_rows, all_rows[:0]
        rng = np.random.RandomState(seed)
        if self._task == "classification":
            # Stratify by hand: each class gives its share, and a class too rare for one
            # (two rows or more) a row, so that validation sees it; those rows only up to
            # twice the fraction, lest many tiny classes halve the training rows.
            valid, rare = [], []
            for k in np.unique(y_enc):
                rows = rng.permutation(np.flatnonzero(y_enc == k))
                take = min(int(round(self.validation_fraction * len(rows))), len(rows) - 1)
                valid.append(rows[:take])
                if take == 0 and len(rows) > 1:
                    rare.append(rows[:1])
            room = max(2 * n_valid - sum(len(v) for v in valid), 0)
            valid_idx = np.sort(np.concatenate(valid + rare[:room]))
        else:
            valid_idx = np.sort(rng.permutation(n)[:n_valid])
        if len(valid_idx) == 0:
            return all_rows, all_rows[:0]
        train_mask = np.ones(n, dtype=bool)
        train_mask[valid_idx] = False
        return all_rows[train_mask], valid_idx

    def _warn_unweighted_teachers(self, teachers):
        from sklearn.frozen import FrozenEstimator

        from ._teachers import _sample_weight_params

        ignored = [name for name, est in teachers
                   if not isinstance(est, FrozenEstimator)
                   and _sample_weight_params(est, np.ones(1)) is None]
        if ignored:
            warn(f"Teachers {ignored} do not accept sample_weight in fit, so they are fitted "
                 "unweighted. The student's loss is still weighted.")

    def _teacher_progress(self):
        """Progress reporter for ``verbose > 0``: tqdm bars, or plain lines when not a TTY."""
        from ._progress import make_progress

        return make_progress("teachers", verbose=int(self.verbose))

    # -- predict ------------------------------------------------------------------------
    def __sklearn_is_fitted__(self):
        return hasattr(self, "student_")

    def _pinned(self):
        """This model as it is now, for one prediction: a view that shares its state.

        A refit replaces the state whole (:func:`fit_atomically`), so a prediction that
        reads the view throughout (student, column names, classes) sees the old model or
        the new one, never parts of both.
        """
        view = object.__new__(type(self))
        view.__dict__ = self.__dict__
        return view

    def _student_output(self, X):
        """The student's raw output for validated X: the one predict path."""
        check_is_fitted(self)
        table = getattr(self, "table_", None)
        # A table of numbers with missing values reads as floats: the student imputes.
        plain = table is None or not table.categorical_mask.any()
        fast = self._fast_array(X) if plain else None
        if fast is not None:  # unchecked: student_output checks it
            return student_output(self.student_, fast)
        X = self._validated_rows(X, table)  # finite and within float32's range
        if _sparse.is_sparse(X):  # densified a bounded block of rows at a time
            return _sparse.student_output(self.student_, _sparse.as_csr(X))
        return student_output(self.student_, X, checked=True)

    def _fast_array(self, X):
        """X as a float ndarray when it is a common serving input, else None.

        The same checks validate_data makes, minus its generic dispatch, which costs more
        than the network's forward pass on a single row: a float ndarray of the right
        width (for a model fitted without column names), or a DataFrame whose columns are
        exactly the fitted names, in order, all numeric. ``student_output`` then checks
        finiteness and the float32 range.
        """
        names = getattr(self, "feature_names_in_", None)
        if type(X) is np.ndarray:
            ok = (names is None and X.ndim == 2 and X.dtype in _FAST_DTYPES
                  and X.shape[0] > 0 and X.shape[1] == self.n_features_in_)
            return X if ok else None
        columns = getattr(X, "columns", None)
        if names is None or columns is None or not hasattr(X, "to_numpy"):
            return None
        if len(columns) != len(names) or not (columns.to_numpy() == names).all():
            return None
        if X.shape[0] > _FEW_FAST_ROWS and _sparse.is_sparse_frame(X):
            return None  # to_numpy would densify it whole; the validated path goes by blocks
        # One block for the whole frame: a numeric kind only if every column is numeric
        # (strings, categories or mixed kinds give object); cheaper than X.dtypes.
        values = X.to_numpy()
        if values.ndim != 2 or values.shape[0] == 0 or values.dtype.kind not in "fiu":
            return None
        return values.astype(np.float64, copy=False)

    def teacher_predict_output(self, X):
        """The kept teacher ensemble's averaged output (probabilities or predictions).

        Only available when the model was fitted with ``keep_teachers=True``.
        """
        check_is_fitted(self)
        if not hasattr(self, "teachers_"):
            raise AttributeError(
                "The teachers were not kept. Fit with keep_teachers=True to compare the "
                "student with its teachers after fitting."
            )
        from ._teachers import FittedTeacher

        X = self._validated_rows(X, getattr(self, "table_", None))
        fitted = [FittedTeacher(name, est, cols) for (name, est), cols in
                  zip(self.named_teachers_.items(), self._teacher_columns)]
        return label_rows(fitted, X, n_outputs=self.student_.n_outputs, task=self._task,
                          weights=self.teacher_weights_,
                          fit_sparse=getattr(self, "_teacher_input_sparse", False))

    def report(self, X, y):
        """Compare the student with its teachers on held-out data.

        Returns a :class:`DistillationReport` with accuracy (or R²), log-loss, fidelity,
        calibration, sizes, latency and the rows where the two disagree most. Needs
        ``keep_teachers=True`` at fit time for the teacher side.
        """
        from ._report import build_report

        return build_report(self, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # NaN is a missing value: the teachers and the student handle it (``_table.py``).
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.sparse = True
        return tags


def has_zero_rows(X):
    """Whether ``X`` (an array, a DataFrame, a sparse matrix or a list) has zero rows.

    Examples
    --------
    >>> has_zero_rows(np.empty((0, 3))), has_zero_rows([]), has_zero_rows([[1.0]])
    (True, True, False)
    """
    shape = getattr(X, "shape", None)
    if shape is not None:
        return len(shape) > 0 and shape[0] == 0
    return hasattr(X, "__len__") and len(X) == 0


def fit_atomically(estimator, fit):
    """``fit(copy)`` on a shallow copy of ``estimator``, whose state then replaces the
    estimator's in one step; returns ``estimator``.

    A failed fit leaves the estimator as it was: nothing half-fitted. And a fit sets
    attributes early (``validate_data`` sets ``n_features_in_``, the classifier
    ``classes_``) but the student last, so a thread predicting with the estimator while
    it refits would mix the old student with the new classes. The old state dict is
    never changed, only replaced, and each prediction reads one pinned view of it
    (``_BaseDistiller._pinned``): it sees the old model or the new one, never parts of
    both.
    """
    work = object.__new__(type(estimator))  # not copy.copy: no __getstate__ (a Client)
    work.__dict__.update(estimator.__dict__)
    fit(work)
    estimator.__dict__ = work.__dict__  # one store; predict reads a pinned view of it
    return estimator


def _fit_keyed_teachers(teachers_key, fit_args, n_jobs=None, progress=None):
    """``fit_teachers_each(**fit_args)``, cached by ``memory`` under ``teachers_key``
    alone: the key is already the hash of ``fit_args``, data included, which the cache
    would otherwise hash a second time."""
    return fit_teachers_each(**fit_args, n_jobs=n_jobs, progress=progress)


def _cache_key(key_args):
    """joblib's hash of the teachers' fit arguments, the key of everything ``memory``
    caches for them; a clear error when a teacher cannot be pickled (joblib hashes by
    pickling), before any teacher is fitted."""
    import pickle

    import joblib

    try:
        return joblib.hash(key_args)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        name, est = next(((name, est) for name, est in key_args["teachers"]
                          if not _picklable(est)), (None, None))
        what = f"the teacher {name!r}" if name else "the teachers or the data"
        lost = _unreachable_main_class(est)
        if lost is not None:
            raise TypeError(
                f"memory is set, and the cache keys on the teachers by pickling them, but "
                f"{what} cannot be pickled in this process: its class {lost} is defined in "
                "__main__ (your script or notebook), and this fit runs in a worker process "
                "(n_jobs of a search or cross-validation), whose __main__ is not yours. "
                "Move the class into a module you import, run the search with n_jobs=1, "
                "or fit with memory=None."
            ) from exc
        raise TypeError(
            f"memory is set, and the cache keys on the teachers by pickling them, but "
            f"{what} cannot be pickled. Define each teacher's class at module level (not "
            f"inside a function), or fit with memory=None."
        ) from exc


def _unreachable_main_class(estimator):
    """The name of a class in ``estimator`` (or its parameters) that was defined in a
    ``__main__`` other than this process's: pickle finds classes by name, so it cannot
    find that one here. None when there is none."""
    import sys

    if estimator is None:
        return None
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    main = sys.modules.get("__main__")
    for obj in [estimator, *params.values()]:
        cls = type(obj)
        if (cls.__module__ == "__main__" and "<locals>" not in cls.__qualname__
                and getattr(main, cls.__qualname__, None) is not cls):
            return cls.__qualname__
    return None


def _picklable(obj):
    import pickle

    try:
        pickle.dumps(obj)
    except Exception:  # whatever pickling raises, the object cannot be cached
        return False
    return True


def check_hidden_layer_sizes(sizes):
    """``hidden_layer_sizes`` as a tuple of ints, or ``"auto"``; ValueError unless all
    are positive."""
    if isinstance(sizes, str) and sizes == "auto":
        return sizes
    sizes = tuple(sizes)
    if not all(isinstance(h, Integral) and h > 0 for h in sizes):
        raise ValueError(
            f"hidden_layer_sizes must be 'auto' or hold positive integers, e.g. (128, 64); "
            f"got {sizes!r}."
        )
    return tuple(int(h) for h in sizes)


def check_teacher_weights(teacher_weights):
    """``teacher_weights`` as a float array (or None); TypeError for a dict, ValueError
    for unusable values."""
    if teacher_weights is None:
        return None
    if isinstance(teacher_weights, dict):
        raise TypeError(
            "teacher_weights must be a list with one weight per teacher, in the order of "
            f"teachers; got a dict ({teacher_weights!r}). Write "
            "[weights[name] for name, _ in teachers]."
        )
    w = np.asarray(teacher_weights, dtype=np.float64).ravel()
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(
            "teacher_weights must be finite, non-negative and not all zero; "
            f"got {teacher_weights!r}."
        )
    return w


def check_weight_count(weights, teachers):
    """ValueError unless there is one weight per teacher (or no weights)."""
    if weights is not None and len(weights) != len(teachers):
        raise ValueError(
            f"teacher_weights has {len(weights)} entries but there are {len(teachers)} "
            "teachers. Give one weight per teacher, or None for equal weights."
        )


#: Fitted attributes that hold the kept teachers (``keep_teachers=True``).
TEACHER_ATTRIBUTES = ("teachers_", "named_teachers_", "_teacher_columns",
                      "_teacher_input_sparse")


def drop_teachers(model):
    """Remove the kept teachers from a fitted distiller, in place."""
    for name in TEACHER_ATTRIBUTES:
        model.__dict__.pop(name, None)
    return model


def without_teachers(model):
    """A shallow copy of a fitted distiller without its teachers: the model a user ships."""
    return drop_teachers(copy.copy(model))


#: An epoch holds as many rows as the transfer set would with this many synthetic rows per
#: real training row: a larger synthetic set is then seen a random subset per epoch, so an
#: epoch costs about what it did with 0.1.0's five, and over the epochs every row is seen.
SYNTHETIC_ROWS_PER_EPOCH = 5

#: Whether every epoch holds all real (and user-given unlabelled) rows, the synthetic rows
#: filling the rest of it; False draws the epoch uniformly from the whole transfer set.
#: Uniform follows the teachers more closely: every real row in every epoch lowered
#: fidelity on 9 of 15 tables (benchmarks/results/ablation_levers_0_7.md).
REAL_ROWS_EVERY_EPOCH = False

#: How much more a transfer row weighs where the teachers hesitate between two classes:
#: weight ``1 + BOUNDARY_EMPHASIS * (1 - margin)``, ``margin`` the gap between their two
#: most probable classes, scaled to a mean of 1. 0 weighs every transfer row alike: with 3
#: the student lost accuracy on each of 4 tables and followed its teachers no more closely
#: (benchmarks/results/ablation_levers_0_7.md, boundary_0_7).
BOUNDARY_EMPHASIS = 0.0


def _boundary_weights(target_parts, task):
    """Relative weights (mean 1) of the transfer rows whose teacher targets are
    ``target_parts`` (see :data:`BOUNDARY_EMPHASIS`)."""
    n = sum(len(part) for part in target_parts)
    if not n or not BOUNDARY_EMPHASIS or task != "classification":
        return np.ones(n)
    proba = np.sort(np.concatenate(target_parts), axis=1)
    weight = 1.0 + BOUNDARY_EMPHASIS * (1.0 - (proba[:, -1] - proba[:, -2]))
    return weight / weight.mean()


def _epoch_rows(transfer, cap=None, per_real_row=SYNTHETIC_ROWS_PER_EPOCH):
    """Rows drawn per epoch (uniformly, from the whole transfer set), or None for all.

    The count is the real and user-given rows plus at most ``per_real_row`` synthetic
    rows per real row, and at most ``cap`` (the ``epoch_rows`` parameter); the draw
    itself does not tell the kinds apart.
    """
    total = transfer.n_real + transfer.n_extra
    sliced = transfer.n_synthetic - min(transfer.n_synthetic, per_real_row * transfer.n_real)
    rows = total - sliced
    if cap is not None:
        rows = min(rows, cap)
    return rows if rows < total else None

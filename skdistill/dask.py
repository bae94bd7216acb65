"""Distillation on a Dask cluster, from data that does not fit in memory.

:class:`DaskDistilledClassifier` and :class:`DaskDistilledRegressor` take dask Arrays
and DataFrames, do every data-sized step on the cluster and hand back the same numpy
student as :class:`~skdistill.DistilledClassifier` (:meth:`~DaskDistilledClassifier.to_local`),
the way ``lightgbm.dask`` and ``xgboost.dask`` do for boosters.

The steps of a fit, and where they run:

1. The data is persisted on the workers; one pass finds the classes (or the target's
   mean and scale), the rows per partition and any non-finite value.
2. Cross-fitting by partition: every partition is assigned to one of ``cv`` folds at
   random; for each fold the teachers are fitted on the other folds' partitions.
   Dask-native boosters (``lightgbm.dask``, ``xgboost.dask``) train on the cluster;
   any other scikit-learn teacher is fitted on one worker, on a random sample of at most
   ``teacher_sample_rows`` rows of those partitions.
3. Labelling: ``map_blocks`` over each fold's partitions with that fold's teachers. The
   soft targets are persisted on the cluster next to the data: the transfer set never
   leaves it.
4. The student (the one of ``skdistill._student``, trained by the loop of
   ``skdistill._training``) trains in the client process on partitions streamed from
   the workers a few at a time, so the client holds a few partitions, never the data.
5. ``predict`` and ``predict_proba`` run the numpy student on the workers with
   ``map_blocks`` / ``map_partitions``.

dask and distributed are an optional extra: ``pip install "skdistill[dask]"``.
``import skdistill`` never imports them.
"""

import copy
import logging
import time
import warnings
from collections import deque
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._base import (
    TRAINING_PARAMETER_CONSTRAINTS,
    NamedTeachersMixin,
    check_hidden_layer_sizes,
    check_teacher_weights,
    check_weight_count,
    fit_atomically,
    warn_idle_validation_target,
)
from ._classifier import MISSING_LABELS
from ._compat import HasMethods, Interval, _fit_context
from ._regressor import poorly_scaled, target_scale
from ._serving import teacher_names
from ._student import IMPUTE_OR_REFIT, TASK_COMBINE, build_student, check_student_finite
from ._teachers import (
    FittedTeacher,
    _fit_one,
    _seeds,
    check_teachers,
    frozen_columns,
    predict_teachers,
    single_threaded,
)
from ._warnings import warn

__all__ = [
    "DaskDistilledClassifier",
    "DaskDistilledRegressor",
    "default_dask_teachers",
    "default_dask_regression_teachers",
]

logger = logging.getLogger("skdistill")

#: Held-out rows for early stopping come to the client: at most this many.
MAX_VALIDATION_ROWS = 50_000
#: Rows of the client-side sample that fits the student's input encoding (quantile bins,
#: standardization), fewer on wide tables so the sample stays under ~160 MB.
ENCODING_SAMPLE_ROWS = 100_000
_ENCODING_SAMPLE_VALUES = 20_000_000
#: Partitions mixed (concatenated and shuffled) into one stream of mini-batches, and
#: partitions computed ahead on the workers while the student trains on the current ones.
#: Together they bound the client's memory: a few partitions, whatever the data's size.
STREAM_MIX_PARTITIONS = 2
STREAM_PREFETCH_PARTITIONS = 2


def _require_dask():
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError as exc:  # pragma: no cover - the test extra installs them
        raise ImportError(
            "skdistill.dask needs dask and distributed. Install them with "
            "pip install \"skdistill[dask]\"."
        ) from exc
    return dask, da, distributed


# -- default teachers ---------------------------------------------------------------------
def default_dask_teachers(random_state=None):
    """The default teachers of :class:`DaskDistilledClassifier`: LightGBM and XGBoost on dask.

    ``lightgbm.dask.DaskLGBMClassifier`` and ``xgboost.dask.DaskXGBClassifier`` with the
    settings of the in-memory :func:`~skdistill.default_teachers`' boosters. Both train
    on the whole cluster, so the teacher phase scales with it; the in-memory ensemble's
    forests and MLP have no distributed counterpart and are left out.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds both members.

    Returns
    -------
    list of (str, estimator)
        Unfitted ``("lgbm", ...)`` and ``("xgb", ...)`` pairs.

    Examples
    --------
    >>> from skdistill.dask import default_dask_teachers
    >>> [name for name, _ in default_dask_teachers(random_state=0)]
    ['lgbm', 'xgb']
    """
    from lightgbm.dask import DaskLGBMClassifier
    from xgboost.dask import DaskXGBClassifier

    s = _seeds(random_state, 2)
    return [
        ("lgbm", DaskLGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31,
                                    subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                    random_state=s[0], verbose=-1)),
        ("xgb", DaskXGBClassifier(n_estimators=300, learning_rate=0.1, max_depth=6,
                                  subsample=0.8, colsample_bytree=0.8, tree_method="hist",
                                  random_state=s[1])),
    ]


def default_dask_regression_teachers(random_state=None):
    """The default teachers of :class:`DaskDistilledRegressor`: LightGBM and XGBoost on dask.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    list of (str, estimator)

    Examples
    --------
    >>> from skdistill.dask import default_dask_regression_teachers
    >>> [name for name, _ in default_dask_regression_teachers(random_state=0)]
    ['lgbm', 'xgb']
    """
    from lightgbm.dask import DaskLGBMRegressor
    from xgboost.dask import DaskXGBRegressor

    s = _seeds(random_state, 2)
    return [
        ("lgbm", DaskLGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31,
                                   subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                   random_state=s[0], verbose=-1)),
        ("xgb", DaskXGBRegressor(n_estimators=300, learning_rate=0.1, max_depth=6,
                                 subsample=0.8, colsample_bytree=0.8, tree_method="hist",
                                 random_state=s[1])),
    ]


def _is_dask_native(estimator):
    """Whether a teacher trains on dask collections itself (lightgbm.dask, xgboost.dask)."""
    if hasattr(estimator, "to_local"):
        return True
    module = type(estimator).__module__
    return module.startswith("xgboost.dask")


def _local_model(estimator, classification):
    """The in-memory, single-threaded model of a fitted dask-native teacher."""
    if hasattr(estimator, "to_local"):
        local = estimator.to_local()
    else:  # xgboost.dask: the booster in its in-memory scikit-learn class
        import xgboost

        local = xgboost.XGBClassifier() if classification else xgboost.XGBRegressor()
        local.load_model(bytearray(estimator.get_booster().save_raw("json")))
    # Labelling runs one task per worker thread: the model itself must not start more.
    if "n_jobs" in local.get_params():
        local.set_params(n_jobs=1)
    return local


# -- per-partition functions (run on the workers) ------------------------------------------
def _row_mask(n_rows, seed, partition, fraction):
    """A reproducible Bernoulli(fraction) choice of a partition's rows."""
    if fraction <= 0:
        return np.zeros(n_rows, dtype=bool)
    if fraction >= 1:
        return np.ones(n_rows, dtype=bool)
    return np.random.default_rng([seed, partition]).random(n_rows) < fraction


def _encode_labels(block, classes):
    return np.searchsorted(classes, block).astype(np.int64)


def _class_counts(block, n_classes):
    return np.bincount(block, minlength=n_classes)[None, :]


def _sample_part(X_block, y_block, seed, partition, fraction):
    mask = _row_mask(len(X_block), seed, partition, fraction)
    return X_block[mask], y_block[mask]


def _concat_pairs(pairs):
    return (np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))


def _fit_sampled(name, estimator, sample, classification):
    X, y = sample
    return _fit_one(name, estimator, X, y, None, classification)


def _label_block(X_block, teachers, n_outputs, task, weights):
    if len(X_block) == 0:
        return np.zeros((0, n_outputs), dtype=np.float32)
    return predict_teachers(teachers, X_block, n_outputs=n_outputs, task=task,
                            weights=weights).astype(np.float32)


def _stream_part(X_block, soft_block, y_block, seed, partition, valid_fraction, keep_valid,
                 target_scale):
    """A partition's training (or held-out) rows, as the student's arrays.

    Returns ``(X float32, teacher target, true target, weight)``; regression targets are
    standardized with ``target_scale = (mean, scale)``.
    """
    mask = _row_mask(len(X_block), seed, partition, valid_fraction)
    if not keep_valid:
        mask = ~mask
    X = np.asarray(X_block[mask], dtype=np.float32)
    target = np.asarray(soft_block[mask], dtype=np.float32)
    y = y_block[mask]
    if target_scale is None:
        y = y.astype(np.int64)
    else:
        mean, scale = target_scale
        target = ((target - mean) / scale).astype(np.float32)
        y = ((y.astype(np.float64) - mean) / scale).astype(np.float32).reshape(-1, 1)
    return X, target, y, np.ones(len(X), dtype=np.float32)


def _concat_rows(parts):
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(len(parts[0])))


def _predict_block(X_block, model, method, n_columns, dtype):
    if len(X_block) == 0:  # the estimators refuse zero rows; an empty partition is fine
        return np.zeros((0,) if n_columns is None else (0, n_columns), dtype=dtype)
    return _local_predict(model, method, X_block)


def _local_predict(model, method, X):
    """``model.method(X)``, with a NaN refusal's fix one a Dask model can use: its fit
    refuses missing values, so the local model's advice to fit on data with them would
    lead nowhere."""
    try:
        return getattr(model, method)(X)
    except ValueError as exc:
        if IMPUTE_OR_REFIT not in str(exc):
            raise
        raise ValueError(str(exc).replace(IMPUTE_OR_REFIT, (
            "impute them first (for example with fillna on the dask DataFrame); a Dask "
            "model's fit refuses missing values"))) from None


def _predict_frame(df, model, method, n_columns, dtype):
    import pandas as pd

    out = _predict_block(df, model, method, n_columns, dtype)
    if n_columns is None:
        return pd.Series(out, index=df.index)
    return pd.DataFrame(out, index=df.index, columns=[str(i) for i in range(n_columns)])


class _PartitionStream:
    """Epochs of numpy mini-batches streamed from the cluster's partitions.

    Each epoch visits the partitions in a fresh random order until about ``epoch_rows``
    rows are drawn; ``STREAM_MIX_PARTITIONS`` partitions at a time are concatenated and
    shuffled, and ``STREAM_PREFETCH_PARTITIONS`` more are computed on the workers
    meanwhile. Rows left over from one group join the next, so every batch but the
    epoch's last has ``batch_size`` rows.
    """

    def __init__(self, client, parts, part_rows, epoch_rows, batch_size, seed):
        self.client = client
        self.parts = parts
        self.part_rows = np.asarray(part_rows)
        self.epoch_rows = epoch_rows
        self.batch_size = batch_size
        self.seed = seed
        self.max_rows_held = 0  # the most rows held on the client at once, for fit_info_

    def _epoch_parts(self, rng):
        order = rng.permutation(len(self.parts))
        if self.epoch_rows is None:
            return order
        cumulative = np.cumsum(self.part_rows[order])
        n = int(np.searchsorted(cumulative, self.epoch_rows)) + 1
        return order[:n]

    def __call__(self, epoch):
        rng = np.random.default_rng([self.seed, epoch])
        queue = deque(int(i) for i in self._epoch_parts(rng))
        pending = deque()

        def submit():
            while queue and len(pending) < STREAM_MIX_PARTITIONS + STREAM_PREFETCH_PARTITIONS:
                pending.append(self.client.compute(self.parts[queue.popleft()]))

        carry = None
        submit()
        while pending:
            group = [pending.popleft().result()
                     for _ in range(min(STREAM_MIX_PARTITIONS, len(pending)))]
            submit()
            if carry is not None:
                group.append(carry)
            arrays = _concat_rows(group)
            del group
            n = len(arrays[0])
            self.max_rows_held = max(self.max_rows_held, n)
            order = rng.permutation(n)
            full = n - n % self.batch_size
            for begin in range(0, full, self.batch_size):
                idx = order[begin:begin + self.batch_size]
                yield tuple(a[idx] for a in arrays)
            carry = tuple(a[order[full:]] for a in arrays) if full < n else None
        if carry is not None and len(carry[0]):
            yield carry


def _missing(labels):
    """Where a block of object labels holds None, NaN or pd.NA."""
    import pandas as pd

    return np.asarray(pd.isna(np.asarray(labels, dtype=object)), dtype=bool)


def _without_empty_chunks(X_arr, y_arr):
    """The arrays without their empty row chunks (a filtered DataFrame's partitions):
    dask's reductions, and the per-partition steps after them, expect rows in each."""
    chunks = X_arr.chunks[0]
    kept = tuple(c for c in chunks if c)
    if len(kept) == len(chunks) or not kept:
        return X_arr, y_arr
    return X_arr.rechunk({0: kept}), y_arr.rechunk({0: kept})


# -- the shared estimator -------------------------------------------------------------------
class _BaseDaskDistiller(NamedTeachersMixin, BaseEstimator):
    """Fit on dask collections, predict with map_blocks, hand back the local model."""

    _task = None
    _local_class = None

    _parameter_constraints = {
        **TRAINING_PARAMETER_CONSTRAINTS,
        "cv": [Interval(Integral, 2, None, closed="left")],
        "teacher_sample_rows": [Interval(Integral, 1, None, closed="left")],
        "client": [None, HasMethods(["submit", "compute", "gather"])],
    }

    #: Parameters that carry over to the in-memory estimator of :meth:`to_local`.
    _LOCAL_PARAMS = (
        "teacher_weights", "cv", "alpha", "temperature", "hidden_layer_sizes", "activation",
        "dropout", "batch_size", "learning_rate", "weight_decay", "max_epochs", "epoch_rows",
        "student_time_limit", "early_stopping", "validation_fraction", "n_iter_no_change", "tol",
        "validation_target", "lr_schedule", "weight_averaging", "input_encoding", "n_bins",
        "n_frequencies", "n_members", "device", "random_state", "verbose",
    )
    #: Fitted attributes that :meth:`to_local` copies.
    _FITTED = ("student_", "classes_", "n_features_in_", "feature_names_in_", "history_",
               "n_iter_", "fit_info_", "teacher_weights_", "_y_mean", "_y_scale")

    def __getstate__(self):
        # A Client does not pickle; the fitted model does not need it.
        state = dict(self.__dict__)
        state["client"] = None
        return state

    def __sklearn_clone__(self):
        # A Client is a connection, not a setting: clone's deepcopy of the parameters
        # cannot copy one, so the clone shares it (GridSearchCV, cross_validate).
        client, self.client = self.client, None
        try:
            cloned = super().__sklearn_clone__()
        finally:
            self.client = client
        cloned.client = client
        return cloned

    # -- fit --------------------------------------------------------------------------------
    def _fit(self, X, y):
        return fit_atomically(self, lambda work: work._fit_impl(X, y))

    def _fit_impl(self, X, y):
        dask, da, distributed = _require_dask()
        client = self._get_client(distributed)
        if self.device == "cuda":
            from ._training import resolve_device

            resolve_device(self.device)  # refuse a missing GPU before the teachers
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        weights = check_teacher_weights(self.teacher_weights)
        warn_idle_validation_target(self.alpha, self.validation_target)
        data = self._check_inputs(X, y, client, da)
        names = ("teachers", "folds", "samples", "validation", "encoding", "student")
        seeds = dict(zip(names, _seeds(self.random_state, len(names))))
        teachers = self._resolve_teachers(seeds["teachers"], weights)
        folds = self._assign_folds(data, seeds["folds"])

        start = time.perf_counter()
        fold_teachers, kinds = self._fit_teachers(client, teachers, data, folds,
                                                  seeds["samples"], dask)
        soft = self._label(data, fold_teachers, folds, weights, dask, da)
        soft = client.persist(soft)
        distributed.wait(soft)
        teacher_time = time.perf_counter() - start
        del fold_teachers

        start = time.perf_counter()
        result, stream, n_valid, X_check = self._train(client, data, soft, hidden, seeds,
                                                       dask)
        student_time = time.perf_counter() - start
        student = self._finish(result["student"])
        check_student_finite(student, X_check)

        self.student_ = student
        self.n_features_in_ = data.n_features
        if data.feature_names is not None:
            self.feature_names_in_ = data.feature_names
        else:  # a refit on unnamed columns: the last fit's names no longer apply
            self.__dict__.pop("feature_names_in_", None)
        self.teacher_weights_ = weights
        self.history_ = result["history"]
        self.n_iter_ = result["n_iter"]
        self.fit_info_ = {
            "teacher_fit_seconds": teacher_time,
            "student_fit_seconds": student_time,
            "n_real_rows": int(data.n_rows - n_valid),
            "n_validation_rows": int(n_valid),
            "n_transfer_rows": 0,
            "best_epoch": result["best_epoch"],
            "stopped_by": result["stopped_by"],
            "device": result["device"],
            "n_partitions": int(data.n_partitions),
            "cv": int(self.cv),
            "teachers": kinds,
            "max_client_rows": int(stream.max_rows_held),
        }
        return self

    def _get_client(self, distributed):
        if self.client is not None:
            return self.client
        try:
            return distributed.default_client()
        except ValueError:
            raise ValueError(
                f"{type(self).__name__} runs on a dask.distributed cluster, and no Client "
                "is connected. Start one first (client = distributed.Client(...), or "
                "distributed.LocalCluster on one machine), or pass client=..."
            ) from None

    def _resolve_teachers(self, seed, weights):
        teachers = (self._default_teachers(seed) if self.teachers is None
                    else check_teachers(self.teachers, self._task))
        check_weight_count(weights, teachers)
        return teachers

    # -- inputs ------------------------------------------------------------------------------
    def _check_inputs(self, X, y, client, da):
        import dask

        classification = self._task == "classification"
        X_arr, y_arr, feature_names = _aligned_arrays(X, y, client, da, classification)
        X_arr, y_arr = _without_empty_chunks(X_arr, y_arr)
        n_rows = int(sum(X_arr.chunks[0]))
        if n_rows < 2:
            raise ValueError(f"X has {n_rows} row(s); at least 2 are needed to fit.")
        stats = [(~da.isfinite(X_arr)).sum(), abs(X_arr).max()]
        if classification:
            if y_arr.dtype == object and y_arr.map_blocks(_missing, dtype=bool).any().compute():
                # da.unique would fail on them with an unrelated TypeError.
                raise ValueError(MISSING_LABELS)
            stats.append(da.unique(y_arr))
        else:
            stats += [(~da.isfinite(y_arr)).sum(), y_arr.mean(), y_arr.std()]
        stats = dask.compute(*stats)
        _check_finite_X(nonfinite=stats[0], max_abs=stats[1])
        data = _DaskData(X=X_arr, y=y_arr, n_rows=n_rows, n_features=X_arr.shape[1],
                         feature_names=feature_names, chunks=tuple(X_arr.chunks[0]))
        if classification:
            self._set_classes(data, np.asarray(stats[2]), client)
        else:
            self._set_target_scale(data, *stats[2:])
        return data

    def _set_classes(self, data, classes, client):
        """``classes_``, and ``data``'s labels encoded as class indices with their counts
        per partition."""
        check_classification_targets(classes)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y, but y "
                f"holds only one class: {classes[0]!r}."
            )
        self.classes_ = classes
        y_enc = client.persist(data.y.map_blocks(_encode_labels, classes, dtype=np.int64))
        counts = y_enc.map_blocks(_class_counts, len(classes), new_axis=1,
                                  chunks=((1,) * data.n_partitions, (len(classes),)),
                                  dtype=np.int64).compute()
        data.y, data.n_outputs, data.class_counts = y_enc, len(classes), counts

    def _set_target_scale(self, data, nonfinite, mean, std):
        """The regression target's mean and scale, which the student learns in."""
        if nonfinite:
            raise ValueError(f"y contains {int(nonfinite)} NaN or infinite value(s).")
        std = float(std)
        self._y_mean = float(mean)
        self._y_scale, self._y_constant = target_scale(self._y_mean, std)
        if not self._y_constant and poorly_scaled(self._y_mean, self._y_scale):
            # The in-memory regressor standardizes such a target for its teachers; the
            # dask-native ones take dask collections and are not wrapped.
            warn(
                f"y has mean {self._y_mean:.6g} and standard deviation {self._y_scale:.3g}: "
                "units that tree teachers fit badly (their splits cancel far from zero, "
                "or stop below absolute gains). Standardize y before a Dask fit (for "
                "example (y - mean) / std, then the reverse on predictions).")
        # A constant target's student learns zeros, as the in-memory regressor's does.
        data.n_outputs, data.target_scale = 1, (self._y_mean, np.inf if self._y_constant
                                                else self._y_scale)

    # -- teachers ----------------------------------------------------------------------------
    def _assign_folds(self, data, seed):
        if data.n_partitions < self.cv:
            raise ValueError(
                f"cv={self.cv} folds are assigned by partition, but X has only "
                f"{data.n_partitions} partition(s). Repartition the data into at least "
                f"{self.cv} (e.g. df.repartition(npartitions=...) or X.rechunk(...)), or "
                "lower cv."
            )
        folds = np.random.RandomState(seed).permutation(data.n_partitions) % self.cv
        if data.class_counts is not None:
            for k in range(self.cv):
                present = np.flatnonzero(data.class_counts[folds != k].sum(axis=0))
                if len(present) < 2:
                    raise ValueError(
                        f"Fold {k}'s training partitions hold a single class "
                        f"({self.classes_[present].tolist()}), so no teacher can be fitted "
                        "on them. Shuffle the rows across partitions (e.g. "
                        "df.shuffle(on=...) or a random repartition) before fitting."
                    )
        return folds

    def _fit_teachers(self, client, teachers, data, folds, seed, dask):
        """Per fold, the teachers fitted without that fold's partitions."""
        classification = self._task == "classification"
        fold_teachers = [[None] * len(teachers) for _ in range(self.cv)]
        kinds = {}
        sampled = []  # (fold, teacher index, future)
        for i, (name, est) in enumerate(teachers):
            if isinstance(est, FrozenEstimator):
                kinds[name] = "prefit"
                columns = frozen_columns(name, est, self.classes_) if classification else None
                for k in range(self.cv):
                    fold_teachers[k][i] = FittedTeacher(name, est, columns)
            elif _is_dask_native(est):
                kinds[name] = "dask"
                for k in range(self.cv):
                    fold_teachers[k][i] = self._fit_dask_native(client, name, est, data,
                                                                folds, k)
            else:
                kinds[name] = "sample"
                for k in range(self.cv):
                    sample = self._teacher_sample(data, np.flatnonzero(folds != k),
                                                  seed + k, dask)
                    future = client.submit(_fit_sampled, name, single_threaded(est),
                                           client.compute(sample), classification,
                                           pure=False)
                    sampled.append((k, i, name, future))
        for k, i, name, future in sampled:
            try:
                fold_teachers[k][i] = future.result()
            except Exception as exc:
                raise _teacher_error(name, k, exc) from exc
            logger.info("[skdistill] teacher %s, fold %d/%d fitted on a worker", name, k + 1,
                        self.cv)
        return fold_teachers, kinds

    def _fit_dask_native(self, client, name, estimator, data, folds, k):
        classification = self._task == "classification"
        parts = np.flatnonzero(folds != k)
        X = data.X.blocks[parts]
        y = data.y.blocks[parts]
        columns = None
        if classification:
            # Re-encode to the classes present in these partitions (boosters insist on
            # contiguous labels 0..k-1).
            present = np.flatnonzero(data.class_counts[parts].sum(axis=0))
            if len(present) < data.n_outputs:
                y = y.map_blocks(_encode_labels, present, dtype=np.int64)
        est = clone(estimator)
        if self.client is not None:
            if "client" in est.get_params():
                est.set_params(client=self.client)
            else:
                est.client = self.client
        start = time.perf_counter()
        try:
            est.fit(X, y)
        except Exception as exc:
            raise _teacher_error(name, k, exc) from exc
        local = _local_model(est, classification)
        if classification:
            columns = present[np.asarray(local.classes_, dtype=np.intp)]
        logger.info("[skdistill] teacher %s, fold %d/%d fitted on the cluster in %.1fs", name,
                    k + 1, self.cv, time.perf_counter() - start)
        return FittedTeacher(name, local, columns)

    def _teacher_sample(self, data, parts, seed, dask):
        """A delayed ``(X, y)`` of about ``teacher_sample_rows`` random rows of ``parts``."""
        rows = int(sum(data.chunks[i] for i in parts))
        fraction = min(1.0, self.teacher_sample_rows / max(rows, 1))
        X_parts = data.X.to_delayed().ravel()
        y_parts = data.y.to_delayed().ravel()
        pairs = [dask.delayed(_sample_part, nout=2)(X_parts[i], y_parts[i], seed, int(i),
                                                     fraction)
                 for i in parts]
        return dask.delayed(_concat_pairs)(pairs)

    def _label(self, data, fold_teachers, folds, weights, dask, da):
        """The soft targets: each partition labelled by the teachers of its fold."""
        k_out = data.n_outputs
        by_fold = {}
        for k in range(self.cv):
            parts = np.flatnonzero(folds == k)
            X_k = data.X.blocks[parts]
            teachers = dask.delayed(fold_teachers[k], traverse=False)
            by_fold[k] = (parts, X_k.map_blocks(
                _label_block, teachers, k_out, self._task, weights, dtype=np.float32,
                chunks=(X_k.chunks[0], (k_out,)), meta=np.empty((0, k_out), np.float32)))
        blocks = []
        position = {int(p): (k, j) for k, (parts, _) in by_fold.items()
                    for j, p in enumerate(parts)}
        for i in range(data.n_partitions):
            k, j = position[i]
            blocks.append(by_fold[k][1].blocks[j])
        return da.concatenate(blocks, axis=0)

    # -- the student -------------------------------------------------------------------------
    def _train(self, client, data, soft, hidden, seeds, dask):
        from ._progress import train_with_progress
        from ._training import train_student_stream

        valid_fraction = 0.0
        if self.early_stopping:
            valid_fraction = min(self.validation_fraction, MAX_VALIDATION_ROWS / data.n_rows)
        X_parts = data.X.to_delayed().ravel()
        s_parts = soft.to_delayed().ravel()
        y_parts = data.y.to_delayed().ravel()
        scale = data.target_scale

        def part(i, keep_valid):
            return dask.delayed(_stream_part, pure=True)(
                X_parts[i], s_parts[i], y_parts[i], seeds["validation"], i, valid_fraction,
                keep_valid, scale)

        valid = None
        if valid_fraction > 0:
            valid = client.compute(dask.delayed(_concat_rows)(
                [part(i, True) for i in range(data.n_partitions)])).result()
            if len(valid[0]) == 0:
                valid = None
        n_valid = 0 if valid is None else len(valid[0])
        stream = _PartitionStream(
            client, [part(i, False) for i in range(data.n_partitions)],
            [round(c * (1 - valid_fraction)) for c in data.chunks], self.epoch_rows,
            self.batch_size, seeds["student"])

        # The encoding (standardization, quantile bins) is fitted on a random sample.
        n_sample = min(ENCODING_SAMPLE_ROWS, max(1000, _ENCODING_SAMPLE_VALUES
                                                 // max(data.n_features, 1)))
        fraction = min(1.0, n_sample / data.n_rows)
        X_sample = client.compute(dask.delayed(_concat_pairs)([
            dask.delayed(_sample_part, nout=2)(X_parts[i], y_parts[i], seeds["encoding"], i,
                                                fraction)
            for i in range(data.n_partitions)])).result()[0]
        if len(X_sample) < 2:
            X_sample = client.compute(X_parts[0]).result()
        student = build_student(
            X_sample, data.n_outputs, hidden, activation=self.activation,
            input_encoding=self.input_encoding, n_bins=self.n_bins,
            n_frequencies=self.n_frequencies, n_members=self.n_members,
            combine=TASK_COMBINE[self._task],
            random_state=seeds["student"])
        start_rows = valid if valid is not None else next(iter(stream(0)))
        start_rows = tuple(a[:4 * self.batch_size] for a in start_rows)
        result = train_with_progress(
            train_student_stream, student, stream, start_rows,
            *((valid[0], valid[2], valid[3], valid[1] if self.alpha > 0 else None)
              if valid is not None else ()),
            task=self._task, dropout=self.dropout, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, max_epochs=self.max_epochs,
            n_iter_no_change=self.n_iter_no_change, tol=self.tol, alpha=self.alpha,
            validation_target=self.validation_target, lr_schedule=self.lr_schedule,
            weight_averaging=self.weight_averaging, time_limit=self.student_time_limit,
            device=self.device, seed=seeds["student"], verbose=self.verbose,
            **self._loss_params(),
        )
        return result, stream, n_valid, X_sample[:1000]

    def _finish(self, student):
        """The trained network as the model keeps it (the regressor folds its target scale)."""
        return student

    def _loss_params(self):
        return {}

    # -- the local model and predict ---------------------------------------------------------
    def to_local(self):
        """The in-memory estimator with this model's student, for save, ONNX and serving.

        Returns
        -------
        DistilledClassifier or DistilledRegressor
            A fitted model that predicts exactly as this one does, with numpy alone. It
            has no teachers: its ``teachers`` parameter holds their names, so that its
            ``fit`` is refused (as a serving copy's is) until teachers are set again, or
            None for the default ensemble (a refit then uses the in-memory one).
            ``skdistill.save``, ``to_onnx`` and ``serving`` take it as they take any
            fitted distiller.
        """
        check_is_fitted(self)
        local = self._local_model(copy.deepcopy)
        local.teachers = teacher_names(self.teachers)
        return local

    def _local_model(self, take):
        """The local model, its fitted attributes passed through ``take`` (a copy, or not)."""
        params = self.get_params(deep=False)
        local_params = self._local_class().get_params(deep=False)
        local = self._local_class(**{k: params[k] for k in self._LOCAL_PARAMS
                                     if k in params and k in local_params})
        for name in self._FITTED:
            if name in self.__dict__:
                setattr(local, name, take(self.__dict__[name]))
        return local

    def __sklearn_is_fitted__(self):
        return hasattr(self, "student_")

    def _map_predict(self, X, method, n_columns, dtype):
        """Run the local model's ``method`` on every partition of a dask collection.

        Anything else (numpy, pandas) is predicted in memory, as the local model does.
        """
        check_is_fitted(self)
        # Predicting only reads the fitted attributes: share them rather than copy them
        # on every call.
        local = self._local_model(lambda value: value)
        dask, da, _ = _require_dask()
        if not dask.is_dask_collection(X):
            return _local_predict(local, method, X)
        model = dask.delayed(local, traverse=False)
        if hasattr(X, "map_partitions") and hasattr(X, "columns"):  # a dask DataFrame
            import pandas as pd

            meta = (pd.Series(np.zeros(0, dtype=dtype)) if n_columns is None else
                    pd.DataFrame({str(i): np.zeros(0, dtype=dtype) for i in range(n_columns)}))
            return X.map_partitions(_predict_frame, model, method, n_columns, dtype,
                                    meta=meta).to_dask_array()
        if not isinstance(X, da.Array) or X.ndim != 2:
            raise TypeError(
                f"{method} takes a 2-D dask Array or a dask DataFrame (or in-memory data); "
                f"got {type(X).__name__}."
            )
        X = X.rechunk({1: -1})
        if n_columns is None:
            return X.map_blocks(_predict_block, model, method, None, dtype, drop_axis=1,
                                dtype=dtype, meta=np.empty((0,), dtype=dtype))
        return X.map_blocks(_predict_block, model, method, n_columns, dtype, dtype=dtype,
                            chunks=(X.chunks[0], (n_columns,)),
                            meta=np.empty((0, n_columns), dtype=dtype))


class _DaskData:
    """The validated, persisted inputs of one fit."""

    def __init__(self, X, y, n_rows, n_features, feature_names, chunks):
        self.X, self.y = X, y
        self.n_rows, self.n_features = n_rows, n_features
        self.feature_names = feature_names
        self.chunks = chunks
        self.n_partitions = len(chunks)
        self.n_outputs = None
        self.class_counts = None
        self.target_scale = None


def _aligned_arrays(X, y, client, da, classification):
    """``(X, y, feature_names)`` as persisted dask arrays with known partition sizes,
    split into the same partitions row for row."""
    X_arr, feature_names = _as_dask_matrix(X, da)
    y_arr = _as_dask_vector(y, da, numeric=not classification)
    X_arr, y_arr = client.persist([X_arr, y_arr])
    if any(np.isnan(c) for c in X_arr.chunks[0]):
        X_arr.compute_chunk_sizes()
    if any(np.isnan(c) for c in y_arr.chunks[0]):
        y_arr.compute_chunk_sizes()
    if tuple(X_arr.chunks[0]) != tuple(y_arr.chunks[0]):
        raise ValueError(
            "X and y must be split into the same partitions, row for row; got "
            f"{len(X_arr.chunks[0])} partitions of X with rows {X_arr.chunks[0][:5]}... and "
            f"{len(y_arr.chunks[0])} of y with rows {y_arr.chunks[0][:5]}.... Take both "
            "from one dask DataFrame (X = df[features], y = df[target]) or give them "
            "the same chunks."
        )
    return X_arr, y_arr, feature_names


def _paired(pred, y):
    """Predictions and targets in the same chunks, for ``score``: a DataFrame's
    predictions, or a Series' values, come with unknown chunk sizes."""
    for arr in (pred, y):
        if any(np.isnan(c) for c in arr.chunks[0]):
            arr.compute_chunk_sizes()
    if sum(pred.chunks[0]) != sum(y.chunks[0]):
        raise ValueError(f"X has {sum(pred.chunks[0])} rows but y has {sum(y.chunks[0])}.")
    return pred, y.rechunk({0: pred.chunks[0]})


def _check_finite_X(nonfinite, max_abs):
    """Refuse inputs with NaN or infinite values, or values beyond float32's range."""
    from ._student import FLOAT32_MAX

    if nonfinite:
        raise ValueError(
            f"X contains {int(nonfinite)} NaN or infinite value(s). The teachers and the "
            "student need finite inputs: impute them (e.g. with fillna on the dask "
            "DataFrame) before fitting."
        )
    if float(max_abs) > FLOAT32_MAX:
        raise ValueError(
            f"X has values beyond float32's range (|x| > {FLOAT32_MAX:.3g}). The student "
            "computes in float32: rescale those columns."
        )


def _as_dask_matrix(X, da):
    """X as a float dask Array with one chunk across columns, and its column names."""
    import dask

    feature_names = None
    if dask.is_dask_collection(X) and hasattr(X, "columns") and hasattr(X, "to_dask_array"):
        from pandas.api.types import is_numeric_dtype

        bad = [str(c) for c, t in X.dtypes.items() if not is_numeric_dtype(t)]
        if bad:
            raise TypeError(
                f"X has non-numeric columns {bad[:10]}. Encode them as numbers (e.g. "
                "categorize() then .cat.codes) before distilling."
            )
        columns = list(X.columns)
        if columns and all(isinstance(c, str) for c in columns):
            feature_names = np.asarray(columns, dtype=object)
        kinds = set(X.dtypes)
        if not (len(kinds) == 1 and kinds <= {np.dtype(np.float32), np.dtype(np.float64)}):
            # Mixed kinds, or nullable and Arrow ones (Int64, Float64, double[pyarrow]),
            # would make an object array: floats, with NaN where a value is missing.
            X = X.astype(np.float64)
        X = X.to_dask_array()
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X must be a dask Array or dask DataFrame; got {type(X).__name__}. Wrap "
            "in-memory data with dask.array.from_array(X, chunks=...) or "
            "dask.dataframe.from_pandas(df, npartitions=...), or use the in-memory "
            "DistilledClassifier / DistilledRegressor."
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features); got {X.ndim} dimension(s).")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric; got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X.rechunk({1: -1}), feature_names


def _as_dask_vector(y, da, numeric):
    import dask

    if dask.is_dask_collection(y) and hasattr(y, "to_dask_array"):
        if y.ndim == 2:  # a one-column dask DataFrame
            if len(y.columns) != 1:
                raise ValueError(f"y must be a single column; got {len(y.columns)}.")
            y = y[y.columns[0]]
        from pandas.api.types import is_numeric_dtype

        if is_numeric_dtype(y.dtype) and not isinstance(y.dtype, np.dtype):
            y = y.astype(np.float64)  # Int64, boolean, double[pyarrow]: not an object array
        with warnings.catch_warnings():
            # String labels become an object array, which the label encoding handles.
            warnings.filterwarnings("ignore", message=".*extension dtypes to arrays",
                                    category=UserWarning)
            y = y.to_dask_array()
    if not isinstance(y, da.Array):
        raise TypeError(
            f"y must be a dask Array or Series with the same partitions as X; got "
            f"{type(y).__name__}."
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y.shape}. Fit one model per target.")
    if numeric:
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must be numeric for regression; got dtype {y.dtype}.")
        y = y.astype(np.float64)
    return y


def _teacher_error(name, fold, exc):
    """The error of a failed teacher fit, naming the teacher, the fold and the likely cause."""
    if type(exc).__name__ == "KilledWorker":
        return RuntimeError(
            f"Teacher {name!r} (fold {fold}) could not be fitted: the dask workers running it "
            f"died too often (distributed.KilledWorker: {exc}). The usual cause is memory: "
            "lower teacher_sample_rows, or give the workers more memory. The model was not "
            "changed."
        )
    return RuntimeError(
        f"Teacher {name!r} (fold {fold}) failed to fit on the cluster: "
        f"{type(exc).__name__}: {exc}. The model was not changed."
    )


class DaskDistilledClassifier(ClassifierMixin, _BaseDaskDistiller):
    """Distill a teacher ensemble on a Dask cluster into a small MLP classifier.

    The dask counterpart of :class:`~skdistill.DistilledClassifier`: it takes dask Arrays
    and DataFrames, fits the teachers and labels the rows on the cluster, trains the
    student on partitions streamed from the workers, and gives back the in-memory
    model with :meth:`to_local`. See the "Scaling out" page of the user guide.

    Parameters
    ----------
    teachers : list of (str, estimator) or None, default=None
        The teacher ensemble. ``None`` uses :func:`default_dask_teachers`:
        LightGBM and XGBoost trained on the cluster. A member with a dask-native
        ``fit`` (``lightgbm.dask``, ``xgboost.dask``, or any estimator with
        ``to_local()``) trains on the cluster;
        any other scikit-learn estimator is fitted on one worker, on a random sample of
        ``teacher_sample_rows`` rows of its folds; a
        :class:`sklearn.frozen.FrozenEstimator` is used as it is.
    teacher_weights : array-like of shape (n_teachers,) or None, default=None
    cv : int, default=2
        Folds for the soft targets. Each partition is assigned to one fold at random
        (reproducibly for a fixed ``random_state`` and partitioning); each fold is
        labelled by teachers fitted on the other folds. Two folds cost two fits per
        teacher, each on half the data.
    teacher_sample_rows : int, default=100_000
        Rows a scikit-learn (not dask-native) teacher is fitted on, per fold: a random
        sample that must fit one worker's memory.
    alpha : float, default=0.5
        Weight of the distillation term; see :class:`~skdistill.DistilledClassifier`.
        This estimator keeps the in-memory classifier's defaults from before 0.4
        (``alpha=0.5``, ``temperature=2.0``, ``n_iter_no_change=10``): 0.4 chose its new
        ones on tables of at most 3,000 training rows. With 250,000-row epochs they were
        measured on the in-memory classifier at 1,000,000 rows
        (``benchmarks/results/scale.md``), not on this estimator, whose teachers and
        transfer set differ.
    temperature : float, default=2.0
        Softening temperature of the distillation term.
    hidden_layer_sizes : tuple of int, default=(128, 64)
    activation : {"relu", "tanh", "gelu", "silu"}, default="relu"
    dropout : float, default=0.0
    batch_size : int, default=256
    learning_rate : float, default=3e-3
    weight_decay : float, default=1e-4
    max_epochs : int, default=200
    epoch_rows : int or None, default=250_000
        Rows per epoch: each epoch streams a fresh random set of partitions holding
        about this many rows (all of them with None), so an epoch's cost does not grow
        with the data and early stopping looks often enough.
    student_time_limit : float or None, default=None
        Seconds the student's training may take; see
        :class:`skdistill.DistilledClassifier`.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows (at most 50,000, drawn from every
        partition), score them after every epoch and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    validation_target : {"labels", "teachers"}, default="labels"
    lr_schedule : {"plateau", "cosine"}, default="plateau"
    weight_averaging : {"ema", "none"}, default="none"
        ``"ema"`` validates and keeps a moving average of the weights; see
        :class:`skdistill.DistilledClassifier`.
    input_encoding : {"standard", "piecewise_linear", "periodic"}, default="piecewise_linear"
        Fitted on a random sample of at most 100,000 rows.
    n_bins : int, default=16
    n_frequencies : int, default=8
    n_members : int, default=1
        Members of the student's packed ensemble; see :class:`skdistill.DistilledClassifier`.
    client : distributed.Client or None, default=None
        The cluster to use; None uses the default client (the last one created).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the student trains (in the client process).
    random_state : int, RandomState instance or None, default=None
        Seeds the default teachers, the fold of each partition, the samples, the
        validation rows and the student.
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X was a DataFrame with string column names.
    student_ : MLPStudent
    history_ : list of dict
    n_iter_ : int
    fit_info_ : dict
        Timings, row counts, the number of partitions, how each teacher was fitted
        (``"dask"``, ``"sample"`` or ``"prefit"``), what ended the student's training
        (``stopped_by``) and ``max_client_rows``, the most training rows the client
        held at once.
    teacher_weights_ : ndarray or None

    See Also
    --------
    skdistill.DistilledClassifier : The same distillation in memory.

    Notes
    -----
    ``fit`` takes no ``sample_weight``. The data is persisted on the workers for the
    fit, and workers need skdistill installed. Dask-native boosters train in data-parallel
    mode, so their models may depend on which worker holds which partition: a fit is
    reproducible for a fixed ``random_state`` and partitioning when the teachers are
    scikit-learn estimators, and up to the boosters' own distributed training otherwise.

    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skdistill.dask import DaskDistilledClassifier
    >>> cluster = LocalCluster(n_workers=2, processes=False, dashboard_address=None)
    >>> client = Client(cluster)
    >>> X, y = make_classification(n_samples=2000, n_features=8, random_state=0)
    >>> X, y = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    >>> model = DaskDistilledClassifier(
    ...     teachers=[("rf", RandomForestClassifier(n_estimators=20, random_state=0))],
    ...     max_epochs=5, random_state=0,
    ... ).fit(X, y)
    >>> model.predict(X).compute().shape
    (2000,)
    >>> local = model.to_local()  # a DistilledClassifier: save, to_onnx, serving
    >>> bool((local.predict(X[:5].compute()) == model.predict(X[:5]).compute()).all())
    True
    >>> client.close(); cluster.close()
    """

    _task = "classification"
    _default_teachers_function = "default_dask_teachers"

    _parameter_constraints = {
        **_BaseDaskDistiller._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, teachers=None, teacher_weights=None, cv=2,
                 teacher_sample_rows=100_000, temperature=2.0, alpha=0.5,
                 hidden_layer_sizes=(128, 64), activation="relu", dropout=0.0,
                 batch_size=256, learning_rate=3e-3, weight_decay=1e-4, max_epochs=200,
                 epoch_rows=250_000, student_time_limit=None, early_stopping=True,
                 validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, validation_target="labels",
                 lr_schedule="plateau", weight_averaging="none",
                 input_encoding="piecewise_linear", n_bins=16, n_frequencies=8, n_members=1,
                 client=None, device="auto", random_state=None, verbose=0):
        self.teachers = teachers
        self.teacher_weights = teacher_weights
        self.cv = cv
        self.teacher_sample_rows = teacher_sample_rows
        self.temperature = temperature
        self.alpha = alpha
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.epoch_rows = epoch_rows
        self.student_time_limit = student_time_limit
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_target = validation_target
        self.lr_schedule = lr_schedule
        self.weight_averaging = weight_averaging
        self.input_encoding = input_encoding
        self.n_bins = n_bins
        self.n_frequencies = n_frequencies
        self.n_members = n_members
        self.client = client
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _local_class(self):
        from ._classifier import DistilledClassifier

        return DistilledClassifier

    def _default_teachers(self, seed):
        return default_dask_teachers(random_state=seed)

    def _loss_params(self):
        return {"temperature": self.temperature}

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the teachers on the cluster, then stream the transfer set to the student.

        Parameters
        ----------
        X : dask Array of shape (n_samples, n_features) or dask DataFrame
            Numeric and finite, split into at least ``cv`` partitions.
        y : dask Array or dask Series of shape (n_samples,)
            Class labels, with the same partitions as X.

        Returns
        -------
        self : DaskDistilledClassifier
        """
        return self._fit(X, y)

    def predict_proba(self, X):
        """Class probabilities of the student, computed partition by partition.

        Parameters
        ----------
        X : dask Array, dask DataFrame, or in-memory array-like

        Returns
        -------
        dask Array of shape (n_samples, n_classes), float64
            A numpy array for in-memory input.
        """
        check_is_fitted(self)  # before classes_ is read for the output width
        return self._map_predict(X, "predict_proba", len(self.classes_), np.float64)

    def predict(self, X):
        """Predicted class labels, computed partition by partition.

        Parameters
        ----------
        X : dask Array, dask DataFrame, or in-memory array-like

        Returns
        -------
        dask Array of shape (n_samples,)
            A numpy array for in-memory input.
        """
        check_is_fitted(self)  # before classes_ is read for the output dtype
        return self._map_predict(X, "predict", None, self.classes_.dtype)

    def score(self, X, y, sample_weight=None):
        """Accuracy on ``(X, y)``, computed on the cluster for dask inputs."""
        dask, da, _ = _require_dask()
        if not dask.is_dask_collection(X):
            return super().score(X, y, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError("score on dask collections takes no sample_weight.")
        pred, y = _paired(self.predict(X), _as_dask_vector(y, da, numeric=False))
        return float((pred == y).mean().compute())


class DaskDistilledRegressor(RegressorMixin, _BaseDaskDistiller):
    """Distill a regression ensemble on a Dask cluster into a small MLP regressor.

    The dask counterpart of :class:`~skdistill.DistilledRegressor`; see
    :class:`DaskDistilledClassifier` for how a fit runs.

    Parameters
    ----------
    teachers : list of (str, estimator) or None, default=None
        The teacher ensemble. ``None`` uses :func:`default_dask_regression_teachers`:
        LightGBM and XGBoost trained on the cluster. A member with a dask-native
        ``fit`` (``lightgbm.dask``, ``xgboost.dask``, or any estimator with
        ``to_local()``) trains on the cluster;
        any other scikit-learn estimator is fitted on one worker, on a random sample of
        ``teacher_sample_rows`` rows of its folds; a
        :class:`sklearn.frozen.FrozenEstimator` is used as it is.
    teacher_weights : array-like of shape (n_teachers,) or None, default=None
    cv : int, default=2
        Folds for the soft targets. Each partition is assigned to one fold at random
        (reproducibly for a fixed ``random_state`` and partitioning); each fold is
        labelled by teachers fitted on the other folds. Two folds cost two fits per
        teacher, each on half the data.
    teacher_sample_rows : int, default=100_000
        Rows a scikit-learn (not dask-native) teacher is fitted on, per fold: a random
        sample that must fit one worker's memory.
    alpha : float, default=0.9
        Weight of the teacher term; see :class:`~skdistill.DistilledRegressor`.
    hidden_layer_sizes : tuple of int, default=(128, 64)
    activation : {"relu", "tanh", "gelu", "silu"}, default="relu"
    dropout : float, default=0.0
    batch_size : int, default=256
    learning_rate : float, default=3e-3
    weight_decay : float, default=1e-4
    max_epochs : int, default=200
    epoch_rows : int or None, default=250_000
        Rows per epoch: each epoch streams a fresh random set of partitions holding
        about this many rows (all of them with None), so an epoch's cost does not grow
        with the data and early stopping looks often enough.
    student_time_limit : float or None, default=None
        Seconds the student's training may take; see
        :class:`skdistill.DistilledClassifier`.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows (at most 50,000, drawn from every
        partition), score them after every epoch and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    validation_target : {"labels", "teachers"}, default="labels"
    lr_schedule : {"plateau", "cosine"}, default="plateau"
    weight_averaging : {"ema", "none"}, default="none"
        ``"ema"`` validates and keeps a moving average of the weights; see
        :class:`skdistill.DistilledClassifier`.
    input_encoding : {"standard", "piecewise_linear", "periodic"}, default="piecewise_linear"
        Fitted on a random sample of at most 100,000 rows.
    n_bins : int, default=16
    n_frequencies : int, default=8
    n_members : int, default=1
        Members of the student's packed ensemble; see :class:`skdistill.DistilledClassifier`.
    client : distributed.Client or None, default=None
        The cluster to use; None uses the default client (the last one created).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the student trains (in the client process).
    random_state : int, RandomState instance or None, default=None
        Seeds the default teachers, the fold of each partition, the samples, the
        validation rows and the student.
    verbose : int, default=0

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    student_ : MLPStudent
        Its output is in target units.
    history_ : list of dict
    n_iter_ : int
    fit_info_ : dict
    teacher_weights_ : ndarray or None

    See Also
    --------
    skdistill.DistilledRegressor : The same distillation in memory.

    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from skdistill.dask import DaskDistilledRegressor
    >>> cluster = LocalCluster(n_workers=2, processes=False, dashboard_address=None)
    >>> client = Client(cluster)
    >>> X, y = make_regression(n_samples=2000, n_features=6, noise=1.0, random_state=0)
    >>> X, y = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    >>> model = DaskDistilledRegressor(teachers=[("ridge", Ridge())], max_epochs=5,
    ...                                random_state=0).fit(X, y)
    >>> model.predict(X).compute().shape
    (2000,)
    >>> type(model.to_local()).__name__
    'DistilledRegressor'
    >>> client.close(); cluster.close()
    """

    _task = "regression"
    _default_teachers_function = "default_dask_regression_teachers"

    def __init__(self, *, teachers=None, teacher_weights=None, cv=2,
                 teacher_sample_rows=100_000, alpha=0.9, hidden_layer_sizes=(128, 64),
                 activation="relu", dropout=0.0, batch_size=256, learning_rate=3e-3,
                 weight_decay=1e-4, max_epochs=200, epoch_rows=250_000,
                 student_time_limit=None, early_stopping=True, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4,
                 validation_target="labels", lr_schedule="plateau", weight_averaging="none",
                 input_encoding="piecewise_linear", n_bins=16, n_frequencies=8, n_members=1,
                 client=None, device="auto", random_state=None, verbose=0):
        self.teachers = teachers
        self.teacher_weights = teacher_weights
        self.cv = cv
        self.teacher_sample_rows = teacher_sample_rows
        self.alpha = alpha
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.epoch_rows = epoch_rows
        self.student_time_limit = student_time_limit
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_target = validation_target
        self.lr_schedule = lr_schedule
        self.weight_averaging = weight_averaging
        self.input_encoding = input_encoding
        self.n_bins = n_bins
        self.n_frequencies = n_frequencies
        self.n_members = n_members
        self.client = client
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _local_class(self):
        from ._regressor import DistilledRegressor

        return DistilledRegressor

    def _default_teachers(self, seed):
        return default_dask_regression_teachers(random_state=seed)

    def _finish(self, student):
        # The in-memory regressor folds the target scale into the last layer; use its code.
        local = self._local_class()
        local._y_mean, local._y_scale = self._y_mean, self._y_scale
        local._y_constant = self._y_constant
        return local._finish_student(student)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the teachers on the cluster, then stream the transfer set to the student.

        Parameters
        ----------
        X : dask Array of shape (n_samples, n_features) or dask DataFrame
        y : dask Array or dask Series of shape (n_samples,)
            A single continuous target, with the same partitions as X.

        Returns
        -------
        self : DaskDistilledRegressor
        """
        return self._fit(X, y)

    def predict(self, X):
        """Predictions of the student, computed partition by partition.

        Parameters
        ----------
        X : dask Array, dask DataFrame, or in-memory array-like

        Returns
        -------
        dask Array of shape (n_samples,), float64
            A numpy array for in-memory input.
        """
        return self._map_predict(X, "predict", None, np.float64)

    def score(self, X, y, sample_weight=None):
        """R² on ``(X, y)``, computed on the cluster for dask inputs."""
        dask, da, _ = _require_dask()
        if not dask.is_dask_collection(X):
            return super().score(X, y, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError("score on dask collections takes no sample_weight.")
        pred, y = _paired(self.predict(X), _as_dask_vector(y, da, numeric=True))
        residual, total = dask.compute(((y - pred) ** 2).sum(),
                                       ((y - y.mean()) ** 2).sum())
        return float(1.0 - residual / total) if total > 0 else 0.0

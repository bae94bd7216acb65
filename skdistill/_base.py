"""The one distillation pipeline that the classifier and the regressor share.

Order of work in ``fit``: validate, fit the teachers and collect their soft targets,
extend the transfer set (unlabeled and synthetic rows labelled by the teachers), then
train the student. The estimator classes only say how their targets are encoded and
how the student's raw output becomes a prediction.
"""

import copy
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, check_memory, validate_data

from ._compat import HasMethods, Interval, StrOptions, _check_sample_weight
from ._student import ACTIVATIONS, MLPStudent
from ._teachers import (
    SOFT_TARGET_METHODS,
    _seeds,
    check_teachers,
    fit_teachers,
    predict_teachers,
)

_MAX_SEED = np.iinfo(np.int32).max

# Float inputs stay in their own precision; anything else becomes float64.
_FLOAT_DTYPES = [np.float64, np.float32]
_FAST_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


class _BaseDistiller(BaseEstimator):
    """Shared fit and predict machinery. Not part of the public API."""

    _task = None  # "classification" or "regression", set by subclasses

    _parameter_constraints = {
        "teachers": [list, None],
        "teacher_weights": ["array-like", None],
        "soft_targets": [StrOptions(set(SOFT_TARGET_METHODS))],
        "cv": [Interval(Integral, 2, None, closed="left"), HasMethods(["split", "get_n_splits"])],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "augmentation": [StrOptions({"munge", "auto"}), None],
        "augment_factor": [Interval(Real, 0, None, closed="left")],
        "munge_p": [Interval(Real, 0, 1, closed="both")],
        "munge_s": [Interval(Real, 0, None, closed="neither")],
        "max_augment_rows": [Interval(Integral, 0, None, closed="left")],
        "categorical_features": ["array-like", None],
        "memory": [None, str, HasMethods(["cache"])],
        "keep_teachers": ["boolean"],
        "n_jobs": [Integral, None],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- nested parameters: teachers__<name> and teachers__<name>__<param> ----------------
    # VotingClassifier exposes members as <name>__<param>; here they live under the
    # teachers__ prefix so that they can never clash with the distiller's own parameters.
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
                        "teachers=None, pass teachers=default_teachers() to tune its members."
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

    # -- hooks the subclasses fill in ---------------------------------------------------
    def _default_teachers(self, random_state):
        raise NotImplementedError

    def _encode_target(self, y):
        """Return (encoded y for teachers, n_outputs) and set target attributes."""
        raise NotImplementedError

    def _student_targets(self, soft_targets, y_enc):
        """Arrays the training loop consumes: (teacher targets, true targets)."""
        raise NotImplementedError

    def _finish_student(self, coefs, intercepts):
        """Last chance to change the trained weights (the regressor folds its target scale)."""
        return coefs, intercepts

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, X_unlabeled=None):
        # A failed fit must leave the estimator exactly as it was: validate_data already
        # sets n_features_in_ early, so snapshot the whole state and put it back.
        previous_state = dict(self.__dict__)
        try:
            return self._fit_impl(X, y, sample_weight, X_unlabeled)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            raise

    def _fit_impl(self, X, y, sample_weight, X_unlabeled):
        regression = self._task == "regression"
        X, y = validate_data(
            self, X, y, reset=True, dtype=_FLOAT_DTYPES,
            # ensure_all_finite=True: teachers and the student cannot use NaN; sklearn's
            # message points users to SimpleImputer in a Pipeline.
            ensure_all_finite=True, y_numeric=regression,
        )
        y_enc, n_outputs = self._encode_target(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        if self.device == "cuda":
            # Refuse a missing GPU before the (long) teacher fits, not after them.
            from ._training import resolve_device

            resolve_device(self.device)
        hidden = self._check_hidden_layer_sizes()
        weights = self._check_teacher_weights()
        categorical = self._categorical_mask(X.shape[1])

        # _seeds draws from a fresh generator for random_state=None, so that the user's
        # global np.random stream is not advanced by fitting.
        teacher_seed, split_seed, valid_seed, augment_seed, torch_seed = _seeds(
            self.random_state, 5)
        teachers = (
            self._default_teachers(teacher_seed) if self.teachers is None
            else check_teachers(self.teachers, self._task)
        )
        if weights is not None and len(weights) != len(teachers):
            raise ValueError(
                f"teacher_weights has {len(weights)} entries but there are {len(teachers)} "
                "teachers. Give one weight per teacher, or None for equal weights."
            )
        if sample_weight is not None:
            self._warn_unweighted_teachers(teachers)

        X_extra_given = None
        if X_unlabeled is not None:
            X_extra_given = validate_data(self, X_unlabeled, reset=False, dtype=_FLOAT_DTYPES)
        augment = self._augmentation_enabled(X.shape[0])
        needs_teachers = self.keep_teachers or augment or X_extra_given is not None

        # 1. Teachers and their soft targets (cached on disk when memory is set).
        start = time.perf_counter()
        if self.alpha == 0 and not needs_teachers:
            # alpha=0 is the hard-label baseline: no teacher output is used, so none is fitted.
            fitted, soft = None, np.zeros((X.shape[0], n_outputs))
        else:
            if self.memory is not None and self.random_state is None:
                warnings.warn(
                    "memory is set but random_state=None: teacher seeds and folds are "
                    "redrawn on every fit, so cached teachers are never reused. Set "
                    "random_state to an int.", UserWarning, stacklevel=4,
                )
            fit_fn = check_memory(self.memory).cache(fit_teachers, ignore=["n_jobs", "progress"])
            fitted, soft = fit_fn(
                teachers, X, y_enc, sample_weight, n_outputs=n_outputs, task=self._task,
                method=self.soft_targets, cv=self.cv, refit=needs_teachers,
                random_state=split_seed, n_jobs=self.n_jobs, weights=weights,
                classes=getattr(self, "classes_", None),
                progress=self._progress_printer("teachers") if self.verbose else None,
            )
        teacher_time = time.perf_counter() - start

        # 2. Hold out labelled rows for early stopping before any row is synthesized
        # from them, so the validation score stays honest.
        train_idx, valid_idx = self._validation_split(y_enc, valid_seed)
        teacher_target, true_target = self._student_targets(soft, y_enc)
        w = np.ones(X.shape[0]) if sample_weight is None else sample_weight

        # 3. The transfer set: real training rows, then unlabeled and synthetic rows
        # that carry the teachers' targets and no true label.
        X_parts = [X[train_idx]]
        extra = []
        if X_extra_given is not None and len(X_extra_given):
            extra.append(X_extra_given)
        if augment:
            synthetic = self._synthesize(X[train_idx], categorical, augment_seed)
            if len(synthetic):  # teachers' predict_proba refuses zero rows
                extra.append(synthetic)
        n_extra = 0
        target_parts = [teacher_target[train_idx]]
        if extra:
            X_extra = np.vstack(extra).astype(X.dtype, copy=False)
            n_extra = X_extra.shape[0]
            extra_soft = predict_teachers(fitted, X_extra, n_outputs=n_outputs,
                                          task=self._task, weights=weights)
            X_parts.append(X_extra)
            target_parts.append(self._student_targets(extra_soft, None)[0])
        X_train = np.vstack(X_parts) if n_extra else X_parts[0]
        n_real = len(train_idx)
        labeled = np.concatenate([np.ones(n_real, bool), np.zeros(n_extra, bool)])
        y_train = true_target[train_idx]
        if n_extra:
            filler = np.zeros((n_extra,) + y_train.shape[1:], dtype=y_train.dtype)
            y_train = np.concatenate([y_train, filler])
        # Transfer rows weigh as much as an average real row.
        w_train = np.concatenate([w[train_idx], np.full(n_extra, w[train_idx].mean())])

        # 4. The student, on inputs standardized with statistics of the real rows.
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[~(scale > 1e-12)] = 1.0
        standardize = lambda A: ((A - mean) / scale).astype(np.float32)  # noqa: E731

        from ._training import train_student  # torch is imported here, not at import time

        start = time.perf_counter()
        result = train_student(
            standardize(X_train), np.concatenate(target_parts).astype(np.float32), y_train,
            labeled, w_train.astype(np.float32),
            standardize(X[valid_idx]) if len(valid_idx) else None,
            true_target[valid_idx] if len(valid_idx) else None,
            w[valid_idx].astype(np.float32) if len(valid_idx) else None,
            task=self._task, hidden_layer_sizes=hidden, activation=self.activation,
            dropout=self.dropout, batch_size=self.batch_size, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, max_epochs=self.max_epochs,
            n_iter_no_change=self.n_iter_no_change, temperature=getattr(self, "temperature", 1.0),
            alpha=self.alpha, device=self.device, seed=torch_seed,
            progress=self._progress_printer("student") if self.verbose else None,
        )
        student_time = time.perf_counter() - start
        coefs, intercepts = self._finish_student(result["coefs"], result["intercepts"])

        self.student_ = MLPStudent(mean, scale, coefs, intercepts, self.activation)
        # The weights the soft targets were averaged with: teacher_predict_output uses
        # these, so a later set_params(teacher_weights=...) cannot change the kept ensemble.
        self.teacher_weights_ = weights
        self.history_ = result["history"]
        self.n_iter_ = result["n_iter"]
        self.fit_info_ = {
            "teacher_fit_seconds": teacher_time,
            "student_fit_seconds": student_time,
            "n_real_rows": n_real,
            "n_validation_rows": len(valid_idx),
            "n_transfer_rows": n_extra,
            "best_epoch": result["best_epoch"],
            "device": result["device"],
        }
        if self.keep_teachers:
            self.teachers_ = [t.estimator for t in fitted]
            self._teacher_columns = [t.columns for t in fitted]
            self.named_teachers_ = dict(zip([t.name for t in fitted], self.teachers_))
        else:
            drop_teachers(self)
        return self

    # -- fit helpers ------------------------------------------------------------------
    def _check_hidden_layer_sizes(self):
        sizes = tuple(self.hidden_layer_sizes)
        if not all(isinstance(h, Integral) and h > 0 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers, e.g. (128, 64); got {sizes!r}."
            )
        return tuple(int(h) for h in sizes)

    def _check_teacher_weights(self):
        if self.teacher_weights is None:
            return None
        w = np.asarray(self.teacher_weights, dtype=np.float64).ravel()
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                "teacher_weights must be finite, non-negative and not all zero; "
                f"got {self.teacher_weights!r}."
            )
        return w

    def _categorical_mask(self, n_features):
        """Resolve ``categorical_features`` (indices, boolean mask or names) to a mask."""
        from ._augment import _resolve_categorical

        return _resolve_categorical(self.categorical_features, n_features,
                                    getattr(self, "feature_names_in_", None))

    def _augmentation_enabled(self, n_rows):
        if self.augmentation is None or self.augment_factor == 0 or self.max_augment_rows == 0:
            return False
        if self.alpha == 0:
            # Transfer rows carry only teacher targets, which alpha=0 ignores.
            return False
        if self.augmentation == "auto":
            return n_rows < _AUTO_AUGMENT_BELOW_ROWS
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

    def _validation_split(self, y_enc, seed):
        n = y_enc.shape[0]
        all_rows = np.arange(n)
        n_valid = int(np.ceil(self.validation_fraction * n))
        if not self.early_stopping or n - n_valid < 1:
            return all_rows, all_rows[:0]
        rng = np.random.RandomState(seed)
        if self._task == "classification":
            # Stratify by hand: each class gives its share (at least one row where it has
            # two or more), so no class is left out of training or validation.
            valid = []
            for k in np.unique(y_enc):
                rows = rng.permutation(np.flatnonzero(y_enc == k))
                take = int(round(self.validation_fraction * len(rows)))
                take = min(max(take, 1 if len(rows) > 1 else 0), len(rows) - 1)
                valid.append(rows[:take])
            valid_idx = np.sort(np.concatenate(valid))
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
            warnings.warn(
                f"Teachers {ignored} do not accept sample_weight in fit, so they are fitted "
                "unweighted. The student's loss is still weighted.", UserWarning, stacklevel=4,
            )

    def _progress_printer(self, stage="student"):
        """Progress reporter for ``verbose > 0``: tqdm bars, or plain lines when not a TTY."""
        from ._progress import make_progress

        return make_progress(stage, verbose=int(self.verbose),
                             total=self.max_epochs if stage == "student" else None)

    # -- predict ------------------------------------------------------------------------
    def __sklearn_is_fitted__(self):
        return hasattr(self, "student_")

    def _student_output(self, X):
        """The student's raw output for validated X: the one predict path."""
        check_is_fitted(self)
        # Fast path for the common serving call, a float ndarray: the same checks that
        # validate_data makes, minus its generic dispatch, which costs more than the
        # network's forward pass on a single row.
        if not (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in _FAST_DTYPES
            and X.shape[0] > 0
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
            and np.isfinite(X).all()
        ):
            X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES, ensure_all_finite=True)
        return self.student_.forward(X)

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

        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES)
        fitted = [FittedTeacher(name, est, cols) for (name, est), cols in
                  zip(self.named_teachers_.items(), self._teacher_columns)]
        n_outputs = self.student_.coefs[-1].shape[1]
        # A model pickled before teacher_weights_ existed falls back to the parameter.
        weights = (self.teacher_weights_ if hasattr(self, "teacher_weights_")
                   else self._check_teacher_weights())
        return predict_teachers(fitted, X, n_outputs=n_outputs, task=self._task,
                                weights=weights)

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
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


#: Fitted attributes that hold the kept teachers (``keep_teachers=True``).
TEACHER_ATTRIBUTES = ("teachers_", "named_teachers_", "_teacher_columns")


def drop_teachers(model):
    """Remove the kept teachers from a fitted distiller, in place."""
    for name in TEACHER_ATTRIBUTES:
        model.__dict__.pop(name, None)
    return model


def without_teachers(model):
    """A shallow copy of a fitted distiller without its teachers: the model a user ships."""
    return drop_teachers(copy.copy(model))


#: ``augmentation="auto"`` synthesizes a transfer set below this many training rows.
_AUTO_AUGMENT_BELOW_ROWS = 5000

"""DistilledRegressor: the scikit-learn face of regression distillation."""

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.frozen import FrozenEstimator

from ._base import _BaseDistiller
from ._compat import _fit_context
from ._student import Shift, check_float32_range
from ._teachers import default_regression_teachers

#: Largest error of the folded target mean, as a share of the target's spread, left
#: without a :class:`~skdistill._student.Shift` layer: far below what a student fits.
SHIFT_PRECISION = 1e-5


class DistilledRegressor(RegressorMixin, _BaseDistiller):
    """Distill a regression ensemble into a small, fast MLP regressor.

    ``fit`` trains the teacher ensemble, labels every training row with the
    ensemble's averaged prediction (out-of-fold by default), and trains a compact
    PyTorch MLP student on a mix of those predictions and the true targets. Targets
    are standardized for training and the scale is folded back into the student's
    last layer, so ``predict`` is one numpy forward pass that returns target units.
    A target whose units defeat tree teachers (a spread under 1e-2 or over 1e10, or a
    mean beyond 1e4 spreads) is standardized for the teachers too, each wrapped in a
    ``TransformedTargetRegressor`` (prefit ones excepted); a constant target is
    predicted as that constant (to float64's rounding).

    Parameters
    ----------
    teachers : list of (str, estimator) or None, default=None
        The teacher ensemble. ``None`` uses :func:`default_regression_teachers`
        (random forest, extra trees, XGBoost, LightGBM and an MLP). Any regressor
        works; wrap an already fitted one in :class:`sklearn.frozen.FrozenEstimator`
        to use it as it is (it then labels the training rows in-sample).
    teacher_weights : array-like of shape (n_teachers,) or None, default=None
        Weights of the teachers' average.
    soft_targets : {"oof", "in_sample", "oob"}, default="oof"
        How the teachers label the training rows; see :class:`DistilledClassifier`.
    cv : int, cross-validation splitter, list of (train, test) index pairs or "auto", \
            default="auto"
        Folds for ``"oof"`` soft targets. An int gives shuffled K-fold; ``"auto"`` is
        5 folds, fewer (down to 2) on large tables; a splitter's test folds must cover
        every row (a repeated one averages); see :class:`DistilledClassifier`.
    max_teacher_rows : int, "auto" or None, default="auto"
        Fit each teacher (each fold, and the refit) on at most this many of its
        training rows, drawn at random; every row is still labelled out-of-fold. This
        bounds the teacher phase's time and memory on large tables: the cost of the
        soft targets then grows with the number of rows labelled, not fitted.
        ``"auto"`` is 200,000, which 5-fold cross-fitting reaches only above 250,000
        training rows, so smaller fits are unchanged; ``python -m benchmarks.scale
        --phases memory`` measures the default fit's time and memory at 1,000,000 rows.
        ``None`` fits on all rows. Out-of-bag teachers (``soft_targets="oob"``) always
        use all rows.
    alpha : float, default=0.9
        Weight of the teacher term, in [0, 1]. The loss is
        ``alpha * MSE(student, teacher) + (1 - alpha) * MSE(student, y)`` on
        standardized targets. ``alpha=0`` trains on the true targets alone.
    hidden_layer_sizes : tuple of int or "auto", default=(128, 64)
        ``"auto"``: the widest student within 1 MB, as the classifier's default (see
        :class:`DistilledClassifier`). The regressor keeps (128, 64), which retains
        99.9% of its teachers' R² (``benchmarks/results/regression.md``); in a one-off
        probe on two regression tables (not a committed benchmark; see the benchmarks
        page) the wider student with ``weight_averaging="ema"`` added at most 0.17 points
        of R² retention for several times the fit time. (128, 64) passes 1 MB on a table
        of more than about 900 columns, without a warning (``"auto"`` warns).
    activation : {"relu", "tanh", "gelu", "silu"}, default="relu"
    dropout : float, default=0.0
    batch_size : int, default=256
    learning_rate : float, default=3e-3
    weight_decay : float, default=1e-4
    max_epochs : int, default=200
    epoch_rows : int or None, default=250_000
        At most this many rows of the transfer set per epoch, drawn afresh every epoch;
        see :class:`DistilledClassifier`.
    student_time_limit : float or None, default=None
        Seconds the student's training may take; see :class:`DistilledClassifier`.
    early_stopping : bool, default=True
        Stop on the validation MSE against the true targets and restore the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement.
    validation_target : {"labels", "teachers"}, default="labels"
        Score held-out rows against the true targets or the teachers' out-of-fold
        predictions (MSE), for early stopping.
    lr_schedule : {"plateau", "cosine"}, default="plateau"
    weight_averaging : {"ema", "none"}, default="none"
        ``"ema"`` validates, stops on and returns a moving average of the weights, as
        the classifier's default (see :class:`DistilledClassifier`); ``"none"``, the
        best epoch's weights, keeps the regressor's fit short (see
        ``hidden_layer_sizes``).
    input_encoding : {"standard", "piecewise_linear", "periodic"}, default="piecewise_linear"
        How each numeric column enters the network; see :class:`DistilledClassifier`.
    n_bins : int, default=64
    n_frequencies : int, default=8
    n_members : int, default=1
        Members of the student's packed ensemble; the student predicts their mean. See
        :class:`DistilledClassifier`.
    augmentation : {None, "munge", "auto"}, default="auto"
        Synthetic transfer rows made by :func:`munge` and labelled by the teachers, at
        every table size within the budget; see :class:`DistilledClassifier`.
    augment_factor : float, default=20.0
    munge_p : float, default=0.5
    munge_s : float, default=1.0
    max_augment_rows : int, default=100_000
    categorical_features : array-like or None, default=None
    memory : str, joblib.Memory or None, default=None
        Cache of the fitted teachers, their targets and their labels of the synthetic
        and unlabeled rows. Needs an int ``random_state``.
        Use only a folder you trust: joblib.Memory unpickles what it finds there, so a
        file planted in the cache folder runs code during ``fit``.
    keep_teachers : bool, default=False
    n_jobs : int or None, default=None
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Progress for teacher fits and student epochs (tqdm bars on stderr, or INFO
        records of the ``"skdistill"`` logger).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    student_ : MLPStudent
        The trained network; its output is already in target units.
    history_ : list of dict
    n_iter_ : int
    fit_info_ : dict
        As :class:`DistilledClassifier`'s (timings, row counts, the best epoch,
        ``stopped_by``).
    teachers_ : list of estimators
        Only with ``keep_teachers=True``. For a poorly scaled target each (but a prefit
        one) is a ``TransformedTargetRegressor`` around the teacher as fitted (behind
        skdistill's own steps on a raw table), whose fitted copy is its ``regressor_``.
    named_teachers_ : dict
    teacher_weights_ : ndarray of shape (n_teachers,) or None
        The validated ``teacher_weights`` the soft targets were averaged with (None for
        equal weights). ``teacher_predict`` uses these, not the live parameter.

    See Also
    --------
    DistilledClassifier : The same distillation for classification.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn.linear_model import Ridge
    >>> from skdistill import DistilledRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = DistilledRegressor(
    ...     teachers=[("rf", RandomForestRegressor(n_estimators=50, random_state=0)),
    ...               ("ridge", Ridge())],
    ...     random_state=0,
    ... ).fit(X, y)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    _task = "regression"
    _default_teachers_function = "default_regression_teachers"

    def __init__(
        self,
        *,
        teachers=None,
        teacher_weights=None,
        soft_targets="oof",
        cv="auto",
        max_teacher_rows="auto",
        alpha=0.9,
        hidden_layer_sizes=(128, 64),
        activation="relu",
        dropout=0.0,
        batch_size=256,
        learning_rate=3e-3,
        weight_decay=1e-4,
        max_epochs=200,
        epoch_rows=250_000,
        student_time_limit=None,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        validation_target="labels",
        lr_schedule="plateau",
        weight_averaging="none",
        input_encoding="piecewise_linear",
        n_bins=64,
        n_frequencies=8,
        n_members=1,
        augmentation="auto",
        augment_factor=20.0,
        munge_p=0.5,
        munge_s=1.0,
        max_augment_rows=100_000,
        categorical_features=None,
        memory=None,
        keep_teachers=False,
        n_jobs=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.teachers = teachers
        self.teacher_weights = teacher_weights
        self.soft_targets = soft_targets
        self.cv = cv
        self.max_teacher_rows = max_teacher_rows
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
        self.augmentation = augmentation
        self.augment_factor = augment_factor
        self.munge_p = munge_p
        self.munge_s = munge_s
        self.max_augment_rows = max_augment_rows
        self.categorical_features = categorical_features
        self.memory = memory
        self.keep_teachers = keep_teachers
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, X_unlabeled=None):
        """Fit the teachers, then distill them into the student.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            A single continuous target.
        sample_weight : array-like of shape (n_samples,), default=None
        X_unlabeled : {array-like, sparse matrix} of shape (n_unlabeled, n_features), \
                default=None
            Extra rows without targets, labelled by the fitted teachers. Ignored, with
            a warning, when ``alpha=0``.

        Returns
        -------
        self : DistilledRegressor
        """
        shape = getattr(y, "shape", None)  # no np.shape: y may be any array-like
        if shape is not None and len(shape) == 2 and shape[1] > 1:
            raise ValueError(
                f"DistilledRegressor supports a single target; got y of shape {shape}. "
                "Fit one model per target, e.g. with sklearn.multioutput.MultiOutputRegressor."
            )
        _check_numeric_target(y)
        return self._fit(X, y, sample_weight, X_unlabeled)

    def _default_teachers(self, random_state, sparse=False):
        return default_regression_teachers(random_state=random_state, sparse=sparse)

    def _encode_target(self, y, sample_weight=None):
        y = np.asarray(y, dtype=np.float64)
        check_float32_range(y.reshape(-1, 1), "y")
        if sample_weight is None:
            self._y_mean, std = float(y.mean()), float(y.std())
        else:  # weighted, so that rows the weights leave out (0) cannot set the scale
            self._y_mean = float(np.average(y, weights=sample_weight))
            std = float(np.sqrt(np.average((y - self._y_mean) ** 2, weights=sample_weight)))
        self._y_scale, self._y_constant = target_scale(self._y_mean, std)
        return y, 1

    def _adapt_task_teachers(self, teachers):
        if self._y_constant or not poorly_scaled(self._y_mean, self._y_scale):
            return teachers
        return standardized_teachers(teachers, self._y_mean, self._y_scale)

    def _standardize_target(self, values):
        values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        if self._y_constant:
            return np.zeros(values.shape, dtype=np.float32)
        return ((values - self._y_mean) / self._y_scale).astype(np.float32)

    def _student_targets(self, soft_targets, y_enc):
        true = None if y_enc is None else self._standardize_target(y_enc)
        return self._standardize_target(soft_targets), true

    def _finish_student(self, student):
        # Fold the target scale into the last linear layer: predict is then one forward
        # pass that returns target units, in numpy, ONNX and the safe format alike. A
        # packed ensemble's mean of members follows it, and commutes with the scaling.
        last = student.linears[-1]
        i = student.layers.index(last)
        # A constant target: the student predicts it, and nothing of its own output.
        y_scale = 0.0 if getattr(self, "_y_constant", False) else self._y_scale
        scale, mean = np.float32(y_scale), np.float32(self._y_mean)
        bias = last.bias * scale + mean
        student.layers[i] = last.with_arrays({"weight": last.weight * scale, "bias": bias})
        # The bias holds the mean only to float32's precision at the mean; where that is
        # coarse against the target's spread (a mean of 1e9, a spread of a few units),
        # a Shift layer carries the rest, for the numpy forward's float64.
        rest = (last.bias.astype(np.float64) * y_scale + self._y_mean
                - bias.astype(np.float64))
        if np.abs(rest).max() > SHIFT_PRECISION * y_scale:
            student.layers.append(Shift(shift=rest))
        return student

    def predict(self, X):
        """Predictions of the student alone.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,), float64
        """
        return self._pinned()._student_output(X)[:, 0].astype(np.float64)

    def teacher_predict(self, X):
        """The kept teacher ensemble's averaged prediction (needs ``keep_teachers=True``)."""
        return self.teacher_predict_output(X)[:, 0]


def _check_numeric_target(y):
    """Refuse text in ``y`` before validation does, naming a value and the classifier.

    Text that reads as a number (``"2.5"``) passes: validation converts it.
    """
    values = np.asarray(y)
    if values.dtype.kind not in "OUS":
        return
    try:
        values.astype(np.float64)  # all numbers, or text that reads as numbers
        return
    except (TypeError, ValueError):
        pass
    for v in values.ravel():  # name the first text that does not
        if isinstance(v, (str, bytes)):
            try:
                float(v)
            except ValueError:
                raise ValueError(
                    f"DistilledRegressor needs a numeric target; y holds text such as "
                    f"{str(v)!r}. For class labels use DistilledClassifier."
                ) from None


#: A target whose spread is at most this fraction of its mean (or zero) is constant to
#: float64's precision: the student then predicts that constant.
CONSTANT_SPREAD = 1e-12


def target_scale(mean, std):
    """``(scale, constant)``: what the student's targets are divided by, and whether the
    target is constant (:data:`CONSTANT_SPREAD`).

    The threshold is relative: a target in units of 1e-13 has a spread; ``5 + 1e-13 * z``
    has none that float64 can hold. A constant target's student learns zeros (what its
    teachers add to the constant is noise) and predicts the constant.

    Examples
    --------
    >>> target_scale(0.0, 1e-13), target_scale(5.0, 1e-13), target_scale(0.0, 0.0)
    ((1e-13, False), (1.0, True), (1.0, True))
    """
    if std > 0 and std > CONSTANT_SPREAD * abs(mean):
        return std, False
    return 1.0, True


def poorly_scaled(mean, scale):
    """Whether a target's scale or offset is beyond what tree teachers fit well.

    Trees sum squared targets (their impurity cancels far from zero) and boosters stop
    splitting below absolute gains: a spread under 1e-2, over 1e10, or a mean beyond
    1e4 spreads ruins them (``tests/test_regressor.py`` fits 1e9 offsets and 1e-7 and
    1e-13 scales within 0.03 R² of the plain target). Such a target
    is standardized for the teachers (:func:`standardized_teachers`); others are left
    as they are, so their teachers are unchanged.
    """
    return scale < 1e-2 or scale > 1e10 or abs(mean) > 1e4 * scale


class FixedScale(TransformerMixin, BaseEstimator):
    """``(y - mean) / scale`` with a fixed mean and scale: the target a teacher fits when
    the user's is poorly scaled (:func:`poorly_scaled`).

    A stateless transformer, so that a ``TransformedTargetRegressor`` around each
    teacher (and each of its cross-fitting copies) uses the one scale of the whole fit.

    Examples
    --------
    >>> FixedScale(mean=1e9, scale=2.0).fit_transform([[1e9 + 4.0]])
    array([[2.]])
    """

    def __init__(self, mean=0.0, scale=1.0):
        self.mean = mean
        self.scale = scale

    def fit(self, y, sample_weight=None):
        return self

    def transform(self, y):
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.scale

    def inverse_transform(self, y):
        return np.asarray(y, dtype=np.float64) * self.scale + self.mean

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def standardized_teachers(teachers, mean, scale):
    """Each teacher fitted on the standardized target, predicting in the target's units.

    A prefit teacher is left as it is: it was fitted, and predicts, in the user's units.
    """
    return [(name, est if isinstance(est, FrozenEstimator) else TransformedTargetRegressor(
                regressor=est, transformer=FixedScale(mean=mean, scale=scale),
                check_inverse=False))
            for name, est in teachers]

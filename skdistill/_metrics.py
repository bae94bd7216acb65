"""How closely a student follows its teachers: fidelity, KL divergence, calibration.

Plain metric functions work on arrays. The scorer objects (:data:`fidelity_scorer`,
:data:`neg_kl_scorer`, :data:`neg_ece_scorer`) take a fitted estimator, so they plug
into ``GridSearchCV(scoring=...)`` and ``cross_validate``. A distiller or a
:class:`~sklearn.pipeline.Pipeline` whose last step is a distiller both work: the
scorer runs the pipeline's earlier steps, then asks the distiller for the student's and
the teachers' outputs on the same transformed rows.
"""

import copy

import numpy as np

from ._measure import ECE_BINS

__all__ = [
    "expected_calibration_error",
    "fidelity_score",
    "teacher_student_kl",
    "fidelity_scorer",
    "neg_kl_scorer",
    "neg_ece_scorer",
]

#: Probabilities are clipped to this floor before a log: a forest teacher often says
#: exactly 0, and KL(p || q) with q = 0 where p > 0 would be infinite.
_EPS = 1e-12

#: How far a row of probabilities may sum from one: float32 outputs (a student's, ONNX's)
#: over many classes drift by about 1e-6.
_SUM_TOLERANCE = 1e-4


def _as_two_columns(p, name):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 1:
        # A 1-D array is the positive class of a binary problem, as in log_loss.
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2:
        raise ValueError(f"{name} must be of shape (n_samples,) or (n_samples, n_classes); "
                         f"got shape {p.shape}.")
    return p


def _weighted_mean(values, sample_weight):
    if sample_weight is None:
        return float(np.mean(values))
    w = np.asarray(sample_weight, dtype=np.float64).ravel()
    if w.shape[0] != values.shape[0]:
        raise ValueError(f"sample_weight has {w.shape[0]} entries for {values.shape[0]} rows.")
    return float(np.average(values, weights=w))


def fidelity_score(teacher_pred, student_pred, *, sample_weight=None):
    """Fraction of rows on which the student predicts the teacher's class.

    Fidelity measures how well the student imitates the teacher, whatever the true
    labels: a student can be accurate where the teacher is wrong, and still unfaithful.

    Parameters
    ----------
    teacher_pred, student_pred : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted labels, or probabilities whose argmax is the predicted class. Both must
        be of the same kind.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
        In [0, 1]; 1 means the student agrees with the teacher on every row.

    Examples
    --------
    >>> from skdistill import fidelity_score
    >>> fidelity_score(["a", "b", "b", "a"], ["a", "b", "a", "a"])
    0.75
    >>> fidelity_score([[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.7, 0.3]])
    0.5
    """
    t = np.asarray(teacher_pred)
    s = np.asarray(student_pred)
    if t.ndim != s.ndim or t.shape[0] != s.shape[0]:
        raise ValueError(
            f"teacher_pred and student_pred must have the same kind and length; got shapes "
            f"{t.shape} and {s.shape}. Pass two label arrays or two probability arrays."
        )
    if t.ndim == 2:
        t, s = (_check_probabilities(p, name, rows_sum_to_one=False) for p, name in
                ((t, "teacher_pred"), (s, "student_pred")))
        if t.shape[1] != s.shape[1]:
            raise ValueError(f"teacher_pred has {t.shape[1]} classes but student_pred has "
                             f"{s.shape[1]}; their columns must be the same classes.")
        t, s = t.argmax(axis=1), s.argmax(axis=1)
    return _weighted_mean((t == s).astype(np.float64), sample_weight)


def _check_probabilities(p, name, rows_sum_to_one=True):
    """``p`` as float64 probabilities: finite, in [0, 1] up to float rounding, and (as
    scikit-learn's ``log_loss`` asks, with a warning) rows that sum to one."""
    p = np.asarray(p, dtype=np.float64)
    if not np.isfinite(p).all():
        raise ValueError(f"{name} holds NaN or infinity; pass finite probabilities.")
    if p.min(initial=0.0) < -1e-6 or p.max(initial=0.0) > 1 + 1e-6:
        raise ValueError(f"{name} holds values outside [0, 1]: pass probabilities (not "
                         "percentages, logits or scores).")
    if rows_sum_to_one and p.ndim == 2 and p.size:
        sums = p.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > _SUM_TOLERANCE)
        if off.size:
            from ._warnings import warn

            warn(f"{name} has {off.size} row(s) that do not sum to one (row {off[0]} sums "
                 f"to {sums[off[0]]:.4g}). Make sure to pass probabilities over all the "
                 "classes, one column per class.")
    return p


def teacher_student_kl(p_teacher, p_student, *, sample_weight=None):
    """Mean Kullback-Leibler divergence KL(teacher || student) over rows, in nats.

    This is the quantity distillation minimizes (at temperature 1): how much of the
    teacher's probability the student fails to reproduce, including on rows where both
    predict the same class.

    Parameters
    ----------
    p_teacher, p_student : array-like of shape (n_samples, n_classes) or (n_samples,)
        Class probabilities; a 1-D array is the positive class of a binary problem.
        Probabilities are clipped to 1e-12 so that a teacher's or student's exact zero
        gives a large but finite divergence.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
        Non-negative; 0 when the two distributions are equal on every row.

    Examples
    --------
    >>> from skdistill import teacher_student_kl
    >>> teacher_student_kl([[0.5, 0.5]], [[0.5, 0.5]])
    0.0
    >>> round(teacher_student_kl([0.9, 0.2], [0.8, 0.3]), 4)
    0.0312
    """
    p, q = _as_two_columns(p_teacher, "p_teacher"), _as_two_columns(p_student, "p_student")
    if p.shape != q.shape:
        raise ValueError(f"p_teacher and p_student must have the same shape; got {p.shape} "
                         f"and {q.shape}.")
    p, q = _check_probabilities(p, "p_teacher"), _check_probabilities(q, "p_student")
    p = np.clip(p, _EPS, 1.0)
    q = np.clip(q, _EPS, 1.0)
    p /= p.sum(axis=1, keepdims=True)
    q /= q.sum(axis=1, keepdims=True)
    per_row = np.sum(p * (np.log(p) - np.log(q)), axis=1)
    return max(_weighted_mean(per_row, sample_weight), 0.0)


def regression_fidelity(teacher_pred, student_pred, sample_weight=None):
    """R² of the student's predictions against the teachers': a regressor's fidelity.

    A constant target's teachers agree with it only to float64's rounding, and R²
    against such a "spread" is noise (-63 as readily as 0): when the teachers' outputs
    are constant to that precision, the fidelity is 1 if the student's are the same
    constant, else 0, as scikit-learn's ``r2_score`` scores a constant truth.

    Examples
    --------
    >>> regression_fidelity([1.0, 2.0, 3.0], [1.0, 2.0, 3.5])
    0.875
    >>> regression_fidelity([5.0, 5.0 + 1e-15], [5.0, 5.0])
    1.0
    """
    from sklearn.metrics import r2_score

    from ._regressor import CONSTANT_SPREAD

    t = np.asarray(teacher_pred, dtype=np.float64).ravel()
    s = np.asarray(student_pred, dtype=np.float64).ravel()
    center = np.abs(t).max(initial=0.0)
    if t.size and np.ptp(t) <= CONSTANT_SPREAD * center:
        return float(np.abs(s - t).max() <= 1e3 * CONSTANT_SPREAD * max(center, 1e-300))
    return float(r2_score(t, s, sample_weight=sample_weight))


def confidence_bins(confidence, n_bins):
    """Bin index of each top-label confidence: the ECE's and the reliability plot's bins.

    Equal-width bins with edges (0, 1/n, ..., 1]; a confidence of exactly 1 falls in the
    last bin.
    """
    n_bins = int(n_bins)
    return np.clip(np.ceil(np.asarray(confidence) * n_bins).astype(int) - 1, 0, n_bins - 1)


def expected_calibration_error(y_true, proba, *, n_bins=ECE_BINS, labels=None, sample_weight=None):
    """Expected calibration error of the top-label confidence (Guo et al., 2017).

    Rows are grouped into ``n_bins`` equal-width bins of their highest probability; ECE
    is the row-weighted mean, over bins, of ``|accuracy - mean confidence|``. A model
    whose 80%-confident predictions are right 80% of the time scores 0.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, columns in the order of ``labels``. A 1-D array is the
        probability of the positive (greater) label of a binary problem.
    n_bins : int, default=15
    labels : array-like of shape (n_classes,), default=None
        The class of each column. ``None`` uses the sorted unique values of ``y_true``,
        which must then number ``n_classes``; pass ``labels=model.classes_`` when a test
        set may miss a class.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    float
        In [0, 1]; lower is better.

    References
    ----------
    .. [1] C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger, "On Calibration of Modern
       Neural Networks", ICML 2017.

    Examples
    --------
    >>> from skdistill import expected_calibration_error
    >>> proba = [[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.8, 0.2]]
    >>> round(expected_calibration_error([0, 1, 1, 0], proba), 4)
    0.25
    """
    from sklearn.utils.validation import column_or_1d

    from ._compat import _check_sample_weight

    proba = _as_two_columns(proba, "proba")
    y_true = column_or_1d(y_true, warn=True)
    if y_true.shape[0] != proba.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} rows but proba has {proba.shape[0]}.")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    proba = _check_probabilities(proba, "proba")
    labels = np.unique(y_true) if labels is None else np.asarray(labels)
    if labels.shape[0] != proba.shape[1]:
        raise ValueError(
            f"proba has {proba.shape[1]} columns but there are {labels.shape[0]} labels "
            f"{labels.tolist()}. Pass labels=model.classes_ when the test set misses a class."
        )
    unknown = np.setdiff1d(np.unique(y_true), labels)
    if unknown.size:
        raise ValueError(f"y_true holds labels {unknown.tolist()[:5]} that are not among "
                         f"labels {labels.tolist()}.")
    confidence = proba.max(axis=1)
    correct = (labels[proba.argmax(axis=1)] == y_true).astype(np.float64)
    w = _check_sample_weight(sample_weight, proba, ensure_non_negative=True)
    bins = confidence_bins(confidence, n_bins)
    total = w.sum()
    ece = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        wb = w[in_bin]
        if wb.sum() <= 0:
            continue
        gap = abs(np.average(correct[in_bin], weights=wb)
                  - np.average(confidence[in_bin], weights=wb))
        ece += wb.sum() / total * gap
    return float(ece)


# -- scorers ----------------------------------------------------------------------------

def final_distiller(estimator, X):
    """The distiller at the end of ``estimator`` and ``X`` as that step receives it.

    ``estimator`` is a fitted distiller, or a fitted Pipeline (possibly nested) whose
    last step is one: the earlier steps transform ``X``, exactly as they do in
    ``predict``; or a fitted search (GridSearchCV and the like, in nested
    cross-validation), whose ``best_estimator_`` predicts. Shared by the scorers, the
    report and the frontier.
    """
    from sklearn.pipeline import Pipeline

    estimator = best_of_search(estimator)
    while isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    if not hasattr(estimator, "teacher_predict_output"):
        raise TypeError(
            f"{type(estimator).__name__} is not a distiller. Teacher-student scorers need a "
            "DistilledClassifier or DistilledRegressor, a Pipeline that ends with one, or "
            "a fitted search over either."
        )
    return estimator, X


def best_of_search(estimator):
    """A fitted search's ``best_estimator_`` (what it predicts with), else ``estimator``."""
    from ._compat import BaseSearchCV

    if not isinstance(estimator, BaseSearchCV):
        return estimator
    if not hasattr(estimator, "best_estimator_"):
        raise TypeError(f"{type(estimator).__name__} holds no best_estimator_ to score: "
                        "fit it with refit=True.")
    return estimator.best_estimator_


def _teacher_output(distiller, X, scorer_name):
    if not hasattr(distiller, "teachers_"):
        raise AttributeError(
            f"{scorer_name} compares the student with its teachers, but the teachers were "
            "not kept. Fit with keep_teachers=True (in a grid search, set it on the "
            "estimator; memory=... then avoids refitting the teachers for every candidate)."
        )
    return distiller.teacher_predict_output(X)


class TeacherStudentScorer:
    """A scorer ``scorer(estimator, X, y=None)`` for a fitted distiller or pipeline.

    Use the ready-made instances :data:`fidelity_scorer`, :data:`neg_kl_scorer` and
    :data:`neg_ece_scorer` rather than this class. Greater is better for all of them, as
    scikit-learn's model selection expects: divergences and errors are negated, like
    scikit-learn's ``"neg_log_loss"``.

    Parameters
    ----------
    kind : {"fidelity", "neg_kl", "neg_ece"}
        ``"fidelity"``: agreement of the student with the teachers (classification), or
        the R² of the student's predictions against the teachers' (regression).
        ``"neg_kl"``: minus :func:`teacher_student_kl`. ``"neg_ece"``: minus the
        student's :func:`expected_calibration_error` on ``y``.
    n_bins : int, default=15
        Bins of ``"neg_ece"``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdistill import DistilledClassifier, fidelity_scorer, neg_kl_scorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), DistilledClassifier(
    ...     teachers=[("lr", LogisticRegression())], keep_teachers=True, max_epochs=5,
    ...     random_state=0))
    >>> scores = cross_validate(model, X, y, cv=2, scoring={
    ...     "accuracy": "accuracy", "fidelity": fidelity_scorer, "neg_kl": neg_kl_scorer})
    >>> bool(scores["test_fidelity"].min() > 0.8)
    True
    """

    _KINDS = ("fidelity", "neg_kl", "neg_ece")

    def __init__(self, kind, n_bins=ECE_BINS):
        if kind not in self._KINDS:
            raise ValueError(f"kind must be one of {self._KINDS}; got {kind!r}.")
        self.kind = kind
        self.n_bins = n_bins

    def __repr__(self):
        return f"{self.kind}_scorer"

    def set_score_request(self, *, sample_weight=None):
        """A copy of this scorer that requests ``sample_weight`` under scikit-learn's
        metadata routing, as its own scorers do; the shared instances stay unweighted.

        Parameters
        ----------
        sample_weight : bool, str or None
            True to take the weights routed to scoring (in ``cross_validate(...,
            params={"sample_weight": w})`` or a search's ``fit(..., sample_weight=w)``),
            False to ignore them, a string to take them under another name.

        Returns
        -------
        scorer : TeacherStudentScorer
        """
        out = copy.copy(self)
        out._sample_weight_request = sample_weight
        return out

    def get_metadata_routing(self):
        """The scorer's metadata request (see :meth:`set_score_request`)."""
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=repr(self))
        request.score.add_request(param="sample_weight",
                                  alias=getattr(self, "_sample_weight_request", None))
        return request

    def __call__(self, estimator, X, y=None, sample_weight=None):
        distiller, Xt = final_distiller(estimator, X)
        name = repr(self)
        regression = getattr(distiller, "_task", None) == "regression"
        if self.kind == "neg_ece":
            if regression:
                raise TypeError(f"{name} needs class probabilities; {type(distiller).__name__} "
                                "is a regressor.")
            if y is None:
                raise ValueError(f"{name} needs the true labels y.")
            return -expected_calibration_error(y, distiller.predict_proba(Xt),
                                               n_bins=self.n_bins, labels=distiller.classes_,
                                               sample_weight=sample_weight)
        teacher = _teacher_output(distiller, Xt, name)
        if regression:
            if self.kind == "neg_kl":
                raise TypeError(f"{name} compares class distributions; "
                                f"{type(distiller).__name__} is a regressor. Use "
                                "fidelity_scorer (R² of student vs teacher) instead.")
            student = distiller.predict(Xt).reshape(teacher.shape)
            return regression_fidelity(teacher, student, sample_weight=sample_weight)
        student = distiller.predict_proba(Xt)
        if self.kind == "fidelity":
            return fidelity_score(teacher, student, sample_weight=sample_weight)
        return -teacher_student_kl(teacher, student, sample_weight=sample_weight)


#: Scorer: fraction of rows where the student predicts the teachers' class (R² of
#: student vs teacher predictions for a regressor). Needs ``keep_teachers=True``.
fidelity_scorer = TeacherStudentScorer("fidelity")

#: Scorer: minus the mean KL(teacher || student). Needs ``keep_teachers=True``.
neg_kl_scorer = TeacherStudentScorer("neg_kl")

#: Scorer: minus the student's expected calibration error on the true labels.
neg_ece_scorer = TeacherStudentScorer("neg_ece")

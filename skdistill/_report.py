"""The distillation report: how the student compares with its teachers on held-out rows.

``model.report(X_test, y_test)`` calls :func:`build_report`, which measures everything
once and returns a :class:`DistillationReport`: a plain record with a text form
(``print(report)``), a dict form (``to_dict()``) and DataFrame forms (``to_frame()``).
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from ._measure import (
    ECE_BINS,
    format_bytes,
    format_ratio,
    format_seconds,
    row_latencies,
    shipped_size,
    teachers_size,
)
from ._metrics import (
    best_of_search,
    expected_calibration_error,
    fidelity_score,
    final_distiller,
    regression_fidelity,
    teacher_student_kl,
)

__all__ = ["DistillationReport", "build_report"]

@dataclass
class DistillationReport:
    """Teacher vs student on one held-out set. Built by ``model.report(X, y)``.

    All numbers are plain Python floats, ints and lists, so the report pickles, prints
    and serializes to JSON (``json.dumps(report.to_dict())``).

    Attributes
    ----------
    task : {"classification", "regression"}
    n_samples : int
        Rows of the held-out set.
    teachers_kept : bool
        Whether the teachers were available. When False, only the student side is
        filled in and ``notes`` says why.
    metrics : dict of str to dict
        ``{metric: {"teacher": value or None, "student": value}}``. Classification:
        ``accuracy``, ``log_loss`` and ``ece`` (expected calibration error, 15 bins
        unless ``n_bins`` says otherwise).
        Regression: ``r2`` and ``rmse``.
    fidelity : float or None
        Classification: fraction of rows where the student predicts the teachers'
        class. Regression: R² of the student's predictions against the teachers'.
    kl_divergence : float or None
        Mean KL(teacher || student) in nats (classification only).
    per_class_fidelity : list of dict
        Per class the teachers predict: ``class``, ``teacher_support`` (rows the
        teachers give that class) and ``fidelity`` (the share of them the student
        gives the same class). Classification only.
    sizes : dict
        ``student_bytes`` (the pickle of the fitted model as shipped: the distiller, or
        the whole Pipeline, without teachers) and ``teacher_bytes`` (the kept teachers'
        pickle, or None). The same definition as the demo, the command line and
        :func:`~skdistill.distillation_frontier`.
    latency : dict
        Median seconds of one single-row call: ``student_seconds`` (``predict_proba``
        or ``predict``) and ``teacher_seconds`` (the teachers' averaged output, or
        None), both timed on the input path named by ``path``.
    disagreements : list of dict
        The rows where the two disagree most, largest first: total variation distance
        between their probabilities (classification) or absolute difference of their
        predictions (regression), with ``row`` (position in X), ``index`` (X's index
        label when X is a DataFrame), the true value and both outputs.
    notes : list of str
        Caveats, e.g. that the teachers were not kept.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, DistillationReport
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=1000))],
    ...                             keep_teachers=True, max_epochs=20, random_state=0)
    >>> report = model.fit(X[::2], y[::2]).report(X[1::2], y[1::2])
    >>> isinstance(report, DistillationReport)
    True
    >>> report.task, report.n_samples, report.teachers_kept
    ('classification', 75, True)
    >>> sorted(report.metrics["accuracy"])
    ['student', 'teacher']
    >>> sorted(report.sizes)
    ['student_bytes', 'teacher_bytes']
    >>> report.to_frame().columns.tolist()  # needs pandas
    ['teacher', 'student']
    """

    task: str
    n_samples: int
    teachers_kept: bool
    metrics: dict
    fidelity: float = None
    kl_divergence: float = None
    per_class_fidelity: list = field(default_factory=list)
    sizes: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)
    disagreements: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_dict(self):
        """The report as nested dicts and lists of plain Python values."""
        return {
            "task": self.task,
            "n_samples": self.n_samples,
            "teachers_kept": self.teachers_kept,
            "metrics": copy.deepcopy(self.metrics),
            "fidelity": self.fidelity,
            "kl_divergence": self.kl_divergence,
            "per_class_fidelity": copy.deepcopy(self.per_class_fidelity),
            "sizes": dict(self.sizes),
            "latency": dict(self.latency),
            "disagreements": copy.deepcopy(self.disagreements),
            "notes": list(self.notes),
        }

    def to_frame(self, part="summary"):
        """One part of the report as a pandas DataFrame (pandas is imported here).

        Parameters
        ----------
        part : {"summary", "per_class", "disagreements"}, default="summary"
            ``"summary"``: one row per measure (metrics, fidelity, KL, sizes, latency),
            columns ``teacher`` and ``student``; single-valued measures sit in
            ``student``. ``"per_class"``: :attr:`per_class_fidelity`.
            ``"disagreements"``: :attr:`disagreements`, one row each.

        Returns
        -------
        pandas.DataFrame
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas ships with the test extra
            raise ImportError(
                "DistillationReport.to_frame needs pandas: pip install pandas "
                "(or use to_dict())."
            ) from exc
        if part == "summary":
            rows = {name: dict(values) for name, values in self.metrics.items()}
            if self.fidelity is not None:
                rows["fidelity"] = {"teacher": None, "student": self.fidelity}
            if self.kl_divergence is not None:
                rows["kl_divergence"] = {"teacher": None, "student": self.kl_divergence}
            rows["size_bytes"] = {"teacher": self.sizes.get("teacher_bytes"),
                                  "student": self.sizes.get("student_bytes")}
            rows["latency_seconds"] = {"teacher": self.latency.get("teacher_seconds"),
                                       "student": self.latency.get("student_seconds")}
            frame = pd.DataFrame.from_dict(rows, orient="index", columns=["teacher", "student"])
            frame.index.name = "measure"
            return frame
        if part == "per_class":
            return pd.DataFrame(self.per_class_fidelity,
                                columns=["class", "teacher_support", "fidelity"])
        if part == "disagreements":
            return pd.DataFrame(self.disagreements)
        raise ValueError(
            f"part must be 'summary', 'per_class' or 'disagreements'; got {part!r}."
        )

    def __str__(self):
        return _format_report(self)


def build_report(model, X, y, *, n_disagreements=10, n_latency_calls=200,
                 n_teacher_latency_calls=30, n_bins=ECE_BINS, latency_path="distiller"):
    """Measure a fitted distiller against its teachers on held-out rows.

    This is what ``model.report(X, y)`` runs; call it directly to change the defaults.

    Parameters
    ----------
    model : DistilledClassifier, DistilledRegressor or Pipeline
        A fitted distiller, or a fitted Pipeline whose last step is one (its earlier
        steps transform ``X`` as in ``predict``). With ``keep_teachers=True`` the
        report compares both sides; otherwise it reports the student alone and says so.
    X : array-like of shape (n_samples, n_features)
        Held-out inputs (not the training rows: there the teachers' soft targets were
        the student's training targets, so fidelity would be optimistic).
    y : array-like of shape (n_samples,)
        Their true labels or targets.
    n_disagreements : int, default=10
        How many of the most-disagreeing rows to list.
    n_latency_calls : int, default=200
        Single-row calls timed for the student (the median is reported).
    n_teacher_latency_calls : int, default=30
        Single-row calls timed for the teachers, which are far slower.
    n_bins : int, default=15
        Bins of the expected calibration error.
    latency_path : {"distiller", "pipeline"}, default="distiller"
        For a Pipeline: time both sides on the rows the distiller receives, or on raw
        rows through the whole Pipeline. Both sides always share one path, recorded in
        ``latency["path"]``.

    Returns
    -------
    DistillationReport

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=1000))],
    ...                             keep_teachers=True, max_epochs=20, random_state=0)
    >>> report = model.fit(X[::2], y[::2]).report(X[1::2], y[1::2])
    >>> sorted(report.metrics)
    ['accuracy', 'ece', 'log_loss']
    >>> 0.0 <= report.fidelity <= 1.0
    True
    >>> print(report)  # doctest: +ELLIPSIS
    Distillation report: classification, 75 rows...
    """
    from sklearn.utils.validation import check_is_fitted, column_or_1d

    model = best_of_search(model)  # what ships, timed and weighed as it is
    distiller, Xt = final_distiller(model, X)
    check_is_fitted(distiller)
    if y is None:
        raise ValueError("The report compares predictions with the true targets: pass y.")
    # A DataFrame's or Series' row labels; not list.index.
    index = X.index if hasattr(X, "iloc") else None
    y = column_or_1d(y, warn=True)  # a one-column DataFrame too, as scikit-learn takes it
    n = y.shape[0]
    if hasattr(X, "shape") and X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} rows but y has {n}.")
    if n == 0:
        raise ValueError("The report needs at least one row; X and y are empty.")
    kept = hasattr(distiller, "teachers_")
    regression = getattr(distiller, "_task", None) == "regression"
    notes = []
    if not kept:
        notes.append("The teachers were not kept, so only the student is reported. "
                      "Fit with keep_teachers=True to compare it with its teachers.")

    sizes = {"student_bytes": shipped_size(model), "teacher_bytes": teachers_size(distiller)}
    latency = row_latencies(model, X, n_calls=n_latency_calls,
                            n_teacher_calls=n_teacher_latency_calls, path=latency_path)
    common = dict(task=distiller._task, n_samples=int(n), teachers_kept=kept, sizes=sizes,
                  latency=latency, notes=notes)
    if regression:
        return _regression_report(distiller, Xt, y, kept, index, n_disagreements, common)
    return _classification_report(distiller, Xt, y, kept, index, n_disagreements, n_bins,
                                  common)


def _row_key(i, index):
    entry = {"row": int(i)}
    if index is not None:
        label = index[i]
        entry["index"] = _plain(label)
    return entry


def _classification_report(model, X, y, kept, index, n_top, n_bins, common):
    from sklearn.metrics import accuracy_score, log_loss

    classes = model.classes_
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(f"y holds labels the model never saw in fit: {unknown.tolist()}; "
                         f"its classes are {classes.tolist()}.")
    p_student = model.predict_proba(X)
    student_pred = classes[p_student.argmax(axis=1)]
    metrics = {
        "accuracy": {"teacher": None, "student": float(accuracy_score(y, student_pred))},
        "log_loss": {"teacher": None,
                     "student": float(log_loss(y, p_student, labels=classes))},
        "ece": {"teacher": None,
                "student": expected_calibration_error(y, p_student, n_bins=n_bins,
                                                      labels=classes)},
    }
    if not kept:
        return DistillationReport(metrics=metrics, **common)

    p_teacher = model.teacher_predict_output(X)
    # The teachers' average can carry rounding error away from 1; log_loss wants rows
    # that sum to one.
    p_teacher = p_teacher / p_teacher.sum(axis=1, keepdims=True)
    teacher_pred = classes[p_teacher.argmax(axis=1)]
    metrics["accuracy"]["teacher"] = float(accuracy_score(y, teacher_pred))
    metrics["log_loss"]["teacher"] = float(log_loss(y, p_teacher, labels=classes))
    metrics["ece"]["teacher"] = expected_calibration_error(y, p_teacher, n_bins=n_bins,
                                                           labels=classes)
    per_class = []
    for c in classes:
        mask = teacher_pred == c
        support = int(mask.sum())
        per_class.append({
            "class": _plain(c),
            "teacher_support": support,
            "fidelity": float(np.mean(student_pred[mask] == c)) if support else None,
        })
    tvd = 0.5 * np.abs(p_teacher - p_student).sum(axis=1)
    order = np.argsort(-tvd, kind="stable")[:n_top]
    disagreements = []
    for i in order:
        entry = _row_key(i, index)
        entry.update({
            "y_true": _plain(y[i]),
            "teacher_pred": _plain(teacher_pred[i]),
            "student_pred": _plain(student_pred[i]),
            "total_variation": float(tvd[i]),
            "teacher_proba": [float(v) for v in p_teacher[i]],
            "student_proba": [float(v) for v in p_student[i]],
        })
        disagreements.append(entry)
    return DistillationReport(
        metrics=metrics,
        fidelity=fidelity_score(teacher_pred, student_pred),
        kl_divergence=teacher_student_kl(p_teacher, p_student),
        per_class_fidelity=per_class, disagreements=disagreements, **common,
    )


def _regression_report(model, X, y, kept, index, n_top, common):
    from sklearn.metrics import r2_score, root_mean_squared_error

    y = y.astype(np.float64)
    student = np.asarray(model.predict(X), dtype=np.float64).reshape(y.shape)
    metrics = {
        "r2": {"teacher": None, "student": float(r2_score(y, student))},
        "rmse": {"teacher": None, "student": float(root_mean_squared_error(y, student))},
    }
    if not kept:
        return DistillationReport(metrics=metrics, **common)
    teacher = np.asarray(model.teacher_predict_output(X), dtype=np.float64).reshape(y.shape)
    metrics["r2"]["teacher"] = float(r2_score(y, teacher))
    metrics["rmse"]["teacher"] = float(root_mean_squared_error(y, teacher))
    gap = np.abs(student - teacher)
    if gap.ndim > 1:
        gap = gap.max(axis=1)
    order = np.argsort(-gap, kind="stable")[:n_top]
    disagreements = []
    for i in order:
        entry = _row_key(i, index)
        entry.update({"y_true": _plain(y[i]), "teacher_pred": _plain(teacher[i]),
                      "student_pred": _plain(student[i]), "abs_difference": float(gap[i])})
        disagreements.append(entry)
    return DistillationReport(
        metrics=metrics, fidelity=regression_fidelity(teacher, student),
        disagreements=disagreements, **common,
    )


def _plain(value):
    """A label, index entry or small array as a plain Python value (JSON-friendly):
    numbers and text as they are, dates and durations as ISO text, tuples as lists."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "Mm":  # .item() gives nanoseconds as an int, or a date object
        return str(array) if array.ndim == 0 else [str(v) for v in array.ravel()]
    if array.dtype.kind == "O" and array.ndim == 0:
        return str(value)  # a Timestamp, a Decimal, ...
    return array.item() if array.ndim == 0 else array.tolist()


# -- text form ----------------------------------------------------------------------------

def _fmt(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(teacher, student, better, worse):
    text = format_ratio(teacher, student, better, worse)
    return f"  (student {text})" if text else ""


def _format_report(r):
    lines = [f"Distillation report: {r.task}, {r.n_samples} rows"
             + ("" if r.teachers_kept else " (student only)")]
    lines.append(f"  {'':22s}{'teacher':>12s}{'student':>12s}")
    labels = {"accuracy": "accuracy", "log_loss": "log-loss", "ece": "calibration (ECE)",
              "r2": "R2", "rmse": "RMSE"}
    for name, values in r.metrics.items():
        lines.append(f"  {labels.get(name, name):22s}{_fmt(values['teacher']):>12s}"
                     f"{_fmt(values['student']):>12s}")
    lines.append(f"  {'size (pickle)':22s}{format_bytes(r.sizes.get('teacher_bytes')):>12s}"
                 f"{format_bytes(r.sizes.get('student_bytes')):>12s}"
                 + _ratio(r.sizes.get("teacher_bytes"), r.sizes.get("student_bytes"),
                          "smaller", "larger"))
    lines.append(f"  {'latency (1 row, med.)':22s}"
                 f"{format_seconds(r.latency.get('teacher_seconds')):>12s}"
                 f"{format_seconds(r.latency.get('student_seconds')):>12s}"
                 + _ratio(r.latency.get("teacher_seconds"), r.latency.get("student_seconds"),
                          "faster", "slower"))
    if r.latency.get("path") not in (None, "model input"):
        lines.append(f"  latency timed on: {r.latency['path']}")
    if r.fidelity is not None:
        if r.task == "regression":
            lines.append(f"Fidelity (R2 of student vs teacher predictions): {r.fidelity:.4f}")
        else:
            lines.append(f"Fidelity (student predicts the teachers' class): {r.fidelity:.4f}"
                         f"; KL(teacher || student): {r.kl_divergence:.4f} nats")
    if r.per_class_fidelity:
        parts = [f"{c['class']}: {_fmt(c['fidelity'], 3)} (n={c['teacher_support']})"
                 for c in r.per_class_fidelity]
        lines.append("Fidelity per teacher-predicted class: " + ", ".join(parts))
    if r.disagreements:
        if r.task == "regression":
            lines.append("Largest disagreements (|student - teacher|), "
                         f"top {len(r.disagreements)}:")
            lines.append(f"  {'row':>6s} {'y_true':>12s} {'teacher':>12s} {'student':>12s} "
                         f"{'|diff|':>10s}")
            for d in r.disagreements:
                lines.append(f"  {d['row']:>6d} {_num(d['y_true']):>12s} "
                             f"{_num(d['teacher_pred']):>12s} {_num(d['student_pred']):>12s} "
                             f"{d['abs_difference']:>10.4g}")
        else:
            lines.append("Largest disagreements (total variation distance), "
                         f"top {len(r.disagreements)}:")
            lines.append(f"  {'row':>6s} {'y_true':>10s} {'teacher':>10s} {'student':>10s} "
                         f"{'TVD':>6s}  teacher proba / student proba")
            for d in r.disagreements:
                tp = " ".join(f"{v:.2f}" for v in d["teacher_proba"])
                sp = " ".join(f"{v:.2f}" for v in d["student_proba"])
                lines.append(f"  {d['row']:>6d} {str(d['y_true']):>10s} "
                             f"{str(d['teacher_pred']):>10s} {str(d['student_pred']):>10s} "
                             f"{d['total_variation']:>6.3f}  [{tp}] / [{sp}]")
    for note in r.notes:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def _num(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)

"""Measurements users judge a distillation by: size, single-row latency, and their units.

This module is the one definition of each measure. :func:`skdistill.DistillationReport`
(``model.report``), the demo, the command line's hold-out table and
:func:`skdistill.distillation_frontier` all call these functions, so the same model on
the same rows gets the same figures everywhere:

- **Size** (:func:`shipped_size`): bytes of the pickle (highest protocol) of the fitted
  model as a user ships it, :func:`skdistill.serving`'s copy: the distiller, or the
  whole Pipeline ending in it, without teachers (kept or given as fitted models). The
  teachers' size is the pickle of the kept teacher list.
- **Latency** (:func:`row_latencies`): median seconds of single-row calls, student
  (``predict_proba``, or ``predict`` for a regressor) and teachers (their averaged
  output), both timed on the *same* input path.
- **Units** (:func:`format_bytes`, :func:`format_seconds`): SI, 1 kB = 1000 bytes.
- **Calibration**: :data:`ECE_BINS` equal-width bins.
"""

import pickle
import time
import warnings

import numpy as np

from ._sparse import as_csr, is_sparse

#: Bins of every expected calibration error the project reports or plots.
ECE_BINS = 15

#: Where single-row latency is timed, for a Pipeline ending in a distiller.
#: ``"distiller"``: the rows the distiller receives (the earlier steps run once, before
#: timing), so both sides pay for exactly their own model. ``"pipeline"``: raw rows
#: through the earlier steps and then the student or the teachers, what a service pays.
LATENCY_PATHS = ("distiller", "pipeline")


def pickled_size(obj):
    """Bytes of ``obj``'s pickle (highest protocol)."""
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def shipped_size(model):
    """Bytes of the pickle of a fitted distiller or Pipeline without its teachers.

    This is the project's one definition of "student size": the model as a user ships
    it (a Pipeline's preprocessing steps included), never the teachers kept for
    comparison.

    Examples
    --------
    >>> from skdistill._measure import shipped_size
    >>> shipped_size([1, 2, 3]) > 0
    True
    """
    return pickled_size(_without_teachers(model))


def teachers_size(distiller):
    """Bytes of the pickle of a distiller's kept teachers, or None when not kept."""
    teachers = getattr(distiller, "teachers_", None)
    return None if teachers is None else pickled_size(teachers)


def _without_teachers(model):
    """What a user ships: :func:`skdistill.serving`'s copy (no kept teachers, and teacher
    names instead of the ``teachers`` parameter's estimators, which may be fitted
    models), or ``model`` itself when it is neither a distiller nor a Pipeline ending in
    one."""
    from ._serving import serving

    try:
        return serving(model)
    except TypeError:
        return model


def single_row_latency(predict, X, n_calls=200, warmup=20):
    """Median seconds of ``predict`` on one row, over ``n_calls`` calls.

    Rows are cycled from ``X`` and sliced as 2-D ``(1, n_features)`` inputs, the way an
    online service calls a model. The median is robust to the noise of shared machines.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill._measure import single_row_latency
    >>> single_row_latency(lambda row: row.sum(), np.ones((3, 2)), n_calls=5) >= 0
    True
    """
    n = X.shape[0]
    rows = [X[i % n:i % n + 1] for i in range(max(n_calls, warmup))]
    times = np.empty(n_calls)
    # Silenced: a warning about a row (an unseen category, say) would repeat once per
    # call; predicting the rows all at once, as the report does, warns once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in rows[:warmup]:
            predict(row)
        for i in range(n_calls):
            row = rows[i % len(rows)]
            start = time.perf_counter()
            predict(row)
            times[i] = time.perf_counter() - start
    return float(np.median(times))


def _rows(estimator, X):
    # Named columns stay a DataFrame when the estimator was fitted on one (it checks the
    # names); a sparse matrix stays sparse, as CSR (one-row slices, as a service would
    # send them); anything else becomes an ndarray, the serving fast path.
    if hasattr(X, "iloc") and hasattr(estimator, "feature_names_in_"):
        return X
    if is_sparse(X):
        return as_csr(X)
    return np.asarray(X)


def row_latencies(model, X, *, n_calls=200, n_teacher_calls=30, teachers=True,
                  path="distiller"):
    """Median single-row latency of the student and the teachers, on one input path.

    Parameters
    ----------
    model : fitted distiller or Pipeline ending in one
    X : array-like
        Rows as ``model`` takes them (raw rows for a Pipeline).
    n_calls, n_teacher_calls : int
        Timed calls per side; teachers are slower, so fewer calls give a stable median.
    teachers : bool, default=True
        Time the teachers too (when kept).
    path : {"distiller", "pipeline"}, default="distiller"
        See :data:`LATENCY_PATHS`. Both sides are always timed on the same one; for a
        bare distiller the two are the same.

    Returns
    -------
    dict
        ``student_seconds``, ``teacher_seconds`` (None when not timed) and
        ``path``, a sentence naming the input path both were timed on.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier
    >>> from skdistill._measure import row_latencies
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
    ...                             keep_teachers=True, max_epochs=2, random_state=0)
    >>> lat = row_latencies(model.fit(X, y), X, n_calls=5, n_teacher_calls=3)
    >>> lat["student_seconds"] > 0 and lat["teacher_seconds"] > 0
    True
    >>> lat["path"]
    'model input'
    """
    from ._metrics import final_distiller

    if path not in LATENCY_PATHS:
        raise ValueError(f"path must be one of {LATENCY_PATHS}; got {path!r}.")
    distiller, Xt = final_distiller(model, X)
    regression = getattr(distiller, "_task", None) == "regression"
    student_method = "predict" if regression else "predict_proba"
    kept = teachers and hasattr(distiller, "teachers_")
    if distiller is model:
        description = "model input"
        rows = _rows(model, X)
        student_call = getattr(model, student_method)
        teacher_call = distiller.teacher_predict_output
    elif path == "distiller":
        description = ("distiller input (rows after the Pipeline's earlier steps, which "
                       "are not timed)")
        rows = _rows(distiller, Xt)
        student_call = getattr(distiller, student_method)
        teacher_call = distiller.teacher_predict_output
    else:
        from sklearn.pipeline import Pipeline

        description = "whole Pipeline (raw rows through every step)"
        rows = _rows(model, X)
        student_call = getattr(model, student_method)
        preprocess = _preprocessing(model, Pipeline)

        def teacher_call(row):
            return distiller.teacher_predict_output(preprocess(row))

    out = {"student_seconds": single_row_latency(student_call, rows, n_calls=n_calls),
           "teacher_seconds": None, "path": description}
    if kept:
        out["teacher_seconds"] = single_row_latency(teacher_call, rows,
                                                    n_calls=n_teacher_calls,
                                                    warmup=min(3, n_teacher_calls))
    return out


def _preprocessing(model, Pipeline):
    """Callable running every step of a (nested) Pipeline before its final distiller."""
    stages = []
    while isinstance(model, Pipeline):
        if len(model.steps) > 1:
            stages.append(model[:-1])
        model = model.steps[-1][1]

    def run(X):
        for stage in stages:
            X = stage.transform(X)
        return X

    return run


def throughput(predict, X, min_seconds=0.2, repeats=3):
    """Rows per second of ``predict`` on the whole of ``X`` (best of ``repeats``)."""
    best = np.inf
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            predict(X)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / calls)
    return X.shape[0] / best


def format_bytes(n):
    """Bytes in SI units (1 kB = 1000 B), as every table in the project prints them.

    Examples
    --------
    >>> from skdistill._measure import format_bytes
    >>> format_bytes(999), format_bytes(1500), format_bytes(2_500_000), format_bytes(None)
    ('999 B', '1.5 kB', '2.5 MB', '-')
    """
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


def format_seconds(s):
    """Microseconds below a millisecond, milliseconds below a second, else seconds.

    Examples
    --------
    >>> from skdistill._measure import format_seconds
    >>> format_seconds(2.5e-5), format_seconds(0.0123), format_seconds(3.0)
    ('25 us', '12.30 ms', '3.00 s')
    """
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def format_ratio(teacher, student, better, worse):
    """How the student compares with the teachers, e.g. ``"12x smaller"``; "" if unknown.

    Examples
    --------
    >>> from skdistill._measure import format_ratio
    >>> format_ratio(120, 10, "smaller", "larger"), format_ratio(1, 2, "faster", "slower")
    ('12x smaller', '2.0x slower')
    """
    if teacher is None or student is None or teacher <= 0 or student <= 0:
        return ""
    r = teacher / student
    word = better if r >= 1 else worse
    r = r if r >= 1 else 1 / r
    return f"{r:.1f}x {word}" if r < 10 else f"{r:.0f}x {word}"

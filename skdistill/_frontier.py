"""The accuracy-latency frontier: one teacher ensemble, several student sizes.

Choosing a student is a trade: a wider network follows its teachers more closely and
costs more per prediction. :func:`distillation_frontier` fits the teachers once (through
a teacher cache) and trains one student per size (and temperature), measuring each on
the same held-out rows, so that the whole curve costs one teacher fit.
"""

import tempfile
import time

import numpy as np
from joblib import Memory
from sklearn.base import clone

from ._base import drop_teachers
from ._measure import row_latencies, shipped_size, teachers_size
from ._metrics import fidelity_score, final_distiller, regression_fidelity

__all__ = ["distillation_frontier"]

def _distiller_prefix(estimator):
    """``set_params`` prefix of the distiller inside a (nested) Pipeline, or ""."""
    from sklearn.pipeline import Pipeline

    prefix = ""
    while isinstance(estimator, Pipeline):
        name, estimator = estimator.steps[-1]
        prefix += name + "__"
    if not hasattr(estimator, "teacher_predict_output"):
        raise TypeError(
            f"distillation_frontier needs a DistilledClassifier or DistilledRegressor (or a "
            f"Pipeline ending with one); got {type(estimator).__name__}."
        )
    return prefix, estimator


def distillation_frontier(estimator, X_train, y_train, X_test, y_test, *,
                          hidden_layer_sizes=((16,), (64,), (128, 64), (256, 128)),
                          temperatures=None, include_teachers=True, return_estimators=False,
                          n_latency_calls=200, latency_path="distiller"):
    """Train students of several sizes from one teacher fit; measure each.

    The teachers are fitted once: the estimator is cloned with a temporary
    :class:`joblib.Memory` as ``memory`` (or keeps the one it has) and a fixed
    ``random_state``, so every later fit finds the teachers, their soft targets and
    their labels of the synthetic rows in the cache and trains only a student.

    Parameters
    ----------
    estimator : DistilledClassifier, DistilledRegressor or Pipeline
        An unfitted template (it is cloned, never changed). A Pipeline whose last step
        is a distiller works: its other steps are refitted with each student (cheap for
        a scaler or an encoder), while the teachers come from the cache.
    X_train, y_train : array-like
        Training rows.
    X_test, y_test : array-like
        Held-out rows on which every student is measured.
    hidden_layer_sizes : sequence of tuple of int, default=((16,), (64,), (128, 64), (256, 128))
        The student sizes to train.
    temperatures : sequence of float or None, default=None
        Distillation temperatures to cross with the sizes (classification only).
        ``None`` keeps the estimator's own temperature.
    include_teachers : bool, default=True
        Add a first entry with the teacher ensemble's accuracy, latency and size, the
        reference point of the curve.
    return_estimators : bool, default=False
        Add each fitted student model under ``"estimator"``. Its teachers are dropped
        unless the template itself had ``keep_teachers=True``.
    n_latency_calls : int, default=200
        Single-row calls timed per student (the median is reported); the teachers get a
        tenth of them (at least 5).
    latency_path : {"distiller", "pipeline"}, default="distiller"
        For a Pipeline, where the teachers and the students are timed, always on the
        same path: ``"distiller"``, on the rows the distiller receives (the earlier
        steps run before timing, so the curve compares the models themselves);
        ``"pipeline"``, on raw rows through every step, what a service pays. Each entry
        names its path under ``latency_path``.

    Returns
    -------
    list of dict
        One dict per student (and one for the teachers, first), ready for
        ``pandas.DataFrame(result)`` or :func:`skdistill.plotting.plot_frontier`:
        ``model`` ("teachers" or "student"), ``hidden_layer_sizes``, ``temperature``,
        ``n_parameters``, ``score`` (accuracy, or R² for a regressor), ``fidelity``
        (agreement with the teachers, or R² against their predictions),
        ``latency_seconds`` (median single-row ``predict_proba``, or ``predict`` for a
        regressor), ``latency_path`` (the input path it was timed on), ``size_bytes``
        (the pickle of the model as shipped, without teachers; the teachers' pickle for
        the teachers' entry) and ``fit_seconds`` (a student's fit, without the
        teachers' fit or cache read; for the teachers' entry, their fit, once). Sizes
        and latencies are measured as in :meth:`DistilledClassifier.report`.

    See Also
    --------
    skdistill.plotting.plot_frontier : Plot the result.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, distillation_frontier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=5000))],
    ...                             max_epochs=5, random_state=0)
    >>> rows = distillation_frontier(model, X[::2], y[::2], X[1::2], y[1::2],
    ...                              hidden_layer_sizes=[(4,), (32,)], n_latency_calls=5)
    >>> [(r["model"], r["hidden_layer_sizes"]) for r in rows]
    [('teachers', None), ('student', (4,)), ('student', (32,))]
    >>> sorted(rows[1])  # doctest: +NORMALIZE_WHITESPACE
    ['fidelity', 'fit_seconds', 'hidden_layer_sizes', 'latency_path', 'latency_seconds',
     'model', 'n_parameters', 'score', 'size_bytes', 'temperature']
    """
    prefix, template = _distiller_prefix(estimator)
    sizes = _check_sizes(hidden_layer_sizes)
    if not sizes:
        raise ValueError("hidden_layer_sizes must list at least one student size, e.g. [(64,)].")
    regression = template._task == "regression"
    if temperatures is not None and regression:
        raise ValueError("temperatures apply to classification only; a regressor has none.")
    temps = [None] if temperatures is None else [float(t) for t in temperatures]

    base = clone(estimator)
    params = {f"{prefix}keep_teachers": True}
    if template.random_state is None or isinstance(template.random_state,
                                                   np.random.RandomState):
        # Teacher seeds and folds derive from random_state; the cache can only hit if
        # every fit draws the same ones.
        params[f"{prefix}random_state"] = int(
            np.random.RandomState(template.random_state).randint(np.iinfo(np.int32).max))
    keep_original = template.keep_teachers

    with tempfile.TemporaryDirectory(prefix="skdistill-frontier-") as tmp:
        if template.memory is None:
            params[f"{prefix}memory"] = Memory(tmp, verbose=0)
        base.set_params(**params)
        results = []
        teacher_entry_done = not include_teachers
        for temperature in temps:
            for size in sizes:
                model = clone(base).set_params(**{f"{prefix}hidden_layer_sizes": size})
                if temperature is not None:
                    model.set_params(**{f"{prefix}temperature": temperature})
                start = time.perf_counter()
                model.fit(X_train, y_train)
                fit_seconds = time.perf_counter() - start
                # The temporary cache is no part of the model: not of its size, and it is
                # deleted on return (a refit must not recreate it).
                model.set_params(**{f"{prefix}memory": template.memory})
                distiller, Xt = final_distiller(model, X_test)
                teacher_seconds = distiller.fit_info_["teacher_fit_seconds"]
                # Teachers and student timed by one function on one input path.
                latency = row_latencies(model, X_test, n_calls=n_latency_calls,
                                        n_teacher_calls=max(5, n_latency_calls // 10),
                                        teachers=not teacher_entry_done, path=latency_path)
                if not teacher_entry_done:
                    results.append(_teacher_entry(distiller, Xt, y_test, regression, latency,
                                                  teacher_seconds))
                    teacher_entry_done = True
                entry = _student_entry(model, distiller, Xt, X_test, y_test, regression,
                                       latency, keep_original, prefix)
                entry.update(hidden_layer_sizes=size,
                             temperature=None if regression else distiller.temperature,
                             # The first fit fits the teachers, the others read them back.
                             fit_seconds=fit_seconds - teacher_seconds)
                if return_estimators:
                    entry["estimator"] = model
                results.append(entry)
    return results


def _check_sizes(hidden_layer_sizes):
    """The students' hidden layers as tuples of ints; a clear error for anything else."""
    from numbers import Integral

    sizes = list(hidden_layer_sizes)
    if not all(isinstance(s, (tuple, list)) and s and
                            all(isinstance(h, Integral) and h > 0 for h in s)
                            for s in sizes):
        raise ValueError(
            f"hidden_layer_sizes must be a list of students' hidden layers, each a tuple of "
            f"positive ints, such as [(8,), (64, 32)]; got {hidden_layer_sizes!r}.")
    return [tuple(int(h) for h in s) for s in sizes]


def _n_parameters(distiller):
    student = distiller.student_
    return student.n_parameters


def _teacher_entry(distiller, Xt, y, regression, latency, fit_seconds):
    from sklearn.metrics import accuracy_score, r2_score

    out = distiller.teacher_predict_output(Xt)
    if regression:
        score = r2_score(np.asarray(y, dtype=np.float64), out[:, 0])
    else:
        score = accuracy_score(y, distiller.classes_[out.argmax(axis=1)])
    return {
        "model": "teachers", "hidden_layer_sizes": None, "temperature": None,
        "n_parameters": None, "score": float(score), "fidelity": 1.0,
        "latency_seconds": latency["teacher_seconds"], "latency_path": latency["path"],
        "size_bytes": teachers_size(distiller), "fit_seconds": fit_seconds,
    }


def _student_entry(model, distiller, Xt, X_test, y, regression, latency, keep_original,
                   prefix):
    teacher = distiller.teacher_predict_output(Xt)
    if not keep_original:
        # Measure (and hand back) the model as it would ship: without its teachers.
        drop_teachers(distiller)
        model.set_params(**{f"{prefix}keep_teachers": False})
    score = model.score(X_test, y)
    if regression:
        fidelity = regression_fidelity(teacher[:, 0], distiller.predict(Xt))
    else:
        fidelity = fidelity_score(teacher, distiller.predict_proba(Xt))
    return {
        "model": "student", "n_parameters": _n_parameters(distiller), "score": float(score),
        "fidelity": float(fidelity), "latency_seconds": latency["student_seconds"],
        "latency_path": latency["path"], "size_bytes": shipped_size(model),
    }

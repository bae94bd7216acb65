"""The serving copy of a fitted model: the student and the settings, nothing else.

A fitted distiller keeps its ``teachers`` *parameter*, and that parameter may hold
fitted models (a ``FrozenEstimator`` around a LightGBM booster, say): megabytes in a
pickle, and a pickle that needs lightgbm or xgboost to load. :func:`serving` returns a
copy whose ``teachers`` parameter holds only the teacher names, so that what ships is the
student's arrays plus a few hundred bytes of settings, and it unpickles and predicts
with numpy and scikit-learn alone.

Design: the copy is an instance of the same class (``DistilledClassifier`` or
``DistilledRegressor``), so ``isinstance``, ``save``, ``to_onnx``, the skl2onnx
converters and every scikit-learn check treat it exactly like the original. It is marked
so that ``fit`` refuses it (:func:`refuse_fit`, called at the start of every fit): its
teachers are gone, and refitting it would silently train on different teachers.
"""

import copy

#: Attribute that marks a serving copy (set on the instance, never a parameter).
SERVING_FLAG = "_serving_copy"


def _is_distiller(obj):
    from ._base import _BaseDistiller

    return isinstance(obj, _BaseDistiller)


def teacher_names(teachers):
    """The names of the ``teachers`` parameter's entries (None for the default ensemble):
    what a serving copy and a model file keep of them."""
    if teachers is None:
        return None
    return [str(t[0]) if isinstance(t, (list, tuple)) and len(t) == 2 else str(t)
            for t in teachers]


def _names_only(teachers):
    return (isinstance(teachers, (list, tuple)) and len(teachers) > 0
            and all(isinstance(t, str) for t in teachers))


def refuse_fit(model):
    """Raise when ``model`` is a serving copy, or holds teacher names instead of teachers.

    Called first thing in ``fit``. A clone of a serving copy keeps the names-only
    ``teachers`` parameter and is refused too; setting real teachers again
    (``set_params(teachers=[(name, estimator), ...])`` on a clone) makes it fittable.
    """
    flagged = model.__dict__.get(SERVING_FLAG, False)
    if flagged or _names_only(model.teachers):
        names = model.teachers if _names_only(model.teachers) else None
        raise TypeError(
            f"This {type(model).__name__} is a serving copy (made by skdistill.serving(), "
            "read by skdistill.load() or made by a Dask model's to_local()): its teachers "
            f"were dropped (teacher names: {names}), "
            "so it can only predict. Fit the original model instead, or fit "
            "sklearn.base.clone(model).set_params(teachers=[(name, estimator), ...])."
        )


def _serving_distiller(model):
    from sklearn.utils.validation import check_is_fitted

    from ._base import drop_teachers

    check_is_fitted(model)
    slim = copy.copy(model)  # shares the (read-only) student arrays with the original
    drop_teachers(slim)
    slim.teachers = teacher_names(model.teachers)
    slim.__dict__[SERVING_FLAG] = True
    return slim


def serving(model):
    """A copy of a fitted model for serving: the student, without the teachers.

    The copy predicts exactly as ``model`` does (``predict``, ``predict_proba``,
    ``score``) and pickles to about the size of the student's float32 arrays. Unpickling
    it needs numpy, scikit-learn and skdistill only: no torch, no teachers, and so no
    lightgbm or xgboost even when the teachers were LightGBM or XGBoost models.

    What changes, on the distiller:

    - its ``teachers`` parameter becomes the list of teacher names (strings), or stays
      ``None`` for the default ensemble. A teacher given as a fitted model (for
      example a ``FrozenEstimator``) is the bulk of a pickle, and needs its library to
      unpickle; the names alone are enough to say what the student learned from.
    - kept teachers (``keep_teachers=True``: ``teachers_``, ``named_teachers_``) are
      dropped, so ``teacher_predict_proba`` and ``report`` are no longer available.
    - every other parameter and fitted attribute is kept as it is (``classes_``,
      ``feature_names_in_``, ``history_``, ``fit_info_``, ...).
    - ``fit`` raises a ``TypeError``: refit the original model instead.

    A :class:`~sklearn.pipeline.Pipeline` (or :class:`DistillationPipeline`) that ends
    in a distiller is copied with its fitted preprocessing steps unchanged and its last
    step made a serving copy; Pipelines nested as the last step are handled the same way.

    Parameters
    ----------
    model : DistilledClassifier, DistilledRegressor or Pipeline
        A fitted distiller, or a fitted Pipeline whose last step is one. It is not
        modified.

    Returns
    -------
    serving_model : same type as ``model``
        The copy to pickle and ship. It shares the student's arrays (and, in a
        Pipeline, deep-copies the preprocessing steps).

    Raises
    ------
    TypeError
        When ``model`` is neither a distiller nor a Pipeline ending in one.
    sklearn.exceptions.NotFittedError
        When the distiller is not fitted.

    See Also
    --------
    save : The safe ``.skd`` file, which also leaves the teachers out.
    to_onnx : Export the student as an ONNX graph.

    Examples
    --------
    >>> import pickle
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.frozen import FrozenEstimator
    >>> from skdistill import DistilledClassifier, serving
    >>> X, y = load_iris(return_X_y=True)
    >>> forest = RandomForestClassifier(n_estimators=200, random_state=0).fit(X, y)
    >>> model = DistilledClassifier(teachers=[("rf", FrozenEstimator(forest))],
    ...                             max_epochs=5, random_state=0).fit(X, y)
    >>> slim = serving(model)
    >>> slim.teachers
    ['rf']
    >>> bool(np.array_equal(slim.predict_proba(X), model.predict_proba(X)))
    True
    >>> removed = len(pickle.dumps(model)) - len(pickle.dumps(slim))
    >>> removed > 0.9 * len(pickle.dumps(forest))  # the teacher's bytes
    True
    >>> len(pickle.dumps(slim)) < 1.2 * model.student_.nbytes  # the float32 weights
    True
    """
    if _is_distiller(model):
        return _serving_distiller(model)
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and len(model.steps) > 0:
        name, last = model.steps[-1]
        if _is_distiller(last) or isinstance(last, Pipeline):
            slim_last = serving(last)
            slim = copy.copy(model)
            slim.steps = [(n, copy.deepcopy(step)) for n, step in model.steps[:-1]]
            slim.steps.append((name, slim_last))
            return slim
    raise TypeError(
        "serving() takes a fitted DistilledClassifier or DistilledRegressor, or a fitted "
        f"Pipeline whose last step is one; got {type(model).__name__}"
        + (f" ending in {type(model.steps[-1][1]).__name__}"
           if isinstance(model, Pipeline) and model.steps else "")
        + "."
    )

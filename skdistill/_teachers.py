"""The teacher ensemble: the default members, fitting, and the soft targets they give.

Everything here works on already validated numpy arrays and encoded labels. The
estimators above this module own validation, label encoding and the student.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import clone, is_classifier, is_clusterer
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import has_fit_parameter

from ._compat import BaseSearchCV, check_cv
from ._sparse import accepts_sparse, dense_row_blocks, is_sparse, like_fit_input, teacher_input

SOFT_TARGET_METHODS = ("oof", "in_sample", "oob")

_MAX_SEED = np.iinfo(np.int32).max


def _seeds(random_state, n):
    """``n`` integer seeds drawn from ``random_state``.

    ``None`` draws from a fresh OS-seeded generator: ``check_random_state(None)`` is
    numpy's global RandomState, and drawing from it would change the user's
    ``np.random`` stream as a side effect.
    """
    if random_state is None:
        return [int(s) for s in np.random.default_rng().integers(_MAX_SEED, size=n)]
    rng = check_random_state(random_state)
    return [int(s) for s in rng.randint(_MAX_SEED, size=n)]


def default_teachers(random_state=None, *, sparse=False):
    """The default heterogeneous teacher ensemble for classification.

    Five diverse, strong tabular learners: a random forest, extremely randomized
    trees, XGBoost, LightGBM and a scikit-learn MLP on standardized inputs. Their
    sizes are chosen so that ``DistilledClassifier()`` with default settings fits a
    50,000-row, 15-feature table, cross-fitting included, in a few minutes on two cores.

    Start from this list to change one member or add your own::

        teachers = default_teachers(random_state=0)
        teachers.append(("svc", CalibratedClassifierCV(SVC(), ensemble=False)))

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds every member, so the list is reproducible.
    sparse : bool, default=False
        Build the members for sparse input: the MLP's ``StandardScaler`` then scales
        without centring (``with_mean=False``), since centring a sparse matrix would make
        it dense and ``StandardScaler`` refuses to. The other members take sparse input
        as they are. The distillers pass ``sparse=True`` when ``fit`` is given a sparse X.

    Returns
    -------
    list of (str, estimator)
        Unfitted ``(name, estimator)`` pairs with names ``rf``, ``et``, ``xgb``,
        ``lgbm`` and ``mlp``.

    Examples
    --------
    >>> from skdistill import default_teachers
    >>> [name for name, _ in default_teachers(random_state=0)]
    ['rf', 'et', 'xgb', 'lgbm', 'mlp']
    """
    from lightgbm import LGBMClassifier
    from xgboost import XGBClassifier

    s = _seeds(random_state, 5)
    return [
        ("rf", RandomForestClassifier(n_estimators=200, n_jobs=-1, random_state=s[0])),
        ("et", ExtraTreesClassifier(n_estimators=200, n_jobs=-1, random_state=s[1])),
        ("xgb", XGBClassifier(n_estimators=300, learning_rate=0.1, max_depth=6, subsample=0.8,
                              colsample_bytree=0.8, tree_method="hist", random_state=s[2])),
        ("lgbm", LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31,
                                subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                random_state=s[3], verbose=-1)),
        ("mlp", make_pipeline(_mlp_scaler(sparse), MLPClassifier(
            hidden_layer_sizes=(128,), early_stopping=True, max_iter=300, random_state=s[4]))),
    ]


def _mlp_scaler(sparse):
    # Scaling without centring keeps a sparse matrix sparse, and the MLP teacher then sees
    # each column at unit variance as it does on dense input.
    return StandardScaler(with_mean=False) if sparse else StandardScaler()


def default_regression_teachers(random_state=None, *, sparse=False):
    """The default teacher ensemble for regression: RF, ET, XGBoost, LightGBM and an MLP.

    The regression counterpart of :func:`default_teachers`, sized the same way.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
    sparse : bool, default=False
        Build the members for sparse input (the MLP's scaler does not centre), as in
        :func:`default_teachers`.

    Returns
    -------
    list of (str, estimator)

    Examples
    --------
    >>> from skdistill import default_regression_teachers
    >>> [name for name, _ in default_regression_teachers(random_state=0)]
    ['rf', 'et', 'xgb', 'lgbm', 'mlp']
    """
    from lightgbm import LGBMRegressor
    from xgboost import XGBRegressor

    s = _seeds(random_state, 5)
    return [
        ("rf", RandomForestRegressor(n_estimators=200, n_jobs=-1, random_state=s[0])),
        ("et", ExtraTreesRegressor(n_estimators=200, n_jobs=-1, random_state=s[1])),
        ("xgb", XGBRegressor(n_estimators=300, learning_rate=0.1, max_depth=6, subsample=0.8,
                             colsample_bytree=0.8, tree_method="hist", random_state=s[2])),
        ("lgbm", LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=31,
                               subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                               random_state=s[3], verbose=-1)),
        # The MLP also needs a standardized target: raw prices or counts stall its SGD.
        ("mlp", TransformedTargetRegressor(
            regressor=make_pipeline(_mlp_scaler(sparse), MLPRegressor(
                hidden_layer_sizes=(128,), early_stopping=True, max_iter=300,
                random_state=s[4])),
            transformer=StandardScaler())),
    ]


def check_teachers(teachers, task):
    """Validate a ``[(name, estimator), ...]`` list and return it as a list of pairs."""
    if not isinstance(teachers, (list, tuple)) or len(teachers) == 0:
        raise ValueError(
            "teachers must be a non-empty list of (name, estimator) pairs, e.g. "
            "[('rf', RandomForestClassifier())], or None for the default ensemble."
        )
    pairs = []
    for item in teachers:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise TypeError(
                f"Each teacher must be a (name, estimator) pair with a string name; got {item!r}. "
                "Write teachers=[('rf', RandomForestClassifier()), ...]."
            )
        pairs.append((item[0], item[1]))
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"Teacher names must be unique; got {names}. Rename the duplicates.")
    for name in names:
        if "__" in name:
            raise ValueError(
                f"Teacher name {name!r} contains '__', which set_params uses as a separator. "
                "Rename it."
            )
        if not name or name.startswith(STEP_PREFIX):
            raise ValueError(
                f"Teacher name {name!r} is empty or starts with {STEP_PREFIX!r}, which "
                "skdistill's own pipeline steps use. Rename it."
            )
    for name, est in pairs:
        if task == "classification" and not _offers(est, "predict_proba"):
            raise TypeError(
                f"Teacher {name!r} ({type(est).__name__}) has no predict_proba, so it cannot give "
                "soft targets. Use a probabilistic classifier, or wrap it in "
                "CalibratedClassifierCV (e.g. CalibratedClassifierCV(SVC(), ensemble=False); "
                "SVC(probability=True) is deprecated since scikit-learn 1.9)."
            )
        if task == "regression" and not _offers(est, "predict"):
            raise TypeError(f"Teacher {name!r} ({type(est).__name__}) has no predict method.")
        if task == "regression" and (is_classifier(est) or is_clusterer(est)):
            kind = "a classifier" if is_classifier(est) else "a clusterer"
            raise TypeError(
                f"Teacher {name!r} is {kind}; DistilledRegressor needs regressors."
            )
    return pairs


def _offers(estimator, method):
    """Whether a fitted copy of ``estimator`` will have ``method``.

    A stacking ensemble whose ``final_estimator`` is None has neither ``predict`` nor
    ``predict_proba`` until it is fitted (scikit-learn looks for them on the final
    estimator), then has both: its default final estimator does.
    """
    if hasattr(estimator, method):
        return True
    final = _final_step(estimator)
    return (isinstance(final, (StackingClassifier, StackingRegressor))
            and final.final_estimator is None)


def handles_tables(estimator):
    """Whether a teacher reads a table with ``category`` columns and NaN as it is.

    LightGBM, XGBoost and scikit-learn's HistGradientBoosting do natively. So, by
    assumption, do a prefit teacher (the user fitted it on their own table) and a Pipeline
    that starts with a ColumnTransformer (it selects and encodes its own columns).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if isinstance(estimator, FrozenEstimator):
        return True
    if isinstance(estimator, Pipeline):
        return isinstance(estimator.steps[0][1], ColumnTransformer)
    if isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        return True
    return type(estimator).__module__.split(".")[0] in ("lightgbm", "xgboost")


#: Names of the steps skdistill puts before a teacher (:func:`adapt_teachers`); a teacher
#: name may not start with it.
STEP_PREFIX = "skdistill_"


def adapt_teachers(teachers, table, feature_names=None):
    """The teachers as they are fitted on a table's codes (see ``_table.py``).

    Each one becomes a Pipeline whose first step turns the codes back into a DataFrame
    with ``category`` columns (:meth:`TableSchema.to_frame`). Teachers that read such a
    table natively (:func:`handles_tables`) follow it directly; XGBoost gets
    ``enable_categorical=True``. The others get :func:`~skdistill._table.default_encoder`
    (median imputation with missing-value indicators, capped one-hot) first. A prefit
    teacher stays frozen, behind the same first step. The user's own tables (a prefit
    teacher, a Pipeline that starts with a ColumnTransformer) get the fitted column names
    and each column's kind at fit (text as ``object``).

    Without a table (numbers only), the user's own tables still get the fitted column
    names, when X had them (``feature_names``): a ColumnTransformer may select columns by
    name, and a prefit teacher then checks the names it was fitted on, so columns in
    another order are refused rather than read by position. The other teachers are
    returned unchanged.
    """
    if table is None:
        if feature_names is None:
            return teachers
        return [(name, _named(name, est, feature_names)) for name, est in teachers]
    return [(name, _adapt(name, est, table)) for name, est in teachers]


def _is_user_table(est):
    """A teacher that reads the user's own table: prefit, or a Pipeline that starts with
    a ColumnTransformer."""
    return isinstance(est, FrozenEstimator) or (isinstance(est, Pipeline)
                                                 and handles_tables(est))


def _adapt(name, est, table):
    from sklearn.preprocessing import FunctionTransformer

    from ._table import default_encoder

    # The user's own prefit teachers and ColumnTransformers select columns by name (or
    # dtype); boosters refuse some characters in names, so the others see x0, x1, ...
    user_table = _is_user_table(est)
    positional = not user_table
    to_frame = (STEP_PREFIX + "table", FunctionTransformer(table.to_frame, kw_args={
        "positional_names": positional, "user_dtypes": user_table}))
    steps = [to_frame]
    if not handles_tables(est):  # a prefit teacher handles its own table
        steps.append((STEP_PREFIX + "encode",
                      default_encoder(table, positional_names=positional)))
    elif type(est).__module__.split(".")[0] == "xgboost":
        est = clone(est).set_params(enable_categorical=True)
    return _behind(steps, name, est)


def _behind(steps, name, est):
    """``est`` after skdistill's own ``steps``: a prefit teacher stays frozen around them
    all; a Pipeline is flattened, so that its last step stays the last step
    (sample_weight and out-of-bag estimates are read from it)."""
    if isinstance(est, FrozenEstimator):
        return FrozenEstimator(Pipeline([*steps, (name, est.estimator)]))
    return Pipeline([*steps, *(est.steps if isinstance(est, Pipeline) else [(name, est)])])


def _named(name, est, feature_names):
    """``est`` behind a step that names the columns, if it reads the user's own table
    (a prefit teacher only if it was fitted with names); else ``est`` itself."""
    from sklearn.preprocessing import FunctionTransformer

    if not _is_user_table(est) or (isinstance(est, FrozenEstimator)
                                   and not hasattr(est.estimator, "feature_names_in_")):
        return est
    to_frame = (STEP_PREFIX + "frame", FunctionTransformer(
        _named_frame, kw_args={"names": list(feature_names)}))
    return _behind([to_frame], name, est)


def _named_frame(X, names):
    """Dense float rows as a DataFrame with the fitted column names."""
    import pandas as pd

    return pd.DataFrame(X, columns=names, copy=False)


def _final_step(estimator, fitted=False):
    """The estimator that does the learning: a Pipeline's last step, a
    TransformedTargetRegressor's regressor (its fitted copy, ``regressor_``, when
    ``fitted``), or the estimator."""
    if isinstance(estimator, Pipeline):
        return _final_step(estimator.steps[-1][1], fitted)
    if isinstance(estimator, TransformedTargetRegressor):
        inner = estimator.regressor_ if fitted else estimator.regressor
        return estimator if inner is None else _final_step(inner, fitted)
    return estimator


def _target_transformers(estimator):
    """The fitted target transformers between a teacher and its final step, outermost
    first: its out-of-bag predictions are in their units."""
    if isinstance(estimator, Pipeline):
        return _target_transformers(estimator.steps[-1][1])
    if isinstance(estimator, TransformedTargetRegressor):
        return [estimator.transformer_, *_target_transformers(estimator.regressor_)]
    return []


def _sample_weight_params(estimator, sample_weight):
    """Fit kwargs that pass ``sample_weight``, or None when the estimator cannot take it."""
    if sample_weight is None:
        return {}
    if isinstance(estimator, Pipeline):
        last_name, last = estimator.steps[-1]
        if last is None or last == "passthrough":
            return None
        inner = _sample_weight_params(last, sample_weight)
        return None if inner is None else {f"{last_name}__{k}": v for k, v in inner.items()}
    if isinstance(estimator, TransformedTargetRegressor):
        # Its fit hands its keyword arguments to the regressor's (LinearRegression's when
        # None): the default ensemble's MLP sits inside one.
        from sklearn.linear_model import LinearRegression

        regressor = estimator.regressor
        return _sample_weight_params(LinearRegression() if regressor is None else regressor,
                                     sample_weight)
    members = _weighted_members(estimator)
    if members is not None:
        # Without metadata routing, these hand their sample_weight to each member's fit
        # as it is: every member must take it under that very name.
        takes = all(list(_sample_weight_params(m, sample_weight) or ()) == ["sample_weight"]
                    for m in members)
        return {"sample_weight": sample_weight} if takes and members else None
    if has_fit_parameter(estimator, "sample_weight"):
        return {"sample_weight": sample_weight}
    return None


def _weighted_members(estimator):
    """The estimators a meta-estimator passes its ``sample_weight`` to (without metadata
    routing), or None for any other estimator."""
    if isinstance(estimator, (VotingClassifier, VotingRegressor)):
        return [est for _, est in estimator.estimators if est != "drop"]
    if isinstance(estimator, (StackingClassifier, StackingRegressor)):
        # The final estimator gets the weights too; its default (None: a logistic or
        # ridge regression) takes them.
        final = [] if estimator.final_estimator is None else [estimator.final_estimator]
        return [est for _, est in estimator.estimators if est != "drop"] + final
    if isinstance(estimator, BaseSearchCV):
        return [estimator.estimator]
    return None


def _fit_unrouted(est, X, y, fit_params):
    """``est.fit(X, y, **fit_params)`` with scikit-learn's metadata routing off.

    ``fit_params`` name the weights' consumer (``step__sample_weight``), as without
    routing; with routing on, a Pipeline, a TransformedTargetRegressor or any
    meta-estimator would refuse that spelling, or want requests set on its inner
    estimators. The teacher copies are skdistill's own, so they fit as without routing,
    whatever the user's global setting.
    """
    import sklearn

    with sklearn.config_context(enable_metadata_routing=False):
        return est.fit(X, y, **fit_params)


# A probability may stray this far outside [0, 1] (float32 rounding in boosters) before
# the output counts as broken; within it, values are clipped.
_PROBA_RANGE_TOL = 1e-6
# Rows may sum to 1 within this before the output counts as broken; within it, they are
# renormalized silently (float32 outputs and calibrated models drift by ~1e-7).
_PROBA_SUM_TOL = 1e-3


def check_teacher_output(name, estimator, output, n_rows, n_columns, classification,
                         method=None):
    """Validate one teacher's output and return it as a float64 array.

    Every soft target passes through here: fold predictions, out-of-bag estimates, and
    the outputs of refitted and prefit teachers. A custom teacher with a bug (NaN, a
    single probability column, scores instead of probabilities) would otherwise train
    the student on garbage without a word, or fail later with a shape error that does
    not say which teacher is at fault.

    Parameters
    ----------
    name : str
        The teacher's name, for the error message.
    estimator : estimator
        The teacher, for the error message.
    output : array-like
        What the teacher returned.
    n_rows : int
        The number of rows it was asked about.
    n_columns : int
        Classification: the number of classes in the teacher's ``classes_``.
        Regression: the number of targets.
    classification : bool
    method : str or None
        The method or attribute that gave ``output``, for the message.

    Returns
    -------
    ndarray of shape (n_rows, n_columns)
        Probabilities clipped to [0, 1] with rows summing to 1 (classification), or the
        predictions as a column (regression).

    Raises
    ------
    ValueError
        When the output cannot be used, with the teacher's name in the message.
    """
    method = method or ("predict_proba" if classification else "predict")
    who = f"Teacher {name!r} ({type(estimator).__name__})"
    try:
        out = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{who}: {method} returned values that are not numbers ({exc}).") \
            from None
    if classification:
        if out.shape != (n_rows, n_columns):
            raise ValueError(
                f"{who}: {method} returned an array of shape {out.shape}; expected "
                f"({n_rows}, {n_columns}): one row per sample and one column per class in "
                "its classes_."
            )
    else:
        shape = out.shape
        if out.ndim == 1 and n_columns == 1:
            out = out.reshape(-1, 1)
        if out.shape != (n_rows, n_columns):
            expected = f"({n_rows},)" if n_columns == 1 else f"({n_rows}, {n_columns})"
            raise ValueError(
                f"{who}: {method} returned an array of shape {shape}; expected "
                f"{expected}, one prediction per sample."
            )
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"{who}: {method} returned {int(bad.sum())} non-finite value(s) (NaN or "
            "infinity). A teacher must give a finite output for every row."
        )
    if not classification:
        return out
    if out.min(initial=0.0) < -_PROBA_RANGE_TOL or out.max(initial=1.0) > 1 + _PROBA_RANGE_TOL:
        raise ValueError(
            f"{who}: {method} returned values in [{out.min():.4g}, {out.max():.4g}], outside "
            "[0, 1]: these are not probabilities. Use a calibrated classifier (e.g. "
            "CalibratedClassifierCV) as a teacher."
        )
    out = np.clip(out, 0.0, 1.0)
    sums = out.sum(axis=1)
    off = np.abs(sums - 1.0)
    if n_rows and off.max() > _PROBA_SUM_TOL:
        i = int(off.argmax())
        raise ValueError(
            f"{who}: {method} rows must sum to 1, but row {i} sums to {sums[i]:.6g}. "
            "Return one probability per class in classes_, normalized per row."
        )
    return out / sums[:, None]


class FittedTeacher:
    """A fitted teacher and the class indices its ``predict_proba`` columns stand for."""

    def __init__(self, name, estimator, columns=None):
        self.name = name
        self.estimator = estimator
        self.columns = columns

    def predict_target(self, X, n_outputs, classification):
        if is_sparse(X) and not accepts_sparse(self.estimator):
            # A dense-only teacher gets dense rows, a bounded block at a time.
            return np.vstack([self.predict_target(block, n_outputs, classification)
                              for block in dense_row_blocks(X)])
        n_rows = X.shape[0]
        if classification:
            out = np.zeros((n_rows, n_outputs))
            out[:, self.columns] = check_teacher_output(
                self.name, self.estimator, self.estimator.predict_proba(X), n_rows,
                len(self.columns), classification=True)
            return out
        return check_teacher_output(self.name, self.estimator, self.estimator.predict(X),
                                    n_rows, n_outputs, classification=False)


def frozen_columns(name, estimator, classes):
    """Class indices of a prefit teacher's ``predict_proba`` columns within ``classes``.

    A frozen teacher was fitted by the user on the original labels, not on our encoded
    ones, so its columns are matched to ``classes_`` by label value.
    """
    own = np.asarray(estimator.classes_)
    classes = np.asarray(classes)
    idx = np.clip(np.searchsorted(classes, own), 0, len(classes) - 1)
    unknown = classes[idx] != own
    if np.any(unknown):
        raise ValueError(
            f"Prefit teacher {name!r} predicts classes {own[unknown].tolist()} that do not "
            f"occur in y (classes {classes.tolist()}). Distill it on data with the same "
            "labels it was fitted on."
        )
    return idx


def _fit_one(name, estimator, X, y, sample_weight, classification, classes=None):
    if isinstance(estimator, FrozenEstimator):
        columns = frozen_columns(name, estimator, classes) if classification else None
        return FittedTeacher(name, estimator, columns)
    est = _early_stopping_that_fits(clone(estimator), y, classification)
    fit_params = _sample_weight_params(est, sample_weight) or {}
    if classification:
        # Re-encode to the classes present in these rows: XGBoost and others insist on
        # contiguous labels 0..k-1, and a fold can miss a rare class.
        present = np.unique(y)
        if len(present) == 1:
            # A fold's training rows hold one class (another has a row or two, all in
            # this fold's test part): nothing to learn, so the fold says that class.
            from sklearn.dummy import DummyClassifier

            return FittedTeacher(name, DummyClassifier().fit(X[:1], [0]), present)
        _fit_unrouted(est, X, np.searchsorted(present, y), fit_params)
        columns = present[np.asarray(est.classes_, dtype=np.intp)]
        return FittedTeacher(name, est, columns)
    _fit_unrouted(est, X, y, fit_params)
    return FittedTeacher(name, est, None)


def _early_stopping_that_fits(estimator, y, classification):
    """``estimator``, with early stopping off in each of its MLPs that could not split
    off its validation rows from ``y``'s.

    scikit-learn's MLPs hold out ``validation_fraction`` of their rows (stratified, for
    a classifier), which needs two rows at least, one per class, and two rows of every
    class: a fold of a dozen rows, or a class of two, cannot. Those fits then stop on
    the training loss instead. Other fits are unchanged.
    """
    params = estimator.get_params(deep=True)
    counts = np.unique(y, return_counts=True)[1] if classification else None
    need = max(2, len(counts)) if classification else 2
    for key, value in params.items():
        if value is not True or not (key == "early_stopping"
                                     or key.endswith("__early_stopping")):
            continue
        owner = estimator if key == "early_stopping" else params[key.rsplit("__", 1)[0]]
        if not isinstance(owner, (MLPClassifier, MLPRegressor)):
            continue
        n_valid = int(np.ceil(owner.validation_fraction * len(y)))
        if (n_valid < need or len(y) - n_valid < need
                or (classification and counts.min() < 2)):
            estimator.set_params(**{key: False})
    return estimator


def _fit_predict(name, estimator, X, y, sample_weight, train, test, n_outputs, classification,
                 kind, classes=None):
    """Run one job; return (teacher fitted on all rows or None, predictions or None).

    ``kind`` is ``"fold"`` (fit on ``train``, predict ``test``), ``"full"`` (fit on all
    rows and predict them), ``"oob"`` (fit on all rows, out-of-bag predictions) or
    ``"refit"`` (fit on all rows, no predictions: the rows already have cross-fitted ones).
    """
    try:
        return _run_job(name, estimator, X, y, sample_weight, train, test, n_outputs,
                        classification, kind, classes)
    except Exception as exc:
        named = _named_error(name, kind, exc)
        if named is exc:
            raise
        raise named from exc


def _named_error(name, kind, exc):
    """``exc`` as an error that names the failed teacher and its job, unless it does.

    An error that is just a message (ValueError, TypeError, scikit-learn's) becomes one
    of the same type, with the teacher named first and its other attributes kept.
    Any other (an OSError's errno and filename, a constructor that wants more) is
    ``exc`` itself, with the teacher in a note (Python 3.11+).
    """
    if str(exc).startswith(f"Teacher {name!r}"):
        return exc
    job = {"fold": "on a cross-fitting fold", "oob": "for out-of-bag targets",
           "refit": "refitted on all rows"}.get(kind, "on all training rows")
    message = f"Teacher {name!r} failed ({job}): {type(exc).__name__}: {exc}"
    renamed = None
    if exc.args == (str(exc),) and not isinstance(exc, (OSError, KeyError)):
        try:
            renamed = type(exc)(message)
        except Exception:
            renamed = None
    if renamed is not None and str(renamed) == message:
        renamed.__dict__.update(exc.__dict__)
        return renamed
    if hasattr(exc, "add_note"):
        exc.add_note(message)
    return exc


def _run_job(name, estimator, X, y, sample_weight, train, test, n_outputs, classification,
             kind, classes):
    if kind == "fold":
        w = None if sample_weight is None else sample_weight[train]
        teacher = _fit_one(name, estimator, X[train], y[train], w, classification)
        return None, teacher.predict_target(X[test], n_outputs, classification)
    if kind == "oob":
        estimator = clone(estimator)
        _final_step(estimator).set_params(oob_score=True)
    if train is not None:  # "full" or "refit" on a subsample (max_teacher_rows)
        w = None if sample_weight is None else sample_weight[train]
        teacher = _fit_one(name, estimator, X[train], y[train], w, classification, classes)
    else:
        teacher = _fit_one(name, estimator, X, y, sample_weight, classification, classes)
    if kind == "oob":
        return teacher, _oob_targets(teacher, X, n_outputs, classification)
    if kind == "full":
        return teacher, teacher.predict_target(X, n_outputs, classification)
    return teacher, None


def _oob_targets(teacher, X, n_outputs, classification):
    est = _final_step(teacher.estimator, fitted=True)
    if classification:
        raw = est.oob_decision_function_
        out = np.zeros((X.shape[0], n_outputs))
        out[:, teacher.columns] = raw
    else:
        out = np.asarray(est.oob_prediction_, dtype=np.float64).reshape(X.shape[0], -1)
        for transformer in reversed(_target_transformers(teacher.estimator)):
            out = np.asarray(transformer.inverse_transform(out),
                             dtype=np.float64).reshape(X.shape[0], -1)
    # A row left out of no bootstrap sample has no OOB estimate (NaN): use the
    # in-sample prediction for those few rows rather than dropping them.
    missing = ~np.isfinite(out).all(axis=1)
    if classification:
        missing |= out.sum(axis=1) <= 0
    if missing.any():
        out[missing] = teacher.predict_target(X[missing], n_outputs, classification)
    # The same checks as every other teacher output, on the filled-in estimates.
    method = "oob_decision_function_" if classification else "oob_prediction_"
    if classification:
        out[:, teacher.columns] = check_teacher_output(
            teacher.name, est, out[:, teacher.columns], X.shape[0], len(teacher.columns),
            classification=True, method=method)
        return out
    return check_teacher_output(teacher.name, est, out, X.shape[0], n_outputs,
                                classification=False, method=method)


def supports_oob(estimator):
    """Whether a teacher is a bagged forest (perhaps a Pipeline's last step) that can give
    out-of-bag estimates."""
    if isinstance(estimator, FrozenEstimator):
        return False
    params = _final_step(estimator).get_params(deep=False)
    return "oob_score" in params and params.get("bootstrap", False) is True


def _fit_kind(estimator, method):
    """How a teacher gives its soft targets: "frozen" (used as it is: no fit, so nothing
    to cross-fit), "full" (in-sample), "oob" (a bagged forest's out-of-bag estimate) or
    "fold" (cross-fitted)."""
    if isinstance(estimator, FrozenEstimator):
        return "frozen"
    if method == "in_sample":
        return "full"
    if method == "oob" and supports_oob(estimator):
        return "oob"
    return "fold"


def uses_folds(teachers, method):
    """Whether any of ``(name, estimator)`` ``teachers`` is cross-fitted with ``method``."""
    return any(_fit_kind(est, method) == "fold" for _, est in teachers)


def make_splits(n_rows, y, cv, random_state, classification):
    """Shuffled (stratified) K-fold splits, or the user's own splitter's.

    ``cv`` follows :func:`sklearn.model_selection.check_cv`: any integer (``np.int64``
    too) gives ``StratifiedKFold`` for classification and ``KFold`` otherwise, but
    shuffled with ``random_state``: rows are often sorted (by time, by class), and
    unshuffled folds would then each miss part of the data's range.
    """
    if isinstance(cv, numbers.Integral) and cv > n_rows:
        raise ValueError(
            f"Out-of-fold soft targets over {cv} folds (cv) need at least {cv} training "
            f"rows; got {n_rows} sample(s). Pass more rows, a smaller cv (2 or more), or "
            "soft_targets='in_sample', which needs no folds."
        )
    if classification and isinstance(cv, numbers.Integral):
        largest = int(np.unique(y, return_counts=True)[1].max())
        if cv > largest:
            if largest < 2:
                raise ValueError(
                    "Every class of y has a single row, so no stratified folds exist for "
                    "out-of-fold soft targets (cv). Pass more rows, or "
                    "soft_targets='in_sample', which needs no folds."
                )
            raise ValueError(
                f"Out-of-fold soft targets over {cv} stratified folds (cv) need a class "
                f"with at least {cv} rows; the largest class has {largest}. Pass "
                f"cv={largest}, more rows, or soft_targets='in_sample', which needs no "
                "folds."
            )
    splitter = check_cv(cv, y if classification else None, classifier=classification,
                        shuffle=True, random_state=random_state)
    y_split = y if classification else np.zeros(n_rows)
    with warnings.catch_warnings():
        # A class rarer than cv makes StratifiedKFold warn; the per-fold re-encoding
        # above already keeps the probability columns aligned in that case.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        try:
            return list(splitter.split(np.zeros((n_rows, 1)), y_split))
        except ValueError as exc:
            if "groups" not in str(exc):
                raise
            name = type(splitter).__name__
            raise ValueError(
                f"cv={name}(...) splits by groups, which fit does not take. Pass its "
                f"splits instead: cv=list({name}(...).split(X, y, groups)), computed on "
                "the rows you fit on (inside a Pipeline, the same rows)."
            ) from None


def _check_fold_weights(splits, sample_weight):
    """Refuse, before any fit, a fold whose training rows all weigh 0: its teachers would
    fail with a message that contradicts the (partly positive) weights."""
    if sample_weight is None:
        return
    for k, (train, _) in enumerate(splits):
        if not sample_weight[train].any():
            raise ValueError(
                f"The training rows of fold {k + 1} of {len(splits)} (cv) all have weight "
                f"0: only {int(np.count_nonzero(sample_weight))} row(s) weigh anything, "
                "and none falls outside that fold. Give more rows a positive weight, "
                "or use soft_targets='in_sample' (no folds) or other folds (cv, "
                "random_state)."
            )


def fold_coverage(splits, n_rows):
    """How many test parts of ``splits`` hold each row: a ValueError where one holds none.

    Out-of-fold soft targets need every row in a test part. KFold-like splitters put it
    in exactly one; repeated ones (``RepeatedStratifiedKFold``) in several, and the row's
    target is then the mean of its out-of-fold outputs. A splitter that leaves rows out of
    every test part (``ShuffleSplit``, ``TimeSeriesSplit``) would leave them without a
    target.
    """
    counts = np.bincount(np.concatenate([np.asarray(test, dtype=np.intp)
                                         for _, test in splits]), minlength=n_rows)
    missing = int(np.count_nonzero(counts == 0))
    if missing:
        raise ValueError(
            f"cv leaves {missing} of {n_rows} training rows out of every test fold, so "
            "they get no out-of-fold soft target. Use a splitter whose test folds cover "
            "every row (KFold, StratifiedKFold, or a repeated one such as "
            "RepeatedStratifiedKFold, whose targets are then averaged), an int, or "
            "soft_targets='in_sample'.")
    return counts


def fit_teachers(teachers, X, y, sample_weight, *, weights, **fit_args):
    """Fit the teachers and label the training rows with their weighted average.

    :func:`fit_teachers_each`, whose arguments it takes, then :func:`average_outputs`
    with ``weights``.

    Returns
    -------
    fitted : list of FittedTeacher or None
    soft_targets : ndarray (n, n_outputs)
    """
    fitted, outputs = fit_teachers_each(teachers, X, y, sample_weight, **fit_args)
    return fitted, average_outputs(outputs, weights)


def fit_teachers_each(teachers, X, y, sample_weight, *, n_outputs, task, method, cv, refit,
                      random_state, n_jobs, classes=None, progress=None, max_rows=None):
    """Fit the teachers and label the training rows with each teacher's outputs.

    The outputs are not yet weighted, so that a cache of them (``memory``) serves any
    ``teacher_weights``.

    Parameters
    ----------
    teachers : list of (name, estimator)
    X : ndarray or CSR matrix (n, d)
        Sparse X goes as it is to the teachers whose tags accept sparse input; the
        others share one dense copy.
    y : ndarray
        Encoded labels 0..k-1 (classification) or float targets.
    method : {"oof", "in_sample", "oob"}
        ``"oof"`` labels each row with teachers fitted on the other folds;
        ``"in_sample"`` with teachers fitted on all rows; ``"oob"`` with each
        bagged forest's out-of-bag estimate and cross-fits the other teachers.
    cv : int, cross-validation splitter or "auto"
        Folds of out-of-fold soft targets; ``"auto"`` is resolved by
        :func:`resolve_folds` from the number of rows and ``max_rows``.
    refit : bool
        Whether teachers fitted on all rows are needed afterwards (to label more rows
        or to keep). In-sample and OOB fits give them anyway.
    classes : ndarray or None
        The original class labels (classification), to align prefit (frozen)
        teachers, which predict in terms of the labels they were fitted on.
    progress : TeacherProgress or None
        Reports each finished job (see ``_progress.py``). Not part of the cache key.
    max_rows : int or None
        Fit each teacher on at most this many of its training rows, drawn at random
        (see :func:`subsample_rows`); the rows it does not see are still labelled by it
        when they are in its fold. Out-of-bag fits always use all rows.

    Returns
    -------
    fitted : list of FittedTeacher or None
        Teachers fitted on all rows (frozen ones as given), or None when not needed.
    outputs : list of ndarray (n, n_outputs)
        Each teacher's out-of-sample (or in-sample) outputs, in the teachers' order.
    """
    classification = task == "classification"
    n = X.shape[0]
    teachers = one_thread_per_job(teachers, n_jobs)
    sample_rng = np.random.default_rng(random_state)
    all_rows = subsample_rows(np.arange(n), max_rows, sample_rng)
    if len(all_rows) == n:
        all_rows = None  # every row: fit on X itself, no copy
    splits = None
    jobs = []  # (teacher index, train rows, test rows, kind)
    for i, (_, est) in enumerate(teachers):
        kind = _fit_kind(est, method)
        if kind == "frozen":
            jobs.append((i, None, None, "full"))
        elif kind == "full":
            jobs.append((i, all_rows, None, "full"))
        elif kind == "oob":
            jobs.append((i, None, None, "oob"))
        else:
            if splits is None:
                largest = np.bincount(y).max() if classification else None
                folds = resolve_folds(cv, n, max_rows, largest)
                splits = [(subsample_rows(train, max_rows, sample_rng), test)
                          for train, test in make_splits(n, y, folds, random_state,
                                                         classification)]
                coverage = fold_coverage(splits, n)  # raises before any teacher is fitted
            jobs.extend((i, train, test, "fold") for train, test in splits)
            if refit:
                jobs.append((i, all_rows, None, "refit"))
    if any(kind == "fold" and _sample_weight_params(teachers[i][1], sample_weight)
           for i, _, _, kind in jobs):  # a cross-fitted teacher that takes the weights
        _check_fold_weights(splits, sample_weight)

    inputs = _teacher_inputs(teachers, X)
    tasks = (
        delayed(_fit_predict)(teachers[i][0], teachers[i][1], inputs[i], y, sample_weight,
                              train, test, n_outputs, classification, kind, classes)
        for i, train, test, kind in jobs
    )
    if progress is None:
        results = Parallel(n_jobs=n_jobs)(tasks)
    else:
        # A generator hands back each job's result as it finishes (in order), so the
        # progress bar moves per teacher and fold, not once at the end.
        results = list(progress.track(Parallel(n_jobs=n_jobs, return_as="generator")(tasks),
                                      [(teachers[i][0], kind) for i, _, _, kind in jobs]))

    per_teacher = [np.zeros((n, n_outputs)) for _ in teachers]
    full_fits = [None] * len(teachers)
    for (i, _, test, kind), (teacher, pred) in zip(jobs, results):
        if teacher is not None:
            full_fits[i] = teacher
        if kind == "fold":
            # Summed here, divided by the row's number of test folds below: a row in
            # several (a repeated splitter) gets the mean of its out-of-fold outputs.
            np.add.at(per_teacher[i], test, pred)
        elif pred is not None:
            per_teacher[i][:] = pred
    for i in {i for i, _, _, kind in jobs if kind == "fold"}:
        per_teacher[i] /= coverage[:, None]

    fitted = full_fits if all(t is not None for t in full_fits) else None
    return fitted, per_teacher


def _teacher_inputs(teachers, X):
    """Each teacher's training matrix: sparse X as given to teachers that accept it, one
    shared dense copy for the others (made only if one needs it)."""
    dense = None
    inputs = []
    for _, est in teachers:
        if is_sparse(X) and not accepts_sparse(est):
            dense = X.toarray() if dense is None else dense
        inputs.append(teacher_input(est, X, dense))
    return inputs


#: ``max_teacher_rows="auto"``: each teacher fit sees at most this many rows. Below
#: 250,000 training rows, 5-fold cross-fitting never reaches it, so nothing changes there;
#: above, the teacher fits (and the forests' memory) stop growing with the data, and only
#: the labelling does. ``python -m benchmarks.scale --phases memory`` measures it at 1M rows.
AUTO_MAX_TEACHER_ROWS = 200_000


#: ``cv="auto"``: the folds of out-of-fold soft targets when ``max_teacher_rows`` does not
#: bind. ``benchmarks/results/scale.md`` ("Soft-target strategy at large N") measures the rule
#: of :func:`resolve_folds` against always using five.
AUTO_FOLDS = 5


def resolve_folds(cv, n_rows, max_rows, largest_class=None):
    """The ``cv`` that cross-fitting uses: ``cv`` itself, or the folds ``"auto"`` stands for.

    ``"auto"`` is the fewest folds, from 2 up to ``AUTO_FOLDS``, whose training part
    (``n_rows * (k - 1) / k`` rows) still holds ``max_rows`` rows, and ``AUTO_FOLDS`` when
    none does. Every fold's teachers are then fitted on ``max_rows`` sampled rows, as
    with five folds, so each soft target comes from an equally strong model; only the
    number of fits falls (2 folds and the refit: half of five folds' six fits per
    teacher). Small tables, where the cap does not bind, keep five folds.

    ``largest_class`` (classification) is the rows of the largest class: stratified
    folds cannot outnumber them, so ``"auto"`` takes no more (and at least 2).

    Examples
    --------
    >>> resolve_folds("auto", 100_000, 200_000), resolve_folds("auto", 1_000_000, 200_000)
    (5, 2)
    >>> resolve_folds("auto", 300_000, 200_000), resolve_folds(10, 1_000_000, 200_000)
    (3, 10)
    >>> resolve_folds("auto", 180, 200_000, largest_class=3)  # 60 classes of 3 rows
    3
    """
    if not (isinstance(cv, str) and cv == "auto"):
        return cv
    folds = _auto_folds(n_rows, max_rows)
    return folds if largest_class is None else min(folds, max(2, int(largest_class)))


def _auto_folds(n_rows, max_rows):
    if max_rows is None:
        return AUTO_FOLDS
    for k in range(2, AUTO_FOLDS):
        if n_rows * (k - 1) // k >= max_rows:
            return k
    return AUTO_FOLDS


def subsample_rows(rows, max_rows, rng):
    """``rows`` (sorted indices), or a sorted uniform random subset of ``max_rows`` of them."""
    if max_rows is None or len(rows) <= max_rows:
        return rows
    return np.sort(rng.choice(rows, size=max_rows, replace=False))


#: Parameters that set an estimator's own thread count (scikit-learn, XGBoost, LightGBM,
#: CatBoost), at any depth of a pipeline.
_THREAD_PARAMS = ("n_jobs", "nthread", "num_threads", "thread_count")


def one_thread_per_job(teachers, n_jobs):
    """The teachers, set to one thread each when the teacher jobs themselves run in parallel.

    With ``n_jobs`` > 1, or inside ``joblib.parallel_config(backend="dask")`` (or any
    backend with more than one worker), every job is one teacher fit: a forest or booster
    that also starts a thread per core would oversubscribe the cores or the dask
    workers. Members are cloned before the change; sequential fits keep their settings.
    """
    from joblib import effective_n_jobs

    if effective_n_jobs(n_jobs) == 1:
        return teachers
    return [(name, single_threaded(est)) for name, est in teachers]


def single_threaded(estimator):
    """``estimator`` (a clone where anything changes) with every thread count set to 1."""
    if isinstance(estimator, FrozenEstimator) or not hasattr(estimator, "get_params"):
        return estimator
    keys = [k for k, v in estimator.get_params(deep=True).items()
            if k.rsplit("__", 1)[-1] in _THREAD_PARAMS and v != 1
            and (v is None or isinstance(v, (int, np.integer)))]
    return clone(estimator).set_params(**dict.fromkeys(keys, 1)) if keys else estimator


def average_outputs(outputs, weights):
    """Weighted mean of the teachers' outputs."""
    w = np.ones(len(outputs)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.max()  # weights near float64's limit would overflow their sum
    total = np.zeros_like(outputs[0])
    for wi, out in zip(w, outputs):
        total += wi * out
    return total / w.sum()


def predict_teachers(fitted, X, *, n_outputs, task, weights):
    """The ensemble's weighted average output on new rows."""
    classification = task == "classification"
    return average_outputs([t.predict_target(X, n_outputs, classification) for t in fitted],
                           weights)


#: Rows the teachers label at a time: their per-row intermediates (a forest's per-tree
#: probabilities) then stay bounded whatever the number of rows.
LABEL_CHUNK_ROWS = 20_000


def label_rows(fitted, X, *, n_outputs, task, weights, fit_sparse):
    """:func:`predict_teachers` on any number of rows, a chunk at a time (see
    :func:`label_rows_each`); only the weighted average is kept of each chunk."""
    return np.vstack([average_outputs(outputs, weights) for outputs in
                      _label_chunks(fitted, X, n_outputs, task, fit_sparse)])


def label_rows_each(fitted, X, *, n_outputs, task, fit_sparse, teachers_key=None):
    """Each teacher's outputs on any number of rows, as an array ``(n_teachers, n_rows,
    n_outputs)``: unweighted, so that a cache of them serves any ``teacher_weights``.

    The rows are labelled a chunk at a time, each in the kind the teachers were fitted on
    (``fit_sparse``; see :func:`~skdistill._sparse.like_fit_input`), so neither kind's
    conversion holds more than a chunk. ``teachers_key`` names the fitted teachers for a
    cache (``memory`` ignores ``fitted`` and keys on it); the labels never read it.
    """
    del teachers_key
    chunks = list(_label_chunks(fitted, X, n_outputs, task, fit_sparse))
    if not chunks:
        return np.zeros((len(fitted), 0, n_outputs))
    return np.concatenate([np.stack(outputs) for outputs in chunks], axis=1)


def _label_chunks(fitted, X, n_outputs, task, fit_sparse):
    """Each teacher's outputs on ``LABEL_CHUNK_ROWS`` rows at a time: a list per chunk."""
    classification = task == "classification"
    for i in range(0, X.shape[0], LABEL_CHUNK_ROWS):
        chunk = like_fit_input(X[i:i + LABEL_CHUNK_ROWS], fit_sparse)
        yield [t.predict_target(chunk, n_outputs, classification) for t in fitted]

"""DistillationPipeline: a Pipeline that sends unlabeled rows through its preprocessing."""

import copy

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter

from ._base import _BaseDistiller, has_zero_rows
from ._compat import _fit_context, validate_pipeline_steps


class DistillationPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` whose ``fit`` also preprocesses ``X_unlabeled``.

    In a plain Pipeline, a fit parameter such as ``model__X_unlabeled`` reaches the last
    step exactly as given: the scalers, encoders and column transformers before it are
    never applied to those rows. When the preprocessing keeps the number of columns (a
    ``StandardScaler``), the distiller then gets raw rows next to scaled ones, and no
    error is raised. ``DistillationPipeline`` is a Pipeline that fixes this. Its
    ``fit(X, y, X_unlabeled=...)`` does the following:

    1. fits every step but the last on the labelled ``X`` and ``y``, exactly as
       Pipeline does, and transforms ``X``;
    2. transforms ``X_unlabeled`` with those fitted steps (``transform``, never
       ``fit``): the unlabeled rows do not change the preprocessing;
    3. fits the last step with ``fit(Xt, y, X_unlabeled=X_unlabeled_t, **params)``.

    Everything else is Pipeline's: ``predict``, ``score``, ``set_params``,
    ``clone``, caching through ``memory``, and use inside :class:`GridSearchCV` or
    :func:`cross_validate`. Pass ``X_unlabeled`` to their ``fit`` as a fit parameter.
    Each fold's training part refits the preprocessing and transforms the same
    unlabeled rows. The unlabeled rows never enter a test fold, so every score is on
    labelled rows only. Without ``X_unlabeled``, ``fit`` is Pipeline's own.

    Parameters
    ----------
    steps : list of (str, estimator)
        As in :class:`~sklearn.pipeline.Pipeline`. The last step's ``fit`` must accept
        ``X_unlabeled`` (as :class:`DistilledClassifier` and
        :class:`DistilledRegressor` do) when ``X_unlabeled`` is given.
    transform_input : None
        Pipeline's option. It needs metadata routing, which this class does not
        support; leave it at None.
    memory : str, joblib.Memory or None, default=None
        As in Pipeline: caches the fitted transformers. Use only a folder you trust:
        joblib.Memory unpickles what it finds there.
    verbose : bool, default=False
        As in Pipeline.

    See Also
    --------
    DistilledClassifier.fit : Takes ``X_unlabeled`` directly, outside a Pipeline.
    sklearn.semi_supervised.SelfTrainingClassifier : scikit-learn's convention for
        unlabeled rows, which marks them with the label -1 inside ``y``. See Notes for
        why this class does not use it.

    Notes
    -----
    **Why not mark unlabeled rows with the label -1 inside X and y** (scikit-learn's
    semi-supervised convention)? The rows would then flow through every transformer and
    every split on their own, but:

    - cross-validation would put unlabeled rows in test folds. Every scorer would then
      count a prediction against the label -1 as an error, unless each user writes a
      custom scorer and splitter;
    - stratified splitting would treat -1 as one more class;
    - -1 is a legitimate class label in many integer-coded datasets;
    - unsupervised transformers would be fitted on unlabeled rows too. That is
      arguably fine, but supervised ones (target encoders, feature selection) would
      see a fake class.

    Transforming ``X_unlabeled`` with the fitted steps avoids all four problems.

    **Synthetic rows** (``augmentation="munge"``) are made by the last step from the
    rows it receives, that is after preprocessing. ``categorical_features`` therefore
    refers to the columns of the transformed data, and one-hot columns left undeclared
    are perturbed as continuous values near 0 and 1.

    Preprocessing is fitted on labelled rows only, so a ``OneHotEncoder`` inside needs
    ``handle_unknown="ignore"`` if ``X_unlabeled`` can hold categories that the
    labelled rows lack.

    :class:`GridSearchCV` and :func:`cross_validate` split every fit parameter that
    has as many rows as ``X``, as if it were per-sample. An ``X_unlabeled`` with exactly
    ``len(X)`` rows would therefore be cut into folds like ``X``. Add or drop a row to
    keep it whole.

    Metadata routing (``sklearn.set_config(enable_metadata_routing=True)``) is not
    supported with ``X_unlabeled``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdistill import DistillationPipeline, DistilledClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_labeled, y_labeled, X_unlabeled = X[:150], y[:150], X[150:300]
    >>> pipe = DistillationPipeline([
    ...     ("scale", StandardScaler()),
    ...     ("model", DistilledClassifier(
    ...         teachers=[("rf", RandomForestClassifier(n_estimators=30, random_state=0))],
    ...         max_epochs=5, augmentation=None, random_state=0)),
    ... ])
    >>> pipe = pipe.fit(X_labeled, y_labeled, X_unlabeled=X_unlabeled)
    >>> pipe[-1].fit_info_["n_transfer_rows"]  # the unlabeled rows, scaled
    150
    >>> pipe.predict(X[:3]).shape
    (3,)
    """

    @_fit_context(
        # The steps are estimators in their own right: each validates itself in its fit.
        prefer_skip_nested_validation=False
    )
    def fit(self, X, y=None, X_unlabeled=None, **params):
        """Fit the steps; transform ``X_unlabeled`` for the last step when given.

        Parameters
        ----------
        X : iterable
            Labelled training data, as the first step expects it.
        y : iterable, default=None
            Training targets.
        X_unlabeled : iterable or None, default=None
            Rows without labels, in the same raw format as ``X``. They are transformed
            by the preceding steps once those are fitted on ``X``, then passed to the
            last step's ``fit`` as ``X_unlabeled``.
        **params : dict
            ``step__param`` fit parameters, as in Pipeline.

        Returns
        -------
        self : DistillationPipeline
            A fit that fails leaves every step as it was: a pipeline never pairs newly
            fitted preprocessing with the student of an earlier fit.
        """
        steps = list(self.steps)
        # Deep copies: a step may hold estimators of its own (a nested Pipeline) that its
        # fit changes in place. A distiller's own fit changes nothing until it succeeds.
        states = [(step, copy.deepcopy(step.__dict__)) for _, step in steps
                  if hasattr(step, "__dict__") and not isinstance(step, _BaseDistiller)]
        try:
            return self._fit_steps(X, y, X_unlabeled, params)
        except BaseException:
            self.steps = steps
            for step, state in states:
                step.__dict__ = state
            raise

    def _fit_steps(self, X, y, X_unlabeled, params):
        if has_zero_rows(X_unlabeled):
            X_unlabeled = None  # a filter may leave none: the earlier steps refuse zero rows
        stray = [k for k in params if k.endswith("__X_unlabeled")]
        if stray:
            # A plain Pipeline's spelling: it would reach the last step untransformed.
            raise TypeError(
                f"Pass the unlabeled rows as fit(X, y, X_unlabeled=...), not as {stray[0]}: "
                "DistillationPipeline then transforms them with the earlier steps, as X."
            )
        if X_unlabeled is None:
            return super().fit(X, y, **params)
        if self.transform_input is not None:
            raise ValueError(
                "DistillationPipeline does not support transform_input (it needs metadata "
                "routing). Leave transform_input=None."
            )
        validate_pipeline_steps(self)
        last_name, last = self.steps[-1]
        if last is None or last == "passthrough" or not has_fit_parameter(last, "X_unlabeled"):
            raise TypeError(
                f"The last step {last_name!r} ({type(last).__name__}) has no X_unlabeled "
                "parameter in fit, so it cannot learn from unlabeled rows. End the "
                "pipeline with a DistilledClassifier or DistilledRegressor."
            )
        prefix = last_name + "__"
        last_params = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
        head_params = {k: v for k, v in params.items() if not k.startswith(prefix)}

        Xt, X_unlabeled_t = X, X_unlabeled
        if len(self.steps) > 1:
            # Pipeline's own fit_transform fits the preceding steps, so memory, verbose and
            # the "passthrough" steps behave exactly as in Pipeline.
            head = Pipeline(self.steps[:-1], memory=self.memory, verbose=self.verbose)
            Xt = head.fit_transform(X, y, **head_params)
            # With memory, Pipeline fits clones: keep the fitted ones it put in its steps.
            self.steps[:-1] = head.steps
            try:
                X_unlabeled_t = head.transform(X_unlabeled)
            except ValueError as exc:
                raise ValueError(f"X_unlabeled: {exc}") from exc
        elif head_params:
            raise ValueError(
                f"Fit parameters {sorted(head_params)} name no step of this one-step pipeline."
            )
        last.fit(Xt, y, X_unlabeled=X_unlabeled_t, **last_params)
        return self

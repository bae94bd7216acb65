"""Plots for judging a distillation: training curves, reliability, the frontier.

matplotlib is an optional dependency (``pip install skdistill[plot]``), imported only
when a function here is called. Every function draws on the ``ax`` it is given, or on
a new figure, and returns the Axes, so that plots compose and save as usual. A fitted
Pipeline whose last step is a distiller works wherever a distiller does.
"""

import numpy as np

from ._measure import ECE_BINS

__all__ = ["plot_training_curves", "plot_reliability", "plot_frontier"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skdistill.plotting needs matplotlib. Install it with "
            "`pip install skdistill[plot]` (or `pip install matplotlib`)."
        ) from exc
    return plt


def _final_step(model):
    """The last step of a (nested) Pipeline, or ``model`` itself."""
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _fitted_distiller(model, function):
    """The distiller at the end of ``model``, checked fitted, with messages naming it."""
    from sklearn.utils.validation import check_is_fitted

    final = _final_step(model)
    if not hasattr(final, "teacher_predict_output"):
        where = "" if final is model else " (the last step of the Pipeline)"
        raise TypeError(f"{function} needs a DistilledClassifier or DistilledRegressor, or a "
                        f"Pipeline ending with one; got {type(final).__name__}{where}.")
    check_is_fitted(model if final is not model else final)
    return final


def _axes(ax, **subplots):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(**subplots)
    return ax


def plot_training_curves(model, *, ax=None, metrics=None):
    """The student's per-epoch losses (and validation accuracy) from ``history_``.

    Parameters
    ----------
    model : fitted distiller, Pipeline ending in one, or a ``history_`` list of dicts
    ax : matplotlib Axes, optional
        Where to draw the losses. Validation accuracy, when recorded, goes on a twin
        y-axis on the right.
    metrics : list of str, optional
        History keys to draw; default: ``train_loss``, ``valid_loss`` and
        ``valid_accuracy`` where recorded.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdistill.plotting import plot_training_curves
    >>> history = [{"epoch": 1, "train_loss": 0.9, "valid_loss": 1.0, "valid_accuracy": 0.6},
    ...            {"epoch": 2, "train_loss": 0.5, "valid_loss": 0.7, "valid_accuracy": 0.8}]
    >>> ax = plot_training_curves(history)
    >>> [line.get_label() for line in ax.get_lines()]
    ['train_loss', 'valid_loss']
    """
    if isinstance(model, (list, tuple)):
        history = model
        if not history:
            raise ValueError("No training history: the history is empty; fit the model first.")
    else:
        model = _fitted_distiller(model, "plot_training_curves")
        history = model.history_
        if not history:
            raise ValueError("The model recorded no training epochs (history_ is empty).")
    ax = _axes(ax)
    available = [k for k in ("train_loss", "valid_loss", "valid_accuracy") if k in history[0]]
    metrics = available if metrics is None else list(metrics)
    missing = [m for m in metrics if m not in history[0]]
    if missing:
        raise ValueError(f"history_ has no {missing}; it records {sorted(history[0])}.")
    epochs = [r["epoch"] for r in history]
    losses = [m for m in metrics if "accuracy" not in m]
    scores = [m for m in metrics if "accuracy" in m]
    for m in losses:
        ax.plot(epochs, [r[m] for r in history], label=m)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    if scores:
        twin = ax.twinx()
        for m in scores:
            twin.plot(epochs, [r[m] for r in history], linestyle="--", color="tab:green",
                      label=m)
        twin.set_ylabel("accuracy")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    best = (None if isinstance(model, (list, tuple))
            else getattr(model, "fit_info_", {}).get("best_epoch"))
    if best:
        ax.axvline(best, color="grey", linestyle=":", linewidth=1)
    ax.legend(handles, labels, loc="best")
    ax.set_title("Student training")
    return ax


def _reliability_curve(y, proba, classes, n_bins):
    from ._metrics import confidence_bins

    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y
    bins = confidence_bins(confidence, n_bins)
    conf, acc = [], []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            conf.append(confidence[mask].mean())
            acc.append(correct[mask].mean())
    return np.array(conf), np.array(acc)


def plot_reliability(model, X, y, *, n_bins=ECE_BINS, ax=None):
    """Reliability diagram of the student and, when kept, the teachers.

    Rows are binned by their top-class confidence; each point shows a bin's mean
    confidence against its accuracy. Points on the diagonal are calibrated; below it,
    overconfident. The legend gives each side's expected calibration error.

    Parameters
    ----------
    model : fitted DistilledClassifier, or a fitted Pipeline ending in one
        With ``keep_teachers=True`` the teachers' curve is drawn too. A Pipeline's
        earlier steps transform ``X`` first, as in ``predict``.
    X, y : array-like
        Held-out rows and their labels.
    n_bins : int, default=15
        The same bins as the report's expected calibration error, so the legend's ECE
        is the report's.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier
    >>> from skdistill.plotting import plot_reliability
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=1000))],
    ...                             keep_teachers=True, max_epochs=5, random_state=0)
    >>> ax = plot_reliability(model.fit(X, y), X, y)
    >>> [line.get_label().split(" (")[0] for line in ax.get_lines()]
    ['perfect calibration', 'student', 'teachers']
    """
    from ._metrics import expected_calibration_error, final_distiller

    distiller = _fitted_distiller(model, "plot_reliability")
    if distiller._task != "classification":
        raise TypeError(f"plot_reliability needs class probabilities, from a "
                        f"DistilledClassifier; got a {type(distiller).__name__}. For a "
                        "regressor, compare predictions instead.")
    model, X = final_distiller(model, X)
    y = np.asarray(y)
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    sides = [("student", model.predict_proba(X))]
    if hasattr(model, "teachers_"):
        sides.append(("teachers", model.teacher_predict_proba(X)))
    for name, proba in sides:
        conf, acc = _reliability_curve(y, proba, model.classes_, n_bins)
        ece = expected_calibration_error(y, proba, n_bins=n_bins, labels=model.classes_)
        ax.plot(conf, acc, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(loc="lower right")
    return ax


def plot_frontier(frontier, *, x="latency_seconds", y="score", ax=None, annotate=True):
    """The accuracy-latency frontier from :func:`skdistill.distillation_frontier`.

    Students are drawn as a line in the order given (one line per temperature), the
    teacher ensemble as a star: the curve to pick a student size from.

    Parameters
    ----------
    frontier : list of dict or pandas.DataFrame
        The result of :func:`skdistill.distillation_frontier`.
    x, y : str, default="latency_seconds", "score"
        Keys to plot, e.g. ``x="size_bytes"`` or ``y="fidelity"``. Latency and size
        axes are logarithmic.
    ax : matplotlib Axes, optional
    annotate : bool, default=True
        Label each student point with its hidden layer sizes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdistill.plotting import plot_frontier
    >>> rows = [
    ...     {"model": "teachers", "hidden_layer_sizes": None, "temperature": None,
    ...      "score": 0.9, "latency_seconds": 1e-2},
    ...     {"model": "student", "hidden_layer_sizes": (8,), "temperature": 2.0,
    ...      "score": 0.85, "latency_seconds": 2e-5},
    ...     {"model": "student", "hidden_layer_sizes": (64,), "temperature": 2.0,
    ...      "score": 0.88, "latency_seconds": 4e-5}]
    >>> ax = plot_frontier(rows)
    >>> ax.get_xscale()
    'log'
    """
    records = frontier.to_dict("records") if hasattr(frontier, "to_dict") else list(frontier)
    if not records:
        raise ValueError("The frontier is empty; run distillation_frontier first.")
    for key in (x, y):
        if key not in records[0]:
            raise ValueError(f"The frontier has no {key!r}; its keys are {sorted(records[0])}.")
    ax = _axes(ax)
    students = [r for r in records if r.get("model", "student") == "student"]
    teachers = [r for r in records if r.get("model") == "teachers"]
    groups = {}
    for r in students:
        groups.setdefault(r.get("temperature"), []).append(r)
    for temperature, rows in groups.items():
        label = ("students" if temperature is None or len(groups) == 1
                 else f"students, T={temperature:g}")
        ax.plot([r[x] for r in rows], [r[y] for r in rows], marker="o", label=label)
        if annotate:
            for r in rows:
                sizes = r.get("hidden_layer_sizes")
                if sizes is not None:
                    ax.annotate("x".join(str(h) for h in sizes), (r[x], r[y]),
                                textcoords="offset points", xytext=(4, 4), fontsize=8)
    for r in teachers:
        ax.plot([r[x]], [r[y]], marker="*", markersize=14, linestyle="none", color="black",
                label="teachers")
    if x in ("latency_seconds", "size_bytes", "n_parameters"):
        ax.set_xscale("log")
    names = {"latency_seconds": "single-row latency (s)", "size_bytes": "size (bytes)",
             "score": "score (accuracy or R²)", "fidelity": "fidelity",
             "n_parameters": "parameters"}
    ax.set_xlabel(names.get(x, x))
    ax.set_ylabel(names.get(y, y))
    ax.set_title("Distillation frontier")
    ax.legend(loc="best")
    return ax

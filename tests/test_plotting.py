"""Plots render headless (Agg) and carry the expected artists."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402

from skdistill import DistilledClassifier, DistilledRegressor  # noqa: E402
from skdistill.plotting import (  # noqa: E402
    plot_frontier,
    plot_reliability,
    plot_training_curves,
)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], keep_teachers=True,
                                max_epochs=6, random_state=0).fit(X, y)
    return model, X, y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_training_curves(fitted):
    model, _, _ = fitted
    ax = plot_training_curves(model)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines if not line.get_label().startswith("_")] == [
        "train_loss", "valid_loss"]
    assert len(lines[0].get_xdata()) == model.n_iter_
    assert len(ax.figure.axes) == 2  # validation accuracy on a twin axis
    ax = plot_training_curves(model, metrics=["train_loss"])
    assert len(ax.figure.axes) == 1
    with pytest.raises(ValueError, match="no \\['nope'\\]"):
        plot_training_curves(model, metrics=["nope"])
    with pytest.raises(ValueError, match="fit the model first"):
        plot_training_curves([])


def test_training_curves_on_given_axes(fitted):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_training_curves(fitted[0], ax=right) is right
    assert not left.get_lines()


def test_reliability(fitted):
    model, X, y = fitted
    ax = plot_reliability(model, X, y, n_bins=5)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == "perfect calibration"
    assert labels[1].startswith("student (ECE") and labels[2].startswith("teachers (ECE")
    conf, acc = ax.get_lines()[1].get_data()
    assert np.all((conf >= 0) & (conf <= 1)) and np.all((acc >= 0) & (acc <= 1))
    fig = ax.figure
    fig.canvas.draw()  # renders without error


def test_reliability_student_only_and_regressor_error(fitted):
    model, X, y = fitted
    student_only = DistilledClassifier(teachers=[("lr", LogisticRegression())], max_epochs=2,
                                       random_state=0).fit(X, y)
    assert len(plot_reliability(student_only, X, y).get_lines()) == 2
    Xr, yr = make_regression(n_samples=60, n_features=3, random_state=0)
    reg = DistilledRegressor(teachers=[("lin", LinearRegression())], max_epochs=2,
                             random_state=0).fit(Xr, yr)
    with pytest.raises(TypeError, match="DistilledClassifier"):
        plot_reliability(reg, Xr, yr)


def test_frontier_plot():
    rows = [
        {"model": "teachers", "hidden_layer_sizes": None, "temperature": None, "score": 0.9,
         "latency_seconds": 1e-2, "size_bytes": 10**7},
        {"model": "student", "hidden_layer_sizes": (8,), "temperature": 1.0, "score": 0.8,
         "latency_seconds": 2e-5, "size_bytes": 10**3},
        {"model": "student", "hidden_layer_sizes": (64, 32), "temperature": 1.0, "score": 0.85,
         "latency_seconds": 4e-5, "size_bytes": 10**4},
        {"model": "student", "hidden_layer_sizes": (8,), "temperature": 3.0, "score": 0.82,
         "latency_seconds": 2e-5, "size_bytes": 10**3},
    ]
    ax = plot_frontier(rows)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["students, T=1", "students, T=3", "teachers"]
    assert [t.get_text() for t in ax.texts][:2] == ["8", "64x32"]
    assert ax.get_xscale() == "log"
    ax = plot_frontier(rows, x="size_bytes", y="score", annotate=False)
    assert not ax.texts
    with pytest.raises(ValueError, match="no 'fidelity'"):
        plot_frontier(rows, y="fidelity")
    pd = pytest.importorskip("pandas")
    assert plot_frontier(pd.DataFrame(rows)).get_lines()


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install skdistill\[plot\]"):
        plot_training_curves([{"epoch": 1, "train_loss": 1.0}])


def test_plots_accept_a_fitted_pipeline(fitted):
    """Issue 14: a fitted Pipeline was rejected as 'a regressor' or 'not fitted'."""
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skdistill._report import build_report

    _, X, y = fitted
    pipe = make_pipeline(StandardScaler(), DistilledClassifier(
        teachers=[("lr", LogisticRegression())], keep_teachers=True, max_epochs=4,
        random_state=0)).fit(X, y)
    ax = plot_training_curves(pipe)
    assert len(ax.get_lines()[0].get_xdata()) == pipe[-1].n_iter_
    ax = plot_reliability(pipe, X, y)
    labels = [line.get_label() for line in ax.get_lines()]
    # The legend's ECE is the report's: same bins, same rows through the scaler.
    report = build_report(pipe, X, y, n_latency_calls=3, n_teacher_latency_calls=3)
    assert labels[1] == f"student (ECE {report.metrics['ece']['student']:.3f})"
    assert labels[2] == f"teachers (ECE {report.metrics['ece']['teacher']:.3f})"

    unfitted = make_pipeline(StandardScaler(), DistilledClassifier())
    for plot in (lambda: plot_training_curves(unfitted), lambda: plot_reliability(unfitted, X, y)):
        with pytest.raises(NotFittedError):
            plot()
    with pytest.raises(TypeError, match="got LogisticRegression .the last step"):
        plot_reliability(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X, y)
    Xr, yr = make_regression(n_samples=60, n_features=3, random_state=0)
    reg = make_pipeline(StandardScaler(), DistilledRegressor(
        teachers=[("lin", LinearRegression())], max_epochs=2, random_state=0)).fit(Xr, yr)
    with pytest.raises(TypeError, match="got a DistilledRegressor"):
        plot_reliability(reg, Xr, yr)
    assert plot_training_curves(reg).get_lines()

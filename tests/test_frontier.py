"""distillation_frontier: one teacher fit, several students, each measured."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, DistilledRegressor, distillation_frontier


class CountingLR(LogisticRegression):
    """Counts fits in a class attribute (not pickled, so the cache key is unchanged)."""

    n_fits = 0

    def fit(self, X, y, sample_weight=None):
        CountingLR.n_fits += 1
        return super().fit(X, y, sample_weight=sample_weight)


class SlowLR(LogisticRegression):
    """A teacher whose fit takes over a second: a student's fit time must not hold it."""

    def fit(self, X, y, sample_weight=None):
        import time

        time.sleep(1.5)
        return super().fit(X, y, sample_weight=sample_weight)


@pytest.fixture(scope="module")
def split():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)
    return X[:200], y[:200], X[200:], y[200:]


def _template(**kw):
    # The standard encoding keeps the parameter count easy to write out below.
    params = dict(teachers=[("lr", CountingLR())], soft_targets="in_sample", max_epochs=4,
                  input_encoding="standard")
    params.update(kw)
    return DistilledClassifier(**params)


def test_teachers_fitted_once_for_all_sizes_and_temperatures(split):
    CountingLR.n_fits = 0
    template = _template()
    rows = distillation_frontier(template, *split, hidden_layer_sizes=[(2,), (8,), (16, 8)],
                                 temperatures=[1.0, 4.0], n_latency_calls=3)
    # keep_teachers=True means the in-sample fit also serves as the kept teacher: 1 fit.
    assert CountingLR.n_fits == 1
    assert rows[0]["model"] == "teachers" and rows[0]["fidelity"] == 1.0
    students = rows[1:]
    assert [(r["temperature"], r["hidden_layer_sizes"]) for r in students] == [
        (1.0, (2,)), (1.0, (8,)), (1.0, (16, 8)), (4.0, (2,)), (4.0, (8,)), (4.0, (16, 8))]
    # Stored numbers: standardization (mean and scale of 6 inputs), then weights and biases.
    assert [r["n_parameters"] - 12 for r in students[:3]] == [6 * 2 + 2 + 2 * 2 + 2,
                                                        6 * 8 + 8 + 8 * 2 + 2,
                                                        6 * 16 + 16 + 16 * 8 + 8 + 8 * 2 + 2]
    for r in students:
        assert 0 <= r["score"] <= 1 and 0 <= r["fidelity"] <= 1
        assert r["latency_seconds"] > 0 and r["size_bytes"] > 0 and r["fit_seconds"] > 0
    # Bigger students are bigger pickles; the teachers are measured too.
    assert students[0]["size_bytes"] < students[2]["size_bytes"]
    assert rows[0]["size_bytes"] > 0 and rows[0]["latency_seconds"] > 0
    assert rows[0]["fit_seconds"] > 0  # the teachers' fit, once
    # The template is untouched.
    assert template.memory is None and template.keep_teachers is False


def test_returned_estimators_match_the_measures(split):
    import torch  # noqa: F401  (imported by the first fit otherwise, and timed with it)

    X_train, y_train, X_test, y_test = split
    rows = distillation_frontier(_template(random_state=3, teachers=[("lr", SlowLR())]),
                                 *split, hidden_layer_sizes=[(4,)], include_teachers=False,
                                 return_estimators=True, n_latency_calls=3)
    assert len(rows) == 1
    model = rows[0]["estimator"]
    assert model.score(X_test, y_test) == pytest.approx(rows[0]["score"])
    # Shipped as the template asked: no teachers, no pointer to the deleted cache.
    assert not hasattr(model, "teachers_") and model.memory is None
    assert model.random_state == 3
    # The size is the report's: the temporary cache was never part of the model.
    from skdistill._report import build_report

    report = build_report(model, X_test, y_test, n_latency_calls=3)
    assert rows[0]["size_bytes"] == report.sizes["student_bytes"]
    # A student's fit time leaves out the teachers' fit (1.5 s of sleep).
    assert model.fit_info_["teacher_fit_seconds"] >= 1.5
    assert 0 < rows[0]["fit_seconds"] < model.fit_info_["student_fit_seconds"] + 1.0


def test_pipeline_and_dataframe_friendly(split):
    pd = pytest.importorskip("pandas")
    pipe = make_pipeline(StandardScaler(), _template(keep_teachers=True))
    rows = distillation_frontier(pipe, *split, hidden_layer_sizes=[(4,), (8,)],
                                 n_latency_calls=3, return_estimators=True)
    frame = pd.DataFrame(rows)
    assert list(frame["model"]) == ["teachers", "student", "student"]
    # keep_teachers=True on the template: returned models keep them, sizes exclude them.
    assert hasattr(rows[1]["estimator"][-1], "teachers_")


def test_regression_frontier():
    X, y = make_regression(n_samples=200, n_features=4, noise=1.0, random_state=0)
    template = DistilledRegressor(teachers=[("lin", LinearRegression())], max_epochs=10)
    rows = distillation_frontier(template, X[:150], y[:150], X[150:], y[150:],
                                 hidden_layer_sizes=[(8,)], n_latency_calls=3)
    assert rows[0]["score"] > 0.99  # the linear teacher's R²
    assert rows[1]["temperature"] is None and np.isfinite(rows[1]["fidelity"])
    with pytest.raises(ValueError, match="classification only"):
        distillation_frontier(template, X, y, X, y, temperatures=[2.0])


def test_clear_errors(split):
    with pytest.raises(TypeError, match="needs a DistilledClassifier"):
        distillation_frontier(LogisticRegression(), *split)
    with pytest.raises(ValueError, match="at least one student size"):
        distillation_frontier(_template(), *split, hidden_layer_sizes=[])
    for sizes in ([8, 16], (64, 32), ["auto"]):
        with pytest.raises(ValueError, match=r"each a tuple of positive ints, such as"):
            distillation_frontier(_template(), *split, hidden_layer_sizes=sizes)


class CountingScaler(StandardScaler):
    """Counts single-row transforms, to see which timed calls run the preprocessing."""

    n_row_transforms = 0

    def transform(self, X, copy=None):
        if np.shape(X)[0] == 1:
            CountingScaler.n_row_transforms += 1
        return super().transform(X, copy=copy)


@pytest.mark.parametrize("path", ["distiller", "pipeline"])
def test_pipeline_student_and_teachers_timed_on_the_same_path(split, monkeypatch, path):
    """Issue 14: students were timed through the whole Pipeline, teachers after it.

    Every timed single-row call is recorded with the rows it received; both sides must
    get the same rows, and run the preprocessing in the same way (never, or every call).
    """
    import skdistill._measure as measure

    calls = []
    real = measure.single_row_latency

    def spy(predict, X, n_calls=200, warmup=20):
        before = CountingScaler.n_row_transforms
        seconds = real(predict, X, n_calls=n_calls, warmup=warmup)
        calls.append({"rows": np.asarray(X), "calls": n_calls + warmup,
                      "transforms": CountingScaler.n_row_transforms - before})
        return seconds

    monkeypatch.setattr(measure, "single_row_latency", spy)
    X_train, y_train, X_test, y_test = split
    pipe = make_pipeline(CountingScaler(), _template(random_state=0))
    rows = distillation_frontier(pipe, *split, hidden_layer_sizes=[(4,)], n_latency_calls=10,
                                 latency_path=path)
    teacher, student = calls  # teachers' entry first, then the one student's
    np.testing.assert_array_equal(teacher["rows"], student["rows"])
    scaled = pipe.fit(X_train, y_train)[0].transform(X_test)
    if path == "distiller":
        np.testing.assert_allclose(student["rows"], scaled)
        assert teacher["transforms"] == student["transforms"] == 0
        assert rows[1]["latency_path"].startswith("distiller input")
    else:
        np.testing.assert_array_equal(student["rows"], X_test)
        assert teacher["transforms"] == teacher["calls"]
        assert student["transforms"] == student["calls"]
        assert rows[1]["latency_path"].startswith("whole Pipeline")
    assert rows[0]["latency_path"] == rows[1]["latency_path"]

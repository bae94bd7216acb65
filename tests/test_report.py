"""model.report(X, y): the structured teacher-vs-student report."""

import json
import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score

from skdistill import DistillationReport, DistilledClassifier, DistilledRegressor
from skdistill._report import build_report


@pytest.fixture(scope="module")
def split():
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    labels = np.array(["ant", "bee", "cat"])[y]
    return X[:300], labels[:300], X[300:], labels[300:]


def _fit(split, **kw):
    X, y, _, _ = split
    return DistilledClassifier(teachers=[("lr", LogisticRegression())], max_epochs=5,
                               random_state=0, **kw).fit(X, y)


@pytest.fixture(scope="module")
def report(split):
    model = _fit(split, keep_teachers=True)
    return model, build_report(model, split[2], split[3], n_latency_calls=5,
                               n_teacher_latency_calls=3)


def test_classification_contents(report, split):
    model, r = report
    X_test, y_test = split[2], split[3]
    assert isinstance(r, DistillationReport)
    assert r.task == "classification" and r.teachers_kept and r.n_samples == 100
    assert r.metrics["accuracy"]["student"] == pytest.approx(model.score(X_test, y_test))
    teacher_pred = model.classes_[model.teacher_predict_proba(X_test).argmax(1)]
    assert r.metrics["accuracy"]["teacher"] == pytest.approx(accuracy_score(y_test, teacher_pred))
    for name in ("log_loss", "ece"):
        assert r.metrics[name]["teacher"] >= 0 and r.metrics[name]["student"] >= 0
    assert r.fidelity == pytest.approx(np.mean(model.predict(X_test) == teacher_pred))
    assert r.kl_divergence >= 0
    assert [c["class"] for c in r.per_class_fidelity] == ["ant", "bee", "cat"]
    assert sum(c["teacher_support"] for c in r.per_class_fidelity) == 100
    assert r.sizes["student_bytes"] > 0 and r.sizes["teacher_bytes"] > 0
    # The student's size is the model as shipped, without the kept teachers.
    assert r.sizes["student_bytes"] < len(pickle.dumps(model))
    assert r.latency["student_seconds"] > 0 and r.latency["teacher_seconds"] > 0


def test_disagreements_are_sorted_by_total_variation(report, split):
    model, r = report
    X_test = split[2]
    tvd = 0.5 * np.abs(model.teacher_predict_proba(X_test) - model.predict_proba(X_test)).sum(1)
    assert len(r.disagreements) == 10
    assert [d["row"] for d in r.disagreements] == list(np.argsort(-tvd, kind="stable")[:10])
    top = r.disagreements[0]
    assert top["total_variation"] == pytest.approx(tvd.max())
    assert top["student_pred"] == model.predict(X_test[top["row"]:top["row"] + 1])[0]


def test_text_dict_and_frame_forms(report):
    _, r = report
    text = str(r)
    for word in ("accuracy", "log-loss", "ECE", "Fidelity", "latency", "size", "disagreements"):
        assert word in text
    d = r.to_dict()
    json.dumps(d)  # plain Python values only
    assert d["metrics"]["accuracy"] == r.metrics["accuracy"]
    frame = r.to_frame()
    assert list(frame.columns) == ["teacher", "student"]
    assert {"accuracy", "fidelity", "size_bytes", "latency_seconds"} <= set(frame.index)
    assert len(r.to_frame("disagreements")) == 10
    assert list(r.to_frame("per_class")["class"]) == ["ant", "bee", "cat"]
    with pytest.raises(ValueError, match="part must be"):
        r.to_frame("nope")


def test_student_only_when_teachers_not_kept(split):
    model = _fit(split)
    r = model.report(split[2], split[3])
    assert not r.teachers_kept and r.fidelity is None and r.disagreements == []
    assert r.metrics["accuracy"]["teacher"] is None
    assert r.sizes["teacher_bytes"] is None and r.latency["teacher_seconds"] is None
    assert "not kept" in str(r) and "keep_teachers=True" in r.notes[0]


def test_dataframe_index_is_reported(report, split):
    pd = pytest.importorskip("pandas")
    model, _ = report
    X_test = pd.DataFrame(split[2], index=np.arange(1000, 1100))
    r = build_report(model, X_test, split[3], n_latency_calls=3, n_teacher_latency_calls=3)
    assert all(d["index"] == 1000 + d["row"] for d in r.disagreements)


def test_lists_column_vectors_and_odd_indexes_make_a_json_report(report, split):
    pd = pytest.importorskip("pandas")
    model, expected = report
    X_test, y_test = split[2], split[3]
    args = dict(n_latency_calls=3, n_teacher_latency_calls=3)
    from_lists = build_report(model, X_test.tolist(), list(y_test), **args)
    assert from_lists.fidelity == expected.fidelity
    assert all("index" not in d for d in from_lists.disagreements)
    with pytest.warns(Warning, match="column-vector y"):
        column = build_report(model, X_test, pd.DataFrame({"y": y_test}), **args)
    assert column.metrics == expected.metrics
    for index in (pd.date_range("2024-01-01", periods=len(y_test), freq="h"),
                  pd.MultiIndex.from_arrays([np.arange(len(y_test)), ["a"] * len(y_test)])):
        r = build_report(model, pd.DataFrame(X_test, index=index), y_test, **args)
        json.dumps(r.to_dict())
    with pytest.raises(ValueError, match="pass y"):
        build_report(model, X_test, None)


def test_date_labels_read_as_dates(split):
    X, y, X_test, y_test = split
    dates = {"ant": "2024-01-01", "bee": "2024-02-01", "cat": "2024-03-01"}
    as_dates = np.vectorize(dates.get)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], max_epochs=2,
                                keep_teachers=True, random_state=0).fit(
        X, as_dates(y).astype("datetime64[ns]"))
    r = build_report(model, X_test, as_dates(y_test).astype("datetime64[ns]"),
                     n_latency_calls=3, n_teacher_latency_calls=3)
    assert [c["class"][:10] for c in r.per_class_fidelity] == sorted(dates.values())
    json.dumps(r.to_dict())


def test_unknown_labels_and_bad_lengths_are_clear_errors(report, split):
    model, _ = report
    with pytest.raises(ValueError, match="never saw"):
        build_report(model, split[2][:3], np.array(["ant", "dog", "cat"]))
    with pytest.raises(ValueError, match="rows but y has"):
        build_report(model, split[2][:3], split[3][:2])


def test_regression_report():
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
    model = DistilledRegressor(teachers=[("lin", LinearRegression())], keep_teachers=True,
                               max_epochs=20, random_state=0).fit(X[:200], y[:200])
    r = build_report(model, X[200:], y[200:], n_latency_calls=5, n_teacher_latency_calls=3)
    assert r.task == "regression" and set(r.metrics) == {"r2", "rmse"}
    assert r.metrics["r2"]["teacher"] > 0.99
    gap = np.abs(model.predict(X[200:]) - model.teacher_predict(X[200:]))
    assert r.disagreements[0]["abs_difference"] == pytest.approx(gap.max())
    assert "R2 of student vs teacher" in str(r)
    json.dumps(r.to_dict())
    student_only = DistilledRegressor(teachers=[("lin", LinearRegression())], max_epochs=5,
                                      random_state=0).fit(X[:200], y[:200])
    r2 = student_only.report(X[200:], y[200:])
    assert r2.fidelity is None and r2.metrics["rmse"]["teacher"] is None


def test_report_on_a_pipeline_times_both_sides_on_one_path(split):
    """A fitted Pipeline: figures on the transformed rows, latency path recorded."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skdistill._measure import shipped_size

    X, y, X_test, y_test = split
    pipe = make_pipeline(StandardScaler(), DistilledClassifier(
        teachers=[("lr", LogisticRegression())], keep_teachers=True, max_epochs=5,
        random_state=0)).fit(X, y)
    r = build_report(pipe, X_test, y_test, n_latency_calls=3, n_teacher_latency_calls=3)
    assert r.metrics["accuracy"]["student"] == pytest.approx(pipe.score(X_test, y_test))
    # The same figures as the distiller's own report on the rows it receives...
    inner = pipe[-1].report(pipe[0].transform(X_test), y_test)
    assert r.metrics == inner.metrics and r.fidelity == inner.fidelity
    # ...but the size is the Pipeline as shipped (scaler included, teachers excluded).
    assert r.sizes["student_bytes"] == shipped_size(pipe) > inner.sizes["student_bytes"]
    assert r.sizes["teacher_bytes"] == inner.sizes["teacher_bytes"]
    assert r.latency["path"].startswith("distiller input") and "latency timed on" in str(r)
    whole = build_report(pipe, X_test, y_test, n_latency_calls=3, n_teacher_latency_calls=3,
                         latency_path="pipeline")
    assert whole.latency["path"].startswith("whole Pipeline")
    with pytest.raises(ValueError, match="path must be one of"):
        build_report(pipe, X_test, y_test, latency_path="nope")


def test_student_size_is_what_ships_even_with_a_frozen_teacher():
    """A prefit teacher sits in the ``teachers`` parameter; the shipped size leaves it out."""
    import pickle

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.frozen import FrozenEstimator

    from skdistill import DistilledClassifier, serving

    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(X[:300], y[:300])
    model = DistilledClassifier(teachers=[("rf", FrozenEstimator(forest))], max_epochs=3,
                                augmentation=None, keep_teachers=True,
                                random_state=0).fit(X[300:], y[300:])
    sizes = model.report(X[:100], y[:100]).sizes
    assert sizes["student_bytes"] == len(pickle.dumps(serving(model),
                                                      protocol=pickle.HIGHEST_PROTOCOL))
    assert sizes["student_bytes"] < 1.2 * model.student_.nbytes + 20_000
    # Dropping only the kept teachers would still ship the frozen forest.
    from skdistill._base import without_teachers

    assert len(pickle.dumps(without_teachers(model))) > sizes["student_bytes"] + 100_000


def test_an_unseen_category_warns_once_per_side_not_once_per_timed_row():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=300), "city": rng.choice(["a", "b"], 300)})
    y = (frame["x"] > 0).astype(int).to_numpy()
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], max_epochs=2,
                                keep_teachers=True, random_state=0).fit(frame[:200], y[:200])
    test = frame[200:].assign(city="Berlin")  # unseen on every row
    with pytest.warns(UserWarning, match="not seen at fit") as caught:
        model.report(test, y[200:])
    # The student's and the teachers' predictions on the whole set: not 100 timed rows.
    assert len(caught) <= 2

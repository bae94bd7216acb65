"""The command line end to end, on small CSV files: fit, predict, info, export, errors."""

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from skdistill import DistilledClassifier, DistilledRegressor, TableSchema, load  # noqa: E402
from skdistill._tabular import (  # noqa: E402
    ColumnError,
    check_columns,
    detect_task,
    model_input,
    read_csv,
    typed_frame,
)
from skdistill.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# Tiny teachers and few epochs: these tests check the plumbing, not accuracy.
FAST = ["--teachers", "rf", "--n-estimators", "5", "--cv", "2", "--max-epochs", "3", "--quiet"]


def _table(n=160, seed=0):
    rng = np.random.RandomState(seed)
    df = pd.DataFrame({
        "age": rng.randint(18, 80, n).astype(float),
        "income": rng.lognormal(10, 1, n).round(2),
        "city": rng.choice(["Paris", "Oslo", "Rome"], n),
        "plan": rng.choice(["basic", "pro"], n),
    })
    df["churn"] = np.where((df.age > 50) ^ (df.city == "Oslo"), "yes", "no")
    df["spend"] = df.age * 3.1 + (df.city == "Rome") * 20 + rng.randn(n)
    df.loc[3, "age"] = np.nan  # an empty numeric cell: the model fills it
    df.loc[5, "city"] = np.nan  # an empty text cell: no category
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    df = _table()
    df.drop(columns="spend").to_csv(d / "train.csv", index=False)
    df.drop(columns="churn").to_csv(d / "reg.csv", index=False)
    new = _table(12, seed=1).drop(columns=["spend"])
    new.drop(columns="churn").to_csv(d / "new.csv", index=False)
    new.to_csv(d / "new_with_target.csv", index=False)
    df[["age", "income", "churn"]].to_csv(d / "numeric.csv", index=False)
    df[["age", "income", "churn"]].dropna().to_csv(d / "complete.csv", index=False)
    return d


@pytest.fixture(scope="module")
def model_path(files):
    path = files / "churn.skd"
    assert main(["fit", str(files / "train.csv"), "--target", "churn", "-o", str(path)]
                + FAST) == 0
    return path


def _error(capsys, argv):
    """Run argv, expecting one clean error line and a non-zero exit."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("skdistill: error: "), err
    return lines[0]


def test_fit_saves_the_models_own_schema(model_path, files):
    model, metadata = load(model_path, return_metadata=True)
    assert list(model.classes_) == ["no", "yes"]
    assert metadata["target"] == "churn"
    # The columns are the model's TableSchema: no second encoding in the metadata.
    assert "tabular" not in metadata
    kinds = {c["name"]: c["kind"] for c in model.table_.columns}
    assert kinds == {"age": "numeric", "income": "numeric", "city": "categorical",
                     "plan": "categorical"}
    assert model.table_.columns[2]["categories"] == ["Oslo", "Paris", "Rome"]
    summary = metadata["summary"]
    assert summary["metric"] == "accuracy" and 0 <= summary["fidelity"] <= 1
    assert summary["teacher_bytes"] > 0 and summary["student_latency_s"] > 0
    assert not hasattr(model, "teachers_")


def test_fit_summary_table(files, tmp_path, capsys):
    out = tmp_path / "m.skd"
    assert main(["fit", str(files / "numeric.csv"), "--target", "churn", "-o", str(out)]
                + FAST) == 0
    printed = capsys.readouterr().out
    for word in ("held-out accuracy", "fidelity", "size", "single-row latency", "Saved"):
        assert word in printed
    # Numeric columns with an empty cell: a schema of numbers, whose student fills NaN.
    model = load(out)
    assert [c["kind"] for c in model.table_.columns] == ["numeric", "numeric"]
    assert model.student_.accepts_missing


def test_predict_raw_rows(model_path, files, capsys, tmp_path):
    assert main(["predict", str(model_path), str(files / "new.csv"), "--proba"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(out.columns) == ["predicted_churn", "proba_no", "proba_yes"]
    assert len(out) == 12 and set(out.predicted_churn) <= {"no", "yes"}
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]].sum(axis=1), 1.0)

    # The same rows through the Python API, as pandas reads the file: the same numbers.
    model = load(model_path)
    X = pd.read_csv(files / "new.csv")
    np.testing.assert_allclose(out[["proba_no", "proba_yes"]], model.predict_proba(X),
                               rtol=0, atol=1e-12)
    assert list(out.predicted_churn) == list(model.predict(X))

    # The target column may be present in the data: it is ignored. -o writes a file.
    dest = tmp_path / "preds.csv"
    assert main(["predict", str(model_path), str(files / "new_with_target.csv"),
                 "-o", str(dest)]) == 0
    written = pd.read_csv(dest)
    assert list(written.predicted_churn) == list(out.predicted_churn)


def test_info(model_path, capsys):
    assert main(["info", str(model_path)]) == 0
    text = capsys.readouterr().out
    assert "DistilledClassifier (classification)" in text
    assert "Classes (2): no, yes" in text
    assert "Input columns (4):" in text
    assert "city: categorical, 3 categories (Oslo, Paris, Rome)" in text
    assert "plan: categorical, 2 categories (basic, pro)" in text
    assert "age: numeric" in text and "income: numeric" in text
    assert "Empty cells: filled by the model" in text
    assert "held-out accuracy" in text


def test_export_refuses_categorical_then_reads_codes(model_path, files, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "m.onnx"
    line = _error(capsys, ["export", str(model_path), "--onnx", str(onnx_path)])
    assert "'city', 'plan'" in line and "--encoded-input" in line
    assert not onnx_path.exists()

    assert main(["export", str(model_path), "--onnx", str(onnx_path), "--encoded-input"]) == 0
    assert "city, plan in this order" in capsys.readouterr().err
    model = load(model_path)
    X = pd.read_csv(files / "new.csv")
    X.loc[0, "city"], X.loc[1, "age"], X.loc[2, "plan"] = "Lyon", np.nan, np.nan
    codes = model.table_.encode(X, warn_unseen=False)
    assert codes[0, 2] == -1 and np.isnan(codes[1, 0]) and np.isnan(codes[2, 3])
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    proba, _ = session.run(None, {"X": codes.astype(np.float32)})
    with pytest.warns(UserWarning, match="Categories not seen at fit"):
        expected = model.predict_proba(X)
    assert np.abs(proba - expected).max() <= 1e-5
    # The graph's metadata carries the schema that makes the codes.
    props = session.get_modelmeta().custom_metadata_map
    assert TableSchema.from_dict(json.loads(props["table"])) == model.table_


@pytest.mark.parametrize("csv, empty_cells", [("complete.csv", False), ("numeric.csv", True)])
def test_export_numbers_only(files, tmp_path, capsys, csv, empty_cells):
    ort = pytest.importorskip("onnxruntime")
    path, onnx_path = tmp_path / "m.skd", tmp_path / "m.onnx"
    assert main(["fit", str(files / csv), "--target", "churn", "-o", str(path)] + FAST) == 0
    capsys.readouterr()
    # No flag needed: the graph reads the CSV's columns as numbers.
    assert main(["export", str(path), "--onnx", str(onnx_path)]) == 0
    err = capsys.readouterr().err
    assert "the columns age, income in this order" in err
    assert ("NaN for an empty cell" in err) == empty_cells
    model = load(path)
    assert (model.table_ is not None) == empty_cells
    X = pd.read_csv(files / "numeric.csv").drop(columns="churn")
    if not empty_cells:
        X = X.dropna()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    proba, _ = session.run(None, {"X": X.to_numpy(np.float32)})
    assert np.abs(proba - model.predict_proba(X)).max() <= 1e-5


def test_regression_is_detected(files, tmp_path, capsys):
    import skdistill

    if not hasattr(skdistill, "DistilledRegressor"):
        pytest.skip("DistilledRegressor is not in this tree yet")
    path = tmp_path / "spend.skd"
    assert main(["fit", str(files / "reg.csv"), "--target", "spend", "-o", str(path)]
                + FAST) == 0
    assert "held-out r2" in capsys.readouterr().out
    model = load(path)
    assert type(model).__name__ == "DistilledRegressor"
    assert main(["predict", str(path), str(files / "new.csv")]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert out["predicted_spend"].dtype == np.float64 and len(out) == 12
    line = _error(capsys, ["predict", str(path), str(files / "new.csv"), "--proba"])
    assert "--proba" in line


def test_user_errors_are_one_line(model_path, files, tmp_path, capsys):
    line = _error(capsys, ["fit", str(files / "train.csv"), "--target", "nope"] + FAST)
    assert "'nope'" in line and "churn" in line

    df = read_csv(files / "new.csv")
    df.assign(extra=1).to_csv(tmp_path / "unknown.csv", index=False)
    line = _error(capsys, ["predict", str(model_path), str(tmp_path / "unknown.csv")])
    assert "unknown column" in line and "'extra'" in line

    df.drop(columns="city").to_csv(tmp_path / "missing.csv", index=False)
    line = _error(capsys, ["predict", str(model_path), str(tmp_path / "missing.csv")])
    assert "missing column" in line and "'city'" in line

    df.assign(age=["41"] * 4 + ["old"] + ["41"] * (len(df) - 5)).to_csv(
        tmp_path / "text.csv", index=False)
    line = _error(capsys, ["predict", str(model_path), str(tmp_path / "text.csv")])
    assert "column 'age' must hold numbers, but holds 'old' (row 5 of the data)" in line

    corrupt = tmp_path / "corrupt.skd"
    data = bytearray(model_path.read_bytes())
    corrupt.write_bytes(bytes(data[: len(data) // 2]))
    for command in (["predict", str(corrupt), str(files / "new.csv")], ["info", str(corrupt)]):
        assert "not a readable skdistill model" in _error(capsys, command)

    line = _error(capsys, ["predict", str(model_path), str(tmp_path / "none.csv")])
    assert "none.csv" in line
    line = _error(capsys, ["fit", str(files / "train.csv"), "--target", "churn",
                           "--teachers", "rf,svm", "-o", str(tmp_path / "x.skd")])
    assert "svm" in line


@pytest.mark.parametrize("command", [[], ["demo"], ["fit"], ["predict"], ["info"], ["export"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main(command + ["--help"])
    assert exc.value.code == 0
    assert "usage: skdistill" in capsys.readouterr().out


def test_console_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.skd"
    bad.write_bytes(b"garbage")
    result = subprocess.run([sys.executable, "-m", "skdistill", "info", str(bad)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("skdistill: error: ") and "Traceback" not in result.stderr


def test_column_rules():
    typed = typed_frame(pd.DataFrame({"n": ["1", None, "3"], "c": ["a", "b", None],
                                      "zip": ["01", "75", "75"], "empty": [None] * 3}))
    # Numeric when every non-empty cell parses ("01" does); an empty column is not numeric.
    assert typed.dtypes.astype(str).tolist() == ["float64", "object", "float64", "object"]
    assert typed["c"].tolist() == ["a", "b", None]
    assert check_columns(["n", "c", "target"], ["c", "n"], ignore=["target"]) == []
    with pytest.raises(ColumnError, match="missing column.*'zip'"):
        check_columns(["n"], ["n", "zip"])
    with pytest.raises(ColumnError, match="unknown column.*'x'"):
        check_columns(["n", "x"], ["n"])
    # A model column of numeric categories (fitted from Python) is parsed; text stays text.
    columns = [{"name": "n", "kind": "categorical", "categories": [1.0, 3.0]},
               {"name": "zip", "kind": "categorical", "categories": ["01", "75"]}]
    X = model_input(pd.DataFrame({"zip": ["01", None], "n": ["3", None]}), columns)
    assert X["n"].tolist()[0] == 3.0 and np.isnan(X["n"].tolist()[1])
    assert X["zip"].tolist() == ["01", None]
    with pytest.raises(ColumnError, match="'n' must hold numbers, but holds 'x' .row 2"):
        model_input(pd.DataFrame({"zip": ["01", "01"], "n": ["3", "x"]}), columns)
    assert detect_task(pd.Series([str(i) for i in range(30)])) == "regression"
    assert detect_task(pd.Series(["1", "2", "3"] * 5)) == "classification"


def test_predict_with_a_model_saved_from_python(tmp_path, capsys):
    """A model saved with skdistill.save (no CSV encoding) takes its own feature names."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from skdistill import DistilledClassifier, save

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))], cv=2,
                                hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X, y)
    save(model, tmp_path / "iris.skd")
    X.head(5).to_csv(tmp_path / "iris.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" warning
        assert main(["predict", str(tmp_path / "iris.skd"), str(tmp_path / "iris.csv")]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    np.testing.assert_array_equal(out["prediction"], model.predict(X.head(5)))


def test_predict_with_a_table_model_saved_from_python(tmp_path, capsys):
    """A model fitted from Python on a table: text categories stay text, number
    categories (categorical_features) are parsed; the same predictions as the API."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from skdistill import DistilledClassifier, save

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120), "zip": rng.choice([13, 69, 75], 120),
                      "c": rng.choice(["01", "02"], 120).astype(object)})
    y = ((X.a > 0) ^ (X.zip == 75)).astype(int)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], cv=2,
                                categorical_features=["zip"], hidden_layer_sizes=(8,),
                                max_epochs=2, random_state=0).fit(X, y)
    save(model, tmp_path / "py.skd")
    X.head(6).to_csv(tmp_path / "py.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no unseen category: "01" is read as "01"
        assert main(["predict", str(tmp_path / "py.skd"), str(tmp_path / "py.csv"),
                     "--proba"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    np.testing.assert_allclose(out[["proba_0", "proba_1"]], model.predict_proba(X.head(6)),
                               rtol=0, atol=1e-12)


def test_output_path_is_checked_before_the_fit(files, tmp_path, capsys, monkeypatch):
    # The fit must not even start: a model that cannot be saved would waste it.
    import skdistill._classifier as classifier

    def no_fit(*args, **kwargs):
        raise AssertionError("fit ran before the output path was checked")

    monkeypatch.setattr(classifier.DistilledClassifier, "fit", no_fit)
    train = str(files / "train.csv")
    line = _error(capsys, ["fit", train, "--target", "churn", "-o", str(tmp_path)] + FAST)
    assert "is a directory" in line
    missing = tmp_path / "no" / "such" / "model.skd"
    line = _error(capsys, ["fit", train, "--target", "churn", "-o", str(missing)] + FAST)
    assert "does not exist" in line and str(missing.parent) in line
    line = _error(capsys, ["predict", "m.skd", train, "-o", str(missing)])
    assert "does not exist" in line
    line = _error(capsys, ["export", "m.skd", "--onnx", str(tmp_path)])
    assert "--onnx" in line and "is a directory" in line


def test_header_only_csv_is_a_clear_error(files, model_path, tmp_path, capsys):
    empty = tmp_path / "header_only.csv"
    empty.write_text("age,income,city,plan,churn\n")
    line = _error(capsys, ["fit", str(empty), "--target", "churn",
                           "-o", str(tmp_path / "m.skd")] + FAST)
    assert "no data rows" in line and "header_only.csv" in line
    line = _error(capsys, ["predict", str(model_path), str(empty)])
    assert "no data rows" in line


def test_estimator_value_error_is_one_line(files, tmp_path, capsys):
    # More folds than rows of a class: scikit-learn's ValueError, shown as one line.
    line = _error(capsys, ["fit", str(files / "train.csv"), "--target", "churn",
                           "-o", str(tmp_path / "m.skd"), "--teachers", "rf",
                           "--n-estimators", "5", "--cv", "500", "--quiet"])
    assert "500" in line


def test_unexpected_load_error_is_one_line(model_path, capsys, monkeypatch):
    import skdistill._persist as persist

    def broken_load(*args, **kwargs):
        raise KeyError("coef_0")

    monkeypatch.setattr(persist, "load", broken_load)
    line = _error(capsys, ["info", str(model_path)])
    assert "not a readable skdistill model" in line and "KeyError" in line

    monkeypatch.setenv("SKDISTILL_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["info", str(model_path)])


def test_unexpected_error_is_one_line_unless_debugging(files, tmp_path, capsys,
                                                       monkeypatch):
    import skdistill.cli as cli

    def bug(args):
        raise TypeError("something internal")

    monkeypatch.setattr(cli, "_cmd_info", bug)
    line = _error(capsys, ["info", "m.skd"])
    assert "TypeError: something internal" in line and "SKDISTILL_DEBUG=1" in line
    monkeypatch.setenv("SKDISTILL_DEBUG", "1")
    with pytest.raises(TypeError):
        main(["info", "m.skd"])


# -- issue 14: one measurement path, new options ----------------------------------------

def _spy_reports(monkeypatch):
    """Record every build_report call: the model, its rows and the report."""
    import skdistill._report as report_module

    calls = []
    real = report_module.build_report

    def spy(model, X, y, **kw):
        # The model itself, not a copy: a copy can pickle to a different size (on
        # scikit-learn 1.6 LogisticRegression's coef_ is a strided view, which a deep copy
        # makes contiguous; a deep-copied SimpleImputer loses pickle's memo sharing).
        result = real(model, X, y, **kw)
        calls.append({"model": model, "X": X, "y": y, "report": result.to_dict()})
        return result

    monkeypatch.setattr(report_module, "build_report", spy)
    return calls


def _same_figures(report, fresh):
    """Size, accuracy (or R²) and fidelity must be identical; latency is re-timed."""
    assert fresh["sizes"] == report["sizes"]
    assert fresh["metrics"] == report["metrics"]
    assert fresh["fidelity"] == report["fidelity"]
    assert set(fresh["latency"]) == set(report["latency"])


def test_cli_table_shows_the_reports_figures(files, tmp_path, capsys, monkeypatch):
    import skdistill._base as base
    from skdistill._measure import format_bytes, format_seconds
    from skdistill._report import build_report

    calls = _spy_reports(monkeypatch)
    # The CLI drops the teachers after its report; keep them to report again (save never
    # stores them anyway).
    monkeypatch.setattr(base, "drop_teachers", lambda model: model)
    out = tmp_path / "m.skd"
    assert main(["fit", str(files / "train.csv"), "--target", "churn", "-o", str(out)]
                + FAST) == 0
    printed = capsys.readouterr().out
    (call,) = calls  # the table is built from exactly one report
    r = call["report"]
    summary = load(out, return_metadata=True)[1]["summary"]
    assert summary["teacher_score"] == r["metrics"]["accuracy"]["teacher"]
    assert summary["student_score"] == r["metrics"]["accuracy"]["student"]
    assert summary["fidelity"] == r["fidelity"]
    assert summary["student_bytes"] == r["sizes"]["student_bytes"]
    assert summary["teacher_bytes"] == r["sizes"]["teacher_bytes"]
    assert summary["student_latency_s"] == r["latency"]["student_seconds"]
    for text in (f"{r['metrics']['accuracy']['student']:.4f}", f"{r['fidelity']:.4f}",
                 format_bytes(r["sizes"]["student_bytes"]),
                 format_bytes(r["sizes"]["teacher_bytes"]),
                 format_seconds(r["latency"]["student_seconds"])):
        assert text in printed
    # model.report on the same model and hold-out rows: the same figures.
    _same_figures(r, build_report(call["model"], call["X"], call["y"], n_latency_calls=5,
                                  n_teacher_latency_calls=3).to_dict())
    assert call["model"].report(call["X"], call["y"]).to_dict()["sizes"] == r["sizes"]


def test_demo_prints_the_reports_figures(tmp_path, monkeypatch, capsys):
    """The demo's table is model.report's, on tiny settings so that it runs in seconds."""
    from sklearn.linear_model import LogisticRegression

    import skdistill._classifier as classifier
    from skdistill._demo import run_demo
    from skdistill._measure import format_bytes, format_seconds
    from skdistill._report import build_report

    defaults = dict(classifier.DistilledClassifier.__init__.__kwdefaults__)
    defaults.update(teachers=[("lr", LogisticRegression(max_iter=300))], max_epochs=3,
                    augmentation=None, cv=2)
    monkeypatch.setattr(classifier.DistilledClassifier.__init__, "__kwdefaults__", defaults)
    calls = _spy_reports(monkeypatch)
    lines = []
    results = run_demo(output=tmp_path / "demo.skd", out=lines.append)
    (call,) = calls
    r = call["report"]
    assert results["report"] == r
    text = "\n".join(lines)
    for figure in (f"{r['metrics']['accuracy']['teacher']:.4f}", f"{r['fidelity']:.4f}",
                   format_bytes(r["sizes"]["student_bytes"]),
                   format_seconds(r["latency"]["student_seconds"])):
        assert figure in text
    _same_figures(r, build_report(call["model"], call["X"], call["y"], n_latency_calls=5,
                                  n_teacher_latency_calls=3).to_dict())
    # Saved in the safe format, and the demo says where.
    assert results["path"].endswith("demo.skd") and results["path"] in lines[-1]
    assert not hasattr(load(results["path"]), "teachers_")
    # Progress went to stderr (the logger), never stdout.
    captured = capsys.readouterr()
    assert captured.out == "" and "[skdistill] " in captured.err


def test_semicolon_csv_hints_at_sep(files, tmp_path, capsys):
    df = read_csv(files / "train.csv")
    semi = tmp_path / "semi.csv"
    df.to_csv(semi, index=False, sep=";")
    line = _error(capsys, ["fit", str(semi), "--target", "churn", "-o",
                           str(tmp_path / "m.skd")] + FAST)
    assert "--sep ';'" in line and "missing" not in line
    assert main(["fit", str(semi), "--sep", ";", "--target", "churn", "-o",
                 str(tmp_path / "m.skd")] + FAST) == 0
    new = read_csv(files / "new.csv")
    new.to_csv(tmp_path / "new_semi.csv", index=False, sep=";")
    capsys.readouterr()
    line = _error(capsys, ["predict", str(tmp_path / "m.skd"), str(tmp_path / "new_semi.csv")])
    assert "--sep ';'" in line
    assert main(["predict", str(tmp_path / "m.skd"), str(tmp_path / "new_semi.csv"),
                 "--sep", ";"]) == 0
    assert len(pd.read_csv(io.StringIO(capsys.readouterr().out))) == 12


def test_a_csv_in_another_encoding_is_named_and_read_with_encoding(tmp_path, capsys):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "city": rng.choice(["Köln", "Zürich"], 200)})
    df["y"] = (df["x"] > 0).astype(int)
    df.to_csv(tmp_path / "latin.csv", index=False, encoding="latin-1")
    args = ["fit", str(tmp_path / "latin.csv"), "--target", "y", "-o",
            str(tmp_path / "m.skd")] + FAST
    line = _error(capsys, args)
    assert "latin.csv' is not utf-8 text" in line and "--encoding latin-1" in line
    assert main(args + ["--encoding", "latin-1"]) == 0
    assert sorted(load(tmp_path / "m.skd").table_.columns[1]["categories"]) == ["Köln", "Zürich"]
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m.skd"), str(tmp_path / "latin.csv"),
                 "--encoding", "latin-1"]) == 0
    assert len(pd.read_csv(io.StringIO(capsys.readouterr().out))) == 200


def test_id_columns_and_ignore_extra(model_path, files, tmp_path, capsys):
    df = read_csv(files / "new.csv")
    df.insert(0, "customer", [f"c{i}" for i in range(len(df))])
    df["note"] = "x"
    path = tmp_path / "ids.csv"
    df.to_csv(path, index=False)
    line = _error(capsys, ["predict", str(model_path), str(path)])
    assert "--ignore-extra" in line
    assert main(["predict", str(model_path), str(path), "--id", "customer",
                 "--ignore-extra"]) == 0
    captured = capsys.readouterr()
    out = pd.read_csv(io.StringIO(captured.out))
    assert list(out.columns) == ["customer", "predicted_churn"]
    assert list(out.customer) == list(df.customer)
    assert "'note'" in captured.err
    line = _error(capsys, ["predict", str(model_path), str(path), "--id", "nope",
                           "--ignore-extra"])
    assert "'nope'" in line

    # fit --id: the column is not a feature, and predict copies it by default.
    train = read_csv(files / "train.csv")
    train.insert(0, "customer", [f"t{i}" for i in range(len(train))])
    train.to_csv(tmp_path / "train_ids.csv", index=False)
    assert main(["fit", str(tmp_path / "train_ids.csv"), "--target", "churn", "--id",
                 "customer", "-o", str(tmp_path / "ids.skd")] + FAST) == 0
    assert "customer" not in list(load(tmp_path / "ids.skd").feature_names_in_)
    df.drop(columns="note").to_csv(path, index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "ids.skd"), str(path)]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(out.columns) == ["customer", "predicted_churn"]


def test_student_options_and_refit(files, tmp_path, capsys):
    path = tmp_path / "opts.skd"
    assert main(["fit", str(files / "train.csv"), "--target", "churn", "-o", str(path),
                 "--hidden", "12,6", "--members", "2", "--temperature", "3.5", "--alpha",
                 "0.7", "--refit"] + FAST) == 0
    printed = capsys.readouterr().out
    model, metadata = load(path, return_metadata=True)
    assert tuple(model.student_.layer_sizes[-3:-1]) == (12, 6)
    assert model.student_.n_members == 2
    assert model.temperature == 3.5 and model.alpha == 0.7
    n_rows = len(read_csv(files / "train.csv"))
    # --refit: the comparison on the hold-out split, then the saved model on every row.
    assert metadata["summary"]["refit_rows"] == n_rows
    info = model.fit_info_
    assert info["n_real_rows"] + info["n_validation_rows"] == n_rows
    assert f"refit on all {n_rows}" in printed and "trained on all" in printed
    assert main(["info", str(path)]) == 0
    assert "-12-6-2 x 2 members," in capsys.readouterr().out
    for bad, word in ((["--hidden", "0"], "--hidden"), (["--alpha", "2"], "--alpha"),
                      (["--members", "0"], "--members"),
                      (["--refit", "--holdout", "0"], "--refit")):
        line = _error(capsys, ["fit", str(files / "train.csv"), "--target", "churn",
                               "-o", str(tmp_path / "x.skd")] + bad + FAST)
        assert word in line


def test_student_time_limit_and_schedule_options(files, tmp_path, capsys):
    path = tmp_path / "quick.skd"
    assert main(["fit", str(files / "train.csv"), "--target", "churn", "-o", str(path),
                 "--student-time-limit", "1e-9", "--lr-schedule", "cosine"] + FAST) == 0
    model = load(path)
    assert model.student_time_limit == 1e-9 and model.lr_schedule == "cosine"
    assert model.n_iter_ == 1 and model.fit_info_["stopped_by"] == "time_limit"
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert "Training: 1 epochs (ended by the time limit), best epoch 1" in capsys.readouterr().out
    line = _error(capsys, ["fit", str(files / "train.csv"), "--target", "churn",
                           "-o", str(tmp_path / "x.skd"), "--student-time-limit", "0"] + FAST)
    assert "--student-time-limit" in line


def test_max_epochs_defaults_to_the_estimators(files, tmp_path, capsys, monkeypatch):
    # Without --max-epochs the estimator's own default applies, so the CLI follows a
    # change of it (made here, so that a CLI with a default of its own would fail); a
    # time limit ends the fit after one epoch.
    monkeypatch.setitem(DistilledClassifier.__init__.__kwdefaults__, "max_epochs", 7)
    path = tmp_path / "default_epochs.skd"
    quick = [a for a in FAST if a not in ("--max-epochs", "3")]
    assert main(["fit", str(files / "train.csv"), "--target", "churn", "-o", str(path),
                 "--student-time-limit", "1e-9"] + quick) == 0
    assert load(path).max_epochs == DistilledClassifier().max_epochs
    line = _error(capsys, ["fit", str(files / "train.csv"), "--target", "churn",
                           "-o", str(tmp_path / "x.skd")] + FAST + ["--max-epochs", "0"])
    assert "--max-epochs must be a positive integer" in line


def test_hidden_auto_and_the_help_follows_the_estimators_defaults(capsys):
    from skdistill.cli import _hidden_sizes, build_parser

    assert _hidden_sizes("auto") == "auto" and _hidden_sizes("64, 32") == (64, 32)
    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    text = " ".join(fit.format_help().split())
    defaults = DistilledClassifier().get_params()
    assert f"(default: {defaults['temperature']:g})" in text
    assert (f"(default: {defaults['alpha']:g} for classification, "
            f"{DistilledRegressor().alpha:g} for regression)") in text
    assert defaults["hidden_layer_sizes"] == "auto"
    regressor_sizes = ",".join(map(str, DistilledRegressor().hidden_layer_sizes))
    assert f"(default: auto for classification, {regressor_sizes} for regression)" in text
    epochs = (defaults["max_epochs"], DistilledRegressor().max_epochs)
    assert (f"(default: {epochs[0]})" if epochs[0] == epochs[1] else
            f"(default: {epochs[0]} for classification, {epochs[1]} for regression)") in text


def test_unseen_categories_are_counted_in_a_warning(model_path, files, tmp_path, capsys):
    df = read_csv(files / "new.csv")
    df.loc[:2, "city"] = "Lyon"
    df.loc[3, "city"] = "Kyiv"
    df.loc[5, "plan"] = "gold"
    df.loc[6, "city"] = None  # empty: not unseen
    df.to_csv(tmp_path / "unseen.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the model's own warning is not shown twice
        assert main(["predict", str(model_path), str(tmp_path / "unseen.csv"), "--proba"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2, captured.err  # one line per column
    assert "column 'city': 4 of 12 row(s)" in lines[0] and "'Lyon', 'Kyiv'" in lines[0]
    assert "column 'plan': 1 of 12 row(s)" in lines[1] and "'gold'" in lines[1]
    out = pd.read_csv(io.StringIO(captured.out))
    assert len(out) == 12 and np.isfinite(out[["proba_no", "proba_yes"]].to_numpy()).all()


def test_fit_counts_unseen_categories_of_the_held_out_rows_once(files, tmp_path, capsys):
    df = _table(200).drop(columns="spend")
    # An ID-like column: most held-out rows hold a value no training row has.
    df["ticket"] = [f"T{i}" for i in range(len(df))]
    df.to_csv(tmp_path / "ids.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor the model's own warning, per row timed
        assert main(["fit", str(tmp_path / "ids.csv"), "--target", "churn",
                     "-o", str(tmp_path / "ids.skd")] + FAST) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "not seen" in line]
    assert len(lines) == 1 and "column 'ticket': 40 of 40 row(s)" in lines[0], lines


def test_empty_cells_need_a_model_that_saw_some(files, tmp_path, capsys):
    path = tmp_path / "complete.skd"
    assert main(["fit", str(files / "complete.csv"), "--target", "churn", "-o", str(path)]
                + FAST) == 0
    assert load(path).table_ is None  # numbers without an empty cell: no schema
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert "Empty cells: refused" in capsys.readouterr().out
    new = pd.read_csv(files / "new.csv")[["age", "income"]]
    new.loc[[2, 4], "income"] = np.nan
    new.to_csv(tmp_path / "empty.csv", index=False)
    line = _error(capsys, ["predict", str(path), str(tmp_path / "empty.csv")])
    assert "empty cells in column(s) 'age' (1 row(s)), 'income' (2 row(s))" in line


def test_empty_cells_only_in_held_out_rows_still_train_the_fill(files, tmp_path, capsys):
    """The only empty cell falls into the held-out split (seed 0): one row is swapped in,
    so the held-out comparison runs and the saved model fills empty cells."""
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(files / "numeric.csv")
    _, test_idx = train_test_split(np.arange(len(df)), test_size=0.2,
                                   stratify=df["churn"], random_state=0)
    assert 3 in test_idx  # the row with the empty cell
    path = tmp_path / "m.skd"
    assert main(["fit", str(files / "numeric.csv"), "--target", "churn", "-o", str(path)]
                + FAST) == 0
    model, metadata = load(path, return_metadata=True)
    assert model.student_.accepts_missing
    assert metadata["summary"]["n_holdout_rows"] == len(test_idx)


def test_a_file_from_the_old_command_line_is_refused(tmp_path, capsys):
    """skdistill 0.2's CLI stored its own one-hot encoding and a model of that matrix."""
    from sklearn.linear_model import LogisticRegression

    from skdistill import DistilledClassifier, save

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], cv=2,
                                hidden_layer_sizes=(4,), max_epochs=1).fit(X, y)
    old = {"columns": [{"name": "age", "kind": "numeric", "fill": 40.0},
                       {"name": "city", "kind": "categorical", "categories": ["Oslo", "Rome"]}]}
    path = save(model, tmp_path / "old.skd", metadata={"tabular": old, "target": "churn"})
    pd.DataFrame({"age": [1.0], "city": ["Oslo"]}).to_csv(tmp_path / "x.csv", index=False)
    for command in (["predict", str(path), str(tmp_path / "x.csv")], ["info", str(path)],
                    ["export", str(path), "--onnx", str(tmp_path / "x.onnx")]):
        line = _error(capsys, command)
        assert "skdistill 0.2" in line and "fit it again" in line


@pytest.mark.parametrize("value", ["1", "five"])
def test_cv_must_be_auto_or_two_or_more_folds(files, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(files / "train.csv"), "--target", "churn",
              "-o", str(tmp_path / "m.skd"), "--cv", value])
    assert exc.value.code == 2
    assert "'auto' or a number of folds >= 2" in capsys.readouterr().err


def test_cv_auto_is_the_default_and_names_the_folds(files, tmp_path, capsys):
    argv = [a for a in FAST if a not in ("--cv", "2", "--quiet")]
    assert main(["fit", str(files / "train.csv"), "--target", "churn",
                 "-o", str(tmp_path / "m.skd"), *argv]) == 0
    assert "with 5-fold cross-fitted soft targets" in capsys.readouterr().err


def test_predict_with_proba_runs_the_student_once(model_path, files, capsys, monkeypatch):
    # Labels and probabilities come from one pass of the table through the student.
    import skdistill._base as base

    calls = []
    output = base._BaseDistiller._student_output

    def counted(self, X):
        calls.append(len(X))
        return output(self, X)

    monkeypatch.setattr(base._BaseDistiller, "_student_output", counted)
    assert main(["predict", str(model_path), str(files / "new.csv"), "--proba"]) == 0
    assert calls == [12]
    capsys.readouterr()


def test_the_holdout_never_holds_out_a_class_that_training_lacks():
    # A class of one row drawn into the held-out split would be one the model never
    # saw: the fit would end with an error, and save nothing.
    from argparse import Namespace

    from skdistill.cli import _holdout_split

    X = _table(40)
    y = np.array(["a", "b"] * 19 + ["rare", "rare2"], dtype=object)
    for seed in range(10):
        _, y_train, _, y_test = _holdout_split(
            X, y, "classification", Namespace(holdout=0.5, random_state=seed))
        assert set(y_test) <= set(y_train) and {"rare", "rare2"} <= set(y_train)
        assert len(y_train) + len(y_test) == 40

"""verbose progress: tqdm bars on a terminal, log records elsewhere, quiet by default.

Nothing goes to stdout: bars go to stderr, plain lines are INFO records of the
"skdistill" logger (pytest's caplog sees them; without any configured handler they go
to stderr).
"""

import io
import logging
import subprocess
import sys

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from skdistill import DistilledClassifier
from skdistill._progress import _job_names, make_progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


def _model(**kw):
    params = dict(teachers=[("lr", LogisticRegression())], cv=3, max_epochs=12,
                  n_iter_no_change=50, augmentation=None, random_state=0)
    params.update(kw)
    return DistilledClassifier(**params)


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "skdistill"]


def test_quiet_by_default(data, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="skdistill")
    _model().fit(*data)
    out, err = capsys.readouterr()
    assert out == "" and err == "" and _messages(caplog) == []


def test_plain_lines_when_not_a_tty(data, capsys, caplog):
    # pytest's captured stderr is not a TTY, as in a CI log or a redirected file.
    _model(verbose=1, keep_teachers=True).fit(*data)
    out, _ = capsys.readouterr()
    assert out == ""  # never stdout
    lines = _messages(caplog)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "skdistill")
    assert [line.split(": ")[1].split(" done")[0] for line in lines[:4]] == [
        "lr fold 1/3", "lr fold 2/3", "lr fold 3/3", "lr refit on all rows"]
    epochs = [line for line in lines if "student epoch" in line]
    # verbose=1 logs the first, every 10th and the last epoch; verbose=2 logs every one.
    assert [e.split("student epoch ")[1].split(" ")[0] for e in epochs] == ["1/12", "10/12",
                                                                           "12/12"]
    assert "valid_loss" in epochs[0] and "valid_accuracy" in epochs[0]
    assert "stopped after epoch 12 (ended by max_epochs)" in lines[-1]
    caplog.clear()
    _model(verbose=2).fit(*data)
    assert sum("student epoch" in m for m in _messages(caplog)) == 12


@pytest.mark.parametrize("params, reason", [
    ({"max_epochs": 200, "n_iter_no_change": 2, "tol": 10.0}, "early stopping"),
    ({"student_time_limit": 1e-3}, "the time limit"),
])
def test_the_closing_line_says_why_training_ended(data, caplog, params, reason):
    caplog.set_level(logging.INFO, logger="skdistill")
    model = _model(verbose=1, **params).fit(*data)
    last = _messages(caplog)[-1]
    assert last.startswith(
        f"student stopped after epoch {model.n_iter_} (ended by {reason}); best ")
    assert model.n_iter_ < 12 if "time" in reason else model.n_iter_ == 3


def test_bars_on_a_terminal(data, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    _model(verbose=1).fit(*data)
    out, _ = capsys.readouterr()
    assert out == ""  # no plain lines: the bars say it all
    text = tty.getvalue()
    assert "teachers" in text and "lr fold 3/3" in text
    assert "student" in text and "12/12" in text and "valid_loss" in text


def test_plain_lines_without_tqdm(data, monkeypatch, capsys, caplog):
    # A None entry in sys.modules makes "import tqdm.auto" raise ImportError.
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    _model(verbose=1).fit(*data)
    assert capsys.readouterr().out == ""
    assert any(m.startswith("teachers 1/3: lr fold 1/3 done") for m in _messages(caplog))


def test_unconfigured_logging_goes_to_stderr_not_stdout():
    # A fresh interpreter with no logging configuration, as in a plain script.
    code = ("from sklearn.datasets import make_classification\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "from skdistill import DistilledClassifier\n"
            "X, y = make_classification(n_samples=100, random_state=0)\n"
            "DistilledClassifier(teachers=[('lr', LogisticRegression())], cv=2,"
            " max_epochs=2, augmentation=None, verbose=1, random_state=0).fit(X, y)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "[skdistill] teachers 1/" in result.stderr and "lr fold 1/2 done" in result.stderr
    assert "[skdistill] student epoch 1/2" in result.stderr


def test_progress_is_not_part_of_the_cache_key(data, tmp_path, caplog):
    X, y = data
    _model(verbose=1, memory=str(tmp_path), soft_targets="in_sample").fit(X, y)
    assert any("teachers 1/1" in m for m in _messages(caplog))
    model = _model(verbose=0, memory=str(tmp_path), soft_targets="in_sample").fit(X, y)
    # A cache hit: no teacher was fitted, so the teacher phase took next to no time.
    assert model.fit_info_["teacher_fit_seconds"] < 0.5
    assert len(list(tmp_path.rglob("output.pkl"))) == 1


def test_job_names_number_folds_per_teacher():
    labels = [("rf", "oob"), ("lr", "fold"), ("lr", "fold"), ("lr", "refit"), ("ft", "full")]
    assert _job_names(labels) == ["rf (out-of-bag)", "lr fold 1/2", "lr fold 2/2",
                                  "lr refit on all rows", "ft"]


def test_make_progress_rejects_unknown_stage():
    with pytest.raises(ValueError, match="stage"):
        make_progress("nope")

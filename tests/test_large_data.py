"""max_teacher_rows and cv="auto": each teacher fit sees at most that many rows, in as few folds
as still give every fold that many; every row is labelled. epoch_rows: an epoch's size is
bounded whatever the table's."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from skdistill import DistilledClassifier
from skdistill._teachers import AUTO_MAX_TEACHER_ROWS, fit_teachers, resolve_folds

SMALL = dict(max_epochs=2, hidden_layer_sizes=(8,), n_bins=4, augmentation=None,
             random_state=0)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Logistic regression that remembers the rows it was fitted on (and every fit's count,
    in ``fits``: the jobs run in this process with the default ``n_jobs``)."""

    fits = []

    def fit(self, X, y):
        self.n_fit_rows_ = len(X)
        _Recorder.fits.append(len(X))
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


@pytest.fixture(scope="module")
def data():
    return make_classification(1000, 5, random_state=0)


def test_each_fit_sees_at_most_max_teacher_rows(data):
    X, y = data
    model = DistilledClassifier(teachers=[("rec", _Recorder())], cv=4, max_teacher_rows=300,
                                keep_teachers=True, **SMALL).fit(X, y)
    assert model.named_teachers_["rec"].n_fit_rows_ == 300  # the refit


def test_every_row_is_labelled_out_of_fold_by_a_capped_teacher(data):
    X, y = data
    capped, soft = fit_teachers([("rec", _Recorder())], X, y, None, n_outputs=2,
                                task="classification", method="oof", cv=4, refit=True,
                                random_state=0, n_jobs=None, weights=None, max_rows=200)
    full, soft_full = fit_teachers([("rec", _Recorder())], X, y, None, n_outputs=2,
                                   task="classification", method="oof", cv=4, refit=True,
                                   random_state=0, n_jobs=None, weights=None)
    assert capped[0].estimator.n_fit_rows_ == 200
    assert full[0].estimator.n_fit_rows_ == 1000
    # Every row got a probability row (sums to 1), and the cap changed the teachers.
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert not np.allclose(soft, soft_full)


def test_auto_leaves_tables_below_the_cap_unchanged(data):
    X, y = data
    auto = DistilledClassifier(teachers=[("lr", LogisticRegression())], **SMALL).fit(X, y)
    none = DistilledClassifier(teachers=[("lr", LogisticRegression())], max_teacher_rows=None,
                               **SMALL).fit(X, y)
    assert auto.max_teacher_rows == "auto" and AUTO_MAX_TEACHER_ROWS >= 200_000
    np.testing.assert_array_equal(auto.predict_proba(X), none.predict_proba(X))


def test_max_teacher_rows_is_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="max_teacher_rows"):
        DistilledClassifier(max_teacher_rows=0).fit(X, y)


@pytest.mark.parametrize("max_rows, folds", [(300, 2), (500, 2), (600, 3), (700, 4), (800, 5),
                                             (None, 5)])
def test_auto_folds_are_the_fewest_that_keep_the_cap(data, max_rows, folds):
    X, y = data  # 1,000 rows: a fold's training part holds 1000 * (k - 1) / k of them
    _Recorder.fits = []
    model = DistilledClassifier(teachers=[("rec", _Recorder())], max_teacher_rows=max_rows,
                                keep_teachers=True, **SMALL).fit(X, y)
    assert model.cv == "auto" and model.fit_info_["teacher_folds"] == folds
    # The folds and the refit: one fit each, none of them above the cap.
    assert len(_Recorder.fits) == folds + 1
    assert max(_Recorder.fits) == (max_rows or 1000)


def test_auto_folds_equal_five_folds_below_the_cap(data):
    X, y = data
    teachers = [("lr", LogisticRegression())]
    auto = DistilledClassifier(teachers=teachers, **SMALL).fit(X, y)
    five = DistilledClassifier(teachers=teachers, cv=5, **SMALL).fit(X, y)
    np.testing.assert_array_equal(auto.predict_proba(X), five.predict_proba(X))
    assert auto.fit_info_["teacher_folds"] == five.fit_info_["teacher_folds"] == 5


def test_an_explicit_cv_is_kept_whatever_the_cap(data):
    X, y = data
    _Recorder.fits = []
    DistilledClassifier(teachers=[("rec", _Recorder())], cv=4, max_teacher_rows=100,
                        keep_teachers=True, **SMALL).fit(X, y)
    assert len(_Recorder.fits) == 4 + 1  # no fewer folds than asked for
    assert resolve_folds(7, 10**7, 100) == 7


def test_cv_is_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="'cv' parameter"):
        DistilledClassifier(cv="five").fit(X, y)


def _epoch_sizes(monkeypatch, model, X, y, count=lambda batch: len(batch.X)):
    """The rows of each epoch the student trains on (sum of its batch sizes), or of
    another ``count`` of each batch."""
    import skdistill._training as training

    sizes = []
    fit_network = training._fit_network

    def recording(student, epoch_batches, *args, **kwargs):
        def batches(epoch):
            batch_list = list(epoch_batches(epoch))
            sizes.append(sum(int(count(b)) for b in batch_list))
            return batch_list
        return fit_network(student, batches, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(training, "_fit_network", recording)
        model.fit(X, y)
    return sizes


@pytest.mark.parametrize("epoch_rows, expected", [(None, 900), (250_000, 900), (300, 300),
                                                  (899, 899), (900, 900)])
def test_an_epoch_holds_at_most_epoch_rows(data, monkeypatch, epoch_rows, expected):
    # 1,000 rows, 10% held out for validation: 900 real training rows, no synthetic ones.
    X, y = data
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], epoch_rows=epoch_rows,
                                **SMALL)
    sizes = _epoch_sizes(monkeypatch, model, X, y)
    assert sizes == [expected] * len(sizes) and len(sizes) == SMALL["max_epochs"]


def test_epoch_rows_caps_the_synthetic_rule_too(data, monkeypatch):
    # 900 real rows and 9,000 synthetic: the rule draws 900 + 5 x 900 rows an epoch, and
    # epoch_rows lowers that further, never raises it.
    X, y = data
    params = dict(SMALL, augmentation="munge", augment_factor=10.0)
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())], **params)
    assert _epoch_sizes(monkeypatch, model, X, y) == [5400, 5400]
    model.set_params(epoch_rows=2000)
    assert _epoch_sizes(monkeypatch, model, X, y) == [2000, 2000]
    model.set_params(epoch_rows=9000)
    assert _epoch_sizes(monkeypatch, model, X, y) == [5400, 5400]


def test_epochs_can_change_size_by_a_schedule_of_synthetic_rows(data, monkeypatch):
    # The loop takes epoch_rows as a function of the epoch too: here 5 synthetic rows per
    # real row in the first epoch and 1 after it (900 real rows, 9,000 synthetic).
    import skdistill._base as base

    X, y = data
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())],
                                **dict(SMALL, augmentation="munge", augment_factor=10.0))
    rule = base._epoch_rows
    monkeypatch.setattr(base, "_epoch_rows", lambda transfer, cap=None: (
        lambda epoch: rule(transfer, cap, per_real_row=5 if epoch == 1 else 1)))
    assert _epoch_sizes(monkeypatch, model, X, y) == [5400, 1800]


def test_real_rows_every_epoch_puts_each_real_row_in_each_epoch(data, monkeypatch):
    # 900 real rows and 9,000 synthetic, 5,400 rows an epoch. A uniform draw holds about
    # 5400 x 900 / 9900 = 491 real (labelled) rows; with REAL_ROWS_EVERY_EPOCH all 900.
    import skdistill._base as base

    X, y = data
    model = DistilledClassifier(teachers=[("lr", LogisticRegression())],
                                **dict(SMALL, augmentation="munge", augment_factor=10.0))
    real = _epoch_sizes(monkeypatch, model, X, y, count=lambda b: b.labeled.sum())
    assert all(400 < r < 600 for r in real)
    monkeypatch.setattr(base, "REAL_ROWS_EVERY_EPOCH", True)
    assert _epoch_sizes(monkeypatch, model, X, y, count=lambda b: b.labeled.sum()) == [900, 900]
    assert _epoch_sizes(monkeypatch, model, X, y) == [5400, 5400]


def test_epoch_order_keeps_the_uniform_draw_and_its_random_stream():
    import torch

    from skdistill._training import _epoch_order

    def draw(*args):
        return _epoch_order(*args, torch.Generator().manual_seed(3))

    # Without rows to keep, the same draw as before the option existed: the fits repeat.
    assert torch.equal(draw(100, 30, 0), torch.randperm(100, generator=torch.Generator()
                                                        .manual_seed(3))[:30])
    assert torch.equal(draw(100, 30, 30), draw(100, 30, 0))  # they would fill the epoch
    assert sorted(draw(100, None, 10).tolist()) == list(range(100))
    kept = draw(100, 30, 10).tolist()
    assert len(kept) == len(set(kept)) == 30 and set(range(10)) <= set(kept)
    assert kept[:10] != list(range(10))  # shuffled among the drawn rows


def test_epoch_rows_is_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="epoch_rows"):
        DistilledClassifier(epoch_rows=0).fit(X, y)

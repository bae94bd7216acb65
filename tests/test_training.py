"""The losses and the training loop: exact loss identities, divergence, thread safety."""

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier
from skdistill._losses import distillation_loss, regression_loss, soften_probabilities
from skdistill._training import EarlyStopping


def _batch(n=32, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g)
    teacher = torch.softmax(torch.randn(n, k, generator=g), dim=1)
    y = torch.randint(0, k, (n,), generator=g)
    return logits, teacher, y


@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
def test_alpha_one_is_t_squared_kl(T):
    logits, teacher, y = _batch()
    soft = soften_probabilities(teacher, T)
    ones = torch.ones(len(y))
    loss = distillation_loss(logits, soft, y, ones.bool(), ones, temperature=T, alpha=1.0)
    kl = F.kl_div(F.log_softmax(logits / T, dim=1), soft, reduction="batchmean")
    assert torch.allclose(loss, T * T * kl, rtol=1e-5)


def test_alpha_zero_is_cross_entropy():
    logits, teacher, y = _batch()
    ones = torch.ones(len(y))
    loss = distillation_loss(logits, teacher, y, ones.bool(), ones, temperature=2.0, alpha=0.0)
    assert torch.allclose(loss, F.cross_entropy(logits, y), rtol=1e-5)


def test_unlabelled_rows_carry_no_cross_entropy():
    logits, teacher, y = _batch()
    soft = soften_probabilities(teacher, 2.0)
    w = torch.ones(len(y))
    unlabeled = torch.zeros(len(y), dtype=torch.bool)
    # Their labels are meaningless: changing them must not change the loss.
    a = distillation_loss(logits, soft, y, unlabeled, w, temperature=2.0, alpha=0.5)
    b = distillation_loss(logits, soft, (y + 1) % 3, unlabeled, w, temperature=2.0, alpha=0.5)
    assert torch.equal(a, b)
    # And the soft term counts in full (weight 1, not alpha) for them.
    full = distillation_loss(logits, soft, y, unlabeled, w, temperature=2.0, alpha=1.0)
    assert torch.allclose(a, full)


def test_weights_normalize():
    logits, teacher, y = _batch()
    soft = soften_probabilities(teacher, 2.0)
    w = torch.rand(len(y), generator=torch.Generator().manual_seed(1))
    labeled = torch.ones(len(y), dtype=torch.bool)
    a = distillation_loss(logits, soft, y, labeled, w, temperature=2.0, alpha=0.5)
    b = distillation_loss(logits, soft, y, labeled, 7.5 * w, temperature=2.0, alpha=0.5)
    assert torch.allclose(a, b, rtol=1e-6)
    out = torch.randn(len(y), 1)
    t = torch.randn(len(y), 1)
    r1 = regression_loss(out, t, t, labeled, w, alpha=0.9)
    r2 = regression_loss(out, t, t, labeled, 3 * w, alpha=0.9)
    assert torch.allclose(r1, r2, rtol=1e-6)


def test_early_stopping_helper():
    stop = EarlyStopping(patience=2, tol=0.1)
    assert stop.update(1.0, 1) == (True, False)
    assert stop.update(0.95, 2) == (False, False)  # within tol: no improvement
    assert stop.update(0.5, 3) == (True, False)
    assert stop.update(0.6, 4) == (False, False)
    assert stop.update(0.6, 5) == (False, True)
    assert stop.best_epoch == 3


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


def _model(**params):
    base = dict(teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))],
                cv=2, max_epochs=8, augmentation=None, random_state=0)
    return DistilledClassifier(**{**base, **params})


@pytest.mark.parametrize("lr", [1e2, 1e4])
def test_a_diverging_loop_is_caught_with_its_cause(cancer, lr):
    X, y = cancer
    # The rate first: at 1e4, lr * weight_decay (the default 1e-4) is large too.
    with pytest.raises(FloatingPointError, match="Likely cause: the learning rate is too"):
        _model(learning_rate=lr, input_encoding="standard").fit(X, y)


def test_divergence_blames_weight_decay_when_it_is_extreme(cancer):
    X, y = cancer
    with pytest.raises(FloatingPointError, match="Likely cause: weight decay is too strong"):
        _model(learning_rate=5.0, weight_decay=1e3).fit(X, y)


def test_failed_fit_from_divergence_leaves_no_fitted_state(cancer):
    X, y = cancer
    model = _model(learning_rate=1e4)
    with pytest.raises(FloatingPointError):
        model.fit(X, y)
    assert not hasattr(model, "student_")


def test_watching_teachers_that_see_no_signal_is_not_divergence():
    # The untrained net already agrees with teachers near the prior: its loss against
    # them is tiny, and must not be the yardstick for the (larger) loss on the labels.
    from sklearn.linear_model import Ridge

    from skdistill import DistilledRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(300, 6)
    params = dict(hidden_layer_sizes=(16,), max_epochs=10, augmentation=None, cv=2,
                  validation_target="teachers", random_state=0)
    DistilledClassifier(teachers=[("lr", LogisticRegression())], **params).fit(
        X, rng.randint(0, 2, 300))
    DistilledRegressor(teachers=[("ridge", Ridge())], **params).fit(
        X, 0.2 * X[:, 0] + rng.randn(300))


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
@pytest.mark.parametrize("target", ["labels", "teachers"])
def test_schedules_and_stopping_targets_train(cancer, schedule, target):
    X, y = cancer
    model = _model(lr_schedule=schedule, validation_target=target, max_epochs=15).fit(X, y)
    assert model.score(X, y) > 0.9
    assert "valid_teacher_loss" in model.history_[0]
    if schedule == "cosine":
        assert model.history_[-1]["learning_rate"] < model.history_[0]["learning_rate"]


def test_two_threads_with_one_seed_match_sequential_fits(cancer):
    X, y = cancer
    params = dict(dropout=0.3, max_epochs=6, input_encoding="periodic")
    expected = _model(**params).fit(X, y).predict_proba(X)
    results = [None, None]

    def work(i):
        results[i] = _model(**params).fit(X, y).predict_proba(X)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results:
        np.testing.assert_array_equal(got, expected)


def test_overlapping_fits_restore_the_users_thread_count(cancer):
    X, y = cancer
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        threads = [threading.Thread(target=lambda: _model(max_epochs=4).fit(X, y))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert torch.get_num_threads() == 2
        seen = []
        checker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        checker.start()
        checker.join()
        assert seen == [2]
    finally:
        torch.set_num_threads(before)


def test_training_leaves_the_global_torch_rng_alone(cancer):
    X, y = cancer
    state = torch.random.get_rng_state()
    _model(dropout=0.2, max_epochs=3).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_gathering_batches_in_blocks_changes_no_batch(cancer, monkeypatch):
    # Blocks of batches are gathered at once and sliced; the student must be the one the
    # batch-at-a-time loop trains, bit for bit (blocks of 1 are that loop). The MUNGE rows
    # make the epoch several blocks long, with a short last block and a short last batch.
    import skdistill._training as training

    X, y = cancer
    params = dict(augmentation="munge", augment_factor=6.0, batch_size=40, max_epochs=3)
    expected = _model(**params).fit(X, y).predict_proba(X)
    monkeypatch.setattr(training, "GATHER_BATCHES", 1)
    np.testing.assert_array_equal(_model(**params).fit(X, y).predict_proba(X), expected)


def test_the_optimizer_is_adamw_fused_where_torch_has_the_kernel(monkeypatch):
    from sklearn.utils.fixes import parse_version

    from skdistill._training import _make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = _make_optimizer(params, 1e-3, 1e-4)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["weight_decay"] == 1e-4
    if parse_version(torch.__version__).release >= (2, 4):
        assert optimizer.defaults["fused"]

    # A torch or device without the kernel refuses fused=True: the plain AdamW is used.
    adamw = torch.optim.AdamW

    def no_fused_kernel(*args, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be on a device "
                               "with a fused implementation")
        return adamw(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", no_fused_kernel)
    optimizer = _make_optimizer(params, 1e-3, 1e-4)
    assert isinstance(optimizer, adamw) and not optimizer.defaults.get("fused")


def test_weight_average_follows_its_warmup_decay():
    # Fed the values 1, 2, ..., the average must follow a_t = d_t a_{t-1} + (1 - d_t) x_t
    # with d_t = (1 + t) / (EMA_WARMUP + t), t the number of steps already averaged.
    from skdistill._training import EMA_WARMUP, _averaged_model

    net = torch.nn.Linear(1, 1, bias=False)
    averaged = _averaged_model(net, "ema")
    expected = None
    for step in range(1, 60):
        with torch.no_grad():
            net.weight.fill_(float(step))
        averaged.update_parameters(net)
        t = step - 1
        d = (1 + t) / (EMA_WARMUP + t)
        expected = float(step) if expected is None else d * expected + (1 - d) * step
        assert averaged.module.weight.item() == pytest.approx(expected, rel=1e-6)
    # Its time constant grows with the run: on a ramp it trails the last value by about
    # t / (EMA_WARMUP - 1) steps, not by a fixed count.
    assert 59 - averaged.module.weight.item() == pytest.approx(59 / (EMA_WARMUP - 1), rel=0.15)
    assert _averaged_model(net, "none") is None


def test_weight_averaging_keeps_an_average_and_leaves_training_alone(cancer):
    X, y = cancer
    params = dict(early_stopping=False, max_epochs=6)
    plain = _model(weight_averaging="none", **params).fit(X, y)
    averaged = _model(weight_averaging="ema", **params).fit(X, y)
    # The live network takes the same steps either way ...
    assert ([r["train_loss"] for r in averaged.history_]
            == [r["train_loss"] for r in plain.history_])
    # ... but the student kept is the average of its weights, not the last step's.
    assert not np.allclose(averaged.predict_proba(X), plain.predict_proba(X))
    assert averaged.score(X, y) > 0.9


def test_weight_averaging_validates_the_averaged_network(cancer):
    # With early stopping the held-out loss is the averaged network's, so it differs
    # from the plain run's from the first epoch, while the live network's steps do not.
    X, y = cancer
    plain = _model(weight_averaging="none").fit(X, y)
    averaged = _model(weight_averaging="ema").fit(X, y)
    assert averaged.history_[0]["train_loss"] == plain.history_[0]["train_loss"]
    assert averaged.history_[0]["valid_loss"] != plain.history_[0]["valid_loss"]
    assert averaged.score(X, y) > 0.9


@pytest.mark.parametrize("weight_averaging", ["none", "ema"])
@pytest.mark.parametrize("n_members", [1, 3])
def test_the_best_epochs_weights_are_the_ones_returned(cancer, weight_averaging, n_members):
    """Under early stopping the returned student is the one of the best epoch: the
    averaged weights, or a packed ensemble's combination, as validated then, not the
    last step's."""
    from skdistill._student import build_student, log_softmax
    from skdistill._training import train_student

    X, y = cancer
    X = X.astype(np.float32)
    train, valid = np.arange(0, 400), np.arange(400, len(X))
    proba = np.eye(2, dtype=np.float32)[y] * 0.8 + 0.1
    student = build_student(X[train], 2, (32, 16), input_encoding="piecewise_linear",
                            n_bins=8, n_members=n_members, random_state=0)
    result = train_student(
        student, X[train], proba[train], y[train], np.ones(len(train), bool),
        np.ones(len(train), np.float32), X[valid], y[valid],
        np.ones(len(valid), np.float32), task="classification", dropout=0.0,
        batch_size=64, learning_rate=3e-2, weight_decay=0.0, max_epochs=40,
        n_iter_no_change=5, weight_averaging=weight_averaging, seed=0)
    history = result["history"]
    best = min(range(len(history)), key=lambda i: history[i]["valid_loss"])
    assert result["best_epoch"] == best + 1 < len(history)  # it stopped past its best
    log_p = log_softmax(result["student"].forward(X[valid]))
    loss = -log_p[np.arange(len(valid)), y[valid]].mean()
    np.testing.assert_allclose(loss, history[best]["valid_loss"], rtol=1e-4)
    assert abs(loss - history[-1]["valid_loss"]) > 1e-4


def test_a_packed_students_loss_is_the_mean_of_its_members_losses(cancer):
    """Each member is fitted to the teachers on its own: the loop's loss is the mean of
    the members' losses, not the loss of their combined output."""
    from skdistill._student import build_student
    from skdistill._training import torch_student, train_student

    X, y = cancer
    X = X[:200].astype(np.float32)
    y = y[:200]
    proba = np.eye(2, dtype=np.float32)[y] * 0.8 + 0.1
    student = build_student(X, 2, (16, 8), input_encoding="piecewise_linear", n_bins=8,
                            n_members=3, random_state=0)
    # Members far apart, as trained ones can be, so that the two losses differ clearly.
    at = next(i for i, layer in enumerate(student.layers) if layer.kind == "members")
    scale = np.random.default_rng(0).normal(0.0, 3.0, student.layers[at].scale.shape)
    student.layers[at] = student.layers[at].with_arrays({"scale": scale})
    soft = soften_probabilities(torch.from_numpy(proba), 2.0)
    labeled = torch.ones(len(y), dtype=torch.bool)
    weight = torch.ones(len(y))
    with torch.no_grad():
        members = torch_student(student, members_apart=True).train()(torch.from_numpy(X))
        combined = torch_student(student).eval()(torch.from_numpy(X))

    def loss(logits):
        return float(distillation_loss(logits, soft, torch.from_numpy(y), labeled, weight,
                                       temperature=2.0, alpha=0.7))

    expected = np.mean([loss(members[:, i]) for i in range(3)])
    # One batch of every row at a zero step size: the epoch's loss is the start's.
    result = train_student(
        student, X, proba, y, np.ones(len(y), bool), np.ones(len(y), np.float32),
        task="classification", dropout=0.0, batch_size=len(y), learning_rate=0.0,
        weight_decay=0.0, max_epochs=1, n_iter_no_change=5, temperature=2.0, alpha=0.7)
    assert result["history"][0]["train_loss"] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - loss(combined)) > 1e-3


# -- the student's time limit --------------------------------------------------------------
def test_time_budget_reads_the_limit_against_the_pace_so_far():
    from skdistill._training import TimeBudget

    now = [100.0]
    budget = TimeBudget(10.0, clock=lambda: now[0])
    now[0] += 3.0  # one epoch of 3 s
    assert budget.epochs_that_fit(1, max_epochs=200) == 3
    assert budget.epochs_that_fit(1, max_epochs=2) == 2
    assert budget.another_epoch_fits(1)  # 6 s <= 10 s
    now[0] += 5.0  # a second, slower epoch: 4 s each on average
    assert not budget.another_epoch_fits(2)  # 12 s > 10 s
    now[0] += 20.0
    assert budget.epochs_that_fit(2, max_epochs=200) == 2  # never fewer than done


def _limited_fit(cancer, monkeypatch, schedule, limit, max_epochs=40):
    """A fit whose budget reads a clock that moves one second per epoch trained."""
    import skdistill._training as training

    seconds = [0.0]
    train_epoch = training._train_epoch

    def one_second_epoch(*args):
        seconds[0] += 1.0
        return train_epoch(*args)

    class EpochClock(training.TimeBudget):
        def __init__(self, limit):
            super().__init__(limit, clock=lambda: seconds[0])

    monkeypatch.setattr(training, "_train_epoch", one_second_epoch)
    monkeypatch.setattr(training, "TimeBudget", EpochClock)
    X, y = cancer
    return _model(lr_schedule=schedule, student_time_limit=limit, max_epochs=max_epochs,
                  n_iter_no_change=max_epochs).fit(X, y)


def test_the_time_limit_stops_before_an_epoch_that_would_end_past_it(cancer, monkeypatch):
    model = _limited_fit(cancer, monkeypatch, "plateau", limit=5.5)
    assert model.n_iter_ == 5 and model.fit_info_["stopped_by"] == "time_limit"
    # The best epoch's weights are kept, as under early stopping.
    best = min(model.history_, key=lambda r: r["valid_loss"])
    assert model.fit_info_["best_epoch"] == best["epoch"]
    assert model.score(*cancer) > 0.9


def test_a_cosine_schedule_anneals_over_the_epochs_that_fit(cancer, monkeypatch):
    model = _limited_fit(cancer, monkeypatch, "cosine", limit=6.5)
    assert model.n_iter_ == 6 and model.fit_info_["stopped_by"] == "time_limit"
    lr = [r["learning_rate"] for r in model.history_]
    expected = [3e-3 * 0.5 * (1 + np.cos(np.pi * e / 6)) for e in range(6)]
    np.testing.assert_allclose(lr, expected, rtol=1e-6)


def test_an_ample_time_limit_changes_nothing(cancer):
    X, y = cancer
    free = _model(max_epochs=6).fit(X, y)
    limited = _model(max_epochs=6, student_time_limit=1e6).fit(X, y)
    assert limited.fit_info_["stopped_by"] == free.fit_info_["stopped_by"] == "max_epochs"
    np.testing.assert_array_equal(limited.predict_proba(X), free.predict_proba(X))


def test_the_smallest_time_limit_still_trains_one_epoch(cancer):
    from sklearn.pipeline import make_pipeline as pipe

    X, y = cancer
    model = pipe(StandardScaler(), _model(student_time_limit=1e-9, lr_schedule="cosine"))
    model.fit(X, y)
    fitted = model[-1]
    assert fitted.n_iter_ == 1 and fitted.fit_info_["stopped_by"] == "time_limit"
    assert np.isfinite(model.predict_proba(X)).all() and model.score(X, y) > 0.8
    with pytest.raises(ValueError, match="student_time_limit"):
        _model(student_time_limit=0).fit(X, y)


def test_stopped_by_says_early_stopping(cancer):
    X, y = cancer
    model = _model(max_epochs=200, n_iter_no_change=2).fit(X, y)
    assert model.n_iter_ < 200 and model.fit_info_["stopped_by"] == "early_stopping"

"""The student's torch training loop.

Numpy in, numpy out: the loop receives float32 arrays and the student's initial layers
(``_student.Layer`` objects), wraps each layer's own torch forward pass in a module whose
parameters are its trainable arrays, trains, and hands back new layers holding float32
numpy arrays. Nothing that leaves this module holds a tensor or remembers the device it
trained on. Imported lazily by ``fit``.

Thread safety: every random draw (batch order, dropout) comes from a private
``torch.Generator`` and initial weights are drawn in numpy before they get here, so two
fits in two threads give the same results as the same fits run one after the other.
"""

import contextlib
import copy
import math
import threading
import time
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ._losses import distillation_loss, regression_loss, soften_probabilities
from ._student import Activation, MemberMean, MLPStudent


def resolve_device(device):
    """Map the ``device`` parameter to a torch device, with a clear error for CUDA."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was requested but torch.cuda.is_available() is False on this "
            "machine. Use device='auto' to fall back to the CPU, or install a CUDA build of torch."
        )
    return torch.device(device)


# -- the student as a torch module --------------------------------------------------------
class TorchLayer(nn.Module):
    """One student layer in torch: its trainable arrays as parameters, the rest as buffers."""

    def __init__(self, layer, members_apart=False):
        super().__init__()
        self.layer = layer
        self.members_apart = members_apart
        for name, value in layer.arrays().items():
            tensor = torch.from_numpy(np.array(value))  # a copy: torch must not share numpy's
            if name in layer.trainable:
                self.register_parameter(name, nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

    def forward(self, h):
        params = {name: getattr(self, name) for name in self.layer.array_names}
        if self.members_apart and self.training and isinstance(self.layer, MemberMean):
            return self.layer.torch_members_forward(torch, params, h)
        return self.layer.torch_forward(torch, params, h)

    def to_layer(self):
        """The numpy layer with this module's current (trained) arrays."""
        return self.layer.with_arrays({name: getattr(self, name).detach().cpu().numpy()
                                       for name in self.layer.trainable})


class Dropout(nn.Module):
    """Dropout whose mask comes from a private generator, not torch's global one."""

    def __init__(self, p, generator):
        super().__init__()
        self.p = p
        self.generator = generator

    def forward(self, h):
        if not self.training or self.p == 0:
            return h
        keep = torch.rand(h.shape, generator=self.generator, device=h.device) >= self.p
        return h * keep / (1.0 - self.p)


def torch_student(student, dropout=0.0, generator=None, members_apart=False):
    """An ``nn.Sequential`` computing ``student.forward`` on raw inputs, in float32.

    With ``dropout > 0`` a :class:`Dropout` follows every activation (training only).
    With ``members_apart``, a packed ensemble's module outputs its members apart in
    training mode, ``(n_rows, n_members, n_outputs)``, for the loop's per-member loss;
    in evaluation mode, and always without it, it outputs their combination.
    """
    modules = []
    for layer in student.layers:
        modules.append(TorchLayer(layer, members_apart))
        if dropout > 0 and isinstance(layer, Activation):
            modules.append(Dropout(dropout, generator))
    return nn.Sequential(*modules)


def numpy_student(net):
    """The trained ``nn.Sequential`` back as an :class:`MLPStudent` of numpy layers."""
    return MLPStudent([m.to_layer() for m in net if isinstance(m, TorchLayer)])


# -- the CPU thread policy ----------------------------------------------------------------
_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = None


@contextlib.contextmanager
def one_cpu_thread(device):
    """Train on one intra-op CPU thread, then restore the user's setting.

    A student's matrices are small (a batch of 256 rows, at most about 1,000 columns):
    extra threads buy little on an idle machine (a second one made a step about 1.2 times
    faster, ``benchmarks/results/step_speed.md``), and on a busy one their spin-waits made
    training several times slower. torch's thread count is process-wide, so overlapping
    fits share one reference count: the first saves the user's value, the last puts it back.
    """
    global _THREADS_USERS, _THREADS_SAVED
    if device.type != "cpu":
        yield
        return
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = torch.get_num_threads()
            torch.set_num_threads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_SAVED)


# -- stopping and divergence ------------------------------------------------------------
class EarlyStopping:
    """Track the monitored loss; say when it improved and when to stop.

    An epoch improves when its loss is below the best so far by more than ``tol``;
    training stops after ``patience`` epochs without improvement.
    """

    def __init__(self, patience, tol):
        self.patience = patience
        self.tol = tol
        self.best = math.inf
        self.best_epoch = 0
        self.stall = 0

    def update(self, loss, epoch):
        """Record one epoch; return ``(improved, stop)``."""
        if loss < self.best - self.tol:
            self.best, self.best_epoch, self.stall = loss, epoch, 0
            return True, False
        self.stall += 1
        return False, self.stall >= self.patience


class TimeBudget:
    """The student's time limit, read against the pace of the epochs so far.

    The clock starts when the budget is made, just before the first epoch. An epoch
    counts at the average duration of those done, validation included.
    """

    def __init__(self, limit, clock=time.perf_counter):
        self.limit = limit
        self.clock = clock
        self.start = clock()

    def _pace(self, epochs_done):
        return max(self.clock() - self.start, 1e-9) / epochs_done

    def epochs_that_fit(self, epochs_done, max_epochs):
        """How many epochs in all fit in the limit at this pace: at least those done,
        at most ``max_epochs``."""
        fit = int(self.limit // self._pace(epochs_done))
        return min(max_epochs, max(epochs_done, fit))

    def another_epoch_fits(self, epochs_done):
        """Whether one more epoch at this pace would end within the limit."""
        return self._pace(epochs_done) * (epochs_done + 1) <= self.limit


#: An epoch's training loss this many times the untrained network's means the loop diverged.
DIVERGENCE_FACTOR = 100.0


def _divergence_error(what, value, epoch, learning_rate, weight_decay):
    causes = [f"the learning rate is too high (learning_rate={learning_rate:g}; try "
              f"{learning_rate / 10:g})"]
    if weight_decay * learning_rate >= 0.05 or weight_decay >= 1:
        # First unless only the step is far out of range (AdamW decays by lr * wd).
        causes.insert(0 if weight_decay >= 1 or learning_rate < 0.1 else 1,
                      f"weight decay is too strong (weight_decay={weight_decay:g})")
    return FloatingPointError(
        f"The student's training diverged: {what} reached {value:.3g} at epoch {epoch}. "
        f"Likely cause: {'; or '.join(causes)}. Teachers' outputs were checked and are "
        "finite; if the inputs hold extreme values, rescale them."
    )


def _check_progress(record, start_loss, learning_rate, weight_decay):
    """Raise when the epoch's training loss is not finite or far above the untrained net's."""
    loss, epoch = record["train_loss"], record["epoch"]
    if not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(start_loss, 1e-3):
        raise _divergence_error("the training loss", loss, epoch, learning_rate, weight_decay)


def _check_validation(history, start_valid, learning_rate, weight_decay):
    """Raise when no epoch came near the untrained net's validation loss on the labels
    (``start_valid``)."""
    best = min(r["valid_loss"] for r in history)
    if best > 10.0 * max(start_valid, 1e-3):
        raise _divergence_error("the best validation loss", best, len(history),
                                learning_rate, weight_decay)


class SparseRows:
    """A CSR matrix that hands out rows as dense float32 tensors, one batch at a time.

    The training loop indexes its inputs with a tensor of row indices; for sparse inputs
    this densifies just those rows, so memory holds the CSR matrix and one dense
    mini-batch, never the whole matrix densified. The rows equal those of the dense
    tensor of the same matrix, value for value.
    """

    def __init__(self, X, device):
        self.X = X.tocsr().astype(np.float32, copy=False)
        self.device = device
        self.shape = self.X.shape

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        idx = idx.cpu().numpy() if torch.is_tensor(idx) else np.asarray(idx)
        return torch.from_numpy(self.X[idx].toarray()).to(self.device)


def _input_rows(X, device):
    """Inputs the loop can index by a tensor of rows: a float32 tensor, or SparseRows."""
    if hasattr(X, "tocsr"):  # a scipy sparse matrix
        return SparseRows(X, device)
    return _to_tensor(X, device, torch.float32)


def _forward_all(net, rows):
    """The network's output on every row, in bounded blocks when the rows are sparse.

    Dense rows go in one call, as before. Sparse rows go in blocks of at most
    ``DENSE_BLOCK_ELEMENTS`` values: one block (identical to the dense call) whenever
    they fit, as a validation set of a few thousand rows does.
    """
    if not isinstance(rows, SparseRows):
        return net(rows)
    from ._sparse import rows_per_block

    n, step = len(rows), rows_per_block(rows.shape[1])
    return torch.cat([net(rows[np.arange(start, min(start + step, n))])
                      for start in range(0, n, step)])


def _to_tensor(a, device, dtype=None):
    # torch.from_numpy refuses read-only or non-contiguous arrays; copy once here.
    t = torch.from_numpy(np.ascontiguousarray(a).copy())
    if dtype is not None:
        t = t.to(dtype)
    return t.to(device)


#: Mini-batches gathered from the transfer set in one indexing call per tensor.
GATHER_BATCHES = 32


def _make_optimizer(parameters, learning_rate, weight_decay):
    """AdamW, fused where this torch has the fused kernel for the device (torch >= 2.4 on
    CPU): one kernel per step instead of a dozen small tensor operations per parameter
    (the saving is measured in ``benchmarks/results/optimizer_speed.md``)."""
    try:
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay,
                                 fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)


def _make_scheduler(optimizer, schedule, max_epochs, n_iter_no_change):
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
    # Halve the step size when the monitored loss plateaus: cheap, and it lets a small
    # net settle into the teacher's function instead of hovering around it.
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=max(1, n_iter_no_change // 2))


#: The averaged weights' decay after ``t`` steps is ``(1 + t) / (EMA_WARMUP + t)``: the
#: average's time constant is about ``t / (EMA_WARMUP - 1)`` steps, a fixed share of the run
#: so far, so it follows the run's length without a decay tuned to the table's size. A
#: longer horizon (4: about the last third) was no closer to the teachers
#: (benchmarks/results/ablation_levers_0_7.md).
EMA_WARMUP = 10


def _ema_step(averaged, current, n_averaged):
    """Move every averaged tensor towards the network's, in place, in one call.

    The averaging runs after every optimizer step: a list-wise in-place ``lerp`` (what
    torch's own ``get_ema_multi_avg_fn`` uses) spares the allocation and copy of each
    parameter that a per-tensor ``avg_fn`` costs, with the same values. ``float()`` reads
    the step count from the device; the loop already reads every step's loss, so on a
    GPU this adds no wait of its own.
    """
    torch._foreach_lerp_(averaged, current,
                         (EMA_WARMUP - 1) / (EMA_WARMUP + float(n_averaged)))


def _averaged_model(net, weight_averaging):
    """The exponential moving average of ``net``'s weights that is validated and kept, or
    None for ``weight_averaging="none"``. A single student carries much of the noise of its
    last mini-batches; averaging the weights along the path smooths it away at no cost in
    size or predict time (Polyak and Juditsky 1992; Izmailov et al. 2018). The buffers (the
    encoding's fitted bins) never change, so only parameters are averaged."""
    if weight_averaging == "none":
        return None
    return torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=_ema_step)


class Batch(NamedTuple):
    """One mini-batch as tensors on the training device: inputs, teacher targets (softened
    for classification), true targets, whether each row has one, and row weights."""

    X: object
    target: object
    y: object
    labeled: object
    weight: object


def train_student(
    student, X_train, target_train, y_train, labeled_train, w_train,
    X_valid=None, y_valid=None, w_valid=None, target_valid=None, *,
    task, dropout, batch_size, learning_rate, weight_decay, max_epochs, n_iter_no_change,
    tol=1e-4, temperature=1.0, alpha=1.0, validation_target="labels",
    lr_schedule="plateau", weight_averaging="none", epoch_rows=None, always_rows=0,
    time_limit=None, device="auto", seed=0, progress=None,
):
    """Train a student network and return it with its training history.

    Parameters
    ----------
    student : MLPStudent
        The initial network: fitted input layers and initial weights.
    X_train : ndarray or scipy sparse matrix (n, d), float32, raw inputs (the student's
        first layers encode them). A sparse matrix is densified one mini-batch at a time
        (:class:`SparseRows`), never whole; so is a sparse ``X_valid``, in bounded blocks.
    target_train : ndarray (n, k), float32
        Teacher probabilities (classification) or standardized teacher predictions.
    y_train : ndarray (n,) int64 for classification, (n, k) float32 for regression
        True labels / standardized targets; ignored where ``labeled_train`` is False.
    labeled_train : ndarray (n,), bool
    w_train : ndarray (n,), float32 sample weights.
    X_valid, y_valid, w_valid, target_valid : held-out labelled rows, or None.
        With them the loop stops early on the validation loss and restores the best
        weights; without, it stops when the training loss stalls.
    validation_target : {"labels", "teachers"}
        What held-out rows are scored against: the true labels (cross-entropy or MSE), or
        the teachers' out-of-fold outputs ``target_valid`` (KL divergence or MSE).
    lr_schedule : {"plateau", "cosine"}
    weight_averaging : {"none", "ema"}
        ``"ema"`` validates, stops on and returns an exponential moving average of the
        weights (:data:`EMA_WARMUP`) instead of the last step's weights.
    epoch_rows : int, None or callable
        Rows drawn per epoch (uniformly, without replacement, afresh each epoch); None
        for all. A large synthetic transfer set is then seen a random subset at a time:
        every epoch costs the same, and over the epochs the student sees every row. A
        callable maps the epoch (from 1) to that count, for epochs of changing size.
    always_rows : int
        With ``epoch_rows``, the first ``always_rows`` rows are in every epoch and the rest
        of it is drawn from the others; ignored (a uniform draw) when they would fill
        the epoch.
    time_limit : float or None
        Seconds the loop may take (:class:`TimeBudget`); None for no limit.
    progress : callable or None
        Called after every epoch with the epoch's history record.

    Returns
    -------
    dict with keys ``student`` (MLPStudent), ``history`` (list of dicts), ``n_iter``,
    ``best_epoch``, ``stopped_by`` (``"max_epochs"``, ``"early_stopping"`` or
    ``"time_limit"``) and ``device`` (str).
    """
    device = resolve_device(device)
    classification = task == "classification"
    n = X_train.shape[0]

    with one_cpu_thread(device):
        batch_generator = torch.Generator().manual_seed(seed)
        X_t = _input_rows(X_train, device)
        target_t = _to_tensor(target_train, device, torch.float32)
        if classification:
            target_t = soften_probabilities(target_t, temperature)
            y_t = _to_tensor(y_train, device, torch.long)
        else:
            y_t = _to_tensor(y_train, device, torch.float32)
        labeled_t = _to_tensor(labeled_train, device, torch.bool)
        w_t = _to_tensor(w_train, device, torch.float32)
        size = min(batch_size, n)

        def rows(idx):
            return Batch(X_t[idx], target_t[idx], y_t[idx], labeled_t[idx], w_t[idx])

        def epoch_batches(epoch):
            count = epoch_rows(epoch) if callable(epoch_rows) else epoch_rows
            order = _epoch_order(n, count, always_rows, batch_generator)
            # Gather a block of batches at once and slice it: the same batches in the
            # same order, with a fraction of the per-batch indexing calls. Sparse rows
            # are densified one batch at a time, as before.
            block = size * (1 if isinstance(X_t, SparseRows) else GATHER_BATCHES)
            for start in range(0, len(order), block):
                gathered = rows(order[start:start + block])
                for begin in range(0, len(gathered.X), size):
                    yield Batch(*(t[begin:begin + size] for t in gathered))

        return _fit_network(
            student, epoch_batches, rows(torch.arange(min(n, 4 * size))),
            _valid_tensors(X_valid, y_valid, w_valid, target_valid, device, classification),
            task=task, dropout=dropout, learning_rate=learning_rate,
            weight_decay=weight_decay, max_epochs=max_epochs,
            n_iter_no_change=n_iter_no_change, tol=tol, temperature=temperature, alpha=alpha,
            validation_target=validation_target, lr_schedule=lr_schedule,
            weight_averaging=weight_averaging, time_limit=time_limit, device=device, seed=seed,
            progress=progress,
        )


def _epoch_order(n, epoch_rows, always, generator):
    """The row indices of one epoch, in the order they are batched."""
    if not epoch_rows or epoch_rows >= n or not always or always >= epoch_rows:
        return torch.randperm(n, generator=generator)[:epoch_rows or n]
    drawn = always + torch.randperm(n - always, generator=generator)[:epoch_rows - always]
    rows = torch.cat([torch.arange(always), drawn])
    return rows[torch.randperm(epoch_rows, generator=generator)]


def train_student_stream(
    student, epoch_batches, start_rows, X_valid=None, y_valid=None, w_valid=None,
    target_valid=None, *, task, dropout, learning_rate, weight_decay, max_epochs,
    n_iter_no_change, tol=1e-4, temperature=1.0, alpha=1.0, validation_target="labels",
    lr_schedule="plateau", weight_averaging="none", time_limit=None, device="auto", seed=0,
    progress=None,
):
    """Train a student on mini-batches that arrive as numpy arrays, one epoch at a time.

    The same loop, loss and stopping rules as :func:`train_student`, for a transfer set
    that is never in memory as a whole (``skdistill.dask`` streams it from a cluster).

    Parameters
    ----------
    student : MLPStudent
        The initial network.
    epoch_batches : callable
        ``epoch_batches(epoch)`` (``epoch`` from 1) returns an iterable of
        ``(X, target, y, weight)`` numpy mini-batches: float32 inputs, teacher
        probabilities (classification, softened here) or standardized teacher
        predictions, true labels (int64) or standardized targets, and float32 row
        weights. Every streamed row is labelled.
    start_rows : tuple of ndarray
        A few rows in the same form, scored by the untrained network: the yardstick
        for divergence.
    X_valid, y_valid, w_valid, target_valid, task, ..., progress
        As in :func:`train_student`.

    Returns
    -------
    dict
        As :func:`train_student`.
    """
    device = resolve_device(device)
    classification = task == "classification"

    def to_batch(arrays):
        X, target, y, w = arrays
        target_t = _to_tensor(target, device, torch.float32)
        if classification:
            target_t = soften_probabilities(target_t, temperature)
        y_t = _to_tensor(y, device, torch.long if classification else torch.float32)
        return Batch(_to_tensor(X, device, torch.float32), target_t, y_t,
                     torch.ones(len(X), dtype=torch.bool, device=device),
                     _to_tensor(w, device, torch.float32))

    def tensor_batches(epoch):
        for arrays in epoch_batches(epoch):
            yield to_batch(arrays)

    with one_cpu_thread(device):
        return _fit_network(
            student, tensor_batches, to_batch(start_rows),
            _valid_tensors(X_valid, y_valid, w_valid, target_valid, device, classification),
            task=task, dropout=dropout, learning_rate=learning_rate,
            weight_decay=weight_decay, max_epochs=max_epochs,
            n_iter_no_change=n_iter_no_change, tol=tol, temperature=temperature, alpha=alpha,
            validation_target=validation_target, lr_schedule=lr_schedule,
            weight_averaging=weight_averaging, time_limit=time_limit, device=device, seed=seed,
            progress=progress,
        )


def _valid_tensors(X_valid, y_valid, w_valid, target_valid, device, classification):
    """The held-out rows as tensors, or None without any."""
    if X_valid is None or X_valid.shape[0] == 0:
        return None
    return (_input_rows(X_valid, device),
            _to_tensor(y_valid, device, torch.long if classification else torch.float32),
            _to_tensor(w_valid, device, torch.float32),
            None if target_valid is None else _to_tensor(target_valid, device, torch.float32))


def _batch_loss(net, classification, temperature, alpha):
    """``batch_loss(batch)``: the network's loss on one :class:`Batch`. A packed ensemble
    in training outputs every member apart, and every member gets its own loss."""

    def batch_loss(batch):
        out = net(batch.X)
        if out.dim() == 3:
            k = out.shape[1]
            out = out.reshape(-1, out.shape[2])
            batch = Batch(*(t.repeat_interleave(k, dim=0) for t in batch))
        if classification:
            return distillation_loss(out, batch.target, batch.y, batch.labeled, batch.weight,
                                     temperature=temperature, alpha=alpha)
        return regression_loss(out, batch.target, batch.y, batch.labeled, batch.weight,
                               alpha=alpha)

    return batch_loss


def _validation(kept, valid, classification, validation_target):
    """``validation(record)``: score ``kept`` on the held-out ``(X, y, w, target)`` rows,
    write the scores into ``record`` and return the monitored one (the label loss, or
    the loss against the teachers for ``validation_target="teachers"``)."""
    Xv, yv, wv, tv = valid

    def weighted_mean(values):
        return float((values * wv).sum() / wv.sum())

    def validation(record):
        kept.eval()
        with torch.no_grad():
            out = _forward_all(kept, Xv)
            if classification:
                label_loss = nn.functional.cross_entropy(out, yv, reduction="none")
                record["valid_accuracy"] = weighted_mean((out.argmax(dim=1) == yv).float())
            else:
                label_loss = ((out - yv) ** 2).mean(dim=1)
            record["valid_loss"] = weighted_mean(label_loss)
            if tv is not None:
                if classification:
                    log_p = torch.log(tv.clamp_min(1e-6))
                    teacher_loss = (tv * (log_p - torch.log_softmax(out, dim=1))).sum(dim=1)
                    record["valid_fidelity"] = weighted_mean(
                        (out.argmax(dim=1) == tv.argmax(dim=1)).float())
                else:
                    teacher_loss = ((out - tv) ** 2).mean(dim=1)
                record["valid_teacher_loss"] = weighted_mean(teacher_loss)
        if validation_target == "teachers" and tv is not None:
            return record["valid_teacher_loss"]
        return record["valid_loss"]

    return validation


def _train_epoch(net, averaged, optimizer, batches, batch_loss):
    """One pass of optimizer steps over ``batches`` (and of the weight average after
    each); returns the epoch's training loss, weighted by the rows' weights."""
    net.train()
    total, weight_seen = 0.0, 0.0
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = batch_loss(batch)
        loss.backward()
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(net)
        bw = float(batch.weight.sum())
        total += loss.item() * bw
        weight_seen += bw
    return total / max(weight_seen, 1e-12)


def _fit_network(student, epoch_batches, start_batch, valid, *, task, dropout, learning_rate,
                 weight_decay, max_epochs, n_iter_no_change, tol, temperature, alpha,
                 validation_target, lr_schedule, weight_averaging, time_limit, device, seed,
                 progress):
    """The one optimization loop: epochs of :class:`Batch` es, validation, early stopping.

    ``epoch_batches(epoch)`` yields the epoch's batches; ``start_batch`` is scored by the
    untrained network (the divergence yardstick); ``valid`` is ``(X, y, w, target)``
    tensors or None. Runs inside the caller's :func:`one_cpu_thread`. With weight
    averaging, the averaged network is the one validated, kept and returned. With a
    ``time_limit``, no epoch starts that the pace so far says would end past it, and a
    cosine schedule spans the epochs the first one says will fit.
    """
    classification = task == "classification"
    generator = torch.Generator(device=device).manual_seed(seed)
    net = torch_student(student, dropout, generator, members_apart=True).to(device)
    optimizer = _make_optimizer(list(net.parameters()), learning_rate, weight_decay)
    scheduler = _make_scheduler(optimizer, lr_schedule, max_epochs, n_iter_no_change)
    averaged = _averaged_model(net, weight_averaging)
    kept = net if averaged is None else averaged.module
    batch_loss = _batch_loss(net, classification, temperature, alpha)
    validation = None if valid is None else _validation(kept, valid, classification,
                                                         validation_target)

    history = []
    stopper = EarlyStopping(n_iter_no_change, tol)
    budget = None if time_limit is None else TimeBudget(time_limit)
    best_state, last_epoch, stopped_by = None, max_epochs, "max_epochs"
    net.eval()
    with torch.no_grad():  # the untrained net's losses: the yardstick for divergence
        start_loss = float(batch_loss(start_batch))
        start_record = {}
        if validation:
            validation(start_record)
        # The label loss, whatever early stopping watches: _check_validation compares it.
        start_valid = start_record.get("valid_loss")
    epoch = 0
    while epoch < last_epoch:
        epoch += 1
        start = time.perf_counter()
        record = {"epoch": epoch, "train_loss": _train_epoch(
            net, averaged, optimizer, epoch_batches(epoch), batch_loss)}
        monitored = validation(record) if validation else record["train_loss"]
        record["learning_rate"] = optimizer.param_groups[0]["lr"]
        record["duration"] = time.perf_counter() - start
        history.append(record)
        if progress is not None:
            progress(record)

        _check_progress(record, start_loss, learning_rate, weight_decay)
        last_epoch = _step_schedule(scheduler, lr_schedule, monitored, epoch, budget,
                                    last_epoch)
        improved, stop = stopper.update(monitored, epoch)
        if improved and validation:
            best_state = copy.deepcopy(kept.state_dict())
        stopped_by = _stop_reason(stop, budget, epoch, last_epoch, max_epochs)
        if stopped_by != "max_epochs":
            break

    if validation:
        _check_validation(history, start_valid, learning_rate, weight_decay)
    if best_state is not None:
        kept.load_state_dict(best_state)
    return {
        "student": numpy_student(kept.cpu()),
        "history": history,
        "n_iter": len(history),
        "best_epoch": stopper.best_epoch if validation else len(history),
        "stopped_by": stopped_by,
        "device": str(device),
    }


def _step_schedule(scheduler, lr_schedule, monitored, epoch, budget, last_epoch):
    """Step the learning-rate schedule after ``epoch``; return the last epoch to train.

    The plateau schedule reads the monitored loss. A cosine schedule under a time limit
    is shortened after the first epoch to the epochs that will fit, so that the step
    size reaches zero in time.
    """
    if lr_schedule != "cosine":
        scheduler.step(monitored)
        return last_epoch
    if budget is not None and epoch == 1:
        last_epoch = scheduler.T_max = budget.epochs_that_fit(1, last_epoch)
    scheduler.step()
    return last_epoch


def _stop_reason(stop, budget, epoch, last_epoch, max_epochs):
    """What ends training after ``epoch``: ``"early_stopping"``, ``"time_limit"``, or
    ``"max_epochs"`` while training goes on (and when it ends at ``max_epochs``)."""
    if stop:
        return "early_stopping"
    if budget is not None and epoch < last_epoch and not budget.another_epoch_fits(epoch):
        return "time_limit"
    if epoch == last_epoch < max_epochs:
        return "time_limit"  # the cosine schedule was shortened to fit the limit
    return "max_epochs"

"""The student's torch training loop.

Numpy in, numpy out: the loop receives standardized float32 arrays and returns the
trained weights as float32 numpy arrays on the CPU, so nothing that leaves this module
holds a tensor or remembers the device it trained on. Imported lazily by ``fit``.
"""

import contextlib
import copy
import math
import time

import numpy as np
import torch
from torch import nn

from ._losses import distillation_loss, regression_loss, soften_probabilities

_ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": lambda: nn.GELU(approximate="tanh"),
    "silu": nn.SiLU,
}


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


def build_network(n_in, hidden_layer_sizes, n_out, activation, dropout):
    """An ``nn.Sequential`` of Linear layers with ``activation`` and dropout between them."""
    layers = []
    width = n_in
    for h in hidden_layer_sizes:
        layers.append(nn.Linear(width, h))
        layers.append(_ACTIVATION_MODULES[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _to_tensor(a, device, dtype=None):
    # torch.from_numpy refuses read-only or non-contiguous arrays; copy once here.
    t = torch.from_numpy(np.ascontiguousarray(a).copy())
    if dtype is not None:
        t = t.to(dtype)
    return t.to(device)


@contextlib.contextmanager
def _one_cpu_thread(device):
    """Train on one intra-op CPU thread, then restore the user's setting.

    A student's matrices are tiny (batch 256 x width 128): extra threads buy little on
    an idle machine, and on a busy one their spin-waits made the same 10 epochs 8x
    slower here (1043 s with 2 threads vs 127 s with 1 on a loaded 2-core machine).
    """
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Batches:
    """Shuffled mini-batch indices drawn from a private generator."""

    def __init__(self, n, batch_size, generator):
        self.n = n
        self.batch_size = batch_size
        self.generator = generator

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n, self.batch_size):
            yield order[start:start + self.batch_size]


def train_student(
    X_train, target_train, y_train, labeled_train, w_train,
    X_valid=None, y_valid=None, w_valid=None, *,
    task, hidden_layer_sizes, activation, dropout, batch_size, learning_rate,
    weight_decay, max_epochs, n_iter_no_change, tol=1e-4, temperature=1.0, alpha=1.0,
    device="auto", seed=0, progress=None,
):
    """Train a student MLP and return its weights and training history.

    Parameters
    ----------
    X_train : ndarray (n, d), float32, already standardized.
    target_train : ndarray (n, k), float32
        Teacher probabilities (classification) or standardized teacher predictions.
    y_train : ndarray (n,) int64 for classification, (n, k) float32 for regression
        True labels / standardized targets; ignored where ``labeled_train`` is False.
    labeled_train : ndarray (n,), bool
    w_train : ndarray (n,), float32 sample weights.
    X_valid, y_valid, w_valid : validation rows with true labels, or None.
        With validation rows the loop stops early on the validation loss and restores
        the best weights; without, it stops when the training loss stalls.
    task : {"classification", "regression"}
    progress : callable or None
        Called after every epoch with the epoch's history record.

    Returns
    -------
    dict with keys ``coefs``, ``intercepts`` (float32 numpy), ``history`` (list of
    dicts), ``n_iter``, ``best_epoch`` and ``device`` (str).
    """
    device = resolve_device(device)
    classification = task == "classification"
    n, n_in = X_train.shape
    n_out = target_train.shape[1]
    fork_devices = [device.index or 0] if device.type == "cuda" else []

    # Seed a forked RNG so that weight init and dropout are reproducible while the
    # user's global torch random state is left exactly as it was.
    with _one_cpu_thread(device), torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        net = build_network(n_in, hidden_layer_sizes, n_out, activation, dropout).to(device)

        X_t = _to_tensor(X_train, device, torch.float32)
        target_t = _to_tensor(target_train, device, torch.float32)
        if classification:
            target_t = soften_probabilities(target_t, temperature)
            y_t = _to_tensor(y_train, device, torch.long)
        else:
            y_t = _to_tensor(y_train, device, torch.float32)
        labeled_t = _to_tensor(labeled_train, device, torch.bool)
        w_t = _to_tensor(w_train, device, torch.float32)

        has_valid = X_valid is not None and len(X_valid) > 0
        if has_valid:
            Xv = _to_tensor(X_valid, device, torch.float32)
            yv = _to_tensor(y_valid, device, torch.long if classification else torch.float32)
            wv = _to_tensor(w_valid, device, torch.float32)

        optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
        # Halve the step size when the monitored loss plateaus: cheap, and it lets a
        # small net settle into the teacher's function instead of hovering around it.
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, n_iter_no_change // 2)
        )
        batches = _Batches(n, min(batch_size, n), generator)

        def batch_loss(idx):
            out = net(X_t[idx])
            if classification:
                return distillation_loss(out, target_t[idx], y_t[idx], labeled_t[idx], w_t[idx],
                                         temperature=temperature, alpha=alpha)
            return regression_loss(out, target_t[idx], y_t[idx], labeled_t[idx], w_t[idx],
                                   alpha=alpha)

        history = []
        best_loss, best_epoch, best_state, stall = math.inf, 0, None, 0
        for epoch in range(1, max_epochs + 1):
            start = time.perf_counter()
            net.train()
            total, weight_seen = 0.0, 0.0
            for idx in batches:
                optimizer.zero_grad(set_to_none=True)
                loss = batch_loss(idx)
                loss.backward()
                optimizer.step()
                bw = float(w_t[idx].sum())
                total += loss.item() * bw
                weight_seen += bw
            record = {"epoch": epoch, "train_loss": total / max(weight_seen, 1e-12)}

            if has_valid:
                net.eval()
                with torch.no_grad():
                    out = net(Xv)
                    if classification:
                        per_row = nn.functional.cross_entropy(out, yv, reduction="none")
                        record["valid_accuracy"] = float(
                            ((out.argmax(dim=1) == yv).float() * wv).sum() / wv.sum()
                        )
                    else:
                        per_row = ((out - yv) ** 2).mean(dim=1)
                    record["valid_loss"] = float((per_row * wv).sum() / wv.sum())
                monitored = record["valid_loss"]
            else:
                monitored = record["train_loss"]
            record["learning_rate"] = optimizer.param_groups[0]["lr"]
            record["duration"] = time.perf_counter() - start
            history.append(record)
            if progress is not None:
                progress(record)

            if not math.isfinite(record["train_loss"]):
                raise FloatingPointError(
                    f"The student's training loss became {record['train_loss']} at epoch "
                    f"{epoch}. Lower learning_rate, or check the inputs for extreme values."
                )
            scheduler.step(monitored)
            if monitored < best_loss - tol:
                best_loss, best_epoch, stall = monitored, epoch, 0
                if has_valid:
                    best_state = copy.deepcopy(net.state_dict())
            else:
                stall += 1
                if stall >= n_iter_no_change:
                    break

        if best_state is not None:
            net.load_state_dict(best_state)

    linears = [m for m in net if isinstance(m, nn.Linear)]
    return {
        # Linear stores (out, in); the numpy student multiplies X @ W, so transpose.
        "coefs": [m.weight.detach().cpu().numpy().T.astype(np.float32) for m in linears],
        "intercepts": [m.bias.detach().cpu().numpy().astype(np.float32) for m in linears],
        "history": history,
        "n_iter": len(history),
        "best_epoch": best_epoch if has_valid else len(history),
        "device": str(device),
    }

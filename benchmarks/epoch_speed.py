"""How much student time the training loop's cheaper elementwise steps save, and that
they change no weight.

Since 0.8.1 the loop computes the piecewise-linear encoding with ``index_select`` and one
``clamp`` (0.8.0: ``h[:, column]``, then a maximum and a minimum) and moves the averaged
weights towards the network's in one in-place list-wise ``lerp`` (0.8.0: a new tensor per
parameter, then a copy). This script fits the same student (default settings, a fixed
40 epochs by ``--epochs``, the teachers cached so that only the student is timed) with
the current loop and with 0.8.0's (those two pieces put back by this script),
alternating the two ``--repeats`` times on each table. It reports the median student
fit time of each, their ratio, and whether the two students' arrays are equal bit for bit.

    python -m benchmarks.epoch_speed [--datasets magic electricity optdigits adult spambase]

Writes ``benchmarks/results/epoch_speed.md``.
"""

import argparse
import contextlib
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    alternated_fits_header,
    alternated_student_fits,
    environment,
    fixed_epoch_fit,
    limit_threads,
    output_folder,
    script_command,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATASETS = ["magic", "electricity", "optdigits", "adult", "spambase"]
EPOCHS = 40


def _indexed_piecewise_linear(self, torch, p, h):
    """0.8.0's ``PiecewiseLinear.torch_forward``."""
    z = (h[:, p["column"]] - p["left"]) * p["inv_width"]
    return torch.minimum(torch.maximum(z, p["lower"]), p["upper"])


def _per_tensor_average(net, weight_averaging):
    """0.8.0's ``_averaged_model``: a new averaged tensor per parameter at every step."""
    import torch

    import skdistill._training as training

    if weight_averaging == "none":
        return None

    def step(averaged, current, n_averaged):
        return averaged.lerp(current, (training.EMA_WARMUP - 1)
                             / (training.EMA_WARMUP + float(n_averaged)))

    return torch.optim.swa_utils.AveragedModel(net, avg_fn=step)


@contextlib.contextmanager
def earlier_loop():
    """Train with 0.8.0's encoding forward and weight averaging, then put back today's."""
    import skdistill._training as training
    from skdistill._student import PiecewiseLinear

    forward, average = PiecewiseLinear.torch_forward, training._averaged_model
    PiecewiseLinear.torch_forward = _indexed_piecewise_linear
    training._averaged_model = _per_tensor_average
    try:
        yield
    finally:
        PiecewiseLinear.torch_forward = forward
        training._averaged_model = average


def fit_student(X, y, memory, kind=None, epochs=EPOCHS):
    """``(student fit seconds, student)`` of one default fit of ``epochs`` epochs, with
    0.8.0's loop for ``kind="earlier"``."""
    with earlier_loop() if kind == "earlier" else contextlib.nullcontext():
        model = fixed_epoch_fit(X, y, memory, epochs)
    return model.fit_info_["student_fit_seconds"], model.student_


def same_arrays(a, b):
    """Whether two students have the same layers with equal arrays, bit for bit."""
    if [layer.kind for layer in a.layers] != [layer.kind for layer in b.layers]:
        return False
    return all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        for x, y in zip((la.arrays() for la in a.layers), (lb.arrays() for lb in b.layers))
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    args = parser.parse_args(argv)
    env = environment(script_command("epoch_speed", argv))
    limit_threads()

    def fit(X, y, memory, kind):
        # The first fit, which caches the teachers, needs no more than one epoch.
        return fit_student(X, y, memory, kind, args.epochs if kind else 1)

    rows = []
    for name, fits in alternated_student_fits(args.datasets, args.data_dir, "skdistill-epoch-",
                                              fit, ("current", "earlier"), args.repeats):
        med = {k: statistics.median([seconds for seconds, _ in v]) for k, v in fits.items()}
        current, earlier = fits["current"][-1][1], fits["earlier"][-1][1]
        rows.append((name, current.layer_sizes, med["current"], med["earlier"],
                     same_arrays(current, earlier)))
        print(rows[-1], flush=True)
    lines = alternated_fits_header(
        "The training loop against 0.8.0's: the student's fit time per epoch", env,
        args.epochs, args.repeats,
        " '0.8.0 loop' puts back 0.8.0's piecewise-linear forward (`h[:, column]`, a "
        "maximum and a minimum) and its per-tensor weight averaging.")
    lines += ["- 'same weights': the two students' arrays are equal bit for bit.", "",
              "| dataset | student | current | 0.8.0 loop | current / 0.8.0 | same weights |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {'-'.join(map(str, sizes))} | {c:.2f} s | {e:.2f} s | {c / e:.2f} "
              f"| {'yes' if same else 'NO'} |" for name, sizes, c, e, same in rows]
    (Path(args.out_dir) / "epoch_speed.md").write_text("\n".join(lines) + "\n")
    return rows


if __name__ == "__main__":
    main()

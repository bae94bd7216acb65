"""Whether the student's first layer gets cheaper by using the encoding's structure.

Most of the student's fit time is its linear layers' matrix products, and the first
one, which reads the piecewise-linear encoding (up to 1,024 columns), often carries
most of their operations. That encoding has structure a dense product ignores: each numeric
column's bins read ``1, ..., 1, z, 0, ..., 0``, so the column's share of the first
layer's output is an interpolation between two rows of the cumulative sum of its
weights. Trained in that form (the cumulative sums, "knots", as the parameters: the
same function, saved back as today's layers), a step gathers two rows per column
instead of multiplying by every bin, and its backward scatters instead of multiplying.

This script times one training step of each table's default student (batch 256,
forward, backward and fused AdamW, one thread) with the dense first layer and with the
interpolated one, alternated, and checks that the two compute the same outputs. It
does not measure what the knot form does to training: AdamW does not take the same
steps on knots as on the weights, so it would train a different student. The form
that keeps today's steps would add a cumulative sum of the weights, and its reverse,
to every step. Neither is in the library: ``docs/benchmarks.md`` ("What is not here
yet") says why.

    python -m benchmarks.first_layer [--datasets magic letter ...]

Writes ``benchmarks/results/first_layer.md``.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    available_datasets,
    classification_datasets,
    command_line,
    environment,
    limit_threads,
    make_split,
    output_folder,
    script_command,
    versions_text,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BATCH = 256


def _knot_lookup():
    """A torch autograd function: the weighted sum of two table rows per column, with a
    backward that adds each row's share of the output gradient into the rows it read
    (``embedding_bag``'s own backward sorts the indices first, which cost more)."""
    import torch

    class KnotLookup(torch.autograd.Function):
        @staticmethod
        def forward(ctx, table, index, weight):
            ctx.save_for_backward(index, weight)
            ctx.n_rows = table.shape[0]
            return torch.nn.functional.embedding_bag(index, table, per_sample_weights=weight,
                                                     mode="sum")

        @staticmethod
        def backward(ctx, grad_out):
            index, weight = ctx.saved_tensors
            shares = (weight.unsqueeze(2) * grad_out.unsqueeze(1)).reshape(-1, grad_out.shape[1])
            grad = grad_out.new_zeros((ctx.n_rows, grad_out.shape[1]))
            return grad.index_add_(0, index.reshape(-1), shares), None, None

    return KnotLookup


def _bin_grid(ple):
    """Each numeric column's bins in a (columns, most bins) grid, padded with bins that
    no value reaches; with the first bin of each column and its bin count."""
    col = ple.column
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    counts = np.diff(np.r_[starts, len(col)])
    grid = {"left": np.full((len(starts), counts.max()), np.inf),
            "inv_width": np.ones((len(starts), counts.max())),
            "lower": np.zeros((len(starts), counts.max())),
            "upper": np.ones((len(starts), counts.max()))}
    for f, (s, c) in enumerate(zip(starts, counts)):
        for name, padded in grid.items():
            padded[f, :c] = getattr(ple, name)[s:s + c]
    return grid, starts, counts


def interpolated_first_layer(ple, linear, lookup=None):
    """A torch module computing ``linear(ple(h))`` as an interpolation between knots.

    Column ``f``'s knots are the cumulative sums of its bins' weight rows, from zero;
    a value in bin ``b`` at position ``z`` adds ``(1 - z) * knot[b] + z * knot[b + 1]``.
    ``lookup(knots, index, weight)`` sums the weighted rows (default: the hand-written
    backward of :func:`_knot_lookup`). ``to_layers()`` gives back the two numpy layers,
    their weights the knots' differences.
    """
    import torch
    from torch import nn

    lookup = lookup or _knot_lookup().apply

    class Interpolated(nn.Module):
        def __init__(self):
            super().__init__()
            grid, self.starts, self.counts = _bin_grid(ple)
            n_cols, width = grid["left"].shape
            self.knot_start = self.starts + np.arange(n_cols)
            weight = np.asarray(linear.weight, dtype=np.float64)
            knots = np.zeros((len(ple.column) + n_cols, weight.shape[1]))
            for s, c, k in zip(self.starts, self.counts, self.knot_start):
                knots[k + 1:k + 1 + c] = np.cumsum(weight[s:s + c], axis=0)
            buffers = {"column": ple.column[self.starts], "last": self.counts - 1,
                       "grid_start": np.arange(n_cols) * width, "knot0": self.knot_start,
                       **{k: v.astype(np.float32) for k, v in grid.items()}}
            for name, value in buffers.items():
                self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(value)))
            self.knots = nn.Parameter(torch.from_numpy(knots.astype(np.float32)))
            self.bias = nn.Parameter(torch.from_numpy(np.array(linear.bias, np.float32)))

        def forward(self, h):
            x = torch.index_select(h, 1, self.column).unsqueeze(2)
            z = (x - self.left) * self.inv_width                # every bin of every column
            b = torch.minimum((z >= 1).sum(2), self.last)      # the bin each value is in
            cell = b + self.grid_start
            z = torch.gather(z.reshape(len(h), -1), 1, cell)
            z = torch.clamp(z, self.lower.reshape(-1)[cell], self.upper.reshape(-1)[cell])
            knot = b + self.knot0
            return lookup(self.knots, torch.cat([knot, knot + 1], 1),
                                torch.cat([1 - z, z], 1)) + self.bias

        def to_layers(self):
            knots = self.knots.detach().numpy().astype(np.float64)
            weight = np.concatenate([np.diff(knots[k:k + c + 1], axis=0)
                                     for c, k in zip(self.counts, self.knot_start)])
            bias = self.bias.detach().numpy() + knots[self.knot_start].sum(axis=0)
            return [ple, linear.with_arrays({"weight": weight, "bias": bias})]

    return Interpolated()


def student_networks(student):
    """The student as torch modules twice: as the training loop builds it, and with its
    piecewise-linear encoding and first linear layer replaced by the interpolated form."""
    from torch import nn

    from skdistill._student import Linear, PiecewiseLinear
    from skdistill._training import torch_student

    dense = torch_student(student)
    layers = student.layers
    i = next(i for i, layer in enumerate(layers) if isinstance(layer, PiecewiseLinear))
    if not isinstance(layers[i + 1], Linear):
        raise ValueError("the encoding is not followed by a linear layer")
    modules = list(torch_student(student))
    interpolated = nn.Sequential(*modules[:i],
                                 interpolated_first_layer(layers[i], layers[i + 1]),
                                 *modules[i + 2:])
    return dense, interpolated


def step_times(nets, X, steps, repeats, threads=None):
    """Median seconds per training step of each of ``nets`` on batches of ``X``, the nets
    alternated ``repeats`` times so that the machine's load falls on each alike.

    ``threads`` maps a net's name to torch's intra-op thread count for its rounds
    (default: one, the library's training setting)."""
    import torch

    xb = torch.from_numpy(np.ascontiguousarray(X[:BATCH], dtype=np.float32))
    times = {name: [] for name in nets}
    optimizers = {name: torch.optim.AdamW(net.parameters(), lr=1e-3, fused=True)
                  for name, net in nets.items()}
    saved = torch.get_num_threads()
    try:
        for _ in range(repeats):
            for name, net in nets.items():
                torch.set_num_threads((threads or {}).get(name, 1))
                opt = optimizers[name]
                for i in range(steps + 5):  # five warm-up steps
                    if i == 5:
                        start = time.perf_counter()
                    opt.zero_grad(set_to_none=True)
                    net(xb).pow(2).mean().backward()
                    opt.step()
                times[name].append((time.perf_counter() - start) / steps)
    finally:
        torch.set_num_threads(saved)
    return {name: statistics.median(t) for name, t in times.items()}


def measure(name, X, steps, repeats):
    """One table's row: its default student, the two step times and the forward gap."""
    import torch

    from skdistill._student import build_student

    student = build_student(X, 2, "auto", activation="silu", input_encoding="piecewise_linear",
                            n_bins=64)
    dense, interpolated = student_networks(student)
    X_t = torch.from_numpy(np.ascontiguousarray(X[:2000], dtype=np.float32))
    with torch.no_grad():
        gap = float((dense(X_t) - interpolated(X_t)).abs().max())
    t = step_times({"dense": dense, "interpolated": interpolated}, X, steps, repeats)
    return {"dataset": name, "columns": X.shape[1], "student": student.layer_sizes,
            "dense_ms": 1e3 * t["dense"], "interpolated_ms": 1e3 * t["interpolated"],
            "gap": gap}


def write_page(rows, env, steps, repeats, path):
    ratios = [r["dense_ms"] / r["interpolated_ms"] for r in rows]
    lines = ["# The student's first layer: dense product against interpolation", "",
             command_line(env),
             f"- Date: {env['date']}; machine: {env['machine']} (shared; the two forms are "
             "alternated, so load affects both alike)",
             "- Versions: " + versions_text(env),
             f"- Each table's default student (seed-0 split, 3,000 training rows, two "
             f"outputs), one thread; a training step is forward, backward and fused AdamW "
             f"on {BATCH} rows; median over {repeats} alternated rounds of {steps} steps.",
             "- 'interpolated': the encoding and first linear layer as an interpolation "
             "between the cumulative sums of each column's weights (see the script's "
             "docstring). 'max |gap|': the largest difference between the two forms' "
             "outputs on up to 2,000 training rows.", "",
             "| dataset | columns | student | dense | interpolated | dense / interpolated "
             "| max \\|gap\\| |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['columns']} | {'-'.join(map(str, r['student']))} | "
              f"{r['dense_ms']:.2f} ms | {r['interpolated_ms']:.2f} ms | "
              f"{r['dense_ms'] / r['interpolated_ms']:.2f} | {r['gap']:.1e} |" for r in rows]
    lines += ["", f"Median dense / interpolated: {statistics.median(ratios):.2f} "
              f"(from {min(ratios):.2f} to {max(ratios):.2f}, {len(rows)} tables)."]
    path.write_text("\n".join(lines) + "\n")


def per_table_steps(script, argv, description, measure, write_page, page):
    """The command line of a step-time benchmark: parse ``argv``, ``measure(name, X,
    steps, repeats)`` each table's seed-0 training split, write the rows with
    ``write_page(rows, env, steps, repeats, path)`` to ``page`` and return them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="default: every classification table in the data folder")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    args = parser.parse_args(argv)
    env = environment(script_command(script, argv))
    restore_threads = limit_threads()
    rows = []
    try:
        for name, X_all, y_all in available_datasets(
                args.datasets or classification_datasets(), args.data_dir):
            X, _, _, _, _ = make_split(X_all, y_all, 0, max_train=3_000, max_test=2_000)
            rows.append(measure(name, np.asarray(X, dtype=np.float64), args.steps,
                                args.repeats))
            print(rows[-1], flush=True)
    finally:
        restore_threads()
    if rows:
        write_page(rows, env, args.steps, args.repeats, Path(args.out_dir) / page)
    return rows


def main(argv=None):
    return per_table_steps("first_layer", argv, __doc__.split("\n\n")[0], measure, write_page,
                           "first_layer.md")


if __name__ == "__main__":
    main()

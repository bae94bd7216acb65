"""Whether the CPU computes the student's training step faster, the student unchanged.

The student's fit is its training steps, and their matrix products are most of a step's
time (``docs/benchmarks.md``, "What is not here yet"). Two levers leave the student, its
schedule and its epochs alone and change only how a step is computed:

- bfloat16 autocast: torch computes the linear layers' products in bfloat16, which
  CPUs with AMX or AVX-512 BF16 units can multiply faster than float32; the weights
  and the optimizer stay float32. It changes the numbers a step computes,
  so the outputs' largest gap to float32 is reported beside the time.
- A second intra-op thread: the library trains on one (``one_cpu_thread`` in
  ``skdistill/_training.py``), because on a busy machine more threads made training
  several times slower. This measures what the second one gives on an idle machine.

This script times one training step of each table's default student (batch 256,
forward, backward and fused AdamW) in float32 on one thread, as the library trains it,
and with each lever, alternated so that the machine's load falls on each alike. Neither
lever is in the library: ``docs/benchmarks.md`` says why.

    python -m benchmarks.step_speed [--datasets magic letter ...]

Writes ``benchmarks/results/step_speed.md``.
"""

import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from benchmarks._common import command_line, versions_text  # noqa: E402
from benchmarks.first_layer import BATCH, per_table_steps, step_times  # noqa: E402

#: The variants, as (name, bfloat16 autocast, intra-op threads); the first is the library's.
VARIANTS = (("float32", False, 1), ("bfloat16", True, 1), ("2 threads", False, 2))


def autocast_bfloat16(net):
    """``net`` with its forward under CPU bfloat16 autocast and float32 outputs: the
    same parameters, so the optimizer and its state stay float32."""
    import torch
    from torch import nn

    class Autocast(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, h):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.net(h).float()

    return Autocast()


def cpu_bfloat16():
    """What the CPU offers for bfloat16 products, in words."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    try:
        supported = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):  # a private probe: absent from some builds
        supported = None
    flags = set()
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        pass
    units = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    return (f"torch's CPU capability {capability}; oneDNN bfloat16: "
            f"{'yes' if supported else 'no' if supported is False else 'unknown'}; "
            f"CPU flags: {', '.join(units) or 'no amx_bf16 or avx512_bf16'}")


def measure(name, X, steps, repeats):
    """One table's row: its default student's step time under each variant, and the
    largest gap between its bfloat16 and float32 outputs."""
    import torch

    from skdistill._student import build_student
    from skdistill._training import torch_student

    student = build_student(X, 2, "auto", activation="silu", input_encoding="piecewise_linear",
                            n_bins=64)
    nets = {label: autocast_bfloat16(torch_student(student)) if bf16 else torch_student(student)
            for label, bf16, _ in VARIANTS}
    X_t = torch.from_numpy(np.ascontiguousarray(X[:2000], dtype=np.float32))
    with torch.no_grad():
        gap = float((nets["bfloat16"](X_t) - nets["float32"](X_t)).abs().max())
    times = step_times(nets, X, steps, repeats, threads={label: n for label, _, n in VARIANTS})
    return {"dataset": name, "student": student.layer_sizes, "gap": gap,
            **{f"{label}_ms": 1e3 * times[label] for label, _, _ in VARIANTS}}


def _ratio(row, label):
    return row["float32_ms"] / row[f"{label}_ms"]


def write_page(rows, env, steps, repeats, path):
    levers = [label for label, _, _ in VARIANTS[1:]]
    lines = ["# The student's training step: bfloat16 autocast and a second thread", "",
             command_line(env),
             f"- Date: {env['date']}; machine: {env['machine']} (the variants are "
             "alternated, so load affects each alike)",
             f"- bfloat16 on this CPU: {cpu_bfloat16()}",
             "- Versions: " + versions_text(env),
             f"- Each table's default student (seed-0 split, 3,000 training rows, two "
             f"outputs); a training step is forward, backward and fused AdamW on {BATCH} "
             f"rows; median over {repeats} alternated rounds of {steps} steps. 'float32': "
             "as the library trains, on one thread. 'bfloat16': the forward under CPU "
             "bfloat16 autocast, one thread. '2 threads': float32 on two intra-op threads.",
             "- 'max |gap|': the largest difference between the bfloat16 and float32 "
             "outputs (logits, untrained student) on up to 2,000 training rows.", "",
             "| dataset | student | float32 | bfloat16 | 2 threads | float32 / bfloat16 "
             "| float32 / 2 threads | max \\|gap\\| |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {'-'.join(map(str, r['student']))} | "
              f"{r['float32_ms']:.2f} ms | {r['bfloat16_ms']:.2f} ms | "
              f"{r['2 threads_ms']:.2f} ms | {_ratio(r, 'bfloat16'):.2f} | "
              f"{_ratio(r, '2 threads'):.2f} | {r['gap']:.1e} |" for r in rows]
    lines.append("")
    for label in levers:
        ratios = [_ratio(r, label) for r in rows]
        lines.append(f"Median float32 / {label}: {statistics.median(ratios):.2f} (from "
                     f"{min(ratios):.2f} to {max(ratios):.2f}, {len(rows)} tables).")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    return per_table_steps("step_speed", argv, __doc__.split("\n\n")[0], measure, write_page,
                           "step_speed.md")


if __name__ == "__main__":
    main()

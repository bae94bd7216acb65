"""How much of the student's fit time the fused AdamW kernel saves.

The student trains with ``torch.optim.AdamW(fused=True)`` where torch has the kernel
(torch >= 2.4 on CPU). This script fits the same student (default settings, a fixed 40
epochs, the teachers cached so that only the student is timed) with the fused and with
torch's default per-tensor AdamW, alternating the two ``--repeats`` times on each table,
and reports the median student fit time of each and their ratio. The two optimizers
compute the same update up to float rounding, so the students differ only by that.

    python -m benchmarks.optimizer_speed [--datasets electricity optdigits adult]

Writes ``benchmarks/results/optimizer_speed.md``.
"""

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

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
DATASETS = ["electricity", "optdigits", "adult"]
EPOCHS = 40


def _per_tensor_adamw(parameters, learning_rate, weight_decay):
    import torch

    return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)


def student_seconds(X, y, memory, kind=None):
    """The student fit time of one default fit (40 epochs), with torch's per-tensor AdamW
    for ``kind="per-tensor"``."""
    import skdistill._training as training

    fused = training._make_optimizer
    if kind == "per-tensor":
        training._make_optimizer = _per_tensor_adamw
    try:
        model = fixed_epoch_fit(X, y, memory, EPOCHS)
    finally:
        training._make_optimizer = fused
    return model.fit_info_["student_fit_seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(RESULTS_DIR), type=output_folder)
    args = parser.parse_args(argv)
    env = environment(script_command("optimizer_speed", argv))
    limit_threads()
    rows = []
    for name, times in alternated_student_fits(args.datasets, args.data_dir,
                                               "skdistill-optimizer-", student_seconds,
                                               ("fused", "per-tensor"), args.repeats):
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append((name, med["fused"], med["per-tensor"]))
        print(rows[-1], flush=True)
    lines = alternated_fits_header("Fused against per-tensor AdamW: the student's fit time",
                                   env, EPOCHS, args.repeats)
    lines += ["", "| dataset | fused | per-tensor | fused / per-tensor |", "|---|---|---|---|"]
    lines += [f"| {name} | {f:.2f} s | {p:.2f} s | {f / p:.2f} |" for name, f, p in rows]
    (Path(args.out_dir) / "optimizer_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""A behaviour step through ``train.py`` against a plain eager PyTorch loop of the same network, in one run.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/train_overhead.py [--short 1000 --long 3000]
                                                                          [--steps-per-batch 25]

For each compile setting (compiled: ``--steps-per-batch`` optimizer steps to a Lightning batch, ``steps_per_batch``),
``train.py stage=behavior`` runs twice on the built-in data set (widths 16, batch 64:
almost no arithmetic, so the step is all overhead), ``--short`` and ``--long`` steps; the difference of the two
stage times over the difference of the steps is the cost of one step through the whole machinery (data module,
Lightning's loop, every callback of the pipeline), with start-up and compilation cancelled out (a first, untimed
run fills torch.compile's caches, so that both timed runs load the compiled step from them). The plain loop
is the same ScoreNet trained by hand on data of the same sizes: rows drawn with torch.randint, forward,
eps-matching loss, backward, torch's default Adam, zero_grad. Prints ms per step and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from cep_lightning.maths.diffusion import eps_matching_loss, perturb, sample_train_times
from cep_lightning.maths.nets import ScoreNet

ROOT = Path(__file__).resolve().parents[1]
WIDTHS, BATCH = (16, 16, 16), 64


def stage_seconds(steps: int, compiled: bool, run_dir: Path, steps_per_batch: int = 1) -> float:
    """Seconds of the behaviour stage of ``train.py`` (its timings.json) for ``steps`` steps (compiled:
    ``steps_per_batch`` of them to a Lightning batch)."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "stage=behavior",
        f"behavior.steps={steps}",
        f"behavior.widths=[{','.join(map(str, WIDTHS))}]",
        f"behavior.batch_size={BATCH}",
        f"compile={str(compiled).lower()}",
        f"steps_per_batch={steps_per_batch if compiled else 1}",
        f"run.dir={run_dir}",
    ]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "timings.json").read_text())["behavior"]


def plain_loop_ms(steps: int) -> float:
    """ms per step of the hand-written eager loop of the same network on data of the built-in set's sizes
    (40,000 rows of 3-dimensional states and 1-dimensional actions; a step's cost does not depend on the values)."""
    a, s = torch.rand(40_000, 1) * 2 - 1, torch.randn(40_000, 3)
    net = ScoreNet(a.shape[1], s.shape[1], widths=WIDTHS)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    start = 0.0
    for k in range(steps + 100):
        if k == 100:
            start = time.perf_counter()
        rows = torch.randint(len(a), (BATCH,))
        x, c = a[rows], s[rows]
        t, noise = sample_train_times(BATCH), torch.randn_like(x)
        loss = eps_matching_loss(net(perturb(x, t, noise), t, c), noise)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return 1e3 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=1000)
    parser.add_argument("--long", type=int, default=3000)
    parser.add_argument("--compile", nargs="+", default=["true", "false"], choices=["true", "false"])
    parser.add_argument("--steps-per-batch", type=int, default=25, help="compiled runs: steps_per_batch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"plain_loop_ms": plain_loop_ms(args.long - args.short)}
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.compile:
            compiled = setting == "true"
            k = args.steps_per_batch
            stage_seconds(args.short, compiled, Path(tmp) / f"{setting}-warm-up", k)  # fills torch.compile's caches
            short = stage_seconds(args.short, compiled, Path(tmp) / f"{setting}-short", k)
            long = stage_seconds(args.long, compiled, Path(tmp) / f"{setting}-long", k)
            results[f"train_py_compile_{setting}_ms"] = 1e3 * (long - short) / (args.long - args.short)
    results["plain_loop_again_ms"] = plain_loop_ms(args.long - args.short)  # the machine's drift over the run
    plain = (results["plain_loop_ms"] + results["plain_loop_again_ms"]) / 2
    for setting in args.compile:
        results[f"ratio_compile_{setting}"] = results[f"train_py_compile_{setting}_ms"] / plain
    print(json.dumps({k: round(v, 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()

"""Argument handling for train.py: --help, config loading, and user errors printed as one message."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.loading import available_tasks
from cep_lightning.config.precision import flush_denormals
from cep_lightning.config.schema import STAGE_CHOICES, settings
from cep_lightning.errors import CepError
from cep_lightning.report import write_report
from cep_lightning.run.interrupts import StageInterrupted
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run

HELP = """usage: python train.py [key=value ...]        (or: cep-train [key=value ...])
       python train.py --cfg [key=value ...]  print the resolved config and exit

Runs QGPO (CEP energy-guided diffusion) stage by stage into one run directory:
  behavior -> support -> critic -> energy -> eval

stages (stage=...):  {stages}
tasks (task=...; presets in conf/task/, built on conf/base/):
{tasks}

examples:
  python train.py task=hopper-medium-replay-v2 data.path=FILE.hdf5
  python train.py run.dir=PATH                 rerun a run: redoes only what is out of date, resumes what stopped
  python train.py stage=energy trainer.devices=4
  python train.py seed=0,1,2                   one run per seed into <run>/seed<k>, then the report table
  python -m cep_lightning.toys task=toy-8gaussians   the 2-D exactness comparison
  python -m cep_lightning.images task=digits         the same on images (8 × 8 digits)
  python -m cep_lightning.grid task=A,B seed=0,1,2 launcher=slurm   one run per task and seed (SLURM or local)
  python -m cep_lightning.report runs/<task>/<run>   results table over runs and seeds
  tensorboard --logdir runs

settings (key=value; the defaults, which the task's preset overrides):
{settings}
"""


def settings_help() -> str:
    """One line per setting of the schema: key, default, what it means, its valid values."""
    lines = []
    for item in settings():
        default = item.default if isinstance(item.default, str) else json.dumps(item.default, separators=(",", ":"))
        if item.key == "trainer":
            lines.append(f"  {'trainer.KEY':34} {item.help}; defaults: {default}")
            lines.append(f"  {'<stage>.trainer.KEY':34} a Trainer argument for one stage only (over trainer.KEY)")
            continue
        if item.key.endswith(".trainer"):
            if item.default:  # a stage's own defaults (support and eval log every batch)
                lines.append(f"  {item.key + '.KEY':34} {item.help}; defaults: {default}")
            continue
        valid = f" [{' | '.join(item.choices)}]" if item.choices else ""
        lines.append(f"  {item.key + '=' + default:34} {item.help}{valid}".rstrip())
    return "\n".join(lines)


def quiet_lightning() -> None:
    """Drop Lightning's advertising tips, its per-Trainer device banners (the run's summary names the device
    once) and the warnings that do not apply to this pipeline, each for the reason above it."""
    import logging
    import warnings

    quiet = ("Tip:", "weights_only", "GPU available:", "TPU available:", "HPU available:", "LOCAL_RANK:")

    class _NoTips(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not any(text in record.getMessage() for text in quiet)

    for name in (
        "lightning.pytorch",
        "lightning.fabric",
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
    ):
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):  # records of child loggers reach only the handlers' filters
            if not any(type(f).__name__ == "_NoTips" for f in target.filters):  # once, however often it is called
                target.addFilter(_NoTips())
    ignore = warnings.filterwarnings
    # Lightning 2.6.6's own pytree helper builds torch's deprecated LeafSpec: not ours to change.
    ignore("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
    # The stages count no FLOPs: ThroughputMonitor's throughput is in samples/s.
    ignore("ignore", r"When using the `ThroughputMonitor`, you need to define a `flops_per_batch`")
    # The batches are rows gathered from tensors in memory (the support actions: a memory map the OS pages),
    # the evaluation's are episode numbers: worker processes would only copy them (data.num_workers if not).
    ignore("ignore", r"The '\w+' does not have many workers")
    # The device is the one trainer.accelerator names, and the run's summary says which.
    ignore("ignore", r"GPU available but not used")
    # It is resumable: batch k of a stage is drawn from a generator seeded by its global step (StepBatches).
    ignore("ignore", r"You're resuming from a checkpoint that ended before the epoch ended")
    # compile=true steps by manual optimisation: a checkpoint holds the weights after its step, as automatic
    # optimisation's do (and as resuming needs).
    ignore("ignore", r"Using ModelCheckpoint with manual optimization and every_n_train_steps")
    # torch < 2.6 (pyproject allows 2.4) warns on every torch.load: the checkpoints read are the run's own.
    ignore("ignore", r"You are using `torch.load` with `weights_only=False`", FutureWarning)


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        tasks = textwrap.fill(
            ", ".join(available_tasks()), 110, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False
        )
        print(HELP.format(stages=", ".join(STAGE_CHOICES), tasks=tasks, settings=settings_help()))
        return 0
    if "--cfg" in argv:
        return print_config([a for a in argv if a != "--cfg"])
    seeds = [a for a in argv if a.startswith("seed=") and "," in a]
    if seeds:
        return run_seeds([a for a in argv if a not in seeds], seeds[-1].removeprefix("seed="))
    return run_command(run, argv)


def print_config(argv: list[str]) -> int:
    """``--cfg``: the config a command would run with (defaults, task preset, an existing run's settings and the
    overrides, merged and checked), as YAML; nothing is run or written."""
    try:
        cfg = load_command(argv)
    except CepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(OmegaConf.to_yaml(cfg), end="")
    return 0


def run_seeds(argv: list[str], seed_list: str) -> int:
    """``seed=0,1,2``: the pipeline once per seed, each in a fresh process (so DDP launches cleanly), into
    <run>/seed<k>; then ``cep_lightning.report`` over <run>. Rerunning the same command resumes: finished
    seeds and stages are skipped (name the run with run.name=... or run.dir=... to rerun it)."""
    try:
        seeds = [int(k) for k in seed_list.split(",") if k.strip()]
        cfg = load_command([*argv, f"seed={seeds[0]}"])  # the whole config is checked before the first seed starts
    except ValueError:
        print(f"error: seed={seed_list} is not a comma-separated list of integers (e.g. seed=0,1,2).", file=sys.stderr)
        return 2
    except CepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = Path(cfg.run.dir)  # run.dir, <root>/<task>/<name>, or a new time stamp
    rest = [a for a in argv if not a.startswith(("run.dir=", "run.name="))]
    for seed in seeds:
        print(f"[cep_lightning] seed {seed}: {base / f'seed{seed}'}", flush=True)
        code = subprocess.run(
            [sys.executable, "-m", "cep_lightning", *rest, f"seed={seed}", f"run.dir={base / f'seed{seed}'}"]
        ).returncode
        if code != 0:
            print(
                f"error: seed {seed} failed (exit status {code}); "
                f"rerun with run.dir={base} to resume where it stopped.",
                file=sys.stderr,
            )
            return code
    print(write_report([base], base))
    print(f"[cep_lightning] report: {base / 'report.md'}, {base / 'report.csv'}")
    return 0


def run_command(command: Callable[[DictConfig], object], argv: list[str]) -> int:
    """command(config from argv); a user error (CepError) is printed as one line and exits with status 2; a
    stage stopped by SIGTERM/SIGINT says how to resume and exits with 128 + the signal number."""
    quiet_lightning()
    flush_denormals()
    try:
        cfg = load_command(argv)
        if not any(a.startswith("run.dir=") for a in argv) and sys.argv[1:] == argv:
            # Lightning's DDP launcher starts the other processes with this process's command line: they work
            # in the run directory this one located (as Lightning does for Hydra's hydra.run.dir)
            sys.argv.append(f"run.dir={cfg.run.dir}")
        command(cfg)
    except StageInterrupted as exc:
        print(f"[cep_lightning] {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except CepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def experiment_main(
    argv: list[str],
    help_text: str,
    run_seed: Callable[[DictConfig], object],
    run_seeds: Callable[[list[str]], object],
    many: bool = False,
) -> int:
    """The exactness experiments' command line (``python -m cep_lightning.toys|images``): ``--help`` prints
    ``help_text``; a list of seeds (``seed=0,1,2``), or ``many``, runs ``run_seeds(argv)``; one seed runs
    ``run_seed`` through ``run_command``. A user error is one line and exit status 2."""
    quiet_lightning()
    flush_denormals()
    if any(a in ("-h", "--help", "help") for a in argv):
        print(help_text)
        return 0
    seed = next((a.removeprefix("seed=") for a in argv if a.startswith("seed=")), "")
    if "," not in seed and not many:
        return run_command(run_seed, argv)
    try:
        run_seeds(argv)
    except CepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def entry_point() -> None:
    """Console script ``cep-train``."""
    sys.exit(main(sys.argv[1:]))

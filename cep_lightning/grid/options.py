"""The grid command line: the grid's own options (tasks, seeds, launcher, concurrency, SLURM's sbatch options, the
grid directory), apart from the ``key=value`` settings that every run of the grid gets."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from submitit import SlurmExecutor

from cep_lightning.config.loading import available_tasks, parse_overrides, task_hint
from cep_lightning.errors import GridError

LAUNCHERS = ("local", "slurm")
GRID_KEYS = ("task", "seed", "launcher", "jobs", "runs_per_gpu", "grid.dir", "grid.wait")
RUN_KEYS = ("run.dir", "run.name", "stage")  # the grid sets these itself
STATUS = "status"
DEFAULT_SLURM_MINUTES = 24 * 60


@dataclass(frozen=True)
class GridOptions:
    """What one grid command asks for."""

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: tuple[str, ...]  # key=value settings of every run
    directory: Path  # absolute
    launcher: str = "local"
    jobs: int | None = None  # runs (local) or array tasks (SLURM) at a time; None: the launcher's default
    runs_per_gpu: int = 1
    wait: bool = True  # wait for the jobs, then print the status and the report
    slurm: dict[str, Any] = field(default_factory=dict)  # submitit's SlurmExecutor parameters (sbatch options)
    status: bool = False  # only show where each run stands


def parse_grid(argv: list[str]) -> GridOptions:
    """The grid's options from its command line; a GridError (one line) for anything it cannot run."""
    status = STATUS in argv
    items = [a for a in argv if a != STATUS]
    parse_overrides(items)  # every other argument is key=value
    pairs = [item.split("=", 1) for item in items]
    grid = {key: value for key, value in pairs if key in GRID_KEYS}
    slurm_items = [f"{key[len('slurm.') :]}={value}" for key, value in pairs if key.startswith("slurm.")]
    ours = (*GRID_KEYS, *RUN_KEYS)
    overrides = tuple(item for item, (key, _) in zip(items, pairs) if key not in ours and not key.startswith("slurm."))
    given = [key for key, _ in pairs if key in RUN_KEYS]
    if given:
        raise GridError(
            f"{given[0]}= is set by the grid (every run is <grid.dir>/<task>/seed<k>, every stage runs); "
            f"leave it out, or choose the grid's folder with grid.dir=DIR."
        )
    if "task" not in grid:
        raise GridError("A grid needs its tasks: task=NAME[,NAME...] (the presets in conf/task/).")
    launcher = grid.get("launcher", "local")
    if launcher not in LAUNCHERS:
        raise GridError(f"Unknown launcher '{launcher}'; valid launchers: {', '.join(LAUNCHERS)}.")
    if slurm_items and launcher != "slurm":
        raise GridError(f"slurm.* options ({slurm_items[0]}) need launcher=slurm.")
    root = Path(parse_overrides(list(overrides)).get("run", {}).get("root", "runs"))
    return GridOptions(
        tasks=_tasks(grid["task"]),
        seeds=_seeds(grid.get("seed", "0")),
        overrides=overrides,
        directory=Path(grid.get("grid.dir", root / "grid")).absolute(),
        launcher=launcher,
        jobs=_positive("jobs", grid["jobs"]) if "jobs" in grid else None,
        runs_per_gpu=_positive("runs_per_gpu", grid.get("runs_per_gpu", "1")),
        wait=_boolean("grid.wait", grid.get("grid.wait", "true")),
        slurm=_slurm(slurm_items),
        status=status,
    )


def _tasks(value: str) -> tuple[str, ...]:
    tasks = tuple(t.strip() for t in value.split(",") if t.strip())
    known = available_tasks()
    for task in tasks:
        if task not in known:
            raise GridError(
                f"task={task} has no preset (conf/task/{task}.yaml).{task_hint(task)} Valid tasks: {', '.join(known)}."
            )
        if task.startswith("toy-"):
            raise GridError(
                f"task={task} is a 2-D toy, which the pipeline does not run: python -m cep_lightning.toys task={task}"
            )
    if not tasks or len(set(tasks)) != len(tasks):
        raise GridError(f"task={value} is not a comma-separated list of distinct task names.")
    return tasks


def _seeds(value: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in value.split(",") if s.strip())
    except ValueError:
        seeds = ()
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise GridError(f"seed={value} is not a comma-separated list of distinct integers >= 0 (e.g. seed=0,1,2).")
    return seeds


def _positive(key: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise GridError(f"{key}={value} must be a positive integer.")
    return int(value)


def _boolean(key: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise GridError(f"{key}={value} must be true or false.")
    return value.lower() == "true"


def _slurm(items: list[str]) -> dict[str, Any]:
    """``slurm.KEY=VALUE`` as submitit's SlurmExecutor parameters (sbatch's options, ``time`` in minutes,
    ``additional_parameters.OPTION=VALUE`` for any other sbatch option); submitit checks the names."""
    params: dict[str, Any] = OmegaConf.to_container(OmegaConf.from_dotlist(items))  # type: ignore[assignment]
    valid = sorted(SlurmExecutor._valid_parameters())
    for key in params:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
            hint = f" Did you mean: {', '.join(f'slurm.{c}' for c in close)}?" if close else ""
            raise GridError(
                f"Unknown option slurm.{key} (submitit's SlurmExecutor has no '{key}').{hint} Any other sbatch "
                "option: slurm.additional_parameters.OPTION=VALUE."
            )
    gpus = params.get("gpus_per_node", 0)
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise GridError(f"slurm.gpus_per_node={gpus} must be a number of GPUs (0, 1, 2, ...).")
    minutes = params.get("time", DEFAULT_SLURM_MINUTES)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        raise GridError(f"slurm.time={minutes} must be a positive number of minutes (e.g. slurm.time=1440).")
    extra = params.get("additional_parameters", {})
    if not isinstance(extra, dict) or None in extra.values():
        raise GridError(
            f"slurm.additional_parameters={extra} is not a mapping of sbatch options to values: give each as "
            "slurm.additional_parameters.OPTION=VALUE (e.g. slurm.additional_parameters.qos=high)."
        )
    return {**params, "time": minutes}

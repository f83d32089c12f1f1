"""The runs of a grid, one per (task, seed) in ``<grid>/<task>/seed<k>``, each an ordinary run of the pipeline;
and what makes one finished."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cep_lightning.config.loading import run_settings_yaml
from cep_lightning.config.schema import STAGES
from cep_lightning.grid.options import GridOptions
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.plan import current_results


@dataclass(frozen=True)
class GridRun:
    """One (task, seed) of the grid: its run directory and the pipeline's command line for it."""

    task: str
    seed: int
    directory: Path
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.task}/seed{self.seed}"


def grid_runs(options: GridOptions) -> list[GridRun]:
    """Every (task, seed) of the grid, tasks first."""
    runs = []
    for task in options.tasks:
        for seed in options.seeds:
            directory = options.directory / task / f"seed{seed}"
            argv = (*options.overrides, f"task={task}", f"seed={seed}", f"run.dir={directory}")
            runs.append(GridRun(task, seed, directory, argv))
    return runs


def is_done(run: GridRun) -> bool:
    """Every stage of the run has a record, each made from the records its inputs hold now, the results are
    those of the current models, and the run's settings (its config.yaml) are the ones the grid asks for."""
    directory = RunDir(run.directory)
    if directory.finished_stages() != list(STAGES) or current_results(directory) is None:
        return False
    return directory.config.is_file() and directory.config.read_text() == run_settings_yaml(
        load_command(list(run.argv))
    )

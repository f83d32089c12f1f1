"""The few lines a run starts with: task, data, run directory, stages to run, device and precision."""

from __future__ import annotations

import lightning as L
from omegaconf import DictConfig

from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.sources import describe_source
from cep_lightning.run.plan import Plan


def device_of(trainer: L.Trainer) -> str:
    """What Lightning resolved a stage's Trainer options to: accelerator, device count, strategy, precision."""
    accelerator = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
    devices = trainer.num_devices * trainer.num_nodes
    strategy = type(trainer.strategy).__name__.removesuffix("Strategy")
    return f"{accelerator} × {devices} ({strategy}), precision {trainer.precision}"


def describe_start(cfg: DictConfig, data: QGPODataModule, plan: Plan, trainers: dict[str, L.Trainer]) -> str:
    """``task … | data … | run dir … | stages … | device …`` as aligned lines (printed before the plan)."""
    to_run = [step.stage for step in plan.to_run]
    devices = {device_of(trainers[stage]) for stage in to_run}
    smoke = "  (smoke: a small slice, short budgets)" if cfg.get("smoke", False) else ""
    lines = [
        f"[cep_lightning] task {cfg.task}, seed {cfg.seed}{smoke}",
        f"  data      {describe_source(cfg.data)}: {len(data.transitions.observations)} transitions, "
        f"state {data.state_dim}, action {data.action_dim}",
        f"  run dir   {cfg.run.dir}",
        f"  stages    {', '.join(to_run) or 'none (everything is current)'}",
        f"  device    {'; '.join(sorted(devices)) if devices else '-'}",
        f"  logs      {', '.join(cfg.logger)} (tensorboard --logdir {cfg.run.dir})",
    ]
    return "\n".join(lines)

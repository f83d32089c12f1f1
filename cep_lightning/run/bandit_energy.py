"""An energy model of a bandit (an empty state; each point's reward its label e(x)), as the exactness comparisons
train it: the 2-D toys (``toys/compare.py``) and the images (``images/compare.py``)."""

from __future__ import annotations

import zlib
from pathlib import Path

import lightning as L
from omegaconf import DictConfig

from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.run.directory import RunDir
from cep_lightning.run.pipeline import train_once
from cep_lightning.run.plan import stage_settings
from cep_lightning.stages.candidates import LabelledGroups
from cep_lightning.stages.energy import EnergyModule


def train_bandit_energy(
    cfg: DictConfig, run_dir: Path, data: QGPODataModule, name: str, method: str, beta: float, group: str
) -> EnergyModule:
    """<run_dir>/<name>/model.ckpt: ``cfg.energy``'s network trained by ``method`` (cep, mse, emse) at ``beta``,
    CEP's contrastive sets ``LabelledGroups`` of ``cfg[group].M`` points (0: the whole batch), the rate decayed
    to zero where ``cfg[group].lr_decay``; seeded by the seed and the name, so that every model has its own draws."""
    c, options = cfg.energy, cfg[group]
    L.seed_everything(cfg.seed + zlib.crc32(name.encode()) % 10_000, verbose=False)
    settings = {
        **stage_settings(cfg, "energy", data.fingerprint),
        "energy.loss": method,
        "energy.beta": beta,
        f"{group}.M": options.M,
        f"{group}.lr_decay": options.lr_decay,
    }
    path = train_once(
        cfg,
        "energy",
        RunDir(run_dir),
        data.use(c.batch_size, c.steps),
        settings,
        lambda: EnergyModule(
            0,
            data.action_dim,
            LabelledGroups(options.M),
            lr=c.lr,
            hidden=c.hidden,
            depth=c.depth,
            beta=beta,
            loss=method,
            time_scale=c.time_scale,
            lr_decay=options.lr_decay,
        ),
        name=name,
    )
    return EnergyModule.load_from_checkpoint(path, map_location="cpu", weights_only=True)

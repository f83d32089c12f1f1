"""``trainer.*`` and ``<stage>.trainer.*``: the ``lightning.Trainer`` arguments of one stage (checked by
``validate.check_config``)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.precision import resolve_precision


def stage_options(cfg: DictConfig, stage: str) -> dict[str, Any]:
    """The Trainer options of one stage: ``trainer.*``, then ``<stage>.trainer.*`` over them, with
    ``precision=auto`` resolved for the hardware (``precision.resolve_precision``)."""
    shared: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)  # type: ignore[assignment]
    own: dict[str, Any] = OmegaConf.to_container(cfg[stage].trainer, resolve=True)  # type: ignore[assignment]
    options = {**shared, **own}
    options["precision"] = resolve_precision(options.get("precision", "auto"), str(options.get("accelerator", "auto")))
    return options


@contextlib.contextmanager
def quiet_lightning_banners() -> Iterator[None]:
    """Silence "GPU available: ..." and similar lines while a stage's Trainer is built (the run's summary names
    the device once)."""
    loggers = [
        logging.getLogger(name)
        for name in (
            "lightning.pytorch",
            "lightning.fabric",
            "lightning.pytorch.utilities.rank_zero",
            "lightning.fabric.utilities.rank_zero",
        )
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)

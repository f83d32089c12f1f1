"""Evaluation in the environment every N training steps of the critic and energy stages."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import gymnasium as gym
import lightning as L
import numpy as np
import torch

from cep_lightning.envs.evaluation import evaluate, make_vector_env, normalized_score
from cep_lightning.maths.diffusion import get_sampler
from cep_lightning.maths.guidance import best_of_M, guided_sample
from cep_lightning.stages.behavior import BehaviorModule


class PeriodicEvaluation(L.Callback):
    """Critic stage: the best-Q of ``M`` behaviour samples (what the critic alone can do).
    Energy stage: the guided policy at each of ``scales``. Logged as ``<stage>/periodic_return[_s<scale>]``."""

    def __init__(
        self,
        behavior_checkpoint: Path,
        make_env: Callable[[], gym.Env],
        every_n_steps: int,
        episodes: int,
        scales: Sequence[float],
        solver_steps: int = 15,
        M: int = 16,
        seed: int = 10_000,
        ref_min: float | None = None,
        ref_max: float | None = None,
        sampler: str = "dpm_solver++_2s",
    ):
        self.behavior_checkpoint = Path(behavior_checkpoint)
        self.make_env, self.every_n_steps, self.episodes, self.scales = (
            make_env,
            every_n_steps,
            episodes,
            list(scales),
        )
        self.solver_steps, self.M, self.seed = solver_steps, M, seed
        self.ref_min, self.ref_max, self.sampler = ref_min, ref_max, sampler
        self.behavior = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.behavior = BehaviorModule.load_from_checkpoint(
            self.behavior_checkpoint, map_location=pl_module.device
        ).net.eval()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.global_step % self.every_n_steps != 0 or not trainer.is_global_zero:
            return
        stage = "energy" if hasattr(pl_module, "energy") else "critic"
        metrics = {}
        if stage == "energy":
            sampler = get_sampler(self.sampler)
            for scale in self.scales:

                def guided(obs: np.ndarray, scale: float = scale) -> np.ndarray:
                    s = torch.as_tensor(obs, dtype=torch.float32)
                    return guided_sample(self.behavior, pl_module.energy, s, scale, self.solver_steps, sampler)

                metrics.update(self._metrics(f"energy/periodic_return_s{scale:g}", guided))
        else:

            def act(obs: np.ndarray) -> np.ndarray:
                s = torch.as_tensor(obs, dtype=torch.float32)
                return best_of_M(self.behavior, pl_module.q, s, self.M, self.solver_steps)

            metrics.update(self._metrics("critic/periodic_return", act))
        for logger in trainer.loggers:  # every logger (trainer.logger is only the first)
            logger.log_metrics(metrics, step=trainer.global_step)

    def _metrics(self, key: str, act) -> dict[str, float]:
        envs = make_vector_env(self.make_env, self.episodes)
        try:
            with torch.inference_mode(False):
                returns = evaluate(
                    envs, lambda obs: act(obs).cpu().numpy(), [self.seed + e for e in range(self.episodes)]
                )
        finally:
            envs.close()
        result = {key: float(np.mean(returns))}
        score = normalized_score(float(np.mean(returns)), self.ref_min, self.ref_max)
        if score is not None:
            result[key.replace("return", "score")] = float(score)
        return result

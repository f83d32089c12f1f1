"""The evaluation stage's returns, against episodes rolled out here: a stand-in policy whose action depends on
the guidance scale of its row (0: no torque; otherwise the built-in data set's expert controller) must get, at
every scale, exactly the returns of that controller in Pendulum-v1 reset with the stage's seeds."""

from __future__ import annotations

import gymnasium as gym
import lightning as L
import numpy as np
import torch

from cep_lightning.data.builtin import expert_action
from cep_lightning.stages.evaluate import EvaluationModule


class ScaleRoutedController:
    """act(obs [B, 3], guidance_scale [B]) -> torques [B, 1]: the expert where the row's scale is not 0."""

    def act(self, observations: np.ndarray, guidance_scale: torch.Tensor) -> np.ndarray:
        guided = guidance_scale.numpy()[:, None] != 0
        return np.where(guided, expert_action(np.asarray(observations)), 0.0).astype(np.float32)


def rollout(controller, seed: int) -> float:
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(controller(obs[None])[0])
        total += float(reward)
        done = terminated or truncated
    env.close()
    return total


def test_each_scales_returns_are_its_episodes_from_the_stages_seeds() -> None:
    module = EvaluationModule(
        ScaleRoutedController(),
        lambda: gym.make("Pendulum-v1"),
        scales=[0.0, 2.0],
        episodes=3,
        seed=500,
        reported_scale=2.0,
        envs_per_batch=4,
    )  # batches of 4 and 2
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.test(module, verbose=False)
    still = [rollout(lambda obs: np.zeros((1, 1), dtype=np.float32), 500 + e) for e in range(3)]
    expert = [rollout(expert_action, 500 + e) for e in range(3)]
    np.testing.assert_allclose(module.returns[0.0], still, rtol=1e-9)
    np.testing.assert_allclose(module.returns[2.0], expert, rtol=1e-9)
    assert min(expert) > -400 > -600 > max(still)  # far apart: a row given another's scale would show

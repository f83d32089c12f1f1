"""The walker presets evaluate on the MuJoCo model that made D4RL's walker2d data (v2-v4 walker2d.xml)."""

from __future__ import annotations

import pytest

from cep_lightning.config.loading import load_config
from cep_lightning.envs.evaluation import EnvMaker


@pytest.mark.parametrize("task", ["walker2d-medium-v2", "walker2d-medium-replay-v2", "walker2d-medium-expert-v2"])
def test_feet_friction_is_the_data_models(task: str) -> None:
    env = EnvMaker.from_config(load_config([f"task={task}"]))()
    try:
        model = env.unwrapped.model
        right, left = (float(model.geom(name).friction[0]) for name in ("foot_geom", "foot_left_geom"))
        assert (right, left) == pytest.approx((0.9, 1.9))
        assert env.observation_space.shape == (17,) and env.action_space.shape == (6,)
    finally:
        env.close()

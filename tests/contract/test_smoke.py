"""``smoke=true``: any task shrunk to a small slice with short budgets (the run itself: tests/test_wheel.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cep_lightning.config.loading import load_config
from cep_lightning.config.smoke import SMOKE
from cep_lightning.data.transitions import Transitions


@pytest.mark.parametrize(
    "task", ["pendulum-mixed", "hopper-medium-v2", "antmaze-umaze-v2", "walker2d-medium-replay-v2"]
)
def test_smoke_shrinks_every_stage_of_any_task(task: str, tmp_path) -> None:
    full = load_config([f"task={task}", f"run.root={tmp_path}"])
    cfg = load_config([f"task={task}", "smoke=true", f"run.root={tmp_path}"])
    assert cfg.data.max_transitions == SMOKE["data.max_transitions"]  # the support stage samples for these states only
    for stage in ("behavior", "critic", "energy"):
        assert cfg[stage].steps == min(full[stage].steps, SMOKE[f"{stage}.steps"])
    assert (
        list(cfg.behavior.widths) == list(full.behavior.widths) and cfg.energy.hidden == full.energy.hidden
    )  # sizes kept
    assert cfg.support.M == full.support.M and cfg.support.batch_size <= 256
    assert cfg.eval.episodes == 1 and list(cfg.eval.scales) == [full.eval.reported_scale]
    assert cfg.eval.env_kwargs.max_episode_steps == 100
    assert {k: v for k, v in cfg.eval.env_kwargs.items() if k != "max_episode_steps"} == dict(full.eval.env_kwargs)


def test_smoke_never_enlarges_a_smaller_budget(tmp_path) -> None:
    cfg = load_config(["smoke=true", "behavior.steps=7", "data.max_transitions=300", f"run.root={tmp_path}"])
    assert cfg.behavior.steps == 7 and cfg.data.max_transitions == 300 and cfg.critic.steps == 50


def test_head_cuts_the_last_episode_as_a_time_limit() -> None:
    n = 6
    data = Transitions(
        observations=np.arange(n * 2, dtype=np.float32).reshape(n, 2),
        actions=np.zeros((n, 1), np.float32),
        rewards=np.arange(n, dtype=np.float32),
        next_observations=np.ones((n, 2), np.float32),
        terminals=np.array([0, 0, 1, 0, 0, 1], bool),
        timeouts=np.zeros(n, bool),
    )
    part = data.head(4)
    assert len(part) == 4 and part.rewards.tolist() == [0, 1, 2, 3]
    assert part.terminals.tolist() == [False, False, True, False] and part.timeouts.tolist() == [
        False,
        False,
        False,
        True,
    ]
    assert data.timeouts.sum() == 0  # the original is untouched
    assert data.head(3).timeouts.tolist() == [False, False, False]  # a cut at a terminal stays a terminal
    assert data.head(10) is data

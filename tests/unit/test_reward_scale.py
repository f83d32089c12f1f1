"""data.reward_scale: the returns whose range scales locomotion rewards, true episodes or the paper's return_range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cep_lightning.config.loading import load_config
from cep_lightning.data.hdf5 import load_d4rl_hdf5, write_d4rl_hdf5
from cep_lightning.data.rewards import episode_returns, paper_episode_returns, reward_scale, transform_rewards
from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError
from cep_lightning.run.plan import stage_settings


def table(rewards: list[float], terminal: list[int], timeout: list[int]) -> Transitions:
    """One row per reward, s'_i = s_{i+1} (the episode structure comes from the flags alone)."""
    n = len(rewards)
    states = np.arange(n + 1, dtype=np.float32)[:, None]
    flags = [np.isin(np.arange(n), rows) for rows in (terminal, timeout)]
    return Transitions(
        observations=states[:-1],
        actions=np.zeros((n, 1), np.float32),
        rewards=np.asarray(rewards, np.float32),
        next_observations=states[1:],
        terminals=flags[0],
        timeouts=flags[1],
    )


def test_paper_returns_by_hand() -> None:
    """Episodes: [1 2 3] ends in a terminal, [10 20 30 40] in a time-out, [100 200] is cut off by the file's end.
    The paper drops the time-out row and the last row: [1 2 3 | 10 20 30 100]; a counter ends an episode at the
    terminal or after max_steps rows; the trailing part counts only when full."""
    data = table([1, 2, 3, 10, 20, 30, 40, 100, 200], terminal=[2], timeout=[6])
    np.testing.assert_allclose(episode_returns(data), [6, 100, 300])
    np.testing.assert_allclose(paper_episode_returns(data, max_steps=1000), [6])
    np.testing.assert_allclose(paper_episode_returns(data, max_steps=3), [6, 60])
    np.testing.assert_allclose(paper_episode_returns(data, max_steps=2), [3, 3, 30, 130])


def test_terminal_after_exactly_max_steps_is_one_episode() -> None:
    data = table([1, 1, 1, 5, 0], terminal=[2], timeout=[])
    np.testing.assert_allclose(paper_episode_returns(data, max_steps=3), [3])
    np.testing.assert_allclose(paper_episode_returns(table([1, 1, 1, 1, 0], [3], []), max_steps=3), [3, 1])


def test_transform_uses_the_chosen_returns() -> None:
    data = table([1, 2, 3, 10, 20, 30, 40, 100, 200], terminal=[2], timeout=[6])
    np.testing.assert_allclose(transform_rewards(data, "locomotion", "episodes"), data.rewards * 1000 / 294, rtol=1e-6)
    assert reward_scale(table([1, 2, 3, 7, 0, 0], [2, 3], []), "paper") == pytest.approx(1000 / (7 - 6))


def halfcheetah_shaped(path: Path, episodes: int = 20, steps: int = 1000) -> Path:
    """A HalfCheetah-sized file (17 / 6) of episodes that all end in a time-out after ``steps`` rows, each at its own
    reward level, with next_observations (as D4RL's v2 files)."""
    rng = np.random.default_rng(0)
    rewards = rng.uniform(-0.3, 11, (episodes, 1)) + rng.normal(0, 1, (episodes, steps))
    states = rng.normal(size=(episodes, steps + 1, 17)).astype(np.float32)
    timeouts = np.zeros((episodes, steps), bool)
    timeouts[:, -1] = True
    n = episodes * steps
    data = Transitions(
        observations=states[:, :-1].reshape(n, 17),
        actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
        rewards=rewards.astype(np.float32).ravel(),
        next_observations=states[:, 1:].reshape(n, 17),
        terminals=np.zeros(n, bool),
        timeouts=timeouts.ravel(),
    )
    return write_d4rl_hdf5(data, path)


def test_time_out_episodes_differ_by_more_than_a_tenth_of_a_percent(tmp_path: Path) -> None:
    """On time-out-ended episodes the paper's range differs from the episodes' by 1.2 % (every "episode" is 999
    rows of one and 1 of the next; the last one is dropped as trailing), so the D4RL presets use the paper's."""
    data = load_d4rl_hdf5(halfcheetah_shaped(tmp_path / "halfcheetah.hdf5"))
    assert len(paper_episode_returns(data)) == 19 and len(episode_returns(data)) == 20
    difference = reward_scale(data, "episodes") / reward_scale(data, "paper") - 1
    assert abs(difference) > 1e-3
    assert difference == pytest.approx(-0.01176, abs=1e-4)


@pytest.mark.parametrize("task", ["hopper-medium-replay-v2", "halfcheetah-medium-v2", "walker2d-medium-expert-v2"])
def test_d4rl_presets_default_to_the_papers_returns(task: str) -> None:
    assert load_config([f"task={task}"]).data.reward_scale == "paper"
    assert load_config([]).data.reward_scale == "episodes"  # the built-in Pendulum data: true episodes


def test_critic_stage_records_the_paper_returns() -> None:
    """Changing data.reward_scale changes the critic's rewards, so its recorded settings name it (when not the
    default, so runs recorded before the setting existed stay current)."""
    assert "data.reward_scale" not in stage_settings(load_config([]), "critic", "data")
    paper = stage_settings(load_config(["task=hopper-medium-replay-v2"]), "critic", "data")
    assert paper["data.reward_scale"] == "paper"


def test_paper_scale_without_a_countable_episode_is_a_clear_error() -> None:
    data = table([1.0, 2.0, 3.0], terminal=[], timeout=[2])  # one short time-out episode
    with pytest.raises(DataError, match="counts no episode.*data.reward_scale=episodes"):
        reward_scale(data, "paper")

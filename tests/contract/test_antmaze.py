"""AntMaze presets learn the task they are evaluated on: the evaluation maze has D4RL's start and goal cells in the maze
the data were collected in, success is D4RL's (within 0.5 of the goal), and with Minari's re-collection
(data.source=minari) the data set's rewards are relabelled to that maze's goal. D4RL's own files:
tests/contract/test_d4rl_antmaze.py."""

from __future__ import annotations

import minari
import numpy as np
import pytest

from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.minari_source import load_minari_transitions
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.envs.mazes import ReachGoal
from cep_lightning.errors import ConfigError, DataError
from cep_lightning.run.locate import load_command
from tests.helpers import antmaze_dataset

KEYS = ["achieved_goal", "observation"]


D4RL_CELLS = {"umaze": ((1, 1), (3, 1), 5, 5), "medium": ((1, 1), (6, 6), 8, 8), "large": ((1, 1), (7, 9), 9, 12)}


PRESETS = ["umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse"]


SCALE = 4.0  # gymnasium-robotics' maze_size_scaling for AntMaze


def cell_centre(cell: tuple[int, int], rows: int, columns: int) -> np.ndarray:
    """(x, y) of a cell's centre in gymnasium-robotics' frame: the maze centred at the origin, rows along -y."""
    return np.array([(cell[1] + 0.5) * SCALE - columns * SCALE / 2, rows * SCALE / 2 - (cell[0] + 0.5) * SCALE])


def walls(maze_map: list[list]) -> list[list[bool]]:
    return [[v == 1 for v in row] for row in maze_map]


def preset(name: str, *overrides: str):
    """The preset antmaze-<name>-v2 reading a small data set made the way Minari's D4RL/antmaze/<name>-v1 was."""
    dataset_id = antmaze_dataset(f"test/antmaze-{name}-v0", name)
    return load_command([f"task=antmaze-{name}-v2", "data.source=minari", f"data.minari_id={dataset_id}", *overrides])


def test_rewards_are_relabelled_to_the_evaluation_goal(minari_store: str) -> None:
    """A continuing-task data set whose episodes each chase their own goal: the loaded rewards and terminals are the
    indicator of the next (x, y) lying within 0.5 of D4RL's goal cell, not the stored rewards."""
    cells = [{"reset_cell": (6, 6)}, {"reset_cell": (1, 1), "goal_cell": (1, 1)}, {}]  # near the evaluation goal; near
    dataset_id = antmaze_dataset("test/relabel-medium-v0", "medium-play", episodes=60, steps=10, cells=cells)  # its own
    raw = list(minari.load_dataset(dataset_id).iterate_episodes())
    _, goal_cell, rows, columns = D4RL_CELLS["medium"]
    achieved_next = np.concatenate([e.observations["achieved_goal"][1:] for e in raw])
    expected = np.linalg.norm(achieved_next - cell_centre(goal_cell, rows, columns), axis=1) <= 0.5
    stored = np.concatenate([e.rewards for e in raw])
    own_goals = np.array([e.observations["desired_goal"][0] for e in raw])
    assert expected.sum() >= 5 and (stored[~expected] == 1).sum() >= 5  # the data can tell the two rewards apart
    assert len(np.unique(np.round(own_goals, 3), axis=0)) > 10  # goals change between episodes

    cfg = load_command(["task=antmaze-medium-play-v2", "data.source=minari", f"data.minari_id={dataset_id}"])
    data = QGPODataModule(cfg.data, goal=EnvMaker.from_config(cfg).goal)
    data.setup()
    np.testing.assert_array_equal(data.transitions.rewards, expected.astype(np.float32))
    np.testing.assert_array_equal(data.transitions.terminals, expected)  # D4RL's v2 files: terminal = reward
    np.testing.assert_array_equal(data.transitions.timeouts, np.concatenate([e.truncations for e in raw]))
    np.testing.assert_array_equal(data.rewards, expected.astype(np.float32) - 1.0)  # the preset's r - 1


def test_goal_conditioned_data_without_a_goal_are_refused(minari_store: str) -> None:
    dataset_id = antmaze_dataset("test/antmaze-medium-play-v0", "medium-play")
    with pytest.raises(DataError, match="goal-conditioned.*relabelled to the evaluation goal"):
        load_minari_transitions(dataset_id, observation_keys=KEYS)


@pytest.mark.parametrize("name", PRESETS)
def test_evaluation_maze_is_d4rls_and_its_goal_is_the_relabelling_goal(name: str, minari_store: str) -> None:
    """The evaluation env has D4RL's start and goal cells in the maze the data were collected in; its goal is the
    goal the data set is relabelled to, fixed at the goal cell's centre in every episode."""
    cfg = preset(name)
    start_cell, goal_cell, rows, columns = D4RL_CELLS[name.split("-")[0]]
    make_env = EnvMaker.from_config(cfg)
    goal = make_env.goal
    assert (goal.start_cell, goal.goal_cell, goal.radius) == (start_cell, goal_cell, 0.5)
    np.testing.assert_allclose(goal.xy, cell_centre(goal_cell, rows, columns))
    collected_in = minari.load_dataset(cfg.data.minari_id).recover_environment()
    env = make_env()
    assert walls(env.unwrapped.maze.maze_map) == walls(collected_in.unwrapped.maze.maze_map)
    assert env.spec.max_episode_steps == (700 if name.startswith("umaze") else 1000)  # D4RL's episode lengths
    wrapper = env
    while not isinstance(wrapper, ReachGoal):
        wrapper = wrapper.env
    assert wrapper.goal is goal  # the object the data are relabelled to
    data = QGPODataModule(cfg.data, goal=goal)
    data.setup()
    for seed in range(3):
        env.reset(seed=seed)
        np.testing.assert_array_equal(env.unwrapped.goal, goal.xy)
        start = env.unwrapped.ant_env.data.qpos[:2]
        assert np.abs(start - cell_centre(start_cell, rows, columns)).max() <= 0.25 * SCALE  # reset noise: 1/4 cell
    np.testing.assert_array_equal(
        data.transitions.rewards == 1, goal.reached(data.transitions.next_observations[:, :2])
    )
    collected_in.close()
    env.close()


def test_success_is_d4rls_radius_and_ends_the_episode(minari_store: str) -> None:
    """0.47 from the goal is a success (D4RL: within 0.5; gymnasium-robotics alone: 0.45), 0.6 is not."""
    env = EnvMaker.from_config(preset("medium-play"))()
    ant = env.unwrapped
    for offset, success in ((0.47, True), (0.6, False)):
        env.reset(seed=0)
        qpos, qvel = ant.ant_env.data.qpos.copy(), np.zeros_like(ant.ant_env.data.qvel)
        qpos[:2] = np.asarray(ant.goal) + [offset, 0.0]
        ant.ant_env.set_state(qpos, qvel)
        obs, reward, terminated, truncated, info = env.step(np.zeros(8, dtype=np.float32))
        distance = np.linalg.norm(obs[:2] - ant.goal)
        assert abs(distance - offset) < 0.02  # the ant barely moves in one step from rest
        assert (reward, terminated, info["success"]) == (float(success), success, success)
    env.close()


def test_a_maze_without_a_single_goal_cell_is_an_error(minari_store: str) -> None:
    cfg = preset("medium-play", "eval.env_kwargs.maze_map=[[1,1,1,1],[1,r,0,1],[1,1,1,1]]")  # no goal cell
    with pytest.raises(DataError, match="no single goal cell"):
        EnvMaker.from_config(cfg).goal


def test_an_environment_from_a_data_set_needs_a_minari_data_set() -> None:
    with pytest.raises(ConfigError, match="only a Minari data set stores"):
        EnvMaker.from_config(load_command(["task=hopper-medium-v2", "eval.env_id=null"]))

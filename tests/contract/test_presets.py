"""The paper's 15 task presets: their settings and the AntMaze observation mapping (AntMaze's Minari option read from
small data sets made the way Minari's AntMaze sets were, tests/helpers.py)."""

from __future__ import annotations

import minari
import numpy as np
import pytest

from cep_lightning.data.minari_source import load_minari_transitions
from cep_lightning.data.observations import flatten_observation
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.report import PAPER_QGPO
from cep_lightning.run.locate import load_command
from tests.helpers import ANTMAZE_TASKS, LOCOMOTION, LOCOMOTION_TASKS, antmaze_source

ANTMAZE_KEYS = ["achieved_goal", "observation"]
D4RL_URL = "http://rail.eecs.berkeley.edu/datasets/offline_rl/ant_maze_v2/"
D4RL_FILES = {  # D4RL's d4rl/locomotion/__init__.py: each task's dataset_url
    "antmaze-umaze-v2": "Ant_maze_u-maze_noisy_multistart_False_multigoal_False_sparse_fixed.hdf5",
    "antmaze-umaze-diverse-v2": "Ant_maze_u-maze_noisy_multistart_True_multigoal_True_sparse_fixed.hdf5",
    "antmaze-medium-play-v2": "Ant_maze_big-maze_noisy_multistart_True_multigoal_False_sparse_fixed.hdf5",
    "antmaze-medium-diverse-v2": "Ant_maze_big-maze_noisy_multistart_True_multigoal_True_sparse_fixed.hdf5",
    "antmaze-large-play-v2": "Ant_maze_hardest-maze_noisy_multistart_True_multigoal_False_sparse_fixed.hdf5",
    "antmaze-large-diverse-v2": "Ant_maze_hardest-maze_noisy_multistart_True_multigoal_True_sparse_fixed.hdf5",
}
EVAL_ENVS = {"umaze": "AntMaze_UMaze-v5", "medium": "AntMaze_Medium-v5", "large": "AntMaze_Large-v5"}  # D4RL's ant


@pytest.mark.parametrize("task", LOCOMOTION_TASKS + ANTMAZE_TASKS)
def test_preset_has_the_papers_settings(task: str) -> None:
    cfg = load_command([f"task={task}"])
    antmaze = task.startswith("antmaze")
    if antmaze:  # D4RL's file by default, Minari's re-collection by name
        assert (cfg.data.source, cfg.data.frame, cfg.data.minari_id, list(cfg.data.observation_keys)) == (
            "hdf5",
            "d4rl-antmaze",
            f"D4RL/antmaze/{task[8:-3]}-v1",
            ANTMAZE_KEYS,
        )
        assert cfg.data.path == "data/d4rl/" + D4RL_FILES[task] and cfg.data.url == D4RL_URL + D4RL_FILES[task]
    assert (cfg.behavior.steps, cfg.behavior.batch_size, cfg.behavior.lr, list(cfg.behavior.widths)) == (
        600_000,
        4096,
        1e-4,
        [512, 256, 128],
    )
    assert (cfg.critic.steps, cfg.critic.batch_size, cfg.critic.gamma, cfg.critic.tau, cfg.critic.beta_q) == (
        500_000,
        256,
        0.99,
        0.005,
        1.0,
    )
    assert (cfg.energy.steps, cfg.energy.batch_size, cfg.energy.beta, cfg.energy.loss) == (1_000_000, 256, 3.0, "cep")
    assert cfg.support.M == (32 if antmaze else 16)
    assert cfg.data.reward_transform == ("antmaze" if antmaze else "locomotion")
    assert cfg.eval.episodes == (100 if antmaze else 10)
    assert list(cfg.eval.scales) == (
        [1.0, 1.5, 2.0, 2.5, 3.0, 4.0] if antmaze else [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0]
    )
    assert cfg.eval.reported_scale == (2.0 if antmaze else 3.0)  # fixed before evaluation, one per task family
    assert task in PAPER_QGPO
    env = EnvMaker.from_config(cfg)()
    if antmaze:
        assert env.spec.id == EVAL_ENVS[task[8:-3].split("-")[0]]
        assert (cfg.eval.ref_min_return, cfg.eval.ref_max_return) == (0.0, 1.0)
        assert env.observation_space.shape == (29,) and env.action_space.shape == (8,)
    else:
        name = task.split("-")[0]
        env_id, obs_dim, act_dim = LOCOMOTION[name]
        assert cfg.data.source == "hdf5" and cfg.data.path.endswith(
            f"{name}_{task[len(name) + 1 : -3].replace('-', '_')}-v2.hdf5"
        )
        assert (
            env.spec.id == env_id and env.observation_space.shape == (obs_dim,) and env.action_space.shape == (act_dim,)
        )
    env.close()


@pytest.mark.parametrize("maze", ["umaze", "medium-play", "large-play"])
def test_antmaze_observation_mapping_rebuilds_d4rl_layout(maze: str) -> None:
    """D4RL's AntMaze observation is qpos ++ qvel (29): the mapped gymnasium-robotics observation must be exactly that,
    after reset and after steps (tests/test_antmaze.py checks the maze, its start, goal and success)."""
    task = f"antmaze-{maze}-v2"
    env = EnvMaker.from_config(load_command([f"task={task}"]))()
    obs, _ = env.reset(seed=1)
    ant = env.unwrapped
    for _ in range(3):
        np.testing.assert_allclose(obs, np.concatenate([ant.ant_env.data.qpos, ant.ant_env.data.qvel]))
        obs, *_ = env.step(env.action_space.sample())
    env.close()


def test_antmaze_dataset_and_environment_map_alike(minari_store: str) -> None:
    """A Minari AntMaze data set (Dict observations) and the evaluation env flatten the same way."""
    cfg = load_command(["task=antmaze-umaze-v2", *antmaze_source("antmaze-umaze-v2")])
    make_env = EnvMaker.from_config(cfg)
    data = load_minari_transitions(cfg.data.minari_id, observation_keys=ANTMAZE_KEYS, goal=make_env.goal)
    first = next(minari.load_dataset(cfg.data.minari_id).iterate_episodes())
    mapped = flatten_observation({k: v[0] for k, v in first.observations.items()}, ANTMAZE_KEYS)
    np.testing.assert_allclose(data.observations[0], mapped, rtol=1e-6)  # stored as float32
    np.testing.assert_allclose(data.observations[0, :2], first.observations["achieved_goal"][0], rtol=1e-6)
    env = make_env()
    assert env.observation_space.shape == data.observations.shape[1:]
    env.close()

"""The paper's 15 task presets: their settings, the AntMaze observation mapping, and a tiny end-to-end run of each
on a small data set of the task's shapes, generated here by random rollouts in the task's own environment (AntMaze:
made the way Minari's AntMaze sets were, tests/antmaze_data.py)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
import pytest

from cep_lightning.data.hdf5 import write_d4rl_hdf5
from cep_lightning.data.minari_source import load_minari_transitions
from cep_lightning.data.observations import flatten_observation
from cep_lightning.data.transitions import Transitions
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.report import PAPER_QGPO
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.antmaze_data import COLLECTION_ENVS, antmaze_dataset

LOCOMOTION = {
    "halfcheetah": ("HalfCheetah-v5", 17, 6),
    "hopper": ("Hopper-v5", 11, 3),
    "walker2d": ("Walker2d-v5", 17, 6),
}
LOCOMOTION_TASKS = [
    f"{env}-{data}-v2" for env in LOCOMOTION for data in ("medium", "medium-replay", "medium-expert")
]
ANTMAZE_TASKS = [f"antmaze-{maze}-v2" for maze in COLLECTION_ENVS]
ANTMAZE_KEYS = ["achieved_goal", "observation"]

TINY_RUN = [
    "behavior.steps=8",
    "behavior.batch_size=64",
    "behavior.widths=[32,16,8]",
    "behavior.cond_dim=16",
    "support.batch_size=1024",
    "support.solver_steps=2",
    "critic.steps=8",
    "critic.hidden=16",
    "energy.steps=8",
    "energy.hidden=16",
    "eval.episodes=2",
    "eval.solver_steps=2",
    "eval.env_kwargs.max_episode_steps=15",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=4",
    "checkpoint.every_n_steps=1000",
]


def random_episodes(env: gym.Env, episodes: int, steps: int, seed: int) -> list[dict]:
    """Raw (unmapped) observations, actions, rewards, terminations and truncations of random-action episodes."""
    rng = np.random.default_rng(seed)
    result = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        record: dict[str, list] = {
            "observations": [obs],
            "actions": [],
            "rewards": [],
            "terminations": [],
            "truncations": [],
        }
        for t in range(steps):
            action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            truncated = truncated or t == steps - 1
            for key, value in zip(
                ("observations", "actions", "rewards", "terminations", "truncations"),
                (obs, action, reward, terminated, truncated),
            ):
                record[key].append(value)
            if terminated or truncated:
                break
        result.append(record)
    return result


def locomotion_hdf5(env_id: str, path: Path) -> Path:
    """A D4RL-format file of 4 random episodes in env_id."""
    env = gym.make(env_id)
    parts = random_episodes(env, episodes=4, steps=30, seed=0)
    env.close()
    data = Transitions(
        observations=np.concatenate([np.asarray(p["observations"][:-1]) for p in parts]),
        actions=np.concatenate([np.asarray(p["actions"]) for p in parts]),
        rewards=np.concatenate([np.asarray(p["rewards"]) for p in parts]),
        next_observations=np.concatenate([np.asarray(p["observations"][1:]) for p in parts]),
        terminals=np.concatenate([np.asarray(p["terminations"]) for p in parts]),
        timeouts=np.concatenate([np.asarray(p["truncations"]) for p in parts]),
    )
    return write_d4rl_hdf5(data, path)


def antmaze_source(task: str) -> str:
    """``data.minari_id=`` a small local data set made the way Minari's D4RL/antmaze/<maze>-v1 of ``task`` was."""
    return f"data.minari_id={antmaze_dataset(f'test/{task[:-3]}-v0', task[8:-3])}"


@pytest.mark.parametrize("task", LOCOMOTION_TASKS + ANTMAZE_TASKS)
def test_preset_has_the_papers_settings(task: str, minari_store: str) -> None:
    cfg = load_command([f"task={task}"])
    antmaze = task.startswith("antmaze")
    if antmaze:  # its evaluation env is the data set's: read from a local stand-in of the data set
        assert (cfg.data.source, cfg.data.minari_id, list(cfg.data.observation_keys)) == (
            "minari",
            f"D4RL/antmaze/{task[8:-3]}-v1",
            ANTMAZE_KEYS,
        )
        assert cfg.eval.env_id is None
        cfg = load_command([f"task={task}", antmaze_source(task)])
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
    assert (cfg.energy.steps, cfg.energy.batch_size, cfg.energy.beta, cfg.energy.loss) == (
        1_000_000,
        256,
        3.0,
        "cep",
    )
    assert cfg.support.M == (32 if antmaze else 16)
    assert cfg.data.reward_transform == ("antmaze" if antmaze else "locomotion")
    assert cfg.eval.episodes == (100 if antmaze else 10)
    assert list(cfg.eval.scales) == (
        [1.0, 1.5, 2.0, 2.5, 3.0, 4.0] if antmaze else [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0]
    )
    assert cfg.eval.reported_scale == (
        2.0 if antmaze else 3.0
    )  # fixed before evaluation, one per task family
    assert task in PAPER_QGPO
    env = EnvMaker.from_config(cfg)()
    if antmaze:
        assert env.spec.id == COLLECTION_ENVS[task[8:-3]] and (
            cfg.eval.ref_min_return,
            cfg.eval.ref_max_return,
        ) == (0.0, 1.0)
        assert env.observation_space.shape == (29,) and env.action_space.shape == (8,)
    else:
        name = task.split("-")[0]
        env_id, obs_dim, act_dim = LOCOMOTION[name]
        assert cfg.data.source == "hdf5" and cfg.data.path.endswith(
            f"{name}_{task[len(name) + 1 : -3].replace('-', '_')}-v2.hdf5"
        )
        assert (
            env.spec.id == env_id
            and env.observation_space.shape == (obs_dim,)
            and env.action_space.shape == (act_dim,)
        )
    env.close()


@pytest.mark.parametrize("maze", ["umaze", "medium-play", "large-play"])
def test_antmaze_observation_mapping_rebuilds_d4rl_layout(maze: str, minari_store: str) -> None:
    """D4RL's AntMaze observation is qpos ++ qvel (29): the mapped gymnasium-robotics observation must be exactly that,
    after reset and after steps (tests/test_antmaze.py checks the maze, its start, goal and success)."""
    task = f"antmaze-{maze}-v2"
    env = EnvMaker.from_config(load_command([f"task={task}", antmaze_source(task)]))()
    obs, _ = env.reset(seed=1)
    ant = env.unwrapped
    for _ in range(3):
        np.testing.assert_allclose(obs, np.concatenate([ant.ant_env.data.qpos, ant.ant_env.data.qvel]))
        obs, *_ = env.step(env.action_space.sample())
    env.close()


def test_antmaze_dataset_and_environment_map_alike(minari_store: str) -> None:
    """A Minari AntMaze data set (Dict observations) and the evaluation env flatten the same way."""
    cfg = load_command(["task=antmaze-umaze-v2", antmaze_source("antmaze-umaze-v2")])
    make_env = EnvMaker.from_config(cfg)
    data = load_minari_transitions(cfg.data.minari_id, observation_keys=ANTMAZE_KEYS, goal=make_env.goal)
    first = next(minari.load_dataset(cfg.data.minari_id).iterate_episodes())
    mapped = flatten_observation({k: v[0] for k, v in first.observations.items()}, ANTMAZE_KEYS)
    np.testing.assert_allclose(data.observations[0], mapped, rtol=1e-6)  # stored as float32
    np.testing.assert_allclose(data.observations[0, :2], first.observations["achieved_goal"][0], rtol=1e-6)
    env = make_env()
    assert env.observation_space.shape == data.observations.shape[1:]
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("task", LOCOMOTION_TASKS + ANTMAZE_TASKS)
def test_preset_runs_every_stage_on_a_small_file_of_its_shapes(
    task: str, tmp_path: Path, minari_store: str
) -> None:
    preset = load_command([f"task={task}"])
    if task.startswith("antmaze"):
        source = [antmaze_source(task)]
    else:
        source = [f"data.path={locomotion_hdf5(preset.eval.env_id, tmp_path / 'data.hdf5')}"]
    scale = preset.eval.reported_scale
    run(
        load_command(
            [f"task={task}", f"run.dir={tmp_path / 'run'}", *source, *TINY_RUN, f"eval.scales=[{scale}]"]
        )
    )
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (
        results["task"] == task
        and results["env_id"] == EnvMaker.from_config(load_command([f"task={task}", *source])).env_id
    )
    assert results["reported"]["scale"] == scale and results["reported"]["episodes"] == 2
    assert np.isfinite(results["reported"]["normalized_score"])
    support = np.load(tmp_path / "run" / "support" / "actions.npy", mmap_mode="r")
    assert support.shape[1] == preset.support.M  # the preset's M, at the task's action size
    if task.startswith("antmaze"):
        reported = results["reported"]
        assert (
            reported["success_rate"] in (0.0, 0.5, 1.0)
            and reported["success_rate"] == reported["mean_return"]
        )
        assert reported["normalized_score"] == pytest.approx(100 * reported["success_rate"])
        assert results["goal"]["radius"] == 0.5 and results["goal"]["env_id"] == results["env_id"]

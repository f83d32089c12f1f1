"""The paper's 15 task presets: a tiny end-to-end run of each on a small data set of the task's shapes (locomotion:
random rollouts in the task's own environment; AntMaze: a small file in the layout and frame of D4RL's AntMaze files,
tests/helpers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from cep_lightning.data.hdf5 import write_d4rl_hdf5
from cep_lightning.data.transitions import Transitions
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import ANTMAZE_TASKS, LOCOMOTION_TASKS, d4rl_antmaze_file

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
    "data.reward_scale=episodes",  # 15-step time-out episodes: the paper's 1000-row return range counts none
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


@pytest.mark.parametrize("task", LOCOMOTION_TASKS + ANTMAZE_TASKS)
def test_preset_runs_every_stage_on_a_small_file_of_its_shapes(task: str, tmp_path: Path, minari_store: str) -> None:
    preset = load_command([f"task={task}"])
    if task.startswith("antmaze"):
        source = [f"data.path={d4rl_antmaze_file(tmp_path / 'd4rl.hdf5', task[8:-3].split('-')[0])}"]
    else:
        source = [f"data.path={locomotion_hdf5(preset.eval.env_id, tmp_path / 'data.hdf5')}"]
    scale = preset.eval.reported_scale
    run(load_command([f"task={task}", f"run.dir={tmp_path / 'run'}", *source, *TINY_RUN, f"eval.scales=[{scale}]"]))
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
        assert reported["success_rate"] in (0.0, 0.5, 1.0) and reported["success_rate"] == reported["mean_return"]
        assert reported["normalized_score"] == pytest.approx(100 * reported["success_rate"])
        assert results["goal"]["radius"] == 0.5 and results["goal"]["env_id"] == results["env_id"]

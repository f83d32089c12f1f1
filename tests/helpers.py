"""Helpers shared by the tests of every tier: tiny run settings, reading TensorBoard events, small data sets
(two hand-made episodes, AntMaze-like Minari sets made the way Minari's were), a user-style callback, fake
finished runs, and the train.py command line."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from copy import deepcopy
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import h5py
import lightning as L
import minari
import numpy as np
import torch
from minari.data_collector import EpisodeBuffer
from torch.utils._python_dispatch import TorchDispatchMode

from cep_lightning.data.transitions import Transitions
from cep_lightning.envs.evaluation import register_robotics_envs

ROOT = Path(__file__).resolve().parent.parent

TINY = [
    "data.builtin_episodes=12",
    "behavior.steps=40",
    "behavior.batch_size=128",
    "behavior.widths=[64,32,16]",
    "support.M=4",
    "support.batch_size=512",
    "critic.steps=30",
    "critic.hidden=32",
    "energy.steps=30",
    "energy.hidden=32",
    "eval.episodes=2",
    "eval.scales=[0.0,2.0]",
    "eval.reported_scale=2.0",
    "eval.solver_steps=4",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=10",
    "checkpoint.every_n_steps=10",
    "callbacks.periodic_eval.enabled=false",  # a command on a copy of the fixture's run would inherit the run's own
]


FIXTURE_EXTRAS = [
    "callbacks.ema.enabled=true",
    "callbacks.periodic_eval.enabled=true",
    "callbacks.periodic_eval.every_n_steps=20",
    "callbacks.periodic_eval.episodes=2",
    "callbacks.periodic_eval.scales=[1.0]",
]


def _accumulators(events_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for events in sorted(events_dir.glob("events*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        yield acc


def scalars(events_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard scalar."""
    return [
        (e.step, e.value) for acc in _accumulators(events_dir) if tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)
    ]


def scalar_steps(events_dir: Path) -> dict[str, list[int]]:
    """tag -> the steps it was written at, for every scalar in a directory of TensorBoard event files."""
    return {tag: [step for step, _ in scalars(events_dir, tag)] for tag in scalar_tags(events_dir)}


def scalar_tags(events_dir: Path) -> set[str]:
    """Every scalar tag logged in a directory of TensorBoard event files."""
    return {tag for acc in _accumulators(events_dir) for tag in acc.Tags()["scalars"]}


def two_episodes() -> Transitions:
    """Episode A: states 0,1,2 then a terminal; episode B: states 10,11 then a time-out (s' = 12)."""
    obs = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]], dtype=np.float32)
    next_obs = np.array([[1.0], [2.0], [3.0], [11.0], [12.0]], dtype=np.float32)
    return Transitions(
        observations=obs,
        actions=np.arange(5, dtype=np.float32)[:, None] / 10,
        rewards=np.array([1, 2, 3, 4, 6], dtype=np.float32),
        next_observations=next_obs,
        terminals=np.array([0, 0, 1, 0, 0], dtype=bool),
        timeouts=np.array([0, 0, 0, 0, 1], dtype=bool),
    )


class RecordingCallback(L.Callback):
    def __init__(self, path: str, tag: str = ""):
        self.path = Path(path)
        self.tag = tag

    def _record(self, hook: str, trainer: L.Trainer) -> None:
        stage = Path(trainer.default_root_dir).name
        with self.path.open("a") as f:
            f.write(f"{hook} {stage} {self.tag}\n")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record("fit_start", trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            self._record("train_batch_end", trainer)


class StopAtStep(L.Callback):
    """Stops the stage at the end of the first batch that reaches ``step`` (a stage cut short: it resumes)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            trainer.should_stop = True


class StartStep(L.Callback):
    """Writes the step a stage's training starts from to ``path`` (a resumed stage: its checkpoint's step)."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.path.write_text(str(trainer.global_step))


class TrainerSettingsRecorder(L.Callback):
    """Writes a few of the Trainer's settings, as the stage's Trainer has them, to a JSON file."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import json

        settings = {
            "gradient_clip_val": trainer.gradient_clip_val,
            "gradient_clip_algorithm": trainer.gradient_clip_algorithm.value,
            "inference_mode": trainer.predict_loop.inference_mode,
        }
        self.path.write_text(json.dumps(settings))


# Small AntMaze data sets made the way Minari's D4RL/antmaze/*-v1 were (minari-dataset-generation-scripts,
# scripts/antmaze/create_antmaze_dataset.py), with random actions instead of the waypoint controller:
#
# - a continuing task (continuing_task=True, reset_target=False): reaching the goal ends nothing, only the time
#   limit cuts an episode; every reset draws the episode's own goal (the maps without a fixed goal), and the
#   stored reward is 1 within 0.45 of that goal;
# - written with Minari (create_dataset_from_buffers with the collection env and the evaluation env spec; its
#   DataCollector needs jax for Dict observations);
# - the collection env is the script's (umaze: a map with its goal at row 1 and start at row 3; umaze-diverse,
#   medium-play, large-play: the registered maps; the diverse medium/large: the *_Diverse_GR maps);
# - the stored evaluation env is the collection env's spec with the script's evaluation map. Its umaze map is
#   D4RL's U_MAZE_EVAL, a maze with other walls than the one collected in (Minari issue #304), as in Minari's sets.

R, G = "r", "g"
# D4RL's AntMaze test maps, copied from d4rl/locomotion/maze_env.py (not from the presets).
D4RL_MAPS = {
    "umaze": [[1, 1, 1, 1, 1], [1, R, 0, 0, 1], [1, 1, 1, 0, 1], [1, G, 0, 0, 1], [1, 1, 1, 1, 1]],  # U_MAZE_TEST
    "medium": [  # BIG_MAZE_TEST
        [1, 1, 1, 1, 1, 1, 1, 1],
        [1, R, 0, 1, 1, 0, 0, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 0, 0, 1, 0, 1],
        [1, 0, 0, 0, 1, 0, G, 1],
        [1, 1, 1, 1, 1, 1, 1, 1],
    ],
    "large": [  # HARDEST_MAZE_TEST
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        [1, R, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        [1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1],
        [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1],
        [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1],
        [1, 0, 0, 1, 0, 0, 0, 1, 0, G, 0, 1],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ],
}
EVAL_MAPS = {  # the generation script's EVAL_ENV_MAPS: D4RL's test maps, with umaze's U_MAZE_EVAL
    "umaze": [[1, 1, 1, 1, 1], [1, 0, 0, R, 1], [1, 0, 1, 1, 1], [1, 0, 0, G, 1], [1, 1, 1, 1, 1]],
    "medium": D4RL_MAPS["medium"],
    "large": D4RL_MAPS["large"],
}
UMAZE_COLLECTION_MAP = [
    [1, 1, 1, 1, 1],  # the script's map for umaze (not diverse)
    [1, G, 0, 0, 1],
    [1, 1, 1, 0, 1],
    [1, R, 0, 0, 1],
    [1, 1, 1, 1, 1],
]
COLLECTION_ENVS = {
    "umaze": "AntMaze_UMaze-v4",
    "umaze-diverse": "AntMaze_UMaze-v4",
    "medium-play": "AntMaze_Medium-v4",
    "medium-diverse": "AntMaze_Medium_Diverse_GR-v4",
    "large-play": "AntMaze_Large-v4",
    "large-diverse": "AntMaze_Large_Diverse_GR-v4",
}


def antmaze_dataset(
    dataset_id: str,
    name: str,
    episodes: int = 3,
    steps: int = 25,
    seed: int = 0,
    cells: Sequence[dict[str, tuple[int, int]]] = (),
) -> str:
    """Collect ``episodes`` random-action episodes of ``steps`` steps for AntMaze data set ``name`` (e.g. medium-play)
    into the local Minari store as ``dataset_id``. ``cells``: per-episode reset options (``reset_cell``/``goal_cell``),
    cycled; a test uses them to start episodes near a chosen cell."""
    if dataset_id in minari.list_local_datasets():
        return dataset_id
    env_id = COLLECTION_ENVS[name]
    register_robotics_envs(env_id)
    kwargs = {"maze_map": UMAZE_COLLECTION_MAP} if name == "umaze" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AntMaze_*-v4 is "out of date"; minari wants an author, a description, ...
        env = gym.make(env_id, continuing_task=True, reset_target=False, max_episode_steps=steps, **kwargs)
        rng = np.random.default_rng(seed)
        buffers = [_episode(env, rng, seed + e, cells[e % len(cells)] if cells else None) for e in range(episodes)]
        eval_spec = deepcopy(env.spec)
        eval_spec.kwargs["maze_map"] = EVAL_MAPS[name.split("-")[0]]
        eval_spec.max_episode_steps = gym.spec(env_id).max_episode_steps  # the script kept the registered time limit
        minari.create_dataset_from_buffers(
            dataset_id, buffers, env=env, eval_env=eval_spec, algorithm_name="random actions"
        )
    env.close()
    return dataset_id


def _episode(
    env: gym.Env, rng: np.random.Generator, seed: int, cells: dict[str, tuple[int, int]] | None
) -> EpisodeBuffer:
    """One random-action episode of a continuing maze task: only the time limit ends it."""
    obs, _ = env.reset(seed=seed, options={k: np.array(v) for k, v in cells.items()} if cells else None)
    steps: dict[str, list] = {
        "observations": [obs],
        "actions": [],
        "rewards": [],
        "terminations": [],
        "truncations": [],
    }
    truncated = False
    while not truncated:
        action = rng.uniform(-1.0, 1.0, size=8).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(steps, (obs, action, reward, terminated, truncated)):
            steps[key].append(value)
    visited = steps.pop("observations")
    observations = {key: np.stack([o[key] for o in visited]) for key in obs}
    return EpisodeBuffer(observations=observations, **{key: np.asarray(v) for key, v in steps.items()})


LOCOMOTION = {
    "halfcheetah": ("HalfCheetah-v5", 17, 6),
    "hopper": ("Hopper-v5", 11, 3),
    "walker2d": ("Walker2d-v5", 17, 6),
}


LOCOMOTION_TASKS = [f"{env}-{data}-v2" for env in LOCOMOTION for data in ("medium", "medium-replay", "medium-expert")]


ANTMAZE_TASKS = [f"antmaze-{maze}-v2" for maze in COLLECTION_ENVS]


def antmaze_source(task: str) -> list[str]:
    """``data.source=minari data.minari_id=`` a small local data set made the way Minari's D4RL/antmaze/<maze>-v1 of
    ``task`` was."""
    return ["data.source=minari", f"data.minari_id={antmaze_dataset(f'test/{task[:-3]}-v0', task[8:-3])}"]


# Small files in the layout and frame of D4RL's AntMaze v2 HDF5 files (observations qpos[:15] ++ qvel[:14], rewards,
# terminals, timeouts, infos/goal), with the torso at known places. The maps (D4RL_MAPS, above) and the frame are
# D4RL's own, from d4rl/locomotion/maze_env.py, not from the presets: cell (i, j) is centred at
# (j·s - j_r·s, i·s - i_r·s), s = 4, (i_r, j_r) the start cell r (the origin), rows along +y.

D4RL_SCALING = 4.0
D4RL_OFFSET = np.array([0.25, -0.5])  # where in each visited cell the torso is, from the cell's centre
D4RL_TARGET_OFFSET = np.array([0.6, 0.9])  # D4RL's target goal: the goal cell's centre + U[0, 1.5) in x and y


def d4rl_cells(maze: str, kind: object) -> list[tuple[int, int]]:
    """The (row, column) cells of D4RL's map of ``maze`` (umaze, medium, large) marked ``kind`` (0, 1, R, G)."""
    return [(i, j) for i, row in enumerate(D4RL_MAPS[maze]) for j, v in enumerate(row) if v == kind]


def d4rl_xy(maze: str, cell: tuple[int, int]) -> np.ndarray:
    """D4RL's ``_rowcol_to_xy``: the centre of ``cell`` in D4RL's frame, (j·s - j_r·s, i·s - i_r·s)."""
    (i_r, j_r), (i, j) = d4rl_cells(maze, R)[0], cell
    return np.array([j * D4RL_SCALING - j_r * D4RL_SCALING, i * D4RL_SCALING - i_r * D4RL_SCALING])


def d4rl_visits(maze: str) -> list[tuple[int, int]]:
    """The cells an episode of ``d4rl_antmaze_file`` visits: the start cell, every free cell in row-major order, the
    goal cell."""
    return d4rl_cells(maze, R) + d4rl_cells(maze, 0) + d4rl_cells(maze, G)


def d4rl_antmaze_file(path: Path, maze: str, episodes: int = 2, seed: int = 0, next_observations: bool = False) -> Path:
    """A D4RL AntMaze v2 file of ``episodes`` episodes in D4RL's frame. Each visits ``d4rl_visits(maze)`` (the torso
    at each cell's centre + ``D4RL_OFFSET``), then stays 3 rows at D4RL's target goal (the goal cell's centre +
    ``D4RL_TARGET_OFFSET``) + (0.1·k, 0); the rest of the observation (qpos[2:15] ++ qvel[:14]) and the actions are
    random. As D4RL's ``relabel_antmaze_rewards.py``: r_i = terminal_i = 1{||observations[i + 1, :2] - target|| <=
    0.5}, 0 for the last row; a time-out ends each episode; ``infos/goal`` is the target."""
    rng = np.random.default_rng(seed)
    target = d4rl_xy(maze, d4rl_cells(maze, G)[0]) + D4RL_TARGET_OFFSET
    places = [d4rl_xy(maze, cell) + D4RL_OFFSET for cell in d4rl_visits(maze)]
    places += [target + [0.1 * k, 0.0] for k in range(3)]
    xy = np.concatenate([np.array(places)] * episodes)
    n = len(xy)
    observations = np.concatenate([xy, rng.normal(size=(n, 27))], axis=1)
    reached = np.linalg.norm(observations[1:, :2] - target, axis=1) <= 0.5
    rewards = np.append(reached, False).astype(np.float32)
    timeouts = np.zeros(n, dtype=bool)
    timeouts[len(places) - 1 :: len(places)] = True
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["observations"] = observations
        f["actions"] = rng.uniform(-1, 1, size=(n, 8)).astype(np.float32)
        f["rewards"] = rewards
        f["terminals"] = rewards.astype(bool)
        f["timeouts"] = timeouts
        f["infos/goal"] = np.tile(target, (n, 1))
        if next_observations:
            f["next_observations"] = np.concatenate([observations[1:], observations[-1:]])
    return path


def fake_run(path: Path, task: str, seed: int, reported: float, sweep: dict[str, float], seconds: float) -> None:
    path.mkdir(parents=True)

    def entry(score: float) -> dict[str, float]:
        return {"mean_return": score * 10, "std_return": 1.0, "normalized_score": score, "episodes": 10}

    best = max(sweep, key=sweep.get)
    results = {
        "task": task,
        "seed": seed,
        "reported": {"scale": 3.0, **entry(reported)},
        "best_scale": {"scale": float(best), **entry(sweep[best]), "optimistic": True},
        "scales": {s: entry(v) for s, v in sweep.items()},
    }
    (path / "results.json").write_text(json.dumps(results))
    (path / "timings.json").write_text(
        json.dumps({"behavior": seconds, "support": 2 * seconds, "critic": 60.0, "energy": 30.0, "eval": 6.0})
    )


def train(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def episodes_table(lengths: list[int], ends: list[str], state_dim: int = 11, action_dim: int = 3) -> Transitions:
    """Episodes of the given lengths, each ending in "terminal", "timeout" or "cut" (neither flag)."""
    rng = np.random.default_rng(0)
    n = sum(lengths)
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    for end, last in zip(ends, np.cumsum(lengths) - 1):
        terminals[last], timeouts[last] = end == "terminal", end == "timeout"
    states = rng.normal(size=(n, state_dim)).astype(np.float32)
    return Transitions(
        observations=states,
        actions=rng.uniform(-1, 1, (n, action_dim)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        next_observations=np.roll(states, -1, axis=0),
        terminals=terminals,
        timeouts=timeouts,
    )


def make_pending(run_dir: Path, stage: str) -> None:
    """Turn a finished stage back into one interrupted with the same settings (what a rerun resumes)."""
    record = json.loads((run_dir / stage / "record.json").read_text())
    (run_dir / stage / "record.json").unlink()
    (run_dir / stage / "pending.json").write_text(
        json.dumps({"settings": record["settings"], "inputs": record["inputs"]})
    )


class HostSyncCounter(L.Callback):
    """Counts, over training batches ``start`` .. ``start + steps - 1`` (the whole of each: the step, the loop and
    every callback), the operations that make the host wait for the device: ``aten._local_scalar_dense`` (what
    ``.item()``, ``float(t)`` and ``bool(t)`` dispatch to) and copies from an accelerator to the CPU; writes
    {stage: {"scalar_reads": n, "device_to_host": n, "steps": [first, last]}} into the JSON file ``path``."""

    def __init__(self, path: str, start: int, steps: int):
        self.path, self.start, self.steps = Path(path), start, steps
        self.mode: _SyncCountingMode | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.start:
            self.mode = _SyncCountingMode()
            self.mode.__enter__()
            self.first = trainer.global_step
        elif trainer.global_step == self.start + self.steps and self.mode is not None:
            self._finish(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.mode is not None:
            self._finish(trainer)

    def _finish(self, trainer: L.Trainer) -> None:
        mode, self.mode = self.mode, None
        mode.__exit__(None, None, None)
        counts = json.loads(self.path.read_text()) if self.path.is_file() else {}
        stage = Path(trainer.default_root_dir).name
        counts[stage] = {**mode.counts, "steps": [self.first, trainer.global_step - 1]}
        self.path.write_text(json.dumps(counts))


class _SyncCountingMode(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts = {"scalar_reads": 0, "device_to_host": 0}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default:
            self.counts["scalar_reads"] += 1
        elif func in (torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default):
            source = args[1] if func is torch.ops.aten.copy_.default else args[0]
            target = args[0].device if func is torch.ops.aten.copy_.default else kwargs.get("device")
            if isinstance(source, torch.Tensor) and source.device.type != "cpu" and target is not None:
                if torch.device(target).type == "cpu":
                    self.counts["device_to_host"] += 1
        return func(*args, **kwargs)

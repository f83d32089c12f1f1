"""The built-in offline data set: mixed-quality Pendulum-v1 episodes, made locally as a Minari dataset."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_dataset import parse_dataset_id
from minari.namespace import NAMESPACE_METADATA_FILENAME, namespace_hierarchy
from minari.storage import get_dataset_path

from cep_lightning.errors import DataError

BUILTIN_DATASET_ID = "cep_lightning/pendulum/mixed-v0"
ENV_ID = "Pendulum-v1"
MAX_TORQUE = 2.0
EPISODE_STEPS = 200  # Pendulum-v1 never terminates; its time limit truncates every episode here

# Mean undiscounted return over 100 episodes of Pendulum-v1 (200 steps), measured with
# policy_returns(random_policy(seed=1), 100, seed=1000) and policy_returns(expert_action, 100, seed=1000)
# (environment seeds 1000..1099); used as the 0 and 100 of normalized scores.
PENDULUM_RANDOM_RETURN = -1282.50
PENDULUM_EXPERT_RETURN = -160.26

# Behaviour mix of the built-in data set: fraction, expert gain, Gaussian action noise, P(random action).
BEHAVIOURS = {
    "expert": (0.15, 1.0, 0.1, 0.0),
    "noisy_expert": (0.35, 1.0, 1.0, 0.6),
    "weak": (0.25, 0.2, 0.0, 0.0),  # a torque-starved expert: cannot swing up from the bottom
    "random": (0.25, 0.0, 0.0, 1.0),
}

Policy = Callable[[np.ndarray], np.ndarray]


def expert_action(observations: np.ndarray) -> np.ndarray:
    """Near-optimal Pendulum-v1 torque [N, 1] for observations [N, 3] = (cos θ, sin θ, θ̇), θ = 0 upright.

    Far from upright it pumps energy: with θ̈ = 15 sin θ + 3u the energy E = θ̇²/6 + 5 cos θ obeys
    dE/dt = u θ̇, so u = clip(10 (E_up − E) θ̇) drives E to its upright value E_up = 5. Within
    cos θ > 0.9 a PD stabiliser u = −(10 θ + 2 θ̇) holds it up.
    Mean return about −140 to −160 (seed-dependent).
    """
    cos, sin, vel = observations[:, 0], observations[:, 1], observations[:, 2]
    energy = vel**2 / 6.0 + 5.0 * cos
    pump = 10.0 * (5.0 - energy) * vel
    stabilise = -(10.0 * np.arctan2(sin, cos) + 2.0 * vel)
    torque = np.where(cos > 0.9, stabilise, pump)
    return np.clip(torque, -MAX_TORQUE, MAX_TORQUE).astype(np.float32)[:, None]


def random_policy(seed: int) -> Policy:
    """A policy drawing torques uniformly from [-2, 2], from its own generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(-MAX_TORQUE, MAX_TORQUE, (len(obs), 1)).astype(np.float32)


def _rollout(policy: Policy, num_episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Run ``num_episodes`` full Pendulum-v1 episodes side by side, environment i seeded with ``seed + i``.

    Returns arrays indexed [episode, step]: observations [N, T+1, 3], actions [N, T, 1], rewards,
    terminations and truncations [N, T].
    """
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(ENV_ID, max_episode_steps=EPISODE_STEPS) for _ in range(num_episodes)]
    )
    obs, _ = envs.reset(seed=seed)
    steps: list[tuple[np.ndarray, ...]] = []
    observations = [obs]
    for _ in range(EPISODE_STEPS):
        action = policy(obs)
        obs, reward, terminated, truncated, _ = envs.step(action)
        steps.append((action, reward, terminated, truncated))
        observations.append(obs)
    envs.close()
    actions, rewards, terminations, truncations = (np.stack(x, axis=1) for x in zip(*steps))
    return {
        "observations": np.stack(observations, axis=1).astype(np.float32),
        "actions": actions.astype(np.float32),
        "rewards": rewards.astype(np.float32),
        "terminations": terminations.astype(bool),
        "truncations": truncations.astype(bool),
    }


def policy_returns(policy: Policy, num_episodes: int, seed: int) -> np.ndarray:
    """Undiscounted return of each of ``num_episodes`` Pendulum-v1 episodes (env seeds seed, seed+1, ...)."""
    return _rollout(policy, num_episodes, seed)["rewards"].sum(axis=1)


def generate_pendulum_episodes(num_episodes: int, seed: int) -> list[dict]:
    """Mixed-quality Pendulum-v1 episodes, deterministic given ``seed``.

    Behaviours (see ``BEHAVIOURS``), in shuffled order: 15 % expert with small action noise, 35 % noisy
    expert (large noise, 60 % of the actions random), 25 % torque-starved expert, 25 % uniform random.
    Each dict holds ``observations`` [T+1, 3], ``actions`` [T, 1], ``rewards``, ``terminations``,
    ``truncations`` [T], the environment ``seed`` and the ``behaviour`` name.
    """
    rng = np.random.default_rng(seed)
    names = list(BEHAVIOURS)
    counts = [round(BEHAVIOURS[name][0] * num_episodes) for name in names[:-1]]
    counts.append(num_episodes - sum(counts))
    kinds = rng.permutation(np.repeat(np.arange(len(names)), counts))
    gain, noise, p_random = (np.array([BEHAVIOURS[names[k]][i] for k in kinds])[:, None] for i in (1, 2, 3))

    def act(obs: np.ndarray) -> np.ndarray:
        action = gain * expert_action(obs) + noise * rng.standard_normal((len(obs), 1))
        uniform = rng.uniform(-MAX_TORQUE, MAX_TORQUE, (len(obs), 1))
        action = np.where(rng.random((len(obs), 1)) < p_random, uniform, action)
        return np.clip(action, -MAX_TORQUE, MAX_TORQUE).astype(np.float32)

    env_seed = seed * num_episodes
    data = _rollout(act, num_episodes, env_seed)
    return [
        {**{key: value[i] for key, value in data.items()}, "seed": env_seed + i, "behaviour": names[kinds[i]]}
        for i in range(num_episodes)
    ]


@contextlib.contextmanager
def _minari_store(root: str | os.PathLike) -> Iterator[None]:
    """Point Minari's local store (``MINARI_DATASETS_PATH``) at ``root`` for the duration of the block."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def _create_dataset(dataset_id: str, episodes: list[dict], seed: int) -> None:
    """Write ``episodes`` as Minari dataset ``dataset_id`` (HDF5) into the current local store."""
    buffers = [
        EpisodeBuffer(
            seed=ep["seed"],
            observations=ep["observations"],
            actions=ep["actions"],
            rewards=ep["rewards"],
            terminations=ep["terminations"],
            truncations=ep["truncations"],
        )
        for ep in episodes
    ]
    fractions = ", ".join(f"{100 * spec[0]:.0f}% {name}" for name, spec in BEHAVIOURS.items())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`(code_permalink|author_email)` is set to None")
        minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=ENV_ID,
            eval_env=ENV_ID,
            algorithm_name=f"cep_lightning mixed behaviour ({fractions}), seed {seed}",
            author="cep_lightning",
            ref_min_score=PENDULUM_RANDOM_RETURN,
            ref_max_score=PENDULUM_EXPERT_RETURN,
            description=(
                f"{len(episodes)} Pendulum-v1 episodes of mixed quality made by cep_lightning: {fractions}. "
                "The expert swings up by energy pumping and balances with a PD controller."
            ),
            data_format="hdf5",
        )


def _is_local(dataset_id: str) -> bool:
    """Whether Minari lists ``dataset_id`` as a readable dataset of the local store."""
    return dataset_id in minari.list_local_datasets(prefix=dataset_id)


def ensure_builtin_dataset(dataset_id: str = BUILTIN_DATASET_ID, num_episodes: int = 200, seed: int = 0) -> str:
    """Make the built-in data set in Minari's local store unless it is already there; return its id.

    The dataset is written into a hidden temporary store inside the local store, then its folder is
    renamed into place in one step, so an interrupted creation never leaves a dataset that looks complete.
    An existing dataset is returned as it is, whatever ``num_episodes`` and ``seed`` made it.
    """
    try:
        namespace = parse_dataset_id(dataset_id)[0]
    except ValueError as exc:
        raise DataError(f"Malformed Minari dataset id '{dataset_id}': {exc}") from exc
    if _is_local(dataset_id):
        return dataset_id
    root = get_dataset_path()
    target = root / dataset_id
    if target.exists():
        raise DataError(
            f"'{target}' exists but is not a readable Minari dataset (an interrupted copy?). "
            f"Delete that folder and run again to regenerate '{dataset_id}'."
        )
    episodes = generate_pendulum_episodes(num_episodes, seed)
    with tempfile.TemporaryDirectory(prefix=".cep_lightning-tmp-", dir=root) as tmp_root:
        with _minari_store(tmp_root):
            _create_dataset(dataset_id, episodes, seed)
        for level in namespace_hierarchy(namespace):
            (root / level).mkdir(exist_ok=True)
            if not (root / level / NAMESPACE_METADATA_FILENAME).exists():
                shutil.copy(Path(tmp_root, level, NAMESPACE_METADATA_FILENAME), root / level)
        try:
            os.rename(Path(tmp_root, dataset_id), target)
        except OSError:
            if not _is_local(dataset_id):  # not a concurrent creation that finished first
                raise
    return dataset_id

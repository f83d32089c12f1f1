"""Stand-ins for the packages the paper's code imports that cannot be installed here, and its import.

- ``d4rl``: ``qlearning_dataset`` (D4RL 1.1's, vectorised, same arrays) over ``get_dataset`` (``OfflineEnv``'s:
  every array of the HDF5 file, rewards and terminals [N, 1] flattened);
- ``gym``: ``make(name)`` gives an ``OldGymEnv``, a gymnasium environment behind the old gym API (``seed``,
  ``reset() -> obs``, ``step -> (obs, r, done, info)`` with done = terminated or truncated) whose
  ``get_dataset`` reads the HDF5 file given on the command line;
- ``scipy.special`` and ``sklearn`` only where they are not installed: the paper's model module imports scipy's
  ``softmax`` but never calls it; its dataset module imports scikit-learn for the 2-D toys only.
Nothing of the paper's own code is changed, except its schedule's default device ("cuda", set to "cpu").
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, Callable

import gymnasium
import h5py
import numpy as np

DATASET_KEYS = ("observations", "actions", "rewards", "terminals")


def get_dataset(
    path: str | Path, observation_shape: tuple[int, ...] | None = None, action_shape: tuple[int, ...] | None = None
) -> dict[str, np.ndarray]:
    """What D4RL's ``OfflineEnv.get_dataset(h5path)`` returns: every array of the file under its key (groups
    walked), its checks, and rewards / terminals of shape [N, 1] flattened to [N]."""
    data: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: data.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    missing = [k for k in DATASET_KEYS if k not in data]
    if missing:
        raise ValueError(f"'{path}': the data set is missing the key(s) {missing} (D4RL needs {list(DATASET_KEYS)}).")
    n = len(data["observations"])
    if observation_shape is not None and data["observations"].shape[1:] != tuple(observation_shape):
        raise ValueError(
            f"'{path}': observations {data['observations'].shape[1:]} do not fit the env's {observation_shape}."
        )
    if action_shape is not None and data["actions"].shape[1:] != tuple(action_shape):
        raise ValueError(f"'{path}': actions {data['actions'].shape[1:]} do not fit the env's {action_shape}.")
    for key in ("rewards", "terminals"):
        if data[key].shape == (n, 1):
            data[key] = data[key][:, 0]
        if data[key].shape != (n,):
            raise ValueError(f"'{path}': {key} has shape {data[key].shape}, not ({n},).")
    return data


def qlearning_dataset(
    env: Any, dataset: dict[str, np.ndarray] | None = None, terminate_on_end: bool = False, **kwargs: Any
) -> dict[str, np.ndarray]:
    """D4RL's ``qlearning_dataset``: transitions i = 0 .. N-2 with s'_i = s_{i+1} (the file's next_observations are
    not read); a time-out row is skipped (``terminate_on_end=False``) since its s' is the next episode's first state;
    observations, actions and rewards as float32, terminals as bool."""
    if dataset is None:
        dataset = env.get_dataset(**kwargs)
    if "timeouts" not in dataset:
        raise ValueError("the data set has no 'timeouts': only D4RL's v1/v2 files (with time-outs) are supported.")
    n = dataset["rewards"].shape[0]
    keep = np.ones(n - 1, dtype=bool) if terminate_on_end else ~dataset["timeouts"][: n - 1].astype(bool)
    observations = dataset["observations"]
    return {
        "observations": observations[: n - 1][keep].astype(np.float32),
        "actions": dataset["actions"][: n - 1][keep].astype(np.float32),
        "next_observations": observations[1:n][keep].astype(np.float32),
        "rewards": dataset["rewards"][: n - 1][keep].astype(np.float32),
        "terminals": dataset["terminals"][: n - 1][keep].astype(bool),
    }


class OldGymEnv:
    """A gymnasium environment behind gym 0.2x's API, and D4RL's ``get_dataset`` of one HDF5 file."""

    def __init__(self, env: gymnasium.Env, data_path: str | Path | None = None):
        self.env, self.data_path = env, data_path
        self.observation_space, self.action_space = env.observation_space, env.action_space
        spec = env.spec
        self._max_episode_steps = spec.max_episode_steps if spec is not None else None
        self._seed: int | None = None

    def seed(self, seed: int | None = None) -> list[int | None]:
        """The seed of the next ``reset`` (old gym seeded the environment's generator here)."""
        self._seed = seed
        return [seed]

    def reset(self) -> np.ndarray:
        observation, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return observation

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if truncated and not terminated:
            info = {**info, "TimeLimit.truncated": True}
        return observation, float(reward), bool(terminated or truncated), info

    def get_dataset(self, h5path: str | Path | None = None) -> dict[str, np.ndarray]:
        path = h5path or self.data_path
        if path is None:
            raise ValueError("no data set: give the HDF5 file (--data).")
        return get_dataset(path, self.observation_space.shape, self.action_space.shape)

    def close(self) -> None:
        self.env.close()


def _module(name: str) -> types.ModuleType:
    """An empty module with a spec (``importlib.util.find_spec`` of it must answer, as torch's compiler asks)."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


def fake_gym_and_d4rl(make_env: Callable[[str], OldGymEnv]) -> dict[str, types.ModuleType]:
    """Modules ``gym`` (``make``) and ``d4rl`` (``qlearning_dataset``) for ``sys.modules``."""
    gym = _module("gym")
    gym.make = make_env  # type: ignore[attr-defined]
    d4rl = _module("d4rl")
    d4rl.qlearning_dataset = qlearning_dataset  # type: ignore[attr-defined]
    return {"gym": gym, "d4rl": d4rl}


def _softmax(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _absent(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ImportError(f"{name} is not installed; the paper's 2-D toys need it, the offline-RL code does not.")

    return refuse


def missing_library_stand_ins() -> dict[str, types.ModuleType]:
    """``scipy.special.softmax`` and ``sklearn`` (datasets, utils.shuffle) for the ones not installed."""
    modules: dict[str, types.ModuleType] = {}
    if importlib.util.find_spec("scipy") is None:
        special = _module("scipy.special")
        special.softmax = _softmax  # type: ignore[attr-defined]
        scipy = _module("scipy")
        scipy.special = special  # type: ignore[attr-defined]
        modules.update({"scipy": scipy, "scipy.special": special})
    if importlib.util.find_spec("sklearn") is None:
        datasets, utils = _module("sklearn.datasets"), _module("sklearn.utils")
        utils.shuffle = _absent("scikit-learn")  # type: ignore[attr-defined]
        sklearn = _module("sklearn")
        sklearn.datasets, sklearn.utils = datasets, utils  # type: ignore[attr-defined]
        modules.update({"sklearn": sklearn, "sklearn.datasets": datasets, "sklearn.utils": utils})
    return modules


def import_paper(root: Path, make_env: Callable[[str], OldGymEnv] | None = None) -> types.SimpleNamespace:
    """The paper's ``diffusion_SDE`` modules (model, loss, schedule) and ``dataset.dataset`` from a checkout
    ``root`` holding ``Offline_RL_2D``, with the stand-ins above in ``sys.modules``."""
    code = Path(root) / "Offline_RL_2D"
    if not (code / "diffusion_SDE" / "model.py").is_file():
        raise SystemExit(
            f"error: {code}/diffusion_SDE/model.py not found; --paper must be a checkout of "
            "ChenDRAG/CEP-energy-guided-diffusion (git clone it outside this repository)."
        )
    sys.modules.update(missing_library_stand_ins())
    sys.modules.update(fake_gym_and_d4rl(make_env or _no_env))
    if str(code) not in sys.path:
        sys.path.insert(0, str(code))
    schedule = importlib.import_module("diffusion_SDE.schedule")
    schedule.marginal_prob_std.__defaults__ = ("cpu",)  # its default device is "cuda"
    return types.SimpleNamespace(
        model=importlib.import_module("diffusion_SDE.model"),
        loss=importlib.import_module("diffusion_SDE.loss"),
        schedule=schedule,
        dataset=importlib.import_module("dataset.dataset"),
    )


def _no_env(name: str) -> OldGymEnv:
    raise ValueError(f"gym.make({name!r}): no environment was configured for the paper's code.")

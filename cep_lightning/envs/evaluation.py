"""Policy evaluation in a gymnasium vector env: every episode of a batch stepped together."""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from omegaconf import DictConfig, OmegaConf

from cep_lightning.data.d4rl_antmaze import D4RL_ANTMAZE_FRAME, uses_d4rl_antmaze_frame
from cep_lightning.data.goals import MazeGoal
from cep_lightning.data.minari_source import minari_eval_env_spec
from cep_lightning.data.observations import flat_space, flatten_observation
from cep_lightning.envs.mazes import ReachGoal, d4rl_layout, is_maze, maze_goal
from cep_lightning.errors import ConfigError

ActFn = Callable[[np.ndarray], np.ndarray]


class ConcatKeys(gym.ObservationWrapper):
    """An environment whose Dict observations are replaced by ``flatten_observation(obs, keys)``."""

    def __init__(self, env: gym.Env, keys: Sequence[str]):
        super().__init__(env)
        self.keys = list(keys)
        self.observation_space = flat_space(env.observation_space, self.keys)

    def observation(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        return flatten_observation(observation, self.keys)


def register_robotics_envs(env_id: str) -> None:
    """Make gymnasium-robotics' environments (AntMaze_*) known to gymnasium when ``env_id`` is one of them."""
    if env_id in gym.registry:
        return
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its import prints a notice about the unrelated Adroit tasks
            import gymnasium_robotics

            gym.register_envs(gymnasium_robotics)
    except ImportError:
        raise ConfigError(
            f"eval.env_id={env_id!r} is not a gymnasium environment, and gymnasium-robotics (which has the "
            f"AntMaze environments) is not installed: pip install -r requirements.txt."
        ) from None


def eval_env_of(cfg: DictConfig) -> str | EnvSpec:
    """What the policy is evaluated in: ``eval.env_id``, or with ``eval.env_id=null`` the evaluation environment the
    Minari data set stores (``recover_environment(eval_env=True)``; ``eval.env_kwargs`` still apply on top)."""
    if cfg.eval.env_id is not None:
        return cfg.eval.env_id
    if cfg.data.source != "minari":
        raise ConfigError(
            f"eval.env_id=null takes the evaluation environment from the data set, which only a Minari "
            f"data set stores (data.source=minari, not {cfg.data.source}); name it with eval.env_id=...."
        )
    return minari_eval_env_spec(cfg.data.minari_id, download=cfg.data.download)


def d4rl_maze_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``eval.env_kwargs`` for data in D4RL's AntMaze frame: its ``maze_map`` is D4RL's map as D4RL writes it, laid
    out with its rows reversed (``envs.mazes.d4rl_layout``) so that the evaluation maze is D4RL's, not its mirror."""
    if "maze_map" not in kwargs:
        raise ConfigError(
            f"data.frame={D4RL_ANTMAZE_FRAME} moves the data into the evaluation maze, which must be D4RL's: give its "
            f"map as D4RL writes it, with the start cell r and the goal cell g (eval.env_kwargs.maze_map=[[1,1,...],"
            f"...]; the AntMaze presets do), or read the file in its own frame with data.frame=env."
        )
    return {**kwargs, "maze_map": d4rl_layout(kwargs["maze_map"])}


D4RL_ANT_XML = Path(__file__).parent / "assets" / "d4rl_ant.xml"


def d4rl_ant(env_id: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The AntMaze environment ``env_id`` names (``AntMaze_<maze>-v<k>``) with D4RL's ant, the one that made D4RL's
    AntMaze data: ``AntMaze_<maze>-v5`` (the first version that takes an ``xml_file``) with ``assets/d4rl_ant.xml``
    (RK4 at 0.02 s: 0.1 s a step; motors of gear 1, ctrlrange ±30) and D4RL's 29-number state (no contact forces).
    gymnasium-robotics' own ant steps 0.05 s and turns an action of ±1 into a torque of ±150. The actions of D4RL's
    data lie in [-1, 1] and D4RL's ``NormalizedBoxEnv`` maps them onto ±30: ``EnvMaker.unit_actions`` does the same
    (gymnasium's ``RescaleAction``)."""
    maze, sep, _ = env_id.rpartition("-v")
    if not (sep and maze.startswith("AntMaze_")):
        raise ConfigError(
            f"data.frame={D4RL_ANTMAZE_FRAME} evaluates in an AntMaze with D4RL's ant, and eval.env_id={env_id!r} is "
            f"not an AntMaze_<maze>-v<k> id; name the maze (e.g. AntMaze_UMaze-v4) or use data.frame=env."
        )
    return f"{maze}-v5", {**kwargs, "xml_file": str(D4RL_ANT_XML), "include_cfrc_ext_in_observation": False}


@dataclass(frozen=True)
class EnvMaker:
    """Makes the evaluation environment: gym.make(env, **kwargs) for a registered id or a full spec (one taken from a
    data set), Dict observations flattened by ``observation_keys`` (the same mapping the data set's observations went
    through; None: left as they are). A maze (gymnasium-robotics) is wrapped in ``ReachGoal``: D4RL's success at its
    ``goal``, the same ``MazeGoal`` the data set is relabelled to or moved into the frame of. For data in D4RL's
    AntMaze frame the maze map is laid out as D4RL's maze (``d4rl_maze_kwargs``) and the ant is D4RL's (``d4rl_ant``).
    ``unit_actions``: the policy's actions in [-1, 1] are mapped linearly onto the environment's action range."""

    env: str | EnvSpec
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    observation_keys: tuple[str, ...] | None = None
    unit_actions: bool = False

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "EnvMaker":
        keys = tuple(cfg.data.observation_keys) if cfg.data.observation_keys else None
        kwargs: dict[str, Any] = OmegaConf.to_container(cfg.eval.env_kwargs, resolve=True)  # type: ignore[assignment]
        env = eval_env_of(cfg)
        if uses_d4rl_antmaze_frame(cfg.data):  # an HDF5 file: eval_env_of gave eval.env_id
            return cls(*d4rl_ant(cfg.eval.env_id, d4rl_maze_kwargs(kwargs)), keys, unit_actions=True)
        return cls(env, kwargs, keys)

    @property
    def env_id(self) -> str:
        return self.env if isinstance(self.env, str) else self.env.id

    @functools.cached_property
    def goal(self) -> MazeGoal | None:
        """The evaluation goal of a maze environment (None for other environments): one object, used by every
        environment this maker makes and by the relabelling of the data set."""
        env = self._make()
        try:
            return maze_goal(env) if is_maze(env) else None
        finally:
            env.close()

    def _make(self) -> gym.Env:
        register_robotics_envs(self.env_id)
        try:
            with warnings.catch_warnings():  # AntMaze_*-v4 on purpose: Minari's AntMaze data were collected in it
                warnings.filterwarnings("ignore", message=".*is out of date.*")
                return gym.make(self.env, **self.kwargs)
        except gym.error.Error as exc:
            raise ConfigError(
                f"eval.env_id={self.env_id!r} cannot be made by gymnasium ({exc}). "
                "Install its package or pick another env_id."
            ) from None
        except TypeError as exc:
            raise ConfigError(f"eval.env_kwargs={dict(self.kwargs)} do not fit {self.env_id}: {exc}.") from None

    def __call__(self) -> gym.Env:
        env = self._make()
        if self.unit_actions:
            one = np.ones(env.action_space.shape, dtype=env.action_space.dtype)
            env = gym.wrappers.RescaleAction(env, -one, one)
        if is_maze(env):
            env = ReachGoal(env, self.goal)  # type: ignore[arg-type]  # the goal the data set is relabelled to
        dict_observations = isinstance(env.observation_space, gym.spaces.Dict)
        return ConcatKeys(env, self.observation_keys) if dict_observations and self.observation_keys else env


def make_vector_env(make_env: Callable[[], gym.Env], num_envs: int) -> gym.vector.SyncVectorEnv:
    """num_envs copies of the environment ``make_env`` makes, stepped in one process."""
    return gym.vector.SyncVectorEnv([make_env for _ in range(num_envs)])


def evaluate(envs: gym.vector.VectorEnv, act_fn: ActFn, seeds: Sequence[int]) -> np.ndarray:
    """Run exactly one episode in each sub-environment (env i reset with seeds[i]); returns [num_envs] returns.

    Each environment counts only its own first episode, so short episodes are not over-represented.
    """
    obs, _ = envs.reset(seed=[int(seed) for seed in seeds])
    low, high = envs.single_action_space.low, envs.single_action_space.high
    returns = np.zeros(envs.num_envs)
    done = np.zeros(envs.num_envs, dtype=bool)
    while not done.all():
        actions = np.clip(np.asarray(act_fn(obs), dtype=np.float64), low, high)
        obs, rewards, terminated, truncated, _ = envs.step(actions.astype(envs.single_action_space.dtype))
        returns += np.where(done, 0.0, rewards)
        done |= terminated | truncated
    return returns


def normalized_score(
    returns: np.ndarray | float, ref_min: float | None, ref_max: float | None
) -> np.ndarray | float | None:
    """D4RL normalized score 100 · (R - R_random) / (R_expert - R_random); None without references."""
    if ref_min is None or ref_max is None:
        return None
    score = 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)
    return float(score) if score.ndim == 0 else score

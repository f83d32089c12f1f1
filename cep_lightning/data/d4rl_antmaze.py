"""D4RL's AntMaze v2 HDF5 files (the paper's data), moved from D4RL's maze frame into the evaluation maze's.

The frames (maze_size_scaling s = 4 in both):

- D4RL (``d4rl/locomotion/maze_env.py``): the torso starts at the start cell r = (i_r, j_r) and cell (i, j) of the
  map (row i, column j) is centred at ``x_D = j·s - j_r·s``, ``y_D = i·s - i_r·s``: the origin at the start cell's
  centre, rows along +y.
- gymnasium-robotics (``Maze.cell_rowcol_to_xy``): cell (i', j) of an L x W map is centred at
  ``x = (j + 0.5)·s - W·s/2``, ``y = L·s/2 - (i' + 0.5)·s``: the maze centred at the origin, rows along -y.

The evaluation maze is D4RL's map with its rows reversed (``envs.mazes.d4rl_layout``: i' = L - 1 - i), so that
``y = (i + 0.5 - L/2)·s`` runs along +y as D4RL's does: the same maze, not its mirror image. Its cells then lie at

    x = x_D + (j_r + 0.5 - W/2)·s,    y = y_D + (i_r + 0.5 - L/2)·s,

a translation by t = the start cell's centre in the evaluation frame (``MazeGoal.start_xy``, gymnasium-robotics'
cell (L - 1 - i_r, j_r)), and every point moves the same way: (x, y) = (x_D, y_D) + t. No rotation or reflection, so
the torso's height and orientation quaternion, the joint angles and every velocity (qpos[2:15], qvel) are the same
numbers in both frames.

A file's observation is D4RL's ``qpos[:15] ++ qvel[:14]`` (29 numbers, ``expose_all_qpos``), the evaluation env's
(``data.observation_keys=[achieved_goal,observation]``) gymnasium-robotics' ``qpos[:2] ++ (qpos[2:15] ++ qvel)``:
the same state in the same order once (x, y) = observation[:2] is moved.
"""

from __future__ import annotations

import os

import numpy as np
from omegaconf import DictConfig

from cep_lightning.data.goals import MazeGoal
from cep_lightning.data.hdf5 import read_d4rl_arrays, transitions_from_arrays
from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

D4RL_ANTMAZE_FRAME = "d4rl-antmaze"  # data.frame
OBSERVATION_DIM = 29  # qpos[:15] ++ qvel[:14]
SCALING = 4.0  # D4RL's maze_size_scaling for every AntMaze data set
GOAL_KEY = "infos/goal"  # the goal the collecting policy was sent to, (x, y) per row
MOVED = ("observations", "next_observations", GOAL_KEY)  # the arrays whose first two columns are (x, y)


def uses_d4rl_antmaze_frame(data_cfg: DictConfig) -> bool:
    """True when the data are an HDF5 file in D4RL's AntMaze frame (``data.source=hdf5 data.frame=d4rl-antmaze``)."""
    return data_cfg.source == "hdf5" and data_cfg.frame == D4RL_ANTMAZE_FRAME


def to_maze_frame(xy: np.ndarray, goal: MazeGoal) -> np.ndarray:
    """(x, y) [..., 2] in D4RL's AntMaze frame -> the evaluation maze's: + ``goal.start_xy`` (the module says why)."""
    return np.asarray(xy, dtype=np.float64) + np.asarray(goal.start_xy)


def read_d4rl_antmaze(path: str | os.PathLike, goal: MazeGoal) -> dict[str, np.ndarray]:
    """The file's arrays with (x, y) in the evaluation maze's frame: the first two columns of ``observations``,
    ``next_observations`` (when the file has them) and ``infos/goal`` moved by ``to_maze_frame``; everything else as
    stored (rewards and terminals are D4RL's: 1 where the next (x, y) lies within 0.5 of its target goal)."""
    arrays = read_d4rl_arrays(path, optional=("next_observations", GOAL_KEY))
    if arrays["observations"].ndim != 2 or arrays["observations"].shape[1] != OBSERVATION_DIM:
        raise DataError(
            f"'{path}' has observations of shape {arrays['observations'].shape}, but a D4RL AntMaze file stores "
            f"[N, {OBSERVATION_DIM}] (qpos[:15] ++ qvel[:14]). Check data.path, or read the file in its own frame with "
            f"data.frame=env."
        )
    for key in MOVED:
        if key in arrays:
            moved = arrays[key].astype(np.float64)
            moved[:, :2] = to_maze_frame(moved[:, :2], goal)
            arrays[key] = moved
    return arrays


def load_d4rl_antmaze(path: str | os.PathLike, goal: MazeGoal | None) -> Transitions:
    """The transitions of a D4RL AntMaze file in the evaluation maze's frame (``read_d4rl_antmaze``), after two checks
    that the file and the evaluation maze belong together: its goals lie inside the maze, and every rewarded row's
    next (x, y) lies in the evaluation goal cell (D4RL's target goal is that cell's centre plus 0 to 1.5 in x and y,
    the reward radius 0.5)."""
    goal = _check_maze(goal, path)
    arrays = read_d4rl_antmaze(path, goal)
    _check_goals_inside(arrays.get(GOAL_KEY), goal, path)
    _check_rewards_at_goal(arrays, goal, path)
    return transitions_from_arrays({k: v for k, v in arrays.items() if k != GOAL_KEY}, str(path))


def _check_maze(goal: MazeGoal | None, path: str | os.PathLike) -> MazeGoal:
    """``goal``, when its maze can anchor D4RL's frame: one start cell, D4RL's cell size."""
    if goal is None or goal.start_xy is None:
        raise DataError(
            f"'{path}' is read in D4RL's AntMaze frame (data.frame={D4RL_ANTMAZE_FRAME}), whose origin is the start "
            f"cell, but the evaluation environment has no maze with a single start cell 'r'. Give D4RL's maze map "
            f"with its 'r' and 'g' cells (eval.env_kwargs.maze_map), or data.frame=env for a file in the evaluation "
            f"env's own frame."
        )
    if goal.cell_size != SCALING:
        raise DataError(
            f"The evaluation maze {goal.env_id} has cells of side {goal.cell_size}, D4RL's AntMaze {SCALING}: "
            f"'{path}' (data.frame={D4RL_ANTMAZE_FRAME}) cannot be moved into it. Evaluate in an AntMaze_*-v4 "
            f"environment with its default maze_size_scaling."
        )
    return goal


def _check_goals_inside(goals: np.ndarray | None, goal: MazeGoal, path: str | os.PathLike) -> None:
    """Every moved ``infos/goal`` lies inside the maze: |x| <= w, |y| <= l (``MazeGoal.half_size``)."""
    if goals is None:
        return
    outside = np.any(np.abs(goals[:, :2]) > np.asarray(goal.half_size), axis=1)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"'{path}': {int(outside.sum())} of its goals ({GOAL_KEY}) lie outside the evaluation maze {goal.env_id} "
            f"once moved from D4RL's frame (row {first}: {goals[first, :2].tolist()}; the maze spans "
            f"±{goal.half_size[0]} x ±{goal.half_size[1]}). The file belongs to another maze: pick the task of its "
            f"maze, or data.path= that maze's file."
        )


def _check_rewards_at_goal(arrays: dict[str, np.ndarray], goal: MazeGoal, path: str | os.PathLike) -> None:
    """Row i rewarded (r_i = 1, i < N - 1) => the next position observations[i + 1, :2] (the one D4RL's reward was
    computed from) lies in the goal cell: max(|x - x_g|, |y - y_g|) <= s/2."""
    rewarded = np.flatnonzero(arrays["rewards"][:-1] > 0)
    reached = arrays["observations"][rewarded + 1, :2]
    away = np.abs(reached - np.asarray(goal.xy)).max(axis=1) > goal.cell_size / 2
    if away.any():
        row = int(rewarded[np.flatnonzero(away)[0]])
        raise DataError(
            f"'{path}': {int(away.sum())} of its {len(rewarded)} rewarded rows are not at the evaluation goal cell "
            f"{goal.goal_cell} of {goal.env_id} (row {row}: next (x, y) {reached[away][0].tolist()} in the evaluation "
            f"frame, goal {list(goal.xy)}). The file and the evaluation maze do not belong together: pick the task of "
            f"the file's maze, or data.path= this maze's file."
        )

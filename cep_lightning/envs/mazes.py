"""The goal of a maze task (gymnasium-robotics' AntMaze / PointMaze): one object that both the evaluation
environment and the relabelling of the data set take their goal from, and D4RL's success criterion.

D4RL's AntMaze evaluation has one start cell ``r`` and one goal cell ``g`` in its maze map, and counts an
episode a success when the ant's (x, y) comes within 0.5 of the goal; its v2 data files carry reward 1 and a
terminal exactly there. gymnasium-robotics counts success within 0.45 of a goal it re-draws at every reset
(the goal cell's centre ± 0.25 cell), so ``ReachGoal`` fixes the goal to the goal cell's centre and applies
D4RL's 0.5.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from cep_lightning.data.goals import MazeGoal
from cep_lightning.errors import DataError


def is_maze(env: gym.Env) -> bool:
    """True for gymnasium-robotics' maze environments (they carry a ``maze`` with the map and place a goal site)."""
    return hasattr(env.unwrapped, "maze") and hasattr(env.unwrapped, "update_target_site_pos")


def cells(maze_map: list[list[Any]], kind: str) -> list[tuple[int, int]]:
    """The (row, column) cells of ``maze_map`` marked ``kind`` (``"r"``, ``"g"`` or ``"c"``)."""
    return [(i, j) for i, row in enumerate(maze_map) for j, v in enumerate(row) if v == kind]


def maze_goal(env: gym.Env) -> MazeGoal:
    """The goal of a maze environment: its map's single ``g`` cell, at the cell's centre in the env's own frame."""
    maze = env.unwrapped.maze
    env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    goals, starts = cells(maze.maze_map, "g"), cells(maze.maze_map, "r")
    if len(goals) != 1 or cells(maze.maze_map, "c"):
        raise DataError(
            f"The evaluation environment {env_id} has no single goal cell (its maze map has {len(goals)} 'g' cells and "
            f"{len(cells(maze.maze_map, 'c'))} 'c' cells), so the goal the data set is relabelled to cannot be "
            f"determined. "
            f"Take the evaluation environment from the data set (eval.env_id=null) or give a maze map with one 'g' "
            f"(eval.env_kwargs.maze_map)."
        )
    start = starts[0] if len(starts) == 1 else None
    return MazeGoal(
        env_id,
        goals[0],
        start,
        _centre(maze, goals[0]),
        None if start is None else _centre(maze, start),
        float(maze.maze_size_scaling),
        (float(maze.x_map_center), float(maze.y_map_center)),
    )


def _centre(maze: Any, cell: tuple[int, int]) -> tuple[float, float]:
    """(x, y) of the centre of ``cell`` (row, column) in the maze's frame (gymnasium-robotics' cell_rowcol_to_xy)."""
    x, y = maze.cell_rowcol_to_xy(np.array(cell))
    return float(x), float(y)


def d4rl_layout(maze_map: list[list[Any]]) -> list[list[Any]]:
    """D4RL's maze map (rows as D4RL writes them) as gymnasium-robotics must be given it to build D4RL's maze itself:
    rows reversed. D4RL lays row i at y = i·s (rows along +y), gymnasium-robotics at y = L·s/2 - (i + 0.5)·s (rows
    along -y), so the map as written would come out mirrored; reversed, the two agree up to a translation
    (``data.d4rl_antmaze``)."""
    return [list(row) for row in reversed(maze_map)]


class ReachGoal(gym.Wrapper):
    """D4RL's AntMaze evaluation on a gymnasium-robotics maze.

    The goal is ``goal.xy`` at every reset (not a re-drawn point); after each step the reward is
    1{||achieved_goal - goal.xy|| <= goal.radius} and that success ends the episode (``terminated``), so an
    episode's return is 1 for a success and 0 otherwise. ``info["success"]`` is the same indicator.
    """

    def __init__(self, env: gym.Env, goal: MazeGoal):
        super().__init__(env)
        self.goal = goal

    def _fix_goal(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        maze = self.env.unwrapped
        maze.goal = np.array(self.goal.xy, dtype=np.float64)
        maze.update_target_site_pos()
        return {**obs, "desired_goal": maze.goal.copy()}

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        obs = self._fix_goal(obs)
        return obs, {**info, "success": bool(self.goal.reached(obs["achieved_goal"]))}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        obs = self._fix_goal(obs)  # a continuing maze re-draws its goal when reached; the task's goal stays
        success = bool(self.goal.reached(obs["achieved_goal"]))
        return obs, float(success), bool(terminated or success), bool(truncated), {**info, "success": success}

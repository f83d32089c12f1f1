"""The evaluation goal of a maze task, as the relabelling of a goal-conditioned data set and the evaluation
environment (``envs.mazes``) both take it, and D4RL's success criterion: within 0.5 of the goal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

D4RL_GOAL_RADIUS = 0.5  # D4RL's AntMaze success radius (gymnasium-robotics uses 0.45)


@dataclass(frozen=True)
class MazeGoal:
    """The evaluation goal of a maze task: the centre ``xy`` of cell ``goal_cell`` of the env's maze map,
    reached when the agent's (x, y) lies within ``radius`` of it. It carries the maze's geometry too (the start
    cell's centre, the cell size, the extent), by which data in D4RL's frame are moved into the maze's
    (``data.d4rl_antmaze``)."""

    env_id: str
    goal_cell: tuple[int, int]
    start_cell: tuple[int, int] | None  # the map's single ``r`` cell (None: random start cells)
    xy: tuple[float, float]
    start_xy: tuple[float, float] | None  # the centre of ``start_cell``
    cell_size: float  # a cell's side (gymnasium-robotics' maze_size_scaling)
    half_size: tuple[float, float]  # the maze spans [-w, w] x [-l, l]: (w, l) = (x_map_center, y_map_center)
    radius: float = D4RL_GOAL_RADIUS

    def reached(self, achieved: np.ndarray) -> np.ndarray:
        """[...] bool: ||achieved - xy||_2 <= radius, for (x, y) positions [..., 2]."""
        return np.linalg.norm(np.asarray(achieved, dtype=np.float64) - np.asarray(self.xy), axis=-1) <= self.radius

    def describe(self) -> dict[str, Any]:
        """The goal as results.json records it."""
        return {
            "env_id": self.env_id,
            "start_cell": None if self.start_cell is None else list(self.start_cell),
            "goal_cell": list(self.goal_cell),
            "goal_xy": list(self.xy),
            "radius": self.radius,
        }

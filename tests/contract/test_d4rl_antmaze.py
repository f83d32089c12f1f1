"""The AntMaze presets read D4RL's AntMaze v2 files, moved from D4RL's maze frame into the evaluation maze's: small
files in D4RL's layout and frame (tests.helpers.d4rl_antmaze_file), with the torso at known cells, land on the
evaluation maze's cells of the same (row, column) after the row reversal, as gymnasium-robotics' own maze places them.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import mujoco
import numpy as np
import pytest

from cep_lightning.data.d4rl_antmaze import read_d4rl_antmaze
from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.errors import DataError
from cep_lightning.run.locate import load_command
from tests.helpers import (
    ANTMAZE_TASKS,
    D4RL_MAPS,
    D4RL_OFFSET,
    D4RL_TARGET_OFFSET,
    G,
    R,
    d4rl_antmaze_file,
    d4rl_cells,
    d4rl_visits,
)


def maze_of(task: str) -> str:
    return task[len("antmaze-") :].split("-")[0]


def loaded(task: str, *overrides: str) -> tuple[QGPODataModule, EnvMaker]:
    cfg = load_command([f"task={task}", *overrides])
    make_env = EnvMaker.from_config(cfg)
    data = QGPODataModule(cfg.data, goal=make_env.goal)
    data.prepare_data()
    data.setup()
    return data, make_env


def evaluation_cell(maze: str, cell: tuple[int, int]) -> np.ndarray:
    """The evaluation maze's cell of D4RL's ``cell`` after the row reversal: (L - 1 - i, j)."""
    return np.array([len(D4RL_MAPS[maze]) - 1 - cell[0], cell[1]])


@pytest.mark.parametrize("task", ANTMAZE_TASKS)
def test_d4rl_positions_land_on_the_evaluation_mazes_cells(task: str, tmp_path: Path) -> None:
    """Every visited D4RL cell (i, j) maps to gymnasium-robotics' centre of cell (L - 1 - i, j) (its own
    cell_rowcol_to_xy) plus the same offset within the cell; that cell has D4RL's walls, start and goal; the rest of
    the state, the rewards and terminals are D4RL's, the trained rewards r - 1."""
    maze = maze_of(task)
    path = d4rl_antmaze_file(tmp_path / "d4rl.hdf5", maze)
    data, make_env = loaded(task, f"data.path={path}")
    env = make_env()
    gym_maze = env.unwrapped.maze
    for i, row in enumerate(D4RL_MAPS[maze]):  # the evaluation maze is D4RL's, rows reversed: not its mirror image
        for j, kind in enumerate(row):
            i_eval, j_eval = evaluation_cell(maze, (i, j))
            assert (gym_maze.maze_map[i_eval][j_eval] == 1) == (kind == 1)
    goal = make_env.goal
    assert goal.start_cell == tuple(evaluation_cell(maze, d4rl_cells(maze, R)[0]))
    assert goal.goal_cell == tuple(evaluation_cell(maze, d4rl_cells(maze, G)[0]))
    np.testing.assert_array_equal(goal.xy, gym_maze.cell_rowcol_to_xy(np.array(goal.goal_cell)))

    centres = [gym_maze.cell_rowcol_to_xy(evaluation_cell(maze, cell)) for cell in d4rl_visits(maze)]
    target = np.asarray(goal.xy) + D4RL_TARGET_OFFSET  # D4RL's target goal, moved
    episode = np.array([*(c + D4RL_OFFSET for c in centres), target, target + [0.1, 0.0]])  # its time-out row dropped
    np.testing.assert_allclose(data.transitions.observations[:, :2], np.concatenate([episode] * 2), atol=1e-5)
    assert all(  # every torso position lies in the evaluation cell of its D4RL cell
        tuple(gym_maze.cell_xy_to_rowcol(xy)) == tuple(evaluation_cell(maze, cell))
        for xy, cell in zip(data.transitions.observations[:, :2], d4rl_visits(maze))
    )
    with h5py.File(path, "r") as f:
        stored = {k: f[k][()] for k in ("observations", "rewards", "terminals", "timeouts")}
    kept = ~stored["timeouts"]
    np.testing.assert_allclose(data.transitions.observations[:, 2:], stored["observations"][kept, 2:], rtol=1e-6)
    np.testing.assert_array_equal(data.transitions.rewards, stored["rewards"][kept])
    np.testing.assert_array_equal(data.transitions.terminals, stored["terminals"][kept])
    assert data.transitions.rewards.sum() == 2 * 3  # the rows whose next position is within 0.5 of the target
    np.testing.assert_array_equal(data.rewards, stored["rewards"][kept] - 1.0)  # the paper's r - 1
    np.testing.assert_allclose(read_d4rl_antmaze(path, goal)["infos/goal"], np.tile(target, (len(kept), 1)))
    env.close()


def test_next_observations_move_too(tmp_path: Path) -> None:
    path = d4rl_antmaze_file(tmp_path / "d4rl.hdf5", "medium", next_observations=True)
    data, make_env = loaded("antmaze-medium-play-v2", f"data.path={path}")
    with h5py.File(path, "r") as f:
        stored = f["next_observations"][()]
    np.testing.assert_allclose(
        data.transitions.next_observations[:, :2], stored[:, :2] + make_env.goal.start_xy, atol=1e-5
    )
    np.testing.assert_allclose(data.transitions.next_observations[:, 2:], stored[:, 2:], rtol=1e-6)
    assert make_env.goal.start_xy == (-10.0, -10.0)  # (j_r + 0.5 - W/2)·s, (i_r + 0.5 - L/2)·s: 8 x 8, r at (1, 1)


def test_minari_data_keep_the_maze_as_written() -> None:
    """data.source=minari: Minari's data were collected in D4RL's map as written, so the evaluation maze is that."""
    goal = EnvMaker.from_config(load_command(["task=antmaze-umaze-v2", "data.source=minari"])).goal
    assert (goal.start_cell, goal.goal_cell, goal.xy) == ((1, 1), (3, 1), (-4.0, -4.0))


def test_a_file_of_another_maze_is_refused(tmp_path: Path) -> None:
    path = d4rl_antmaze_file(tmp_path / "large.hdf5", "large")
    with pytest.raises(DataError, match="outside the evaluation maze AntMaze_UMaze-v5.*another maze"):
        loaded("antmaze-umaze-v2", f"data.path={path}")


def test_a_mirrored_file_is_refused(tmp_path: Path) -> None:
    """A file whose rows run along -y (a mirror image of D4RL's frame): its rewarded rows are not at the goal."""
    path = d4rl_antmaze_file(tmp_path / "mirrored.hdf5", "medium")
    with h5py.File(path, "r+") as f:
        f["observations"][:, 1] = -f["observations"][:, 1]
        del f["infos/goal"]
    with pytest.raises(DataError, match=r"6 of its 6 rewarded rows are not at the evaluation goal cell \(1, 6\)"):
        loaded("antmaze-medium-play-v2", f"data.path={path}")


def test_observations_must_be_d4rls_29(tmp_path: Path) -> None:
    path = d4rl_antmaze_file(tmp_path / "d4rl.hdf5", "umaze")
    with h5py.File(path, "r+") as f:
        observations = f["observations"][:, :28]
        del f["observations"]
        f["observations"] = observations
    with pytest.raises(DataError, match=r"shape \(\d+, 28\).*\[N, 29\] \(qpos\[:15\] \+\+ qvel\[:14\]\)"):
        loaded("antmaze-umaze-v2", f"data.path={path}")


def test_a_missing_file_says_where_to_fetch_it(tmp_path: Path) -> None:
    missing = tmp_path / "Ant_maze.hdf5"
    cfg = load_command(["task=antmaze-large-diverse-v2"])
    with pytest.raises(DataError) as info:
        loaded("antmaze-large-diverse-v2", f"data.path={missing}")
    for text in (f"'{missing}'", cfg.data.url, "data.download=true", f"wget -O {missing} {cfg.data.url}", "data.path="):
        assert text in str(info.value)
    assert cfg.data.url == (
        "http://rail.eecs.berkeley.edu/datasets/offline_rl/ant_maze_v2/"
        "Ant_maze_hardest-maze_noisy_multistart_True_multigoal_True_sparse_fixed.hdf5"
    )


def test_download_fetches_a_missing_file_from_its_url(tmp_path: Path) -> None:
    source = d4rl_antmaze_file(tmp_path / "mirror" / "umaze.hdf5", "umaze")
    target = tmp_path / "data" / "umaze.hdf5"
    data, _ = loaded("antmaze-umaze-v2", f"data.path={target}", f"data.url={source.as_uri()}", "data.download=true")
    assert target.read_bytes() == source.read_bytes() and len(data.transitions) > 0
    assert list(target.parent.glob("*.part")) == []


def test_a_failed_download_says_what_and_how(tmp_path: Path) -> None:
    target = tmp_path / "data" / "umaze.hdf5"
    url = (tmp_path / "nowhere.hdf5").as_uri()
    expected = rf"Could not download {re.escape(url)} to '{re.escape(str(target))}'.*wget -O .*data.path="
    with pytest.raises(DataError, match=expected):
        loaded("antmaze-umaze-v2", f"data.path={target}", f"data.url={url}", "data.download=true")
    assert not target.exists() and list(target.parent.glob("*.part")) == []


@pytest.mark.parametrize("task", ["antmaze-umaze-v2", "antmaze-large-diverse-v2"])
def test_the_evaluation_ant_is_d4rls(task: str) -> None:
    """D4RL's ant steps 0.1 s (RK4 at 0.02 s, frame skip 5) and turns an action of 1 into a torque of 30 (its
    NormalizedBoxEnv onto ctrlrange ±30, gear 1); gymnasium-robotics' own steps 0.05 s with a torque of 150."""
    env = EnvMaker.from_config(load_command([f"task={task}"]))()
    try:
        env.reset(seed=0)
        ant = env.unwrapped.ant_env
        env.step(np.array([1.0, -1.0, 0.5, 0, 0, 0, 0, 0], dtype=np.float32))
        assert ant.model.opt.timestep * ant.frame_skip == pytest.approx(0.1)
        assert mujoco.mjtIntegrator(ant.model.opt.integrator).name == "mjINT_RK4"
        np.testing.assert_allclose(ant.data.ctrl[:3] * ant.model.actuator_gear[:3, 0], [30.0, -30.0, 15.0])
        assert env.observation_space.shape == (29,)
    finally:
        env.close()


def test_minari_data_keep_gymnasium_robotics_ant() -> None:
    make_env = EnvMaker.from_config(load_command(["task=antmaze-umaze-v2", "data.source=minari"]))
    assert make_env.env_id == "AntMaze_UMaze-v4" and not make_env.unit_actions

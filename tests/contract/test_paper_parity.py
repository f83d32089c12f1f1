"""benchmarks/paper_parity: the stand-ins for d4rl and old gym, the weight mapping, and (slow, with the paper's code
named by CEP_PAPER_SRC, tests/e2e) the steps mode on a tiny problem."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gymnasium
import h5py
import numpy as np
import pytest
import torch
from torch import nn

from benchmarks.paper_parity import weights
from benchmarks.paper_parity.shims import (
    OldGymEnv,
    get_dataset,
    import_paper,
    missing_library_stand_ins,
    qlearning_dataset,
)
from cep_lightning.data.hdf5 import load_d4rl_hdf5, write_d4rl_hdf5
from cep_lightning.maths.nets import EnergyNet, ScoreNet, TwinQ
from tests.helpers import episodes_table


def test_qlearning_dataset_by_hand() -> None:
    """D4RL's: rows 0 .. N-2, s' = the next row's s, time-out rows skipped, float32 arrays and bool terminals."""
    obs = np.arange(6, dtype=np.float64)[:, None]
    dataset = {
        "observations": obs,
        "actions": obs * 10,
        "rewards": np.arange(6.0),
        "terminals": np.array([0, 1, 0, 0, 0, 0]),
        "timeouts": np.array([0, 0, 0, 1, 0, 0]),
    }
    out = qlearning_dataset(None, dataset)
    np.testing.assert_array_equal(out["observations"][:, 0], [0, 1, 2, 4])
    np.testing.assert_array_equal(out["next_observations"][:, 0], [1, 2, 3, 5])
    np.testing.assert_array_equal(out["actions"][:, 0], [0, 10, 20, 40])
    np.testing.assert_array_equal(out["rewards"], [0, 1, 2, 4])
    np.testing.assert_array_equal(out["terminals"], [False, True, False, False])
    assert {k: v.dtype for k, v in out.items()} == {
        "observations": np.float32,
        "actions": np.float32,
        "next_observations": np.float32,
        "rewards": np.float32,
        "terminals": np.bool_,
    }
    assert len(qlearning_dataset(None, dataset, terminate_on_end=True)["rewards"]) == 5


def test_qlearning_dataset_agrees_with_our_loader(tmp_path: Path) -> None:
    """On a file without next_observations ending in a time-out both drop the time-out rows and keep the same rows;
    s' differs only at terminals (D4RL: the next episode's first state; ours: s itself, which the target ignores)."""
    data = episodes_table([5, 7, 4, 6], ["terminal", "timeout", "terminal", "timeout"])
    path = write_d4rl_hdf5(data, tmp_path / "tiny.hdf5", with_next_observations=False)
    theirs, ours = qlearning_dataset(None, get_dataset(path)), load_d4rl_hdf5(path)
    assert len(theirs["rewards"]) == len(ours) == 20
    np.testing.assert_array_equal(theirs["observations"], ours.observations)
    np.testing.assert_array_equal(theirs["actions"], ours.actions)
    np.testing.assert_array_equal(theirs["rewards"], ours.rewards)
    np.testing.assert_array_equal(theirs["terminals"], ours.terminals)
    inside = ~ours.terminals
    np.testing.assert_array_equal(theirs["next_observations"][inside], ours.next_observations[inside])


def test_get_dataset_flattens_columns_and_refuses_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "columns.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"], f["actions"] = np.zeros((4, 11)), np.zeros((4, 3))
        f["rewards"], f["terminals"], f["timeouts"] = (np.ones((4, 1)), np.zeros((4, 1), bool), np.zeros(4, bool))
        f["infos/qpos"] = np.zeros((4, 6))
    data = get_dataset(path, (11,), (3,))
    assert data["rewards"].shape == data["terminals"].shape == (4,) and data["infos/qpos"].shape == (4, 6)
    with pytest.raises(ValueError, match="do not fit"):
        get_dataset(path, (17,), (3,))
    with h5py.File(path, "a") as f:
        del f["actions"]
    with pytest.raises(ValueError, match=r"missing the key\(s\) \['actions'\]"):
        get_dataset(path)


def test_old_gym_env_steps_as_gymnasium_behind_the_old_api() -> None:
    """seed + reset() -> obs and step -> (obs, r, terminated or truncated, info) give gymnasium's episode."""
    old, new = OldGymEnv(gymnasium.make("Pendulum-v1")), gymnasium.make("Pendulum-v1")
    old.seed(3)
    np.testing.assert_array_equal(old.reset(), new.reset(seed=3)[0])
    assert old._max_episode_steps == 200
    action = np.array([0.5], np.float32)
    for step in range(200):
        obs, reward, done, info = old.step(action)
        obs_new, reward_new, terminated, truncated, _ = new.step(action)
        np.testing.assert_array_equal(obs, obs_new)
        assert reward == reward_new and done == (terminated or truncated)
    assert done and info["TimeLimit.truncated"]


# The paper's state-dict names (Offline_RL_2D/diffusion_SDE/model.py: ScoreNet, GuidanceQt, TwinQ).
PAPER_BLOCKS = ("down_block1", "down_block2", "down_block3", "middle1", "up_block3", "up_block2")
SAME_WIDTH = ("middle1", "up_block3", "up_block2")  # no modify_x
PAPER_SCORE_NAMES = [
    f"{name}.{p}"
    for name in ("embed.1", "pre_sort_condition.0.dense", "sort_t.0", "sort_t.2")
    + tuple(
        f"{block}.{layer}"
        for block in PAPER_BLOCKS
        for layer in ("time_mlp.1", "dense1.0", "dense2.0", "modify_x")
        if not (layer == "modify_x" and block in SAME_WIDTH)
    )
    + ("last",)
    for p in ("weight", "bias")
] + ["embed.0.W"]
PAPER_ENERGY_NAMES = [
    f"{name}.{p}" for name in ("qt.0", "qt.2", "qt.4", "qt.6", "qt.8", "embed.1") for p in ("weight", "bias")
]
PAPER_ENERGY_NAMES.append("embed.0.W")
PAPER_TWIN_Q_NAMES = [f"q{k}.{i}.{p}" for k in (1, 2) for i in (0, 2, 4, 6) for p in ("weight", "bias")]

NETWORKS = {
    "score": (lambda: ScoreNet(3, 11), PAPER_SCORE_NAMES),
    "energy": (lambda: EnergyNet(11, 3), PAPER_ENERGY_NAMES),
    "twin_q": (lambda: TwinQ(11, 3), PAPER_TWIN_Q_NAMES),
}


def named_holder(state: dict[str, torch.Tensor]) -> nn.Module:
    """A module whose state dict has exactly these names and shapes (zeros): a stand-in for the paper's network."""
    root = nn.Module()
    for name, value in state.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, nn.Module())
            module = getattr(module, part)
        module.register_parameter(leaf, nn.Parameter(torch.zeros_like(value)))
    return root


@pytest.mark.parametrize("kind", list(NETWORKS))
def test_weight_mapping_names_every_paper_tensor_once(kind: str) -> None:
    make, paper_names = NETWORKS[kind]
    assert sorted(weights.to_paper(make(), kind)) == sorted(paper_names)


@pytest.mark.parametrize("kind", list(NETWORKS))
def test_copied_weights_give_identical_outputs(kind: str) -> None:
    """Ours -> the paper's names -> a fresh network of ours: the same outputs, bit for bit; the relative difference
    of the copy is 0 and the last ScoreNet layer is stored negated (the paper predicts -eps)."""
    make, _ = NETWORKS[kind]
    torch.manual_seed(0)
    ours, fresh = make(), make()
    paper = named_holder(weights.to_paper(ours, kind))
    weights.copy_to_paper(ours, paper, kind)
    assert set(weights.relative_differences(ours, paper, kind).values()) == {0.0}
    theirs = paper.state_dict()
    fresh.load_state_dict({k: weights.sign(k, kind) * theirs[weights.paper_name(k, kind)] for k in ours.state_dict()})
    a, t, s = torch.randn(7, 3), torch.rand(7), torch.randn(7, 11)
    inputs = (s, a) if kind == "twin_q" else (a, t, s)
    assert torch.equal(ours(*inputs), fresh(*inputs))
    if kind == "score":
        assert torch.equal(theirs["last.bias"], -ours.out.bias)


def test_copy_refuses_a_network_of_other_sizes() -> None:
    paper = named_holder(weights.to_paper(TwinQ(11, 3, hidden=8), "twin_q"))
    with pytest.raises(ValueError, match="q1.0.weight"):
        weights.copy_to_paper(TwinQ(11, 3), paper, "twin_q")


def test_stand_ins_for_absent_libraries_answer_find_spec_and_refuse_use() -> None:
    modules = missing_library_stand_ins()
    for name, module in modules.items():
        assert module.__spec__ is not None and module.__spec__.name == name
    if "sklearn.utils" in modules:
        with pytest.raises(ImportError, match="2-D toys"):
            modules["sklearn.utils"].shuffle([1, 2])
    if "scipy.special" in modules:
        np.testing.assert_allclose(modules["scipy.special"].softmax(np.array([0.0, np.log(3.0)])), [0.25, 0.75])
    assert importlib.util.find_spec("h5py") is not None  # installed libraries are left alone
    assert "h5py" not in modules


def test_import_paper_refuses_a_directory_without_the_papers_code(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--paper must be a checkout"):
        import_paper(tmp_path)

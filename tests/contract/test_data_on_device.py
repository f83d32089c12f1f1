"""``data.on_device=true``: the training tables move to the device once and each batch is gathered there from the
row numbers the loader sends: the same rows (the same ``StepBatches``), so the same batches and the same run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cep_lightning.data.datamodule import StepBatches, TransitionDataset, gathers_on_device
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import FIXTURE_EXTRAS, TINY, episodes_table


def test_a_batch_gathered_from_the_device_tables_is_the_loaders_batch(tmp_path: Path) -> None:
    from cep_lightning.data.support import SupportStore

    data = episodes_table([4, 3], ["terminal", "timeout"])
    store = SupportStore.create(tmp_path / "support", len(data.rewards) + 2, 4, 3, np.arange(1, len(data.rewards) + 1))
    store.actions[:] = np.random.default_rng(0).uniform(-1, 1, store.actions.shape)
    dataset = TransitionDataset(data, data.rewards * 2, SupportStore.open(tmp_path / "support"))
    tables = dataset.to(torch.device("cpu"))
    for rows in StepBatches(len(dataset), 5, 3, seed=1):
        expected = dataset.__getitems__(rows)
        gathered = TransitionDataset.gather(tables, torch.as_tensor(rows))
        assert set(gathered) == set(expected) == {"s", "a", "r", "s_next", "terminal", "support", "support_next"}
        for key in expected:
            assert torch.equal(gathered[key], expected[key]), key
    assert not torch.equal(gathered["support"], gathered["support_next"])
    in_chunks = dataset.to(torch.device("cpu"), chunk_bytes=40)  # a few rows (and the odd last chunk) at a time
    for key, table in tables.items():
        assert in_chunks[key].dtype == table.dtype and torch.equal(in_chunks[key], table), key
        assert torch.equal(table, torch.from_numpy(np.array(dataset.tables[key]))), key


def test_a_batch_of_k_steps_holds_each_steps_rows_and_resumes_between_batches() -> None:
    single = list(StepBatches(1000, 4, 12, seed=3, rank=1))
    grouped = list(StepBatches(1000, 4, 12, seed=3, rank=1, steps_per_batch=3))
    assert len(StepBatches(1000, 4, 12, seed=3, steps_per_batch=3)) == len(grouped) == 4
    assert grouped == [sum(single[k : k + 3], []) for k in range(0, 12, 3)]
    assert list(StepBatches(1000, 4, 12, seed=3, rank=1, start=6, steps_per_batch=3)) == grouped[2:]
    assert len(set(map(tuple, single))) == 12  # every step its own rows
    with pytest.raises(ValueError, match="multiples of steps_per_batch"):
        StepBatches(1000, 4, 12, seed=3, start=4, steps_per_batch=3)


def test_by_default_the_data_stays_on_a_cpu_and_true_and_false_are_obeyed() -> None:
    cpu = torch.device("cpu")
    assert not gathers_on_device(None, cpu, 10) and gathers_on_device(True, cpu, 10)
    assert not gathers_on_device(False, torch.device("cuda"), 10)  # no device query when told


def test_a_run_gathering_on_the_device_equals_the_loaders_run(tmp_path: Path, finished_run: Path) -> None:
    on_device = tmp_path / "on-device"
    run(load_command([*TINY, *FIXTURE_EXTRAS, "data.on_device=true", f"run.dir={on_device}"]))
    for stage in ("behavior", "critic", "energy"):
        want = torch.load(finished_run / stage / "model.ckpt", weights_only=True, map_location="cpu")["state_dict"]
        got = torch.load(on_device / stage / "model.ckpt", weights_only=True, map_location="cpu")["state_dict"]
        assert want.keys() == got.keys()
        for key in want:
            assert torch.equal(want[key], got[key]), (stage, key)
    want, got = (json.loads((d / "results.json").read_text())["scales"] for d in (finished_run, on_device))
    assert got == want

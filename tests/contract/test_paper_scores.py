"""benchmarks/paper_parity --mode scores, its pure parts: the bootstrap interval, the table, the results per
(code, seed) on disk and the resume that skips the finished ones, and our side's command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.paper_parity.scores import (
    CODES,
    Budget,
    ResultStore,
    bootstrap_interval,
    ours_argv,
    run_comparison,
    score_table,
)
from cep_lightning.config.loading import load_config

BUDGET = {"behavior_steps": 10, "scales": [0.0, 3.0]}


def fake_result(scores: dict[str, float], seconds: float = 1.0) -> dict[str, Any]:
    stages = ("behavior", "support", "critic", "energy", "eval")
    return {"scores": scores, "returns": scores, "seconds": {stage: seconds for stage in stages}}


def test_bootstrap_interval_of_a_constant_shift_is_the_shift() -> None:
    diff, low, high = bootstrap_interval([5.0, 7.0, 9.0], [0.0, 2.0, 4.0])
    assert diff == pytest.approx(5.0)
    assert low <= diff <= high
    assert bootstrap_interval([3.0], [1.0]) == (2.0, 2.0, 2.0)  # one seed each: no spread to resample


def test_bootstrap_interval_is_reproducible_and_within_the_extremes() -> None:
    rng = np.random.default_rng(1)
    ours, theirs = rng.normal(10, 3, 5).tolist(), rng.normal(8, 3, 4).tolist()
    first, second = bootstrap_interval(ours, theirs), bootstrap_interval(ours, theirs)
    assert first == second  # the generator is seeded
    diff, low, high = first
    assert diff == pytest.approx(np.mean(ours) - np.mean(theirs))
    assert min(ours) - max(theirs) <= low < diff < high <= max(ours) - min(theirs)
    assert bootstrap_interval(ours, theirs, level=0.5)[1] >= low  # a narrower level, a narrower interval
    with pytest.raises(ValueError):
        bootstrap_interval([], [1.0])


def test_table_has_each_scale_each_code_and_the_stage_times() -> None:
    results = {
        "paper": [fake_result({"0": 10.0, "3": 20.0}, 2.0), fake_result({"0": 14.0, "3": 30.0}, 4.0)],
        "ours": [fake_result({"0": 11.0, "3": 25.0}, 1.0), fake_result({"0": 13.0, "3": 35.0}, 3.0)],
    }
    table = score_table(results, [0.0, 3.0]).splitlines()
    assert "2 seed(s)" in table[0]
    row0 = next(line for line in table if line.split()[0] == "0")
    assert "12.0 ± 2.8" in row0 and "12.0 ± 1.4" in row0 and "+0.0 [" in row0
    row3 = next(line for line in table if line.split()[0] == "3")
    assert "25.0 ± 7.1" in row3 and "30.0 ± 7.1" in row3 and "+5.0 [" in row3
    times = {line.split()[0]: line.split()[1:] for line in table[-5:]}
    assert times["behavior"] == ["3.0", "2.0"] and set(times) == {"behavior", "support", "critic", "energy", "eval"}


def test_resume_runs_only_the_pairs_not_finished(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, BUDGET)
    store.save("paper", 0, fake_result({"0": 1.0, "3": 2.0}))
    store.save("ours", 1, fake_result({"0": 1.0, "3": 2.0}))
    store.path("ours", 0).write_text('{"cut short')  # a file a kill left half written does not count
    ResultStore(tmp_path, {**BUDGET, "behavior_steps": 99}).save("paper", 1, fake_result({"0": 0.0, "3": 0.0}))
    calls: list[tuple[str, int]] = []

    def runner(code: str):
        def run(seed: int) -> dict[str, Any]:
            calls.append((code, seed))
            return fake_result({"0": 5.0, "3": 6.0})

        return run

    results = run_comparison(store, 2, {code: runner(code) for code in ("paper", "ours")}, say=lambda line: None)
    assert calls == [("ours", 0), ("paper", 1)]  # paper 1 was stored under another budget
    assert [r["scores"]["3"] for r in results["paper"]] == [2.0, 6.0]
    assert json.loads(store.path("paper", 1).read_text())["budget"] == BUDGET
    assert not list(tmp_path.glob("*.tmp"))
    again: list[tuple[str, int]] = []
    run_comparison(store, 2, {c: lambda seed, c=c: again.append((c, seed)) or {} for c in ("paper", "ours")}, print)
    assert again == []  # everything finished: nothing runs


def test_our_command_line_is_a_valid_config_of_the_budget(tmp_path: Path) -> None:
    budget = Budget("hopper-medium-replay-v2", str(tmp_path / "d.hdf5"), 11, 12, 13, 64, 32, 4, 5, 500, 2, (0.0, 3.0))
    cfg = load_config(ours_argv(budget, 2, tmp_path / "run"))
    assert (cfg.behavior.steps, cfg.critic.steps, cfg.energy.steps, cfg.seed) == (11, 12, 13, 2)
    assert (cfg.behavior.batch_size, cfg.critic.batch_size, cfg.energy.batch_size) == (64, 32, 32)
    assert (cfg.support.M, cfg.support.solver_steps, cfg.eval.solver_steps) == (4, 5, 5)
    assert (cfg.data.max_transitions, cfg.eval.episodes, list(cfg.eval.scales)) == (500, 2, [0.0, 3.0])
    assert cfg.eval.reported_scale == 3.0 and cfg.eval.env_id == "Hopper-v5"


def test_tail_file_keeps_the_last_rows_of_every_row_array_and_the_rest_as_it_is(tmp_path: Path) -> None:
    import h5py

    from benchmarks.paper_parity.slices import tail_file

    source = tmp_path / "data.hdf5"
    with h5py.File(source, "w") as f:
        f.attrs["env"] = "Hopper-v5"
        f["observations"] = np.arange(20.0).reshape(10, 2)
        f["rewards"] = np.arange(10.0)
        f["infos/goal"] = np.arange(30.0).reshape(10, 3)
        f["metadata"] = np.arange(4)  # not one entry per row: copied whole
    tail = tail_file(source, 3, tmp_path / "out")
    with h5py.File(tail, "r") as g:
        assert g.attrs["env"] == "Hopper-v5"
        np.testing.assert_array_equal(g["observations"][()], [[14, 15], [16, 17], [18, 19]])
        np.testing.assert_array_equal(g["rewards"][()], [7, 8, 9])
        np.testing.assert_array_equal(g["infos/goal"][:, 0], [21, 24, 27])
        np.testing.assert_array_equal(g["metadata"][()], np.arange(4))
    assert tail_file(source, 3, tmp_path / "out") == tail  # reused, not rewritten
    with pytest.raises(ValueError, match="has 10 rows"):
        tail_file(source, 11, tmp_path / "out")


def test_codes_runs_only_that_codes_seeds_and_names_what_another_process_still_owes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, BUDGET)
    calls: list[tuple[str, int]] = []
    runners = {c: lambda seed, c=c: calls.append((c, seed)) or fake_result({"0": 1.0, "3": 2.0}) for c in CODES}
    with pytest.raises(RuntimeError, match=r"paper: seeds \[0, 1\] have no result"):
        run_comparison(store, 2, runners, say=lambda line: None, codes=["ours"])
    assert calls == [("ours", 0), ("ours", 1)]
    results = run_comparison(store, 2, runners, say=lambda line: None, codes=["paper"])
    assert calls[2:] == [("paper", 0), ("paper", 1)] and len(results["ours"]) == 2

"""The run-directory contract: stage records, make-like reruns, checks before writing, fp32 targets, signals."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch

from cep_lightning.data.hdf5 import write_d4rl_hdf5
from cep_lightning.data.sources import load_source
from cep_lightning.policy import QGPOPolicy
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command, unused_name
from cep_lightning.run.pipeline import check_command, prepare_run_dir, run
from cep_lightning.run.plan import current_results
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.evaluate import EpisodeWriter
from tests.helpers import TINY, scalars, train


def snapshot(directory: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``directory``: (modification time, content hash)."""
    return {
        str(p.relative_to(directory)): (p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_a_rerun_without_overrides_changes_no_file_and_keeps_the_reported_scale(copied_run: Path) -> None:
    before = snapshot(copied_run)
    done = train(
        f"run.dir={copied_run}"
    )  # the run was made with TINY budgets and eval.reported_scale=2 (the preset says 3)
    assert done.returncode == 0, done.stderr[-2000:]
    assert snapshot(copied_run) == before
    assert "eval     skip (current)" in done.stdout and "<- reported" in done.stdout
    assert QGPOPolicy.from_run(copied_run).guidance_scale == 2.0
    assert load_command([f"run.dir={copied_run}"]).critic.steps == 30  # the run's settings, not the preset's


def test_a_retrained_critic_makes_energy_and_eval_stale_and_stage_all_redoes_exactly_them(
    copied_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = RunDir(copied_run)
    ids = {stage: run_dir.record(stage)["id"] for stage in ("behavior", "support", "critic", "energy", "eval")}
    run(
        load_command(
            [f"run.dir={copied_run}", "stage=critic", "critic.steps=40", "callbacks.periodic_eval.enabled=false"]
        )
    )
    out = capsys.readouterr().out
    assert "critic   redo (critic.steps: 30 → 40)" in out
    assert "now out of date: energy, eval" in out and "data set mean return" not in out  # no stale table
    assert current_results(run_dir) is None and load_command([f"run.dir={copied_run}"]).critic.steps == 40

    plan = check_command(load_command([f"run.dir={copied_run}"])).plan
    assert [(s.stage, s.action) for s in plan.steps] == [
        ("behavior", "skip"),
        ("support", "skip"),
        ("critic", "skip"),
        ("energy", "redo"),
        ("eval", "redo"),
    ]
    assert plan.steps[3].reasons == ["critic was redone since"]
    run(load_command([f"run.dir={copied_run}"]))
    assert "data set mean return" in capsys.readouterr().out
    now = {stage: run_dir.record(stage)["id"] for stage in ids}
    assert [s for s in ids if ids[s] != now[s]] == ["critic", "energy", "eval"]
    assert run_dir.record("energy")["inputs"]["critic"] == now["critic"] and current_results(run_dir) is not None


def test_a_new_support_size_redoes_support_and_everything_after_it(copied_run: Path) -> None:
    plan = check_command(load_command([f"run.dir={copied_run}", "support.M=3", "support.batch_size=64"])).plan
    assert [(s.stage, s.action) for s in plan.steps] == [
        ("behavior", "skip"),
        ("support", "redo"),
        ("critic", "redo"),
        ("energy", "redo"),
        ("eval", "redo"),
    ]
    assert plan.steps[1].reasons == ["support.M: 4 → 3"]  # the batch size changes how, not what: not a reason
    assert plan.steps[2].reasons == ["support is redone"]


def test_a_changed_data_file_is_noticed(copied_run: Path, tmp_path: Path) -> None:
    path = write_d4rl_hdf5(load_source(load_command(TINY).data), tmp_path / "same.hdf5")
    args = [f"run.dir={copied_run}", "data.source=hdf5", f"data.path={path}"]
    assert not check_command(
        load_command(args)
    ).plan.to_run  # the same transitions from another source: nothing to redo
    with h5py.File(path, "a") as f:
        f["rewards"][7] += 1.0
    plan = check_command(load_command(args)).plan
    assert [s.action for s in plan.steps] == ["redo"] * 5
    assert plan.steps[0].reasons[0].startswith("the data changed (fingerprint ")


def test_a_single_stage_of_a_missing_run_is_an_error_that_creates_nothing(tmp_path: Path) -> None:
    done = train("stage=eval", f"run.dir={tmp_path / 'no' / 'such'}")
    assert done.returncode == 2 and "stage=eval needs the 'behavior' stage's output, which is missing" in done.stderr
    assert not (tmp_path / "no").exists()


def test_a_single_stage_that_reads_nothing_runs_in_a_new_run_directory(tmp_path: Path) -> None:
    """stage=behavior on a directory that does not exist yet trains the behaviour model there (it reads no
    other stage), and records only that stage."""
    new = tmp_path / "new"
    run(load_command([*TINY, "stage=behavior", f"run.dir={new}"]))
    assert RunDir(new).finished_stages() == ["behavior"]
    assert RunDir(new).model("behavior").is_file()


def test_the_latest_run_is_the_latest_with_a_finished_stage(tmp_path: Path, finished_run: Path) -> None:
    task_dir = tmp_path / "runs" / "pendulum-mixed"
    shutil.copytree(finished_run, task_dir / "20260101-000000")
    (task_dir / "20260102-000000").mkdir()  # a later, empty directory (an old failed start) is not a run
    cfg = load_command([f"run.root={tmp_path / 'runs'}", "stage=energy"])
    assert Path(cfg.run.dir) == task_dir / "20260101-000000" and cfg.critic.steps == 30


def test_any_trainer_argument_reaches_the_trainer(copied_run: Path, tmp_path: Path) -> None:
    record = tmp_path / "trainer.json"
    run(
        load_command(
            [
                f"run.dir={copied_run}",
                "stage=energy",
                "trainer.gradient_clip_val=1.0",
                "energy.trainer.gradient_clip_algorithm=value",
                "callbacks.custom.spy.target=tests.helpers.TrainerSettingsRecorder",
                f"callbacks.custom.spy.args.path={record}",
                "callbacks.custom.spy.stages=[energy]",
            ]
        )
    )
    assert json.loads(record.read_text()) == {
        "gradient_clip_val": 1.0,
        "gradient_clip_algorithm": "value",
        "inference_mode": True,
    }


def test_under_bf16_mixed_the_critic_target_equals_the_fp32_target() -> None:
    torch.manual_seed(0)
    critic = CriticModule(5, 2, hidden=64, depth=2, beta_q=1.0)
    for p in critic.q_target.parameters():
        p.data.mul_(30)  # values of a few hundred, where bf16's spacing is 1 or 2
    batch = {
        "s_next": torch.randn(32, 5),
        "support_next": torch.randn(32, 8, 2),
        "r": torch.randn(32),
        "terminal": (torch.rand(32) < 0.2).float(),
    }
    y32, q32 = critic.target(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y16, q16 = critic.target(batch)
    assert y16.dtype == torch.float32 and q32.abs().max() > 100
    torch.testing.assert_close(y16, y32, rtol=1e-6, atol=1e-5)


def test_a_stopped_evaluation_resumes_with_the_episodes_it_finished(copied_run: Path) -> None:
    """An evaluation stopped after its first batch (its record pending, its finished episodes in
    eval/episodes-0.jsonl, the last line cut by the kill) runs only the other episodes on resume and reports the
    stored ones as they are."""
    run_dir, episodes = RunDir(copied_run), copied_run / "eval" / "episodes-0.jsonl"
    record = run_dir.record("eval")
    (copied_run / "eval" / "record.json").unlink()
    run_dir.start("eval", record["settings"], record["inputs"])
    episodes.write_text('{"item": 0, "return": 12345.0}\n{"item": 1, "ret')
    run(load_command([f"run.dir={copied_run}"]))
    scale_0 = json.loads(run_dir.results.read_text())["scales"]["0"]
    assert run_dir.record("eval") is not None and scale_0["episodes"] == 2
    rerun = EpisodeWriter.finished_episodes(copied_run / "eval")  # item 1 evaluated again, with the other items
    assert sorted(rerun) == [0, 1, 2, 3] and rerun[0] == 12345.0
    assert scale_0["mean_return"] == pytest.approx((12345.0 + rerun[1]) / 2)  # item 0's stored return, kept


def test_trainer_options_of_one_command_do_not_stick_to_the_run(copied_run: Path) -> None:
    """A command's Trainer options (here the gradient clipping of one stage and a device count) are not kept in
    config.yaml: a later plain command on the run uses the preset's options again."""
    cfg = load_command([f"run.dir={copied_run}", "trainer.devices=2", "critic.trainer.gradient_clip_val=0.5"])
    prepare_run_dir(cfg, RunDir(copied_run))
    saved = (copied_run / "config.yaml").read_text()
    assert "gradient_clip_val" not in saved and "devices" not in saved
    later = load_command([f"run.dir={copied_run}"])
    assert later.trainer.devices == 1 and "gradient_clip_val" not in later.critic.trainer


def test_a_redone_stage_writes_its_curves_beside_the_earlier_ones(copied_run: Path) -> None:
    """Redoing the critic moves its earlier TensorBoard logs to critic/logs-1; critic/logs holds only the new
    attempt's curve (one loss point per logging step, not two)."""
    before = scalars(copied_run / "critic" / "logs", "critic/q_loss")
    run(load_command([f"run.dir={copied_run}", "stage=critic", "critic.lr=0.001", "trainer.log_every_n_steps=10"]))
    assert scalars(copied_run / "critic" / "logs-1", "critic/q_loss") == before
    after = scalars(copied_run / "critic" / "logs", "critic/q_loss")
    assert [step for step, _ in after] == [step for step, _ in before]


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path: Path) -> None:
    (tmp_path / "20261201-120000").mkdir()
    (tmp_path / "20261201-120000-2").mkdir()
    assert unused_name(tmp_path, "20261201-120000") == "20261201-120000-3"
    assert unused_name(tmp_path, "20261201-120001") == "20261201-120001"


def test_a_run_changed_between_the_planning_and_the_lock_is_refused_before_any_write(
    copied_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another command removes the evaluation's record after this one planned its redo and before this one holds
    the lock: this one stops in one line under the lock, and config.yaml (which its eval.episodes=3 would change)
    and every other file are as the other command left them."""
    import contextlib

    from cep_lightning.run import pipeline
    from cep_lightning.run.lock import RunInUse

    real_holding = pipeline.holding

    @contextlib.contextmanager
    def late_lock(run_dir: RunDir):
        (copied_run / "eval" / "record.json").unlink()  # what the other command did in the window
        with real_holding(run_dir):
            yield

    monkeypatch.setattr(pipeline, "holding", late_lock)
    cfg = load_command([f"run.dir={copied_run}", "stage=eval", "eval.episodes=3"])
    before = {k: v for k, v in snapshot(copied_run).items() if k != "eval/record.json"}
    with pytest.raises(RunInUse, match="changed by another command while this one was starting"):
        run(cfg)
    assert {k: v for k, v in snapshot(copied_run).items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }

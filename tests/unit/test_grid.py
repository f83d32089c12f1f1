"""The grid command without training: its arguments, each run's state (done, running, failed, stale, not
submitted), which runs a rerun launches, and where the runs go on a machine's GPUs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cep_lightning.config.loading import run_settings_yaml
from cep_lightning.config.schema import STAGES
from cep_lightning.errors import GridError
from cep_lightning.grid import command
from cep_lightning.grid.job import assign_gpus, exit_path, log_path
from cep_lightning.grid.jobs import Submitted, logs_folder, read_jobs, record_jobs
from cep_lightning.grid.launch import local_slots
from cep_lightning.grid.options import DEFAULT_SLURM_MINUTES, GridOptions, parse_grid
from cep_lightning.grid.runs import GridRun, grid_runs, is_done
from cep_lightning.grid.status import DONE, FAILED, NEW, RUNNING, STALE, classify, describe, grid_status
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.plan import INPUTS
from tests.helpers import fake_run


def test_grid_options_are_kept_apart_from_the_runs_settings(tmp_path: Path) -> None:
    options = parse_grid(
        [
            "task=pendulum-mixed,hopper-medium-v2",
            "seed=0,1,2",
            "critic.steps=7",
            "launcher=slurm",
            "jobs=4",
            "runs_per_gpu=3",
            f"grid.dir={tmp_path / 'g'}",
            "slurm.partition=gpu",
            "slurm.time=90",
            "slurm.gpus_per_node=2",
            "slurm.additional_parameters.account=abc",
            "slurm.additional_parameters.qos=high",
            "smoke=true",
        ]
    )
    assert options.tasks == ("pendulum-mixed", "hopper-medium-v2")
    assert options.seeds == (0, 1, 2)
    assert options.overrides == ("critic.steps=7", "smoke=true")
    assert (options.launcher, options.jobs, options.runs_per_gpu, options.status) == ("slurm", 4, 3, False)
    assert options.directory == tmp_path / "g"
    assert options.slurm == {
        "partition": "gpu",
        "time": 90,
        "gpus_per_node": 2,
        "additional_parameters": {"account": "abc", "qos": "high"},
    }
    runs = grid_runs(options)
    assert [run.name for run in runs][:4] == [
        "pendulum-mixed/seed0",
        "pendulum-mixed/seed1",
        "pendulum-mixed/seed2",
        "hopper-medium-v2/seed0",
    ]
    assert runs[4].argv == (
        "critic.steps=7",
        "smoke=true",
        "task=hopper-medium-v2",
        "seed=1",
        f"run.dir={tmp_path / 'g' / 'hopper-medium-v2' / 'seed1'}",
    )


def test_grid_defaults_local_one_run_per_gpu_under_run_root_and_a_day_on_slurm(tmp_path: Path) -> None:
    options = parse_grid(["task=pendulum-mixed", f"run.root={tmp_path}", "status"])
    assert (options.launcher, options.jobs, options.runs_per_gpu, options.wait) == ("local", None, 1, True)
    assert options.seeds == (0,) and options.status
    assert options.directory == tmp_path / "grid"
    assert parse_grid(["task=pendulum-mixed", "launcher=slurm"]).slurm == {"time": DEFAULT_SLURM_MINUTES}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["task=pendulum-mixed", "launcher=pbs"], "Unknown launcher 'pbs'; valid launchers: local, slurm."),
        (["task=pendulum-mixed", "jobs=0"], "jobs=0 must be a positive integer."),
        (["task=pendulum-mixed", "runs_per_gpu=-1"], "runs_per_gpu=-1 must be a positive integer."),
        (["task=hopper-medium", "seed=0"], "task=hopper-medium has no preset (conf/task/hopper-medium.yaml)."),
        (["task=toy-moons"], "task=toy-moons is a 2-D toy"),
        (["seed=0,1"], "A grid needs its tasks: task=NAME[,NAME...]"),
        (["task=pendulum-mixed", "seed=0,x"], "seed=0,x is not a comma-separated list of distinct integers"),
        (["task=pendulum-mixed", "seed=1,1"], "seed=1,1 is not a comma-separated list of distinct integers"),
        (["task=pendulum-mixed", "run.dir=/tmp/x"], "run.dir= is set by the grid"),
        (["task=pendulum-mixed", "slurm.partition=gpu"], "slurm.* options (partition=gpu) need launcher=slurm."),
        (["task=pendulum-mixed", "launcher=slurm", "slurm.time=2h"], "slurm.time=2h must be a positive number"),
        (
            ["task=pendulum-mixed", "launcher=slurm", "slurm.additional_parameters={qos:high}"],
            "slurm.additional_parameters={'qos:high': None} is not a mapping of sbatch options to values",
        ),
        (
            ["task=pendulum-mixed", "launcher=slurm", "slurm.partitio=gpu"],
            "Unknown option slurm.partitio (submitit's SlurmExecutor has no 'partitio'). Did you mean: slurm.partition",
        ),
        (["task=pendulum-mixed", "launcher=slurm", "slurm.gpus_per_node=a100"], "slurm.gpus_per_node=a100 must be"),
        (["task=pendulum-mixed", "grid.wait=maybe"], "grid.wait=maybe must be true or false."),
        (["task=pendulum-mixed", "critic"], "Argument 'critic' is not of the form key=value"),
        (["task=pendulum-mixed", "critic.stepz=3"], "Unknown config key 'critic.stepz'"),
    ],
)
def test_bad_grid_input_is_one_line_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    assert command.main([*argv, f"grid.dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "jobs.json").exists()


def test_a_local_grid_refuses_more_runs_at_a_time_than_its_gpus_take() -> None:
    options = GridOptions(("pendulum-mixed",), (0,), (), Path("/g"), jobs=5, runs_per_gpu=2)
    with pytest.raises(GridError, match=r"jobs=5 would put more than runs_per_gpu=2 runs on one of the 2 GPUs"):
        local_slots(options, [0, 1])


@pytest.mark.parametrize(
    "jobs, runs_per_gpu, gpus, slots",
    [
        (None, 1, [], [None]),  # a CPU machine: one run at a time
        (None, 3, [], [None, None, None]),  # without a GPU, runs_per_gpu runs side by side
        (2, 1, [], [None, None]),
        (None, 2, [4, 7], [4, 4, 7, 7]),  # two runs on GPU 4, two on GPU 7
        (3, 2, [4, 7], [4, 4, 7]),
    ],
)
def test_local_slots_put_runs_per_gpu_runs_on_each_gpu(
    jobs: int | None, runs_per_gpu: int, gpus: list[int], slots: list[int | None]
) -> None:
    options = GridOptions(("pendulum-mixed",), (0,), (), Path("/g"), jobs=jobs, runs_per_gpu=runs_per_gpu)
    assert local_slots(options, gpus) == slots


def test_a_slurm_job_shares_its_gpus_between_its_runs() -> None:
    assert assign_gpus(4, ["2", "5"], 2) == ["2", "2", "5", "5"]
    assert assign_gpus(3, ["0"], 1) == ["0", "0", "0"]  # more runs than slots: round again
    assert assign_gpus(2, [], 2) == [None, None]  # a CPU job leaves CUDA_VISIBLE_DEVICES alone


@pytest.mark.parametrize(
    "done, job, alive, exit_status, state",
    [
        (True, None, False, None, DONE),
        (True, Submitted("slurm", "3_1"), True, None, DONE),  # its job is still finishing
        (False, None, False, None, NEW),
        (False, Submitted("slurm", "3_1"), True, None, RUNNING),
        (False, Submitted("slurm", "3_1"), True, 2, RUNNING),  # a requeued job runs it again
        (False, Submitted("slurm", "3_1"), False, 2, FAILED),
        (False, Submitted("local", "77"), False, 1, FAILED),
        (False, Submitted("slurm", "3_1"), False, None, STALE),  # cancelled, killed with its job
        (False, Submitted("slurm", "3_1"), False, 143, STALE),  # stopped by SIGTERM
        (False, Submitted("slurm", "3_1"), False, -9, STALE),  # killed
        (False, Submitted("slurm", "3_1"), False, 0, STALE),  # finished with other settings
    ],
)
def test_classify(done: bool, job: Submitted | None, alive: bool, exit_status: int | None, state: str) -> None:
    assert classify(done, job, alive, exit_status) == state


def finish_fake(run: GridRun) -> None:
    """A run directory whose every stage has a record made from its inputs' records, with results and the
    settings the grid asks for: finished, as far as the grid can tell."""
    fake_run(run.directory, run.task, run.seed, reported=50.0 + run.seed, sweep={"1.0": 40.0}, seconds=1.0)
    directory = RunDir(run.directory)
    for stage in STAGES:
        directory.start(stage, {}, {name: directory.record_id(name) for name in INPUTS[stage]})  # type: ignore
        directory.finish(stage, 1.0)
    directory.config.write_text(run_settings_yaml(load_command(list(run.argv))))


DEAD_PID = "4194304"  # above Linux's largest pid: never a process


def submit_fake(grid: Path, run: GridRun, job_id: str, exit_status: int | None, log: str = "") -> None:
    """``run`` as taken by local job ``job_id``, its log and exit status as the job left them."""
    job = Submitted("local", job_id)
    record_jobs(grid, {run.name: job})
    job.folder(grid).mkdir(parents=True, exist_ok=True)
    log_path(job.folder(grid), run.task, run.seed).write_text(log)
    if exit_status is not None:
        exit_path(job.folder(grid), run.task, run.seed).write_text(f"{exit_status}\n")


@pytest.fixture
def grid_of_five(tmp_path: Path) -> tuple[GridOptions, list[GridRun]]:
    """Seeds 0-4 of a grid: done, failed, stale, running (a live process standing for the job's controller),
    not submitted."""
    options = parse_grid(["task=pendulum-mixed", "seed=0,1,2,3,4", "critic.steps=7", f"grid.dir={tmp_path}"])
    runs = grid_runs(options)
    finish_fake(runs[0])
    submit_fake(tmp_path, runs[0], DEAD_PID, 0)
    submit_fake(tmp_path, runs[1], DEAD_PID, 2, "[cep_lightning] plan ...\nerror: data.path=x.hdf5 does not exist.\n\n")
    submit_fake(tmp_path, runs[2], DEAD_PID, None, "[cep_lightning] behavior: run\n")
    controller = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(logs_folder(tmp_path))])
    cmdline = Path(f"/proc/{controller.pid}/cmdline")
    for _ in range(200):  # until the child has exec'd: before that its command line is still this process's
        if str(logs_folder(tmp_path)).encode() in cmdline.read_bytes():
            break
        time.sleep(0.05)
    submit_fake(tmp_path, runs[3], str(controller.pid), None)
    yield options, runs
    controller.kill()
    controller.wait()


def test_status_of_each_run(grid_of_five: tuple[GridOptions, list[GridRun]]) -> None:
    options, runs = grid_of_five
    statuses = grid_status(options.directory, runs)
    assert [s.state for s in statuses] == [DONE, FAILED, STALE, RUNNING, NEW]
    assert statuses[1].detail.startswith(f"job {DEAD_PID}, exit status 2: error: data.path=x.hdf5 does not exist.")
    assert "ended before the run finished; rerun the grid command to resume it" in statuses[2].detail
    text = describe(options.directory, statuses)
    assert text.splitlines()[0].endswith("5 runs: 1 done, 1 running, 1 failed, 1 stale, 1 not submitted")
    assert "pendulum-mixed/seed1  failed        job" in text


def test_status_prints_each_run_and_no_report_until_all_are_done(
    grid_of_five: tuple[GridOptions, list[GridRun]], capsys: pytest.CaptureFixture
) -> None:
    options, _ = grid_of_five
    argv = ["task=pendulum-mixed", "seed=0,1,2,3,4", "critic.steps=7", f"grid.dir={options.directory}", "status"]
    assert command.main(argv) == 0
    out = capsys.readouterr().out
    assert "1 done, 1 running, 1 failed, 1 stale, 1 not submitted" in out
    assert "| task |" not in out and not (options.directory / "report.md").exists()
    assert (
        command.main(["task=pendulum-mixed", "seed=0", "critic.steps=7", f"grid.dir={options.directory}", "status"])
        == 0
    )
    out = capsys.readouterr().out  # one seed, done: its report
    assert "| pendulum-mixed | 0 | 3 | 50.0 ± n/a |" in out
    assert (options.directory / "report.md").is_file()


def test_a_finished_run_asked_for_with_other_settings_is_not_done(
    grid_of_five: tuple[GridOptions, list[GridRun]],
) -> None:
    _, runs = grid_of_five
    assert is_done(runs[0])
    other = parse_grid(["task=pendulum-mixed", "seed=0", "critic.steps=8", f"grid.dir={runs[0].directory.parents[1]}"])
    assert not is_done(grid_runs(other)[0])
    (runs[0].directory / "energy" / "record.json").unlink()
    assert not is_done(runs[0])


@pytest.mark.parametrize("launcher", ["local", "slurm"])
def test_a_rerun_launches_only_the_runs_neither_done_nor_running(
    grid_of_five: tuple[GridOptions, list[GridRun]], monkeypatch: pytest.MonkeyPatch, launcher: str
) -> None:
    options, runs = grid_of_five
    launched: list[list[str]] = []
    monkeypatch.setattr(command, "run_local", lambda options, todo, say: launched.append([r.name for r in todo]))

    def submit(options: GridOptions, todo: list[GridRun]) -> dict[str, Submitted]:
        launched.append([r.name for r in todo])
        return {r.name: Submitted("slurm", f"9_{k}") for k, r in enumerate(todo)}

    monkeypatch.setattr(command, "submit_slurm", submit)
    argv = ["task=pendulum-mixed", "seed=0,1,2,3,4", "critic.steps=7", f"grid.dir={options.directory}"]
    before = read_jobs(options.directory)
    command.launch(parse_grid([*argv, f"launcher={launcher}", "grid.wait=false"]), runs)
    assert launched == [["pendulum-mixed/seed1", "pendulum-mixed/seed2", "pendulum-mixed/seed4"]]
    assert read_jobs(options.directory) == before  # the launcher records the jobs it starts, nothing else does

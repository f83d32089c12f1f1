"""Two commands on one run directory: the second is refused with a line naming the first; a lock left by a killed
command is not in the way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, TINY


def test_a_second_command_is_refused_while_the_first_runs_and_a_killed_one_holds_nothing(
    tmp_path: Path, minari_store: str
) -> None:
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        [sys.executable, "train.py", *TINY, "stage=behavior", "behavior.steps=100000", f"run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while not (run_dir / "behavior" / "pending.json").is_file():
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "train.py", *TINY, f"run.dir={run_dir}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-2000:]
        assert f"is in use by another command (pid {first.pid} on" in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    third = subprocess.run(
        [sys.executable, "train.py", *TINY, "stage=behavior", f"run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert third.returncode == 0, third.stderr[-2000:]

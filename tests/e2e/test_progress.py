"""Progress output: lines when stdout is not a terminal (every stage, support included), a clean tqdm bar in one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, TINY


def test_non_tty_run_prints_progress_lines_in_every_stage(tmp_path: Path) -> None:
    args = [a for a in TINY if a != "trainer.enable_progress_bar=false"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "train.py", *args, "progress.every_n_steps=2", f"run.dir={tmp_path / 'run'}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:]
    text = out.stdout
    support = out.stdout.split("[cep_lightning] support:")[1].split("[cep_lightning] critic:")[0]
    lines = re.findall(r"\[support\] batch (\d+)/(\d+) \(.*%\) \| [\d.e+]+ batches/s \| elapsed", support)
    assert len(lines) >= 2 and lines[-1][0] == lines[-1][1]  # during the stage, and its last batch
    for stage, unit in (("behavior", "step"), ("critic", "step"), ("energy", "step"), ("eval", "batch")):
        assert re.search(rf"\[{stage}\] {unit} \d+/\d+ \(\d+\.\d%\).* \| elapsed \d:\d\d:\d\d", out.stdout), stage
    assert re.search(r"\[behavior\] step 20/40 \(50.0%\) \| behavior/loss [\d.]+ .* \| left \d:\d\d:\d\d", out.stdout)
    for noise in ("GPU available", "TPU available", "weights_only", "v_num", "Epoch"):
        assert noise not in text, noise

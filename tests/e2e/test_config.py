"""Config loading and the wording of its errors."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_cli_prints_one_line_error_and_help() -> None:
    bad = subprocess.run([sys.executable, "train.py", "critic.lr=fast"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "critic.lr" in bad.stderr and "a number" in bad.stderr
    helped = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0
    for text in (
        "behavior, support, critic, energy, eval, all",
        "hopper-medium-replay-v2",
        "trainer.devices",
        "energy.beta",
    ):
        assert text in helped.stdout

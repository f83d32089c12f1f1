"""The README's policy example runs as written, against a finished run in runs/pendulum-mixed/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def policy_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- policy-example[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lost its marked policy example"
    return match.group(1)


def test_readme_policy_example_runs_as_written(tmp_path: Path, finished_run: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(finished_run, tmp_path / "runs" / "pendulum-mixed" / "20260101-000000")
    monkeypatch.chdir(tmp_path)
    exec(compile(policy_example(), "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    episode_return = float(re.search(r"return of one episode: (-?[\d.]+)", out).group(1))
    assert -2000 < episode_return <= 0  # a full Pendulum episode: 200 steps of reward in [-16.3, 0]
    assert "(8, 1) (8, 1)" in out

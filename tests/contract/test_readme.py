"""The README's policy example runs as written, against a finished run in runs/pendulum-mixed/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from cep_lightning.policy import QGPOPolicy

README = Path(__file__).resolve().parents[2] / "README.md"


def policy_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- policy-example[^>]*-->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lost its marked policy example"
    return match.group(1)


def episode_return(run_dir: Path, guidance_scale: float) -> float:
    """The return of one Pendulum-v1 episode (reset with seed 0) of the run's policy, after torch.manual_seed(0)."""
    torch.manual_seed(0)
    policy = QGPOPolicy.from_run(run_dir)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy.act(obs, guidance_scale=guidance_scale))
        total += float(reward)
        done = terminated or truncated
    env.close()
    return total


def test_readme_policy_example_runs_as_written(
    tmp_path: Path, finished_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's episode is the run's policy at the run's reported scale (2) in Pendulum-v1, from seed 0."""
    run_dir = tmp_path / "runs" / "pendulum-mixed" / "20260101-000000"
    shutil.copytree(finished_run, run_dir)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    exec(compile(policy_example(), "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    printed = float(re.search(r"return of one episode: (-?[\d.]+)", out).group(1))
    reported = episode_return(run_dir, guidance_scale=2.0)
    assert printed == pytest.approx(reported, abs=0.051)  # printed with one decimal
    assert abs(episode_return(run_dir, guidance_scale=0.0) - reported) > 0.1  # so the scale used is told apart
    assert "(8, 1) (8, 1)" in out

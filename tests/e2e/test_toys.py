"""CEP's exactness on the 2-D toys: exact masses, TV, and a small-budget run whose CEP guidance hits the target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cep_lightning.data.toy_datasets import TOYS, class_frequencies, total_variation
from cep_lightning.maths.targets import importance_resample
from cep_lightning.run.locate import load_command
from cep_lightning.toys.__main__ import main as toys_main
from cep_lightning.toys.compare import compare

SMALL = [
    "data.toy_size=50000",
    "behavior.steps=2000",
    "behavior.batch_size=512",
    "behavior.widths=[128,64,32]",
    "energy.steps=800",
    "energy.batch_size=1024",
    "toy.M=256",
    "energy.hidden=64",
    "energy.time_scale=30.0",
    "callbacks.ema.decay=0.99",
    "toy.methods=[cep]",
    "toy.betas=[0.0,3.0,10.0]",
    "toy.samples=8000",
    "trainer.enable_progress_bar=false",
    "checkpoint.every_n_steps=100000",
    "behavior.lr=1e-3",
    "energy.lr=1e-3",
    "toy.lr_decay=false",
    "eval.sampler=dpm_solver++_2s",  # as calibrated
]


def test_cep_guidance_samples_the_exact_target(tmp_path: Path) -> None:
    """A broken CEP misses the beta = 3 or the beta = 10 masses (benchmarks/toy_mutations.sh, TV at beta 3 / 10):
    labels ignored 0.39 / 0.71, the log-softmax over the wrong axis 0.10 / 0.09, both softmaxes over the wrong
    axis 0.09 / 0.24; the correct code gets 0.080 / 0.069. (A t per sample instead of per contrastive set has
    the same optimum, as p_t/q_t = E[exp(beta e) | x_t] / Z with Z free of t: 0.032 / 0.065;
    tests/test_energy_module.py pins the shared t.)"""
    tv = compare(load_command(["task=toy-8gaussians", f"run.dir={tmp_path}", *SMALL]))
    assert tv["cep"]["0"] < 0.06  # the behaviour model alone: the floor
    assert tv["cep"]["3"] < 0.09 and tv["cep"]["10"] < 0.09, tv
    saved = json.loads((tmp_path / "toys.json").read_text())
    assert saved["toy-8gaussians"]["cep"]["10"] == pytest.approx(tv["cep"]["10"])
    assert (tmp_path / "toys.png").stat().st_size > 10_000


def test_seed_list_command_writes_seed_runs_summary_and_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = [
        "data.toy_size=2000",
        "behavior.steps=20",
        "behavior.batch_size=128",
        "energy.steps=10",
        "energy.batch_size=128",
        "energy.hidden=16",
        "toy.M=0",
        "toy.methods=[cep]",
        "toy.betas=[0.0,3.0]",
        "toy.samples=300",
        "trainer.enable_progress_bar=false",
        "checkpoint.every_n_steps=100000",
    ]
    assert toys_main(["task=toy-moons", "seed=0,1", f"run.dir={tmp_path}", *tiny]) == 0
    summary = json.loads((tmp_path / "toys.json").read_text())["toy-moons"]
    for seed in (0, 1):
        tv = json.loads((tmp_path / f"seed{seed}" / "toys.json").read_text())["toy-moons"]
        assert summary["cep"]["3"]["per_seed"][str(seed)] == pytest.approx(tv["cep"]["3"])
        assert summary["seconds"][str(seed)] > 0
    cell = summary["cep"]["3"]
    assert cell["mean"] == pytest.approx(np.mean(list(cell["per_seed"].values())))
    assert (tmp_path / "toys.png").stat().st_size > 10_000
    assert toys_main(["task=toy-moons", "seed=0,1", f"run.dir={tmp_path}", *tiny]) == 0  # a rerun skips both seeds
    assert capsys.readouterr().out.count("already done") == 2
    assert toys_main(["task=toy-moons", "seed=0,x"]) == 2
    assert toys_main(["task=toy-moons", f"run.dir={tmp_path / 'big'}", *tiny, "toy.M=256"]) == 2


@pytest.mark.parametrize("name", ["8gaussians", "moons", "checkerboard", "rings", "2spirals"])
def test_classes_recover_labels_and_resampling_hits_exact_masses(name: str) -> None:
    toy = TOYS[name]
    rng = np.random.default_rng(0)
    x, e = toy.generate(40_000, rng)
    classes = toy.classify(x)
    assert np.mean(np.isclose(toy.class_labels[classes], e)) > 0.99
    assert total_variation(class_frequencies(classes, len(toy.class_labels)), toy.class_masses) < 0.02
    resampled = importance_resample(x, e, 10.0, 20_000, rng)
    tv = total_variation(
        class_frequencies(toy.classify(resampled), len(toy.class_labels)), toy.exact_class_masses(10.0)
    )
    assert tv < 0.03

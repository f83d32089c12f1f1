"""The 2-D toys' quick checks: exact masses, class labels and resampling, W1 of a continuous label, the seed lists
and their summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cep_lightning.data.toy_datasets import TOYS
from cep_lightning.errors import ConfigError
from cep_lightning.maths.targets import importance_resample
from cep_lightning.toys.compare import distance_to_target, exact_tilt, metric_name
from cep_lightning.toys.seeds import aggregate, seed_configs


def test_exact_masses_of_the_paper() -> None:
    pi = TOYS["8gaussians"].exact_class_masses(3.0)
    assert pi[7] == pytest.approx(0.360, abs=1e-3) and pi[0] == pytest.approx(0.018, abs=1e-3)
    moons = TOYS["moons"].exact_class_masses(10.0)
    assert moons[1] == pytest.approx(np.exp(10) / (1 + np.exp(10)))
    np.testing.assert_allclose(TOYS["rings"].exact_class_masses(0.0), 0.25)


def test_seeds_aggregate_into_mean_std_and_per_seed() -> None:
    per_seed = {0: {"cep": {"3": 0.02, "10": None}}, 1: {"cep": {"3": 0.04, "10": None}}}
    result = aggregate(per_seed, {0: 61.04, 1: 59.0})
    expected = {"mean": pytest.approx(0.03), "std": pytest.approx(0.01), "per_seed": {"0": 0.02, "1": 0.04}}
    assert result["cep"]["3"] == expected
    assert result["cep"]["10"]["mean"] is None  # a metric that does not apply
    assert result["seconds"] == {"0": 61.0, "1": 59.0}


def test_seed_list_and_task_all_lay_out_one_run_per_toy_and_seed(tmp_path: Path) -> None:
    parent, configs = seed_configs(["task=all", "seed=0,2", f"run.dir={tmp_path}", "energy.steps=7"])
    assert parent == tmp_path and set(configs) == {f"toy-{t}" for t in TOYS}
    cfg = configs["toy-2spirals"][2]
    expected = (2, "2spirals", 7, str(tmp_path / "toy-2spirals" / "seed2"))
    assert (cfg.seed, cfg.data.toy, cfg.energy.steps, cfg.run.dir) == expected
    parent, configs = seed_configs(["task=toy-moons", "seed=1,3", f"run.dir={tmp_path}"])
    assert [c.run.dir for c in configs["toy-moons"].values()] == [str(tmp_path / "seed1"), str(tmp_path / "seed3")]
    with pytest.raises(ConfigError, match="seed=1,x"):
        seed_configs(["task=toy-moons", "seed=1,x"])
    with pytest.raises(ConfigError, match="needs a toy task"):
        seed_configs(["task=pendulum-mixed", "seed=0,1"])


def test_a_continuous_label_is_measured_by_w1_of_e_against_the_weighted_data() -> None:
    rng = np.random.default_rng(0)
    x, e = TOYS["swissroll"].generate(20000, rng)
    resampled = importance_resample(x, e, 10.0, 20000, rng)
    assert distance_to_target("swissroll", resampled, 10.0, e) < 0.01  # the exact target's own draws
    unguided = TOYS["swissroll"].generate(20000, rng)[0]
    assert distance_to_target("swissroll", unguided, 0.0, e) < 0.01
    shift = float(np.average(e, weights=np.exp(10.0 * (e - e.max()))) - e.mean())
    assert distance_to_target("swissroll", unguided, 10.0, e) == pytest.approx(shift, rel=0.2)  # β ignored
    assert (metric_name("swissroll"), metric_name("rings")) == ("W1 of e", "Total variation")


def test_the_exact_tilt_of_a_skewed_behaviour_model_misses_by_its_own_class_error() -> None:
    """A "behaviour model" with 70 % of its points on moon 0 (the data: 50 %): its exact tilt has class masses
    q_m(k) exp(beta e_k) / Z, so its TV to the data's exact masses is known at every beta."""
    rng = np.random.default_rng(0)
    x, e = TOYS["moons"].generate(40000, rng)
    skewed = np.concatenate([x[e == 0][:14000], x[e == 1][:6000]])
    for beta in (0.0, 3.0, 10.0):
        model = np.array([0.7, 0.3 * np.exp(beta)])
        expected = abs(model[1] / model.sum() - TOYS["moons"].exact_class_masses(beta)[1])
        tilted = exact_tilt("moons", skewed, beta, 20000, rng)
        assert distance_to_target("moons", tilted, beta, e) == pytest.approx(expected, abs=0.01)
    assert distance_to_target("moons", exact_tilt("moons", x, 3.0, 20000, rng), 3.0, e) < 0.01  # q_m = q: exact

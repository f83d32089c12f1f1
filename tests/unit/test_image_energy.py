"""CEP on images learns the exact intermediate energy: a tiny energy model on 32 digits of two classes, trained by
the energy stage's own module through Lightning, against the exact log-ratio of its classes.

The data are the 32 images themselves, so the exact intermediate energy is known in closed form at every t:
f_t(x_t) = log Σ_i exp(beta e_i) N(x_t; alpha_t x_i, sigma_t² I) - log Σ_i N(x_t; alpha_t x_i, sigma_t² I) + const;
at t -> 0 it is beta e(x) + const, so the learned class log-ratio f(ones) - f(zeros) must be beta. A CEP whose labels
are ignored learns 0; one whose softmax runs over the wrong axis learns nothing (benchmarks/algorithm_mutations.sh).
"""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from cep_lightning.config.loading import load_config
from cep_lightning.data.datamodule import QGPODataModule
from cep_lightning.data.images import image_bandit, load_image_set
from cep_lightning.maths.diffusion import perturb
from cep_lightning.maths.empirical import EmpiricalEnergy
from cep_lightning.stages.candidates import LabelledGroups
from cep_lightning.stages.energy import EnergyModule

BETA = 2.0
STEPS = 800  # batches of 64 images, each one contrastive set at one t (image.M=0, as task=digits)


@pytest.fixture(scope="module")
def trained() -> tuple[EnergyModule, torch.Tensor, torch.Tensor]:
    digits = load_image_set("digits")
    pick = np.concatenate([np.flatnonzero(digits.labels == k)[:16] for k in (0, 1)])
    e = (digits.labels[pick] == 1).astype(np.float32)
    bandit = image_bandit(digits.images[pick], e)
    data = QGPODataModule.of_transitions(load_config(["task=digits"]).data, bandit, seed=0).use(64, STEPS)
    L.seed_everything(0, verbose=False)
    module = EnergyModule(
        0, 64, LabelledGroups(0), lr=3e-3, hidden=64, depth=2, beta=BETA, time_scale=1.0, lr_decay=True
    )
    trainer = L.Trainer(
        max_steps=STEPS,
        max_epochs=-1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=data)
    return module.eval(), torch.from_numpy(bandit.actions), torch.from_numpy(e)


def test_cep_learns_the_class_log_ratio_beta_at_t_near_zero(trained) -> None:
    module, x0, e = trained
    t = torch.full((len(x0),), 1e-3)
    with torch.no_grad():
        f = module.energy(perturb(x0, t, torch.zeros_like(x0)), t)
    ratio = float(f[e == 1].mean() - f[e == 0].mean())
    assert ratio == pytest.approx(BETA, abs=0.3)


def test_cep_matches_the_exact_intermediate_energy_at_t_one_third(trained) -> None:
    """At t = 1/3 the classes' noised images overlap partly: the exact log-ratio lies between 0 and beta, and CEP's
    differences f(x_t) - mean f track the exact ones."""
    module, x0, e = trained
    generator = torch.Generator().manual_seed(1)
    x0_rep, e_rep = x0.repeat(8, 1), e.repeat(8)
    t = torch.full((len(x0_rep),), 1 / 3)
    x_t = perturb(x0_rep, t, torch.randn(x0_rep.shape, generator=generator))
    with torch.no_grad():
        learned = module.energy(x_t, t).double()
    exact = EmpiricalEnergy(x0, e, BETA)(x_t.double(), t.double())
    assert 0.3 * BETA < float(exact[e_rep == 1].mean() - exact[e_rep == 0].mean()) < 0.95 * BETA
    error = (learned - learned.mean()) - (exact - exact.mean())
    assert float(error.abs().mean()) < 0.25 * float((exact - exact.mean()).abs().mean()) + 0.05

"""The error floor of the 8gaussians comparison: a run's behaviour model guided by the analytic intermediate energy.

    PYTHONPATH=. python benchmarks/toy_floor.py RUN_DIR|exact [--steps 15] [--samples 20000]

RUN_DIR is a run of ``python -m cep_lightning.toys task=toy-8gaussians`` (or one seed<k>/ of it) with a finished
behaviour model. For each sampler and beta it prints the TV to the exact mode masses when the learned energy is
replaced by the exact one, so what is left above this floor is the energy model's own error. ``exact`` in place of
RUN_DIR uses the exact noise predictor of the mixture too: the sampler's own error (and a check of the formulas).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor, nn

from cep_lightning.maths.diffusion import SAMPLERS, vp_alpha_sigma
from cep_lightning.policy import QGPOPolicy
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.toys.compare import tv_to_target

ANGLES = torch.deg2rad(90.0 + 45.0 * torch.arange(8, dtype=torch.float64))
CENTRES = 4.0 * torch.stack([ANGLES.cos(), ANGLES.sin()], 1) / 1.414  # mode k of eight_gaussians, label k / 7
SPREAD = 0.5 / 1.414


class ExactEightGaussiansEnergy(nn.Module):
    """f_t(x_t) = log E[exp(beta e(x_0)) | x_t] = logsumexp_k(beta e_k + log N_k(x_t)) - logsumexp_k log N_k(x_t),
    with N_k = N(alpha_t mu_k, (alpha_t² s² + sigma_t²) I), the marginal of mode k at time t."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta

    def forward(self, x: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:
        alpha, sigma = vp_alpha_sigma(t.double())
        var = alpha**2 * SPREAD**2 + sigma**2
        log_n = -((x.double()[:, None] - alpha[:, None, None] * CENTRES) ** 2).sum(-1) / (2 * var[:, None])
        labels = torch.arange(8, dtype=torch.float64) / 7.0
        return (torch.logsumexp(self.beta * labels + log_n, 1) - torch.logsumexp(log_n, 1)).float()


class ExactEightGaussiansEps(nn.Module):
    """eps*(x_t, t) = -sigma_t ∇ log p_t(x_t) = sigma_t Σ_k w_k(x_t) (x_t - alpha_t mu_k) / var_t,
    with w = softmax_k log N_k."""

    def __init__(self):
        super().__init__()
        self.register_buffer("centres", CENTRES)  # its device is the one the sampler draws on
        self.action_dim = 2  # what the sampler draws

    def forward(self, x: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:
        alpha, sigma = vp_alpha_sigma(t.double())
        var = alpha**2 * SPREAD**2 + sigma**2
        diff = x.double()[:, None] - alpha[:, None, None] * self.centres
        w = torch.softmax(-(diff**2).sum(-1) / (2 * var[:, None]), 1)
        return (sigma[:, None] * (w[..., None] * diff).sum(1) / var[:, None]).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a toy-8gaussians run directory, or 'exact'")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    if str(args.run_dir) == "exact":
        behavior = ExactEightGaussiansEps()
    else:
        behavior = BehaviorModule.load_from_checkpoint(
            args.run_dir / "behavior" / "model.ckpt", map_location="cpu", weights_only=True
        ).net.eval()
    betas = (0.0, 3.0, 10.0, 20.0)
    print(f"TV to the exact masses, behaviour model of {args.run_dir} + exact energy, {args.steps} steps")
    print(f"{'sampler':<18}" + "".join(f"{'beta=' + format(b, 'g'):>10}" for b in betas))
    for name in SAMPLERS:
        row = []
        for beta in betas:
            policy = QGPOPolicy(behavior, ExactEightGaussiansEnergy(beta), args.steps, sampler=name)
            x = policy.sample(torch.zeros(args.samples, 0), 1.0 if beta else 0.0, torch.Generator().manual_seed(0))
            row.append(tv_to_target("8gaussians", x.numpy(), beta))
        print(f"{name:<18}" + "".join(f"{v:>10.3f}" for v in row))


if __name__ == "__main__":
    main()

"""The exact noise predictor and intermediate energy of a finite set of points, in closed form.

For the empirical distribution q(x_0) = (1/N) Σ_i δ(x_0 - x_i) of points x_i with energies e_i, the noised
marginal at t is a mixture of N(alpha_t x_i, sigma_t² I), and with log-weights of x_t against each point
    l_i(x_t) = -||x_t - alpha_t x_i||² / (2 sigma_t²)
everything diffusion guidance needs is a softmax over i:
    eps*(x_t, t) = (x_t - alpha_t Σ_i softmax(l)_i x_i) / sigma_t                  (the exact noise predictor)
    E_t(x_t)     = log Σ_i exp(beta e_i + l_i) - log Σ_i exp(l_i)                    (the exact intermediate energy)
so that eps*(x_t) - sigma_t ∇E_t(x_t) is the noise predictor of p_t, the noised p(x_0) ∝ q(x_0) exp(beta e(x_0)).
They are the floors of guided sampling: with both, only the sampler's error is left; with a learned behaviour
model and the data's exact energy, what remains is the behaviour model's disagreement with the data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cep_lightning.maths.diffusion import vp_alpha_sigma


def log_kernel(x_t: Tensor, t: Tensor, points: Tensor) -> Tensor:
    """l_i(x_t) = -||x_t - alpha_t x_i||² / (2 sigma_t²) of each row against each point, in float64: [B, N]."""
    alpha, sigma = vp_alpha_sigma(t.double())
    x = x_t.double()
    squared = (
        (x * x).sum(1, keepdim=True)
        - 2 * alpha[:, None] * (x @ points.T)
        + alpha[:, None] ** 2 * (points * points).sum(1)
    )
    return -squared / (2 * sigma[:, None] ** 2)


class EmpiricalEnergy(nn.Module):
    """E_t(x_t) = log Σ_i exp(beta e_i + l_i(x_t)) - log Σ_i exp(l_i(x_t)): the exact intermediate energy of the
    points [N, D] with energies [N] at inverse temperature ``beta`` (a drop-in for a learned ``EnergyNet``)."""

    def __init__(self, points: Tensor, energies: Tensor, beta: float):
        super().__init__()
        self.register_buffer("points", points.double())
        self.register_buffer("energies", energies.double())
        self.beta = beta

    def forward(self, x_t: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:  # [B, D], [B] -> [B]
        log_n = log_kernel(x_t, t, self.points)
        return (torch.logsumexp(self.beta * self.energies + log_n, 1) - torch.logsumexp(log_n, 1)).to(x_t.dtype)


class EmpiricalEps(nn.Module):
    """eps*(x_t, t) = (x_t - alpha_t Σ_i softmax(l(x_t))_i x_i) / sigma_t: the exact noise predictor of the points
    [N, D] (a drop-in for a learned behaviour network; its samples at t -> 0 are the points themselves)."""

    def __init__(self, points: Tensor):
        super().__init__()
        self.register_buffer("points", points.double())
        self.action_dim = points.shape[1]  # what the sampler draws

    def forward(self, x_t: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:  # [B, D], [B] -> [B, D]
        alpha, sigma = vp_alpha_sigma(t.double())
        weights = torch.softmax(log_kernel(x_t, t, self.points), 1)
        return ((x_t.double() - alpha[:, None] * (weights @ self.points)) / sigma[:, None]).to(x_t.dtype)

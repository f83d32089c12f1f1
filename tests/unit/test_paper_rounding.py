"""Our networks and updates round as the paper's code does (what makes 200 steps of each stage agree bit for bit in
``benchmarks/paper_parity``): each expression here is the paper's, compared with torch.equal."""

from __future__ import annotations

import math

import torch

from cep_lightning.maths.diffusion import vp_alpha_sigma, vp_log_alpha
from cep_lightning.maths.nets import EnergyNet, FourierTime, ScoreNet
from cep_lightning.stages.critic import CriticModule

G = torch.Generator().manual_seed(0)


def test_silu_is_x_times_sigmoid_x() -> None:
    x = torch.randn(4096, generator=G) * 4
    score, energy = ScoreNet(3, 11, widths=(16, 8, 8), cond_dim=8), EnergyNet(11, 3, hidden=8)
    for activation in (score.d1.dense1[1], score.cond[1], score.state[1], energy.net[1]):
        assert torch.equal(activation(x), x * torch.sigmoid(x))


def test_fourier_features_multiply_in_the_papers_order() -> None:
    time = FourierTime(32)
    t = torch.rand(4096, generator=G)
    angles = t[..., None] * time.freqs[None, :] * 2 * math.pi  # the paper's GaussianFourierProjection
    expected = time.proj(torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1))
    assert torch.equal(time(t), expected)


def test_sigma_is_the_papers_marginal_prob_std() -> None:
    t = torch.rand(4096, generator=G) * (1 - 1e-3) + 1e-3
    log_mean_coeff = -0.25 * t**2 * (20.0 - 0.1) - 0.5 * t * 0.1
    alpha, sigma = vp_alpha_sigma(t)
    assert torch.equal(vp_log_alpha(t), log_mean_coeff)
    assert torch.equal(alpha, torch.exp(log_mean_coeff))
    assert torch.equal(sigma, torch.sqrt(1.0 - torch.exp(2.0 * log_mean_coeff)))


def test_polyak_update_is_tau_theta_plus_one_minus_tau_target() -> None:
    critic = CriticModule(11, 3, hidden=16)
    with torch.no_grad():
        for p in critic.q.parameters():
            p.add_(torch.randn(p.shape, generator=G))
    before = [p.detach().clone() for p in critic.q_target.parameters()]
    optimizer = torch.optim.SGD(critic.q.parameters(), lr=0.0)  # leaves the critic as it is
    critic.optimizer_step(0, 0, optimizer, lambda: None)
    for target, online, old in zip(critic.q_target.parameters(), critic.q.parameters(), before):
        assert torch.equal(target, 0.005 * online + (1 - 0.005) * old)  # the paper's update_target

"""The losses of QGPO, named after the paper, as small tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cep_labels(q: Tensor, beta: float) -> Tensor:
    """p_j = softmax_j(beta · Q(s, a_j)) over the M support actions of each state; q: [B, M]."""
    return torch.softmax(beta * q.float(), dim=-1)


def cep_loss(logits: Tensor, q: Tensor, beta: float) -> Tensor:
    """Contrastive energy prediction: -mean_s Σ_j softmax_j(beta Q(s, a_j)) · log_softmax_j(f_phi(a_t^j, t, s)).

    logits: f_phi at the perturbed support actions [B, M], all M of a row sharing one t; q: [B, M].
    The log-softmax is taken in fp32. Its minimiser over the logits is log p + const.
    """
    return -(cep_labels(q, beta) * torch.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def mse_energy_loss(f: Tensor, q: Tensor, beta: float) -> Tensor:
    """Regression baseline ("mse"): E (f_phi(a_t, t, s) - beta · Q(s, a))², a t per sample."""
    return (f.float() - beta * q.float()).pow(2).mean()


def emse_energy_loss(f: Tensor, q: Tensor, beta: float, q_baseline: Tensor) -> Tensor:
    """Exponential regression baseline ("emse"): E (exp f - exp(beta (Q - Q_max)))², exponents clipped to
    [-100, 4.5]."""
    target = torch.exp(torch.clamp(beta * (q.float() - q_baseline.float()), -100.0, 4.5))
    return (torch.exp(torch.clamp(f.float(), -100.0, 4.5)) - target).pow(2).mean()


def softmax_value(q_next: Tensor, beta_q: float) -> Tensor:
    """In-support softmax value V(s') = Σ_j softmax_j(beta_Q · q'_j) · q'_j over the support actions of s';
    [B, M] -> [B]."""
    q_next = q_next.float()
    return (torch.softmax(beta_q * q_next, dim=-1) * q_next).sum(-1)


def q_target(reward: Tensor, terminal: Tensor, next_value: Tensor, gamma: float) -> Tensor:
    """y = r + gamma · (1 - terminal) · V(s')."""
    return reward.float() + gamma * (1.0 - terminal.float()) * next_value


def twin_q_loss(q1: Tensor, q2: Tensor, target: Tensor) -> Tensor:
    """(MSE(Q1(s, a), y) + MSE(Q2(s, a), y)) / 2."""
    return 0.5 * (F.mse_loss(q1.float(), target) + F.mse_loss(q2.float(), target))


def label_entropy(p: Tensor) -> Tensor:
    """Mean entropy -Σ_j p_j log p_j of the CEP labels (log M: uniform; 0: one action takes all)."""
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean()

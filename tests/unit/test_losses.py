"""The losses against hand-computed values and their defining optimality properties."""

from __future__ import annotations

import math

import torch

from cep_lightning.maths.losses import cep_labels, cep_loss, label_entropy, q_target, softmax_value, twin_q_loss


def test_softmax_value_and_target_by_hand() -> None:
    q_next = torch.tensor([[1.0, 2.0, 4.0]])
    w = [math.exp(0.5 * v) for v in (1.0, 2.0, 4.0)]
    v = sum(wi * qi for wi, qi in zip(w, (1.0, 2.0, 4.0))) / sum(w)
    assert abs(softmax_value(q_next, 0.5).item() - v) < 1e-6
    y = q_target(torch.tensor([0.3, 0.3]), torch.tensor([0.0, 1.0]), torch.tensor([v, v]), 0.99)
    torch.testing.assert_close(y, torch.tensor([0.3 + 0.99 * v, 0.3]))


def test_softmax_value_limits() -> None:
    q = torch.tensor([[1.0, 3.0, 2.0]])
    assert abs(softmax_value(q, 0.0).item() - 2.0) < 1e-6  # beta_Q = 0: mean
    assert abs(softmax_value(q, 100.0).item() - 3.0) < 1e-6  # beta_Q → ∞: max


def test_twin_q_loss_by_hand() -> None:
    loss = twin_q_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert abs(loss.item() - 0.5 * (0.5 + 1.0)) < 1e-6


def test_cep_minimiser_is_softmax_beta_q() -> None:
    """Over a finite candidate set the CEP loss is minimised where softmax(f) = softmax(beta Q)."""
    torch.manual_seed(0)
    q = torch.randn(4, 6)
    logits = torch.zeros(4, 6, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(1500):
        opt.zero_grad()
        cep_loss(logits, q, beta=3.0).backward()
        opt.step()
    torch.testing.assert_close(torch.softmax(logits, -1), torch.softmax(3.0 * q, -1), atol=2e-3, rtol=0)


def test_cep_loss_value_and_label_axis() -> None:
    q = torch.tensor([[0.0, math.log(3.0)]])  # beta = 1: labels (1/4, 3/4)
    logits = torch.tensor([[0.0, 0.0]])
    assert abs(cep_loss(logits, q, 1.0).item() - math.log(2.0)) < 1e-6
    torch.testing.assert_close(cep_labels(q, 1.0), torch.tensor([[0.25, 0.75]]))
    assert abs(label_entropy(cep_labels(q, 1.0)).item() - (-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))) < 1e-6

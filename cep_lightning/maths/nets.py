"""The networks of QGPO: time features, the MLP-U-Net noise predictor, the twin Q critic, the energy model."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn


class SiLU(nn.Module):
    """x · sigmoid(x), computed as the paper's networks compute it (``nn.SiLU`` rounds differently)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


class FourierTime(nn.Module):
    """Gaussian Fourier features [sin 2πWt, cos 2πWt] with fixed W ~ N(0, scale²), then Linear(dim, dim)."""

    def __init__(self, dim: int = 32, scale: float = 30.0):
        super().__init__()
        self.register_buffer("freqs", torch.randn(dim // 2) * scale)  # saved with the model, never trained
        self.proj = nn.Linear(dim, dim)

    def forward(self, t: Tensor) -> Tensor:  # t: [B] -> [B, dim]
        angles = t[..., None].float() * self.freqs * 2 * math.pi  # the paper's order of products: the same rounding
        return self.proj(torch.cat([angles.sin(), angles.cos()], dim=-1))


class ResBlock(nn.Module):
    """h = SiLU(W1 x) + W_c SiLU(c);  h = SiLU(W2 h);  return h + skip(x)."""

    def __init__(self, in_dim: int, out_dim: int, cond_dim: int):
        super().__init__()
        self.dense1 = nn.Sequential(nn.Linear(in_dim, out_dim), SiLU())
        self.cond = nn.Sequential(SiLU(), nn.Linear(cond_dim, out_dim))
        self.dense2 = nn.Sequential(nn.Linear(out_dim, out_dim), SiLU())
        self.skip = nn.Linear(in_dim, out_dim) if in_dim != out_dim else nn.Identity()

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.dense2(self.dense1(x) + self.cond(c)) + self.skip(x)


class ScoreNet(nn.Module):
    """The paper's "MLP U-Net" noise predictor eps_theta(a_t, t, s).

    With widths (w1, w2, w3) = (512, 256, 128): d1 = Res(A, w1), d2 = Res(w1, w2), d3 = Res(w2, w3),
    u3 = Res(w3, w3)(d3), u2 = Res(2 w3, 2 w3)([d3, u3]), u1 = Res(w1, w1)([d2, u2]) (2 w3 + w2 = w1
    in the paper's sizes; any widths work here), out = Linear(2 w1, A)([d1, u1]).
    Condition c = MLP([SiLU(Linear(S, 32) s), time features]); a state_dim of 0 gives an unconditional model.
    """

    def __init__(
        self,
        action_dim: int,
        state_dim: int,
        widths: Sequence[int] = (512, 256, 128),
        time_dim: int = 32,
        cond_dim: int = 128,
    ):
        super().__init__()
        w1, w2, w3 = widths
        self.action_dim = action_dim  # the length of the rows it reads and returns (what samplers draw)
        self.time = FourierTime(time_dim)
        self.state = nn.Sequential(nn.Linear(state_dim, 32), SiLU()) if state_dim > 0 else None
        self.cond = nn.Sequential(
            nn.Linear(time_dim + (32 if state_dim > 0 else 0), cond_dim), SiLU(), nn.Linear(cond_dim, cond_dim)
        )
        self.d1 = ResBlock(action_dim, w1, cond_dim)
        self.d2 = ResBlock(w1, w2, cond_dim)
        self.d3 = ResBlock(w2, w3, cond_dim)
        self.u3 = ResBlock(w3, w3, cond_dim)
        self.u2 = ResBlock(2 * w3, 2 * w3, cond_dim)
        self.u1 = ResBlock(w2 + 2 * w3, w1, cond_dim)
        self.out = nn.Linear(2 * w1, action_dim)

    def forward(self, a_t: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:  # [B, A], [B], [B, S] -> [B, A]
        features = [self.state(s), self.time(t)] if self.state is not None else [self.time(t)]
        c = self.cond(torch.cat(features, dim=-1))
        d1 = self.d1(a_t, c)
        d2 = self.d2(d1, c)
        d3 = self.d3(d2, c)
        u3 = self.u3(d3, c)
        u2 = self.u2(torch.cat([d3, u3], -1), c)
        u1 = self.u1(torch.cat([d2, u2], -1), c)
        return self.out(torch.cat([d1, u1], -1))


def mlp(in_dim: int, hidden: int, depth: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """in_dim → hidden (× depth, with activation) → 1."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), activation()]
    return nn.Sequential(*layers, nn.Linear(hidden, 1))


class TwinQ(nn.Module):
    """Two Q networks on [a, s]; ``forward`` returns min(Q1, Q2), ``both`` returns each."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 256, depth: int = 3):
        super().__init__()
        self.q1 = mlp(state_dim + action_dim, hidden, depth)
        self.q2 = mlp(state_dim + action_dim, hidden, depth)

    def both(self, s: Tensor, a: Tensor) -> tuple[Tensor, Tensor]:  # [..., S], [..., A] -> 2 × [...]
        x = torch.cat([a, s], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

    def forward(self, s: Tensor, a: Tensor) -> Tensor:
        return torch.minimum(*self.both(s, a))


class EnergyNet(nn.Module):
    """Time-dependent energy f_phi(a_t, t, s): MLP on [a_t, time features, s] with SiLU."""

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        hidden: int = 256,
        depth: int = 4,
        time_dim: int = 32,
        time_scale: float = 30.0,
    ):
        super().__init__()
        self.time = FourierTime(time_dim, time_scale)
        self.net = mlp(action_dim + time_dim + state_dim, hidden, depth, activation=SiLU)

    def forward(self, a_t: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:  # [..., A], [...], [..., S] -> [...]
        parts = [a_t, self.time(t)] + ([s] if s is not None else [])
        return self.net(torch.cat(parts, dim=-1)).squeeze(-1)

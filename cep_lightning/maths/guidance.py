"""Actions from the behaviour model, guided by the energy model or selected by the critic: plain functions
over the networks (what the policy, the evaluation stage and periodic evaluation share)."""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from cep_lightning.maths.diffusion import dpm_solver_2, get_sampler, guided_eps

Sampler = Callable[..., Tensor]  # a sampler of diffusion.SAMPLERS: (eps_fn, x_1, steps) -> x_0


@torch.no_grad()
def guided_sample(
    behavior: nn.Module,
    energy: nn.Module | None,
    s: Tensor,
    guidance_scale: float | Tensor,
    solver_steps: int,
    sampler: Sampler,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One action per row of s [B, S] from pi(a|s) ∝ mu(a|s) · exp(s_g f(a, s)):
    eps_hat = eps_theta(a_t, t, s) - s_g sigma_t ∇_a f_phi(a_t, t, s), ``solver_steps`` model evaluations.

    ``guidance_scale`` s_g is a float or one scale per row [B]; rows with s_g = 0 get no energy gradient.
    """
    device = next(itertools.chain(behavior.parameters(), behavior.buffers())).device  # a closed form has buffers only
    s = s.to(device, torch.float32)
    x = torch.randn(len(s), behavior.action_dim, generator=generator).to(device)
    rows = None  # rows whose energy gradient is needed (None: all)
    if torch.is_tensor(guidance_scale):
        guidance_scale = guidance_scale.to(device, torch.float32)
        guided = torch.nonzero(guidance_scale != 0).flatten()
        if len(guided) == 0:
            guidance_scale = 0.0
        elif len(guided) < len(s):
            rows = guided  # a sweep with scale-0 rows: no energy gradient for them
    s_guided = s if rows is None else s[rows]
    energy_fn = (lambda a, t: energy(a, t, s_guided)) if energy is not None else None
    if energy_fn is None and (torch.is_tensor(guidance_scale) or guidance_scale != 0):
        raise ValueError("guidance_scale != 0 needs an energy model; there is only the behaviour model.")
    eps_fn = guided_eps(lambda a, t: behavior(a, t, s), energy_fn, guidance_scale, rows)
    return sampler(eps_fn, x, solver_steps)


@torch.no_grad()
def best_of_M(behavior: nn.Module, critic: nn.Module, s: Tensor, M: int, solver_steps: int = 15) -> Tensor:
    """argmax_j Q(s, a_j) over M unguided behaviour samples a_j per row of s [B, S]; returns [B, A]
    (selection from the support: what the critic alone can do)."""
    device = next(behavior.parameters()).device
    s = s.to(device, torch.float32)
    b, a_dim = len(s), behavior.out.out_features
    s_rep = s.repeat_interleave(M, dim=0)
    actions = dpm_solver_2(lambda x, t: behavior(x, t, s_rep), torch.randn(b * M, a_dim, device=device), solver_steps)
    best = critic(s_rep, actions).reshape(b, M).argmax(dim=1)
    return actions.reshape(b, M, a_dim)[torch.arange(b), best]


class GuidedPolicy(nn.Module):
    """The behaviour model, the energy model (None: behaviour cloning) and the solver of guided sampling, acting
    on batches of flat observations: numpy in, numpy out; torch in, torch out."""

    def __init__(
        self,
        behavior: nn.Module,
        energy: nn.Module | None = None,
        solver_steps: int = 15,
        sampler: str = "dpm_solver++_2s",
    ):
        super().__init__()
        self.behavior, self.energy, self.solver_steps = behavior, energy, solver_steps
        self.sampler = get_sampler(sampler)

    def sample(
        self, s: Tensor, guidance_scale: float | Tensor = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """One action per row of s [B, S] (``guided_sample``)."""
        return guided_sample(self.behavior, self.energy, s, guidance_scale, self.solver_steps, self.sampler, generator)

    def act(self, observations: np.ndarray | Tensor, guidance_scale: float | Tensor = 0.0) -> np.ndarray | Tensor:
        """Actions for observations [B, S] (or one [S]) at ``guidance_scale`` (a float or one per row)."""
        is_numpy = not torch.is_tensor(observations)
        s = torch.as_tensor(np.asarray(observations, dtype=np.float32)) if is_numpy else observations
        single = s.dim() == 1
        actions = self.sample(s[None] if single else s, guidance_scale)
        actions = actions[0] if single else actions
        return actions.cpu().numpy() if is_numpy else actions.to(s.device)

"""The QGPO policy: guided DPM-Solver sampling from mu(a|s) · exp(beta Q(s, a)), usable outside training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from cep_lightning.diffusion import dpm_solver_2, guided_eps
from cep_lightning.nets import EnergyNet, ScoreNet


class QGPOPolicy(nn.Module):
    """a ~ pi(a|s): eps_hat = eps_theta(a_t, t, s) - s_g sigma_t ∇_a f_phi(a_t, t, s), 15-step DPM-Solver."""

    def __init__(self, behavior: ScoreNet, energy: EnergyNet | None = None, solver_steps: int = 15):
        super().__init__()
        self.behavior, self.energy, self.solver_steps = behavior, energy, solver_steps

    @torch.no_grad()
    def sample(self, s: Tensor, guidance_scale: float | Tensor = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """One action per row of s [B, S]; ``guidance_scale`` a float or one scale per row [B]."""
        device = next(self.behavior.parameters()).device
        s = s.to(device, torch.float32)
        x = torch.randn(len(s), self.behavior.out.out_features, generator=generator).to(device)
        if torch.is_tensor(guidance_scale):
            guidance_scale = guidance_scale.to(device, torch.float32)
            if not bool((guidance_scale != 0).any()):
                guidance_scale = 0.0
        energy_fn = (lambda a, t: self.energy(a, t, s)) if self.energy is not None else None
        if energy_fn is None and (torch.is_tensor(guidance_scale) or guidance_scale != 0):
            raise ValueError("guidance_scale != 0 needs an energy model; this policy has only the behaviour model.")
        eps_fn = guided_eps(lambda a, t: self.behavior(a, t, s), energy_fn, guidance_scale)
        return dpm_solver_2(eps_fn, x, self.solver_steps)

    def act(self, observations: np.ndarray | Tensor, guidance_scale: float | Tensor = 0.0) -> np.ndarray | Tensor:
        """Actions for a batch of observations [B, S] (or one [S]); numpy in, numpy out."""
        is_numpy = isinstance(observations, np.ndarray)
        s = torch.as_tensor(np.asarray(observations, dtype=np.float32)) if is_numpy else observations
        single = s.dim() == 1
        actions = self.sample(s[None] if single else s, guidance_scale)
        actions = actions[0] if single else actions
        return actions.cpu().numpy() if is_numpy else actions

    @classmethod
    def from_run(cls, run_dir: str | Path, solver_steps: int = 15, map_location: str = "cpu") -> "QGPOPolicy":
        """Load the behaviour and energy models that a finished run saved."""
        from cep_lightning.stages.behavior import BehaviorModule
        from cep_lightning.stages.energy import EnergyModule

        run_dir = Path(run_dir)
        behavior = BehaviorModule.load_from_checkpoint(run_dir / "behavior" / "model.ckpt", map_location=map_location, weights_only=False).net
        energy_path = run_dir / "energy" / "model.ckpt"
        energy = EnergyModule.load_from_checkpoint(energy_path, map_location=map_location, weights_only=False).energy if energy_path.is_file() else None
        return cls(behavior.eval(), energy.eval() if energy is not None else None, solver_steps)


@torch.no_grad()
def best_of_n_act(behavior: ScoreNet, critic: nn.Module, observations: np.ndarray, n: int, solver_steps: int = 15) -> np.ndarray:
    """argmax_j Q(s, a_j) over n unguided behaviour samples a_j per state (selection from the support)."""
    device = next(behavior.parameters()).device
    s = torch.as_tensor(np.asarray(observations, dtype=np.float32), device=device)
    b, a_dim = len(s), behavior.out.out_features
    s_rep = s.repeat_interleave(n, dim=0)
    actions = dpm_solver_2(lambda x, t: behavior(x, t, s_rep), torch.randn(b * n, a_dim, device=device), solver_steps)
    q = critic(s_rep, actions).reshape(b, n)
    best = q.argmax(dim=1)
    return actions.reshape(b, n, a_dim)[torch.arange(b), best].cpu().numpy()

"""The QGPO policy: guided DPM-Solver sampling from mu(a|s) · exp(beta Q(s, a)), usable outside training."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from cep_lightning.diffusion import dpm_solver_2, get_sampler, guided_eps
from cep_lightning.nets import EnergyNet, ScoreNet
from cep_lightning.observations import flatten_observation


class QGPOPolicy(nn.Module):
    """a ~ pi(a|s): eps_hat = eps_theta(a_t, t, s) - s_g sigma_t ∇_a f_phi(a_t, t, s), 15-step DPM-Solver
    (``sampler``: a name of ``cep_lightning.diffusion.SAMPLERS``).

    ``QGPOPolicy.from_run(run_dir)`` also carries the run's observation mapping (Dict observations are
    flattened as in training), its reported guidance scale (the default of ``act``) and its evaluation
    environment (``make_env``).
    """

    def __init__(
        self,
        behavior: ScoreNet,
        energy: EnergyNet | None = None,
        solver_steps: int = 15,
        guidance_scale: float = 0.0,
        observation_keys: Sequence[str] | None = None,
        env_maker: Callable[[], gym.Env] | None = None,
        sampler: str = "dpm_solver++_2s",
    ):
        super().__init__()
        self.behavior, self.energy, self.solver_steps = behavior, energy, solver_steps
        self.sampler = get_sampler(sampler)
        self.guidance_scale, self.observation_keys, self.env_maker = (
            guidance_scale,
            observation_keys,
            env_maker,
        )

    @torch.no_grad()
    def sample(
        self, s: Tensor, guidance_scale: float | Tensor = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """One action per row of s [B, S]; ``guidance_scale`` a float or one scale per row [B]."""
        device = next(self.behavior.parameters()).device
        s = s.to(device, torch.float32)
        x = torch.randn(len(s), self.behavior.out.out_features, generator=generator).to(device)
        rows = None  # rows whose energy gradient is needed (None: all)
        if torch.is_tensor(guidance_scale):
            guidance_scale = guidance_scale.to(device, torch.float32)
            guided = torch.nonzero(guidance_scale != 0).flatten()
            if len(guided) == 0:
                guidance_scale = 0.0
            elif len(guided) < len(s):
                rows = guided  # a sweep with scale-0 rows: no energy gradient for them
        s_guided = s if rows is None else s[rows]
        energy_fn = (lambda a, t: self.energy(a, t, s_guided)) if self.energy is not None else None
        if energy_fn is None and (torch.is_tensor(guidance_scale) or guidance_scale != 0):
            raise ValueError(
                "guidance_scale != 0 needs an energy model; this policy has only the behaviour model."
            )
        eps_fn = guided_eps(lambda a, t: self.behavior(a, t, s), energy_fn, guidance_scale, rows)
        return self.sampler(eps_fn, x, self.solver_steps)

    def act(
        self,
        observations: np.ndarray | Tensor | Mapping[str, np.ndarray],
        guidance_scale: float | Tensor | None = None,
    ) -> np.ndarray | Tensor:
        """Actions for a batch of observations [B, S] (or one [S], or a Dict observation of the run's env);
        numpy in, numpy out; torch in, torch out. ``guidance_scale`` defaults to the run's reported scale."""
        if isinstance(observations, Mapping):
            observations = flatten_observation(observations, self.observation_keys)
        is_numpy = not torch.is_tensor(observations)
        s = torch.as_tensor(np.asarray(observations, dtype=np.float32)) if is_numpy else observations
        single = s.dim() == 1
        scale = self.guidance_scale if guidance_scale is None else guidance_scale
        actions = self.sample(s[None] if single else s, scale)
        actions = actions[0] if single else actions
        return actions.cpu().numpy() if is_numpy else actions.to(s.device)

    def make_env(self) -> gym.Env:
        """The run's evaluation environment (observations mapped as in training)."""
        if self.env_maker is None:
            raise ValueError(
                "This policy was not loaded from a run (QGPOPolicy.from_run), so it knows no environment."
            )
        return self.env_maker()

    @classmethod
    def from_run(
        cls, run_dir: str | Path, solver_steps: int | None = None, map_location: str = "cpu"
    ) -> "QGPOPolicy":
        """The behaviour and energy models a run finished, with the run's settings from its config.yaml
        (solver steps, sampler, observation mapping, evaluation environment). The default guidance scale of
        ``act`` is the one its evaluation reported (results.json), or the run's ``eval.reported_scale`` before that."""
        from cep_lightning.config import load_run_config
        from cep_lightning.evaluation import EnvMaker
        from cep_lightning.plan import current_results
        from cep_lightning.rundir import RunDir
        from cep_lightning.stages.behavior import BehaviorModule
        from cep_lightning.stages.energy import EnergyModule

        run = RunDir(Path(run_dir))
        cfg = load_run_config(run.path)
        behavior = run.load(BehaviorModule, "behavior", map_location).net
        energy = run.load(EnergyModule, "energy", map_location).energy if run.record("energy") else None
        results = current_results(run)
        scale = results["reported"]["scale"] if results is not None else float(cfg.eval.reported_scale)
        keys = list(cfg.data.observation_keys) if cfg.data.observation_keys else None
        return cls(
            behavior.eval(),
            energy.eval() if energy is not None else None,
            solver_steps or cfg.eval.solver_steps,
            float(scale) if energy is not None else 0.0,
            keys,
            EnvMaker.from_config(cfg),
            cfg.eval.sampler,
        )


@torch.no_grad()
def best_of_M_act(
    behavior: ScoreNet, critic: nn.Module, observations: np.ndarray, M: int, solver_steps: int = 15
) -> np.ndarray:
    """argmax_j Q(s, a_j) over M unguided behaviour samples a_j per state (selection from the support)."""
    device = next(behavior.parameters()).device
    s = torch.as_tensor(np.asarray(observations, dtype=np.float32), device=device)
    b, a_dim = len(s), behavior.out.out_features
    s_rep = s.repeat_interleave(M, dim=0)
    actions = dpm_solver_2(
        lambda x, t: behavior(x, t, s_rep), torch.randn(b * M, a_dim, device=device), solver_steps
    )
    q = critic(s_rep, actions).reshape(b, M)
    best = q.argmax(dim=1)
    return actions.reshape(b, M, a_dim)[torch.arange(b), best].cpu().numpy()

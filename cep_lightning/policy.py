"""The QGPO policy: guided DPM-Solver sampling from mu(a|s) · exp(beta Q(s, a)), usable outside training."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np
from torch import Tensor

from cep_lightning.config.loading import load_config
from cep_lightning.data.observations import flatten_observation
from cep_lightning.envs.evaluation import EnvMaker
from cep_lightning.errors import MissingStageError
from cep_lightning.maths.guidance import GuidedPolicy
from cep_lightning.maths.nets import EnergyNet, ScoreNet
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_run_config
from cep_lightning.run.plan import consistent, current_results
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.energy import EnergyModule


class QGPOPolicy(GuidedPolicy):
    """a ~ pi(a|s): eps_hat = eps_theta(a_t, t, s) - s_g sigma_t ∇_a f_phi(a_t, t, s), 15-step DPM-Solver
    (``sampler``: a name of ``cep_lightning.maths.diffusion.SAMPLERS``).

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
        super().__init__(behavior, energy, solver_steps, sampler)
        self.guidance_scale, self.observation_keys, self.env_maker = (guidance_scale, observation_keys, env_maker)

    def act(
        self, observations: np.ndarray | Tensor | Mapping[str, np.ndarray], guidance_scale: float | Tensor | None = None
    ) -> np.ndarray | Tensor:
        """Actions for a batch of observations [B, S] (or one [S], or a Dict observation of the run's env);
        numpy in, numpy out; torch in, torch out. ``guidance_scale`` defaults to the run's reported scale."""
        if isinstance(observations, Mapping):
            observations = flatten_observation(observations, self.observation_keys)
        return super().act(observations, self.guidance_scale if guidance_scale is None else guidance_scale)

    def make_env(self) -> gym.Env:
        """The run's evaluation environment (observations mapped as in training)."""
        if self.env_maker is None:
            raise ValueError("This policy was not loaded from a run (QGPOPolicy.from_run), so it knows no environment.")
        return self.env_maker()

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        solver_steps: int | None = None,
        map_location: str = "cpu",
        behavior_cloning: bool = False,
    ) -> "QGPOPolicy":
        """The behaviour and energy models a run finished, with the run's settings from its config.yaml
        (solver steps, sampler, observation mapping, evaluation environment). The default guidance scale of
        ``act`` is the one its evaluation reported (results.json), or the run's ``eval.reported_scale`` before that.

        The energy model must have been trained from the run's current behaviour model (through its support
        actions and critic); ``behavior_cloning=True`` loads the behaviour model alone (guidance scale 0)."""
        run = RunDir(Path(run_dir))
        cfg = load_config([], saved=load_run_config(run.path))
        behavior = run.load(BehaviorModule, "behavior", map_location).net
        energy = None
        if not behavior_cloning:
            if not consistent(run, "energy"):
                state = (
                    "has not finished"
                    if run.record("energy") is None
                    else "was trained from other behaviour, support or critic models than the current ones"
                )
                raise MissingStageError(
                    f"The energy stage of {run.path} {state}, so no guided policy matches the run's behaviour model. "
                    f"Bring the run up to date: python train.py run.dir={run.path}; "
                    f"or load the behaviour model alone with QGPOPolicy.from_run(..., behavior_cloning=True)."
                )
            energy = run.load(EnergyModule, "energy", map_location).energy
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

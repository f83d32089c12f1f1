"""Stage 3: the critic, by in-support softmax Q-learning over the stored support actions."""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import torch
from torch import Tensor

from cep_lightning.maths.losses import q_target, softmax_value, twin_q_loss
from cep_lightning.maths.nets import TwinQ
from cep_lightning.maths.tensors import expand_states
from cep_lightning.stages.compiled_step import CompilableStep
from cep_lightning.stages.log_steps import writes_logs_now
from cep_lightning.stages.optimizers import adam


class CriticModule(CompilableStep, L.LightningModule):
    """Twin Q with a Polyak target: y = r + gamma (1 - d) Σ_j softmax_j(beta_Q q'_j) q'_j,
    q'_j = min Q_target(s', a'_j). ``adam``: the optimizer's implementation (``stages/optimizers.py``)."""

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        lr: float = 3e-4,
        hidden: int = 256,
        depth: int = 3,
        gamma: float = 0.99,
        tau: float = 0.005,
        beta_q: float = 1.0,
        adam: str = "fused",
    ):
        super().__init__()
        self.save_hyperparameters()
        self.q = TwinQ(state_dim, action_dim, hidden, depth)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)

    @torch.no_grad()
    def target(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(y [B], q'_j [B, M]) in fp32 whatever the precision: mixed precision changes only the trained
        network's own products, never the regression target (bf16 would round |Q| ~ 100 to steps of 0.5)."""
        hp = self.hparams
        with torch.autocast(self.device.type, enabled=False):
            support_next = batch["support_next"].float()  # [B, M, A]
            q_next = self.q_target(
                expand_states(batch["s_next"].float(), support_next.shape[1]), support_next
            )  # [B, M]
            y = q_target(batch["r"].float(), batch["terminal"].float(), softmax_value(q_next, hp.beta_q), hp.gamma)
        return y, q_next

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """The twin-Q loss against y (``target``): a pure function of the weights, so the step can run compiled."""
        y, _ = self.target(batch)
        q1, q2 = self.q.both(batch["s"], batch["a"])
        return twin_q_loss(q1, q2, y)

    @torch.no_grad()
    def diagnostics(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Q, its target and the spread of the next state's support values, before the step's update."""
        y, q_next = self.target(batch)
        q1 = self.q.both(batch["s"], batch["a"])[0]
        return {
            "critic/q_mean": q1.mean(),
            "critic/q_std": q1.std(),
            "critic/target_mean": y.mean(),
            "critic/next_q_spread": (q_next.max(1).values - q_next.min(1).values).mean(),
        }

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        logs = writes_logs_now(self)
        if logs:  # the batch's first step, before its update
            self.log_dict(self.diagnostics(self.step_batches(batch)[0]), sync_dist=True)
        losses = self.optimization_step(batch)
        if logs:
            self.log("critic/q_loss", self.last_loss(losses), prog_bar=True, sync_dist=True)
        return losses

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The Adam step, then Polyak averaging: theta_target <- tau theta + (1 - tau) theta_target.

        Both happen inside the step, so a checkpoint written at the end of a batch holds a target network
        that is in step with the critic (a resumed run continues exactly). The average is computed as the paper's
        ``update_target`` computes it, tau·θ + (1 - tau)·θ_target, not as ``lerp_`` (θ_target + tau (θ - θ_target)):
        the two round differently, and over 200 steps Q-learning grows that rounding to 4e-4 relative."""
        super().optimizer_step(*args, **kwargs)
        self.after_update(list(self.q.parameters()))

    @torch.no_grad()
    def after_update(self, online: list[Tensor]) -> None:
        """theta_target <- tau theta + (1 - tau) theta_target, over ``online`` (the critic's parameters)."""
        tau = self.hparams.tau
        for target, theta in zip(self.q_target.parameters(), online):
            target.copy_(tau * theta + (1 - tau) * target)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adam(self, self.q.parameters(), self.hparams.lr, implementation=self.hparams.adam)

"""Stage 1: the behaviour policy mu_theta(a|s) as a conditional diffusion model."""

from __future__ import annotations

from typing import Any, Sequence

import lightning as L
import torch
from torch import Tensor

from cep_lightning.maths.diffusion import eps_matching_loss, perturb, sample_train_times
from cep_lightning.maths.nets import ScoreNet
from cep_lightning.maths.unet import ImageUNet
from cep_lightning.stages.compiled_step import CompilableStep
from cep_lightning.stages.log_steps import writes_logs_now
from cep_lightning.stages.optimizers import adam


class BehaviorModule(CompilableStep, L.LightningModule):
    """eps-matching: min_theta E_{t, z} ||eps_theta(alpha_t a + sigma_t z, t, s) - z||²
    (``lr_decay``: the learning rate decays linearly to zero over the stage's steps; ``adam``: its implementation,
    ``stages/optimizers.py``).

    The network is the paper's MLP-U-Net (``ScoreNet``, ``widths``), or with ``image_shape`` (C, H, W) the
    convolutional ``ImageUNet`` of unconditional images, its rows the flattened images, of widths ``channels``.
    """

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        lr: float = 1e-4,
        widths: Sequence[int] = (512, 256, 128),
        cond_dim: int = 128,
        lr_decay: bool = False,
        adam: str = "fused",
        image_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (32, 64),
    ):
        super().__init__()
        self.save_hyperparameters()
        if image_shape is None:
            self.net = ScoreNet(action_dim, state_dim, widths=tuple(widths), cond_dim=cond_dim)
        else:
            self.net = ImageUNet(tuple(image_shape), tuple(channels), cond_dim=cond_dim)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """The batch's eps-matching loss: a pure function of the weights, so that the step can also run compiled."""
        a, s = batch["a"], batch["s"]
        t = sample_train_times(len(a), a.device)
        noise = torch.randn_like(a)
        return eps_matching_loss(self.net(perturb(a, t, noise), t, s), noise)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        logs = writes_logs_now(self)
        losses = self.optimization_step(batch)
        if logs:
            self.log("behavior/loss", self.last_loss(losses), prog_bar=True, sync_dist=True)
        return losses

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        return adam(self, self.net.parameters(), hp.lr, hp.lr_decay, hp.adam)

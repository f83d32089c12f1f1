"""Stage 4: the intermediate energy model f_phi(a_t, t, s), trained with CEP on contrastive sets of candidates."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from cep_lightning.maths.diffusion import perturb, sample_train_times
from cep_lightning.maths.losses import cep_labels, cep_loss, emse_energy_loss, label_entropy, mse_energy_loss
from cep_lightning.maths.nets import EnergyNet
from cep_lightning.maths.tensors import expand_states
from cep_lightning.stages.candidates import Candidates
from cep_lightning.stages.compiled_step import CompilableStep
from cep_lightning.stages.log_steps import writes_logs_now
from cep_lightning.stages.optimizers import adam


class EnergyModule(CompilableStep, L.LightningModule):
    """CEP: one t per state shared by its M candidate actions a_j, a_t^j = alpha_t a_j + sigma_t z_j,
    loss = -mean_s Σ_j softmax_j(beta Q(s, a_j)) log_softmax_j f_phi(a_t^j, t, s).

    ``candidates`` gives the contrastive sets (``stages/candidates.py``: critic-scored support actions, or
    the toys' labelled groups); a module loaded only to sample (``QGPOPolicy``) needs none.
    ``loss="mse"|"emse"`` trains the regression baselines on the data actions instead (a t per sample).
    ``lr_decay``: the learning rate decays linearly to zero over the stage's steps; ``adam``: its implementation
    (``stages/optimizers.py``).
    """

    def __init__(
        self,
        state_dim: int,
        action_dim: int,
        candidates: Candidates | None = None,
        lr: float = 3e-4,
        hidden: int = 256,
        depth: int = 4,
        beta: float = 3.0,
        loss: str = "cep",
        time_scale: float = 30.0,
        lr_decay: bool = False,
        adam: str = "fused",
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["candidates"])
        self.energy = EnergyNet(state_dim, action_dim, hidden, depth, time_scale=time_scale)
        self.candidates = candidates

    def on_fit_start(self) -> None:
        if self.candidates is None:
            raise ValueError(
                "EnergyModule was built without candidates (ScoredSupport or LabelledGroups); "
                "it can sample but not train."
            )
        self.candidates.to(self.device)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """The batch's loss (above): a pure function of the weights, so that the step can also run compiled."""
        s, candidates, q = self.candidates.sets(batch)  # [B, S], [B, M, A], [B, M]
        beta, M = self.hparams.beta, candidates.shape[1]
        if self.hparams.loss == "cep":
            t = sample_train_times(len(s), s.device)[:, None].expand(-1, M)  # one t per contrastive set
            logits = self.energy(perturb(candidates, t, torch.randn_like(candidates)), t, expand_states(s, M))
            loss = cep_loss(logits, q, beta)
        else:
            a = batch["a"]
            t = sample_train_times(len(a), a.device)
            f = self.energy(perturb(a, t, torch.randn_like(a)), t, batch["s"])
            q_data = self.candidates.data_values(batch)
            if self.hparams.loss == "mse":
                loss = mse_energy_loss(f, q_data, beta)
            else:
                loss = emse_energy_loss(f, q_data, beta, self.candidates.baseline(q))
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        logs = writes_logs_now(self)
        losses = self.optimization_step(batch)
        if logs:
            q = self.candidates.sets(self.step_batches(batch)[-1])[2]
            self.log("energy/loss", self.last_loss(losses), prog_bar=True, sync_dist=True)
            self.log("energy/label_entropy", label_entropy(cep_labels(q, self.hparams.beta)), sync_dist=True)
        return losses

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        return adam(self, self.energy.parameters(), hp.lr, hp.lr_decay, hp.adam)

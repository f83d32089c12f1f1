"""Stage 4: the intermediate energy model f_phi(a_t, t, s), trained with CEP against the frozen critic."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from cep_lightning.diffusion import perturb, sample_train_times
from cep_lightning.losses import cep_labels, cep_loss, emse_energy_loss, label_entropy, mse_energy_loss
from cep_lightning.nets import EnergyNet, TwinQ
from cep_lightning.stages.critic import expand_states
from cep_lightning.stages.log_steps import writes_logs_now


class EnergyModule(L.LightningModule):
    """CEP: one t per state shared by its M candidate actions a_j, a_t^j = alpha_t a_j + sigma_t z_j,
    loss = -mean_s Σ_j softmax_j(beta Q(s, a_j)) log_softmax_j f_phi(a_t^j, t, s).

    The candidates are a state's support actions scored by the frozen critic; without a critic
    (``critic_hidden=None``: the 2-D toys) the batch is split into contrastive sets of ``group_size``
    data points (default: the whole batch), each at its own t, scored by their labels r.
    ``loss="mse"|"emse"`` trains the regression baselines on dataset actions instead (a t per sample).
    """

    def __init__(self, state_dim: int, action_dim: int, lr: float = 3e-4, hidden: int = 256, depth: int = 4,
                 beta: float = 3.0, loss: str = "cep", critic_hidden: int | None = 256, critic_depth: int = 3,
                 group_size: int | None = None, time_scale: float = 30.0):
        super().__init__()
        self.save_hyperparameters()
        self.energy = EnergyNet(state_dim, action_dim, hidden, depth, time_scale=time_scale)
        self.critic = TwinQ(state_dim, action_dim, critic_hidden, critic_depth).requires_grad_(False) if critic_hidden else None

    def q_values(self, s: Tensor, actions: Tensor) -> Tensor:
        """min-twin Q of the frozen critic, in fp32: [B, S], [B, M, A] -> [B, M]."""
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
            return self.critic(expand_states(s.float(), actions.shape[1]), actions.float())

    def contrastive_sets(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(states [B, S], candidates [B, M, A], their values [B, M]); the values are the batch's cached
        ``support_q`` when it has them (computed once by ``data/support_values.py``), else the critic's."""
        if self.critic is None:
            k = self.hparams.group_size or len(batch["a"])
            g = len(batch["a"]) // k
            a, r = batch["a"][: g * k], batch["r"][: g * k]
            return batch["s"][:g], a.reshape(g, k, -1), r.reshape(g, k)
        q = batch["support_q"].float() if "support_q" in batch else self.q_values(batch["s"], batch["support"])
        return batch["s"], batch["support"], q

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        s, candidates, q = self.contrastive_sets(batch)  # [B, S], [B, M, A], [B, M]
        beta, m = self.hparams.beta, candidates.shape[1]
        if self.hparams.loss == "cep":
            t = sample_train_times(len(s), s.device)[:, None].expand(-1, m)  # one t per contrastive set
            logits = self.energy(perturb(candidates, t, torch.randn_like(candidates)), t, expand_states(s, m))
            loss = cep_loss(logits, q, beta)
        else:
            s_data, a = batch["s"], batch["a"]
            t = sample_train_times(len(a), a.device)
            f = self.energy(perturb(a, t, torch.randn_like(a)), t, s_data)
            q_data = batch["r"] if self.critic is None else self.q_values(s_data, a[:, None])[:, 0]
            if self.hparams.loss == "mse":
                loss = mse_energy_loss(f, q_data, beta)
            else:  # baseline: the best value among the state's support actions (toys: in the batch)
                loss = emse_energy_loss(f, q_data, beta, q.max(1).values if self.critic is not None else q.max())
        if writes_logs_now(self):
            self.log("energy/loss", loss, prog_bar=True, sync_dist=True)
            self.log("energy/label_entropy", label_entropy(cep_labels(q, beta)), sync_dist=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.energy.parameters(), lr=self.hparams.lr)

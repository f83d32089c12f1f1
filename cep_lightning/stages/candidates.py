"""Where CEP's contrastive sets come from: per state s, M candidate actions a_1..a_M and their values Q(s, a_j).

The energy stage is given one of these (``EnergyModule(..., candidates=...)``):
``ScoredSupport``, the offline-RL case: a state's M support actions, sampled from the behaviour model, scored by
the frozen critic; ``LabelledGroups``, the 2-D toys: labelled points grouped into sets of M, each point's value
its label. Both also give the regression baselines (MSE, E-MSE) the value of each data action and E-MSE's baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cep_lightning.maths.tensors import expand_states

ContrastiveSets = tuple[Tensor, Tensor, Tensor]  # states [B, S], candidates [B, M, A], values [B, M]


class ScoredSupport:
    """Support actions scored by the critic: Q(s, a_j) = min(Q_1, Q_2)(s, a_j) of the critic stage's target
    network, in fp32, frozen. The energy stage reads the values the data module attaches as ``support_q``
    (computed once by ``data/support_values.py``) and runs the critic only when a batch has none."""

    def __init__(self, critic: nn.Module):
        self.critic = critic.requires_grad_(False).eval()

    def to(self, device: torch.device) -> "ScoredSupport":
        self.critic.to(device)
        return self

    @torch.no_grad()
    def q(self, s: Tensor, actions: Tensor) -> Tensor:
        """[B, S], [B, M, A] -> [B, M], in fp32 whatever the precision."""
        with torch.autocast(s.device.type, enabled=False):
            return self.critic(expand_states(s.float(), actions.shape[1]), actions.float())

    def sets(self, batch: dict[str, Tensor]) -> ContrastiveSets:
        values = batch["support_q"].float() if "support_q" in batch else self.q(batch["s"], batch["support"])
        return batch["s"], batch["support"], values

    def data_values(self, batch: dict[str, Tensor]) -> Tensor:
        """Q(s, a) of the batch's data actions [B]."""
        return self.q(batch["s"], batch["a"][:, None])[:, 0]

    def baseline(self, values: Tensor) -> Tensor:
        """E-MSE's baseline: the best value among each state's support actions [B]."""
        return values.max(1).values


class LabelledGroups:
    """The toys' bandit (empty state): the batch's points split into groups of M (M = 0: the whole batch is
    one group), each group one contrastive set at one shared t, a point's value its label r."""

    def __init__(self, M: int = 0):
        self.M = M

    def to(self, device: torch.device) -> "LabelledGroups":
        return self

    def sets(self, batch: dict[str, Tensor]) -> ContrastiveSets:
        M = self.M or len(batch["a"])
        groups = len(batch["a"]) // M
        a, r = batch["a"][: groups * M], batch["r"][: groups * M]
        return batch["s"][:groups], a.reshape(groups, M, -1), r.reshape(groups, M)

    def data_values(self, batch: dict[str, Tensor]) -> Tensor:
        return batch["r"]

    def baseline(self, values: Tensor) -> Tensor:
        """E-MSE's baseline: the best label in the batch."""
        return values.max()


Candidates = ScoredSupport | LabelledGroups

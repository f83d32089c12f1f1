"""Parameter names of the paper's networks and of ours, and weights copied between them.

The paper's ScoreNet returns the score h / sigma_t and is trained on ||h + z||², so its last layer predicts -eps
where ours predicts eps: that layer is copied negated (Adam is odd in the gradient, so the negation holds through
training). Every other tensor is copied as it is. The paper's critic (``QGPO_Critic``) holds q0, q0_target and qt;
ours splits them into the critic's TwinQ (q, q_target) and the energy model.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

# (ours, the paper's) name prefixes, tried in order; the rest of a name is the same in both.
SCORE_NET = (
    ("time.freqs", "embed.0.W"),
    ("time.proj.", "embed.1."),
    ("state.0.", "pre_sort_condition.0.dense."),
    ("cond.", "sort_t."),
    ("d1.", "down_block1."),
    ("d2.", "down_block2."),
    ("d3.", "down_block3."),
    ("u3.", "middle1."),
    ("u2.", "up_block3."),
    ("u1.", "up_block2."),
    ("out.", "last."),
)
RES_BLOCK = (("cond.", "time_mlp."), ("skip.", "modify_x."))  # inside each block; dense1, dense2 keep their names
ENERGY_NET = (("time.freqs", "embed.0.W"), ("time.proj.", "embed.1."), ("net.", "qt."))
TWIN_Q = (("", ""),)  # q1.*, q2.* in both
NEGATED = {"score": ("out.weight", "out.bias")}  # ours -> -(the paper's)

MAPPINGS = {"score": SCORE_NET, "energy": ENERGY_NET, "twin_q": TWIN_Q}


def paper_name(ours: str, kind: str) -> str:
    """The paper's name of our parameter ``ours`` of a network of ``kind`` (score, energy, twin_q)."""
    for mine, theirs in MAPPINGS[kind]:
        if ours.startswith(mine):
            rest = ours[len(mine) :]
            if kind == "score" and re.match(r"[du]\d\.", ours):
                for block_mine, block_theirs in RES_BLOCK:
                    if rest.startswith(block_mine):
                        rest = block_theirs + rest[len(block_mine) :]
            return theirs + rest
    raise KeyError(f"{ours!r} has no counterpart in the paper's {kind} network")


def sign(ours: str, kind: str) -> float:
    return -1.0 if ours in NEGATED.get(kind, ()) else 1.0


def to_paper(ours: nn.Module, kind: str) -> dict[str, Tensor]:
    """Our network's state as the paper's state dict."""
    return {paper_name(k, kind): sign(k, kind) * v.detach().clone() for k, v in ours.state_dict().items()}


@torch.no_grad()
def copy_to_paper(ours: nn.Module, paper: nn.Module, kind: str) -> None:
    """Copy our weights into the paper's network in place (its optimizers keep their parameters); every tensor
    of both must have its counterpart, of the same shape."""
    state = to_paper(ours, kind)
    theirs = paper.state_dict()
    if set(state) != set(theirs):
        raise KeyError(
            f"names differ: ours only {sorted(set(state) - set(theirs))}, paper only {sorted(set(theirs) - set(state))}"
        )
    for name, value in state.items():
        if theirs[name].shape != value.shape:
            raise ValueError(f"{name}: ours {tuple(value.shape)}, the paper's {tuple(theirs[name].shape)}")
        theirs[name].copy_(value)


@torch.no_grad()
def relative_differences(ours: nn.Module, paper: nn.Module, kind: str) -> dict[str, float]:
    """Per tensor ||w_ours - w_paper|| / ||w_paper|| (the paper's last ScoreNet layer negated first)."""
    theirs = paper.state_dict()
    out = {}
    for name, value in to_paper(ours, kind).items():
        reference = theirs[name].double()
        out[name] = float((value.double() - reference).norm() / reference.norm().clamp_min(1e-30))
    return out

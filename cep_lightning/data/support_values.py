"""The frozen critic's values of every state's support actions, computed once before the energy stage.

CEP's labels are p_j = softmax_j(beta Q(s, a_j)) over a state's M support actions, with Q the critic's
target network, which the energy stage never changes. So Q(s, a_j) is computed once for the whole state
table ([N + K, M], fp32) and stored beside the support actions (``<run>/support/q_values.npy``); each
energy step then reads its rows instead of running the critic on B × M actions. The values are recomputed
only when the critic's weights or the support actions differ from those they were computed with
(``q_values.json`` holds a fingerprint of both).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

VALUES, RECORD = "q_values.npy", "q_values.json"


@torch.no_grad()
def support_values(
    critic: nn.Module, states: np.ndarray, actions: np.ndarray, rows_per_batch: int = 32_768
) -> np.ndarray:
    """min-twin Q(s_i, a_ij) in fp32 for states [N, S] and their support actions [N, M, A] -> [N, M]."""
    device = next(critic.parameters()).device
    M = actions.shape[1]
    per_batch = max(1, rows_per_batch // M)
    out = np.empty(actions.shape[:2], dtype=np.float32)
    with torch.autocast(device.type, enabled=False):
        for start in range(0, len(states), per_batch):
            s = torch.tensor(states[start : start + per_batch], dtype=torch.float32, device=device)  # copies: the
            a = torch.tensor(
                actions[start : start + per_batch], dtype=torch.float32, device=device
            )  # memmap is read-only
            out[start : start + len(s)] = critic(s[:, None].expand(-1, M, -1), a).cpu().numpy()
    return out


def fingerprint(critic: nn.Module, actions: np.ndarray) -> str:
    """sha256 of the critic's weights and of the support actions."""
    digest = hashlib.sha256()
    for name, tensor in sorted(critic.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    digest.update(np.ascontiguousarray(actions).tobytes())
    return digest.hexdigest()


def ensure_support_values(directory: Path, critic: nn.Module, states: np.ndarray) -> bool:
    """Write ``q_values.npy`` for the support actions in ``directory`` unless it already holds this critic's
    values of these actions; returns True when it computed them."""
    actions = np.load(directory / "actions.npy", mmap_mode="r")
    key = fingerprint(critic, actions)
    record = directory / RECORD
    if record.is_file() and (directory / VALUES).is_file() and json.loads(record.read_text()).get("fingerprint") == key:
        return False
    values = support_values(critic, states, actions)
    tmp = directory / f"{VALUES}.{os.getpid()}.tmp.npy"  # every DDP process writes the same values; renames are atomic
    np.save(tmp, values)
    os.replace(tmp, directory / VALUES)
    tmp_record = directory / f"{RECORD}.{os.getpid()}.tmp"
    tmp_record.write_text(json.dumps({"fingerprint": key, "shape": list(values.shape)}))
    os.replace(tmp_record, record)
    return True

"""Stage 5: the guidance-scale sweep, every (scale, episode) pair of a process stepped in one vector env."""

from __future__ import annotations

from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from cep_lightning.evaluation import evaluate, make_vector_env, normalized_score
from cep_lightning.policy import QGPOPolicy


class EpisodeGrid(Dataset):
    """Item k = (scale index, episode index); episode e of every scale uses environment seed + e."""

    def __init__(self, num_scales: int, episodes: int):
        self.items = [(i, e) for i in range(num_scales) for e in range(episodes)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> Tensor:
        return torch.tensor([k, *self.items[k]])


def episode_loader(num_scales: int, episodes: int) -> DataLoader:
    """All items in one batch per process (the distributed sampler splits them across processes)."""
    return DataLoader(EpisodeGrid(num_scales, episodes), batch_size=num_scales * episodes, shuffle=False)


class EvaluationModule(L.LightningModule):
    """``Trainer.test`` over the episode grid: returns per (scale, episode), gathered from every process."""

    def __init__(self, policy: QGPOPolicy, env_id: str, scales: Sequence[float], episodes: int, seed: int,
                 ref_min: float | None = None, ref_max: float | None = None):
        super().__init__()
        self.policy = policy
        self.env_id, self.scales, self.episodes, self.seed = env_id, list(scales), episodes, seed
        self.ref_min, self.ref_max = ref_min, ref_max
        self.outputs: list[Tensor] = []
        self.returns: dict[float, np.ndarray] = {}

    def test_dataloader(self) -> DataLoader:
        return episode_loader(len(self.scales), self.episodes)

    def test_step(self, batch: Tensor, batch_idx: int) -> None:
        item, scale_idx, episode = batch[:, 0], batch[:, 1], batch[:, 2]
        scales = torch.tensor(self.scales, dtype=torch.float32)[scale_idx.cpu()]
        envs = make_vector_env(self.env_id, len(batch))
        try:
            returns = evaluate(envs, lambda obs: self.policy.act(obs, guidance_scale=scales), (self.seed + episode).tolist())
        finally:
            envs.close()
        self.outputs.append(torch.stack([item.double().cpu(), torch.as_tensor(returns)], dim=1))

    def on_test_epoch_end(self) -> None:
        gathered = self.all_gather(torch.cat(self.outputs).to(self.device)).reshape(-1, 2).cpu().numpy()
        by_item = dict(zip(gathered[:, 0].astype(int).tolist(), gathered[:, 1].tolist()))  # padded duplicates collapse
        self.returns = {s: np.asarray([by_item[i * self.episodes + e] for e in range(self.episodes)]) for i, s in enumerate(self.scales)}
        for s, r in self.returns.items():
            self.log(f"eval/return_s{s:g}", float(r.mean()), rank_zero_only=True)
            score = normalized_score(float(r.mean()), self.ref_min, self.ref_max)
            if score is not None:
                self.log(f"eval/score_s{s:g}", float(score), rank_zero_only=True)


def summarize(returns: dict[float, np.ndarray], ref_min: float | None, ref_max: float | None) -> dict[str, dict]:
    """Per scale: mean ± std of the return, the normalized score, the episode count."""
    table = {}
    for s, r in returns.items():
        score = normalized_score(float(r.mean()), ref_min, ref_max)
        table[f"{s:g}"] = {"mean_return": float(r.mean()), "std_return": float(r.std()),
                           "normalized_score": None if score is None else float(score), "episodes": int(len(r))}
    return table

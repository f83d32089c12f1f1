"""Stage 5: the guidance-scale sweep, every (scale, episode) pair of a process stepped in one vector env."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Collection, Protocol, Sequence

import gymnasium as gym
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from cep_lightning.envs.evaluation import evaluate, make_vector_env, normalized_score


class Policy(Protocol):
    """What the evaluation acts with (``maths.guidance.GuidedPolicy``, ``QGPOPolicy`` or a scripted controller)."""

    def act(self, observations: np.ndarray, guidance_scale: Tensor) -> np.ndarray: ...


class EpisodeGrid(Dataset):
    """Item k = (scale index, episode index), k = i · episodes + e; episode e of every scale uses environment
    seed + e. ``skip``: items already finished (a resumed evaluation)."""

    def __init__(self, num_scales: int, episodes: int, skip: Collection[int] = ()):
        grid = [(i, e) for i in range(num_scales) for e in range(episodes)]
        self.items = [(k, i, e) for k, (i, e) in enumerate(grid) if k not in skip]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> Tensor:
        return torch.tensor(self.items[k])


def episode_loader(num_scales: int, episodes: int, envs_per_batch: int = 0, skip: Collection[int] = ()) -> DataLoader:
    """Batches of ``envs_per_batch`` items (0: all in one batch per process; the distributed sampler splits
    the items across processes)."""
    grid = EpisodeGrid(num_scales, episodes, skip)
    return DataLoader(grid, batch_size=envs_per_batch or max(1, len(grid)), shuffle=False)


class EpisodeWriter(Callback):
    """Appends each finished batch's (item, return) pairs to ``<directory>/episodes-<rank>.jsonl``, so that an
    evaluation stopped between batches resumes with the episodes it finished (``finished_episodes``)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps({"item": int(k), "return": float(r)}) + "\n" for k, r in outputs.tolist())
        path = self.directory / f"episodes-{trainer.global_rank}.jsonl"
        cut = path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
        with path.open("a") as f:
            f.write("\n" * bool(cut) + lines)  # after a line a kill cut short, on a line of its own
            f.flush()
            os.fsync(f.fileno())

    @staticmethod
    def finished_episodes(directory: Path) -> dict[int, float]:
        """item -> return of every episode the writers of an earlier, stopped evaluation stored."""
        done: dict[int, float] = {}
        for path in sorted(directory.glob("episodes-*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill mid-write is left out
                    continue
                done[entry["item"]] = entry["return"]
        return done

    @staticmethod
    def clear(directory: Path) -> None:
        for path in directory.glob("episodes-*.jsonl"):
            path.unlink()


class EvaluationModule(L.LightningModule):
    """``Trainer.test`` over the episode grid: returns per (scale, episode), gathered from every process.

    Every episode runs in its own environment, reset with seed ``seed + episode`` (the same seeds for every
    scale), and counts exactly once: no environment starts a second episode, so short episodes are not
    over-represented.
    """

    def __init__(
        self,
        policy: Policy,
        make_env: Callable[[], gym.Env],
        scales: Sequence[float],
        episodes: int,
        seed: int,
        reported_scale: float,
        ref_min: float | None = None,
        ref_max: float | None = None,
        envs_per_batch: int = 0,
        finished: dict[int, float] | None = None,
    ):
        super().__init__()
        self.finished = dict(finished or {})  # item -> return of the episodes a stopped evaluation finished
        self.policy, self.make_env = policy, make_env
        self.scales, self.episodes, self.seed, self.envs_per_batch = (list(scales), episodes, seed, envs_per_batch)
        self.reported_scale = reported_scale
        self.ref_min, self.ref_max = ref_min, ref_max
        self.outputs: list[Tensor] = []
        self.returns: dict[float, np.ndarray] = {}

    def test_dataloader(self) -> DataLoader:
        return episode_loader(len(self.scales), self.episodes, self.envs_per_batch, skip=self.finished)

    def test_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        item, scale_idx, episode = batch[:, 0], batch[:, 1], batch[:, 2]
        scales = torch.tensor(self.scales, dtype=torch.float32)[scale_idx.cpu()]
        envs = make_vector_env(self.make_env, len(batch))
        try:
            returns = evaluate(
                envs, lambda obs: self.policy.act(obs, guidance_scale=scales), (self.seed + episode).tolist()
            )
        finally:
            envs.close()
        done = torch.stack([item.double().cpu(), torch.as_tensor(returns)], dim=1)
        self.outputs.append(done)
        return done

    def on_test_epoch_end(self) -> None:
        gathered = self.all_gather(torch.cat(self.outputs).to(self.device)).reshape(-1, 2).cpu().numpy()
        by_item = {**self.finished, **dict(zip(gathered[:, 0].astype(int).tolist(), gathered[:, 1].tolist()))}
        # (padded duplicates of the distributed sampler collapse)
        self.returns = {
            scale: np.asarray([by_item[i * self.episodes + e] for e in range(self.episodes)])
            for i, scale in enumerate(self.scales)
        }
        for scale, r in self.returns.items():
            self._log_returns("eval/sweep/{}_s" + f"{scale:g}", r)
        self._log_returns("eval/reported/{}", self.returns[self.reported_scale])

    def _log_returns(self, tag: str, returns: np.ndarray) -> None:
        """``tag.format("return")`` the mean return and ``tag.format("score")`` its normalized score."""
        self.log(tag.format("return"), float(returns.mean()), rank_zero_only=True)
        score = normalized_score(float(returns.mean()), self.ref_min, self.ref_max)
        if score is not None:
            self.log(tag.format("score"), float(score), rank_zero_only=True)


def scale_summary(returns: np.ndarray, ref_min: float | None, ref_max: float | None, success: bool = False) -> dict:
    """Mean ± std of the episode returns, the normalized score of the mean, the episode count; with ``success``
    (a goal-reaching task whose return is 1 for a success and 0 otherwise) the success rate = the mean return."""
    score = normalized_score(float(returns.mean()), ref_min, ref_max)
    return {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "normalized_score": None if score is None else float(score),
        "episodes": int(len(returns)),
        **({"success_rate": float(np.mean(returns == 1.0))} if success else {}),
    }


def summarize(
    returns: dict[float, np.ndarray],
    reported_scale: float,
    ref_min: float | None,
    ref_max: float | None,
    success: bool = False,
) -> dict:
    """The reported number (the scale fixed beforehand) and the per-scale sweep beside it.

    The sweep's best scale is chosen after seeing test returns, so its score is optimistic.
    """
    sweep = {f"{scale:g}": scale_summary(r, ref_min, ref_max, success) for scale, r in returns.items()}
    best = max(sweep, key=lambda scale: sweep[scale]["mean_return"])
    return {
        "reported": {"scale": float(reported_scale), **sweep[f"{reported_scale:g}"]},
        "best_scale": {"scale": float(best), **sweep[best], "optimistic": True},
        "scales": sweep,
    }

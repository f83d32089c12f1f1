"""The LightningDataModule of every stage: transitions (+ support actions) for training, states for sampling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from cep_lightning.data.goals import MazeGoal
from cep_lightning.data.rewards import episode_returns, transform_rewards
from cep_lightning.data.sources import describe_source, load_source, prepare_source
from cep_lightning.data.support import SupportStore, state_table
from cep_lightning.data.transitions import Transitions
from cep_lightning.data.validate import check_finite


class TransitionDataset(Dataset):
    """Rows of (s, a, r, s', terminal) and, when given, the M support actions of s and of s' (and the frozen
    critic's values of those of s, once computed)."""

    def __init__(self, data: Transitions, rewards: np.ndarray, support: SupportStore | None = None):
        self.s = torch.from_numpy(data.observations)
        self.a = torch.from_numpy(data.actions)
        self.r = torch.from_numpy(rewards)
        self.s_next = torch.from_numpy(data.next_observations)
        self.terminal = torch.from_numpy(data.terminals.astype(np.float32))
        self.support = support

    def __len__(self) -> int:
        return len(self.r)

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        """A whole batch by fancy indexing (no per-sample collate)."""
        idx = torch.as_tensor(indices)
        batch = {
            "s": self.s[idx],
            "a": self.a[idx],
            "r": self.r[idx],
            "s_next": self.s_next[idx],
            "terminal": self.terminal[idx],
        }
        if self.support is not None:
            rows = idx.numpy()
            batch["support"] = torch.from_numpy(self.support.actions[rows])
            batch["support_next"] = torch.from_numpy(self.support.actions[self.support.next_index[rows]])
            if self.support.q is not None:
                batch["support_q"] = torch.from_numpy(self.support.q[rows])
        return batch

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


class StateDataset(Dataset):
    """Rows ``rows`` of the support state table: (index in the table, state)."""

    def __init__(self, states: np.ndarray, rows: np.ndarray):
        self.states = torch.from_numpy(states)
        self.rows = torch.from_numpy(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        idx = self.rows[torch.as_tensor(indices)]
        return {"index": idx, "s": self.states[idx]}


class StepBatches(Sampler[list[int]]):
    """Batch k of a stage: ``batch_size`` rows drawn with replacement by a generator seeded with (seed, process
    rank, k). A stage resumed at step k draws exactly what the uninterrupted stage would have, and every
    process of a multi-GPU run draws its own batches.

    The length is the whole epoch (the stage's steps) also when iteration starts at ``start``: Lightning
    restores the epoch's progress from the checkpoint and counts the resumed batches on top of it.
    """

    def __init__(self, num_rows: int, batch_size: int, steps: int, seed: int, rank: int = 0, start: int = 0):
        self.num_rows, self.batch_size, self.steps = num_rows, batch_size, steps
        self.seed, self.rank, self.start = seed, rank, start

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        generator = torch.Generator()
        for k in range(self.start, self.steps):
            generator.manual_seed(((self.seed * 1_000_003 + self.rank) * 1_000_033 + k) % 2**63)
            yield torch.randint(self.num_rows, (self.batch_size,), generator=generator).tolist()


def _batch_as_is(batch: Any) -> Any:
    return batch


class QGPODataModule(L.LightningDataModule):
    """Serves the data set of ``cfg.data`` to every stage.

    ``use(batch_size, steps, support_dir)`` sets what the next Trainer run draws: ``steps`` batches of
    ``batch_size`` rows sampled with replacement (one epoch = the stage's step budget; a resumed stage
    draws the batches from its global step on), with the support actions of ``support_dir`` attached
    once that stage has run. Goal-conditioned data are relabelled to ``goal``, the evaluation
    environment's goal (``EnvMaker.goal``).
    """

    def __init__(self, data_cfg: DictConfig, seed: int = 0, goal: MazeGoal | None = None):
        super().__init__()
        self.cfg = data_cfg
        self.seed = seed
        self.goal = goal
        self.batch_size = 256
        self.steps = 1
        self.support_dir: Path | None = None
        self.state_rows: np.ndarray | None = None
        self.transitions: Transitions | None = None

    def prepare_data(self) -> None:
        prepare_source(self.cfg)

    @classmethod
    def of_transitions(cls, data_cfg: DictConfig, data: Transitions, seed: int = 0) -> "QGPODataModule":
        """A data module over transitions made in memory (the image bandits: one per energy, the same images)."""
        module = cls(data_cfg, seed=seed)
        module.take(data)
        return module

    def setup(self, stage: str | None = None) -> None:
        if self.transitions is None:
            data = load_source(self.cfg, self.goal)
            self.take(data.head(self.cfg.max_transitions) if self.cfg.max_transitions else data)

    def take(self, data: Transitions) -> None:
        """Serve ``data`` (checked to be finite; rewards transformed as ``data.reward_transform`` says)."""
        self.transitions = check_finite(data, describe_source(self.cfg), self.cfg.drop_nonfinite)
        self.rewards = transform_rewards(self.transitions, self.cfg.reward_transform, self.cfg.reward_scale)
        self.fingerprint = self.transitions.fingerprint()
        self.states, self.next_index = state_table(self.transitions)

    def use(
        self, batch_size: int, steps: int = 1, support_dir: Path | None = None, state_rows: np.ndarray | None = None
    ) -> "QGPODataModule":
        """Training: ``steps`` batches (+ support of ``support_dir``); prediction: the state-table rows
        ``state_rows`` (default all)."""
        self.batch_size, self.steps, self.support_dir, self.state_rows = (batch_size, steps, support_dir, state_rows)
        return self

    @property
    def state_dim(self) -> int:
        return self.transitions.observations.shape[1]

    @property
    def action_dim(self) -> int:
        return self.transitions.actions.shape[1]

    def dataset_mean_return(self) -> float:
        """Mean undiscounted return of the data set's episodes (raw rewards)."""
        return float(episode_returns(self.transitions).mean())

    def train_dataloader(self) -> DataLoader:
        support = SupportStore.open(self.support_dir) if self.support_dir is not None else None
        dataset = TransitionDataset(self.transitions, self.rewards, support)
        trainer = self.trainer
        start, rank = (trainer.global_step, trainer.global_rank) if trainer is not None else (0, 0)
        batches = StepBatches(len(dataset), self.batch_size, self.steps, self.seed, rank, start)
        return DataLoader(
            dataset,
            batch_sampler=batches,
            # the loader's base seed must not draw from (and shift) the global RNG on resume
            generator=torch.Generator(),
            collate_fn=_batch_as_is,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
        )

    def predict_dataloader(self) -> DataLoader:
        rows = np.arange(len(self.states)) if self.state_rows is None else self.state_rows
        return DataLoader(
            StateDataset(self.states, rows), batch_size=self.batch_size, shuffle=False, collate_fn=_batch_as_is
        )

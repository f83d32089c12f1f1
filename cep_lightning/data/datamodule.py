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
    critic's values of those of s, once computed).

    ``to(device)`` gives the same tables as tensors on a device and ``gather(tables, rows)`` a batch of them
    there, so that a batch can be gathered where the step runs (``RowsOnly`` then serves the row numbers alone)."""

    def __init__(self, data: Transitions, rewards: np.ndarray, support: SupportStore | None = None):
        self.tables: dict[str, np.ndarray] = {
            "s": data.observations,
            "a": data.actions,
            "r": rewards,
            "s_next": data.next_observations,
            "terminal": data.terminals.astype(np.float32),
        }
        if support is not None:  # memory maps: only the rows a batch reads are read from disk
            self.tables["support"] = support.actions
            self.tables["next_index"] = support.next_index
            if support.q is not None:
                self.tables["support_q"] = support.q

    def __len__(self) -> int:
        return len(self.tables["r"])

    def nbytes(self) -> int:
        return sum(table.nbytes for table in self.tables.values())

    def to(self, device: torch.device, chunk_bytes: int = 1 << 26) -> dict[str, Tensor]:
        """Every table as a tensor on ``device``, copied ``chunk_bytes`` of rows at a time: a memory-mapped
        table (the support actions) never needs a whole copy in host memory on its way to an accelerator."""
        return {k: rows_to_device(v, device, chunk_bytes) for k, v in self.tables.items()}

    @staticmethod
    def gather(tables: dict[str, Any], rows: Any) -> dict[str, Any]:
        """The batch of ``rows``: each table indexed by them; the support actions of s' through s' 's row."""
        batch = {k: tables[k][rows] for k in ("s", "a", "r", "s_next", "terminal")}
        if "support" in tables:
            batch["support"] = tables["support"][rows]
            batch["support_next"] = tables["support"][tables["next_index"][rows]]
            if "support_q" in tables:
                batch["support_q"] = tables["support_q"][rows]
        return batch

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        """A whole batch by fancy indexing (no per-sample collate)."""
        return {k: torch.from_numpy(v) for k, v in self.gather(self.tables, np.asarray(indices)).items()}

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def rows_to_device(table: np.ndarray, device: torch.device, chunk_bytes: int) -> Tensor:
    """``table`` as one tensor on ``device``, filled chunk by chunk of at most ``chunk_bytes`` (at least a row)."""
    first = torch.from_numpy(np.asarray(table[:1]))
    out = torch.empty(table.shape, dtype=first.dtype, device=device)
    rows = max(1, chunk_bytes // max(1, first.nbytes))
    for start in range(0, len(table), rows):
        out[start : start + rows].copy_(torch.from_numpy(np.asarray(table[start : start + rows])))
    return out


class RowsOnly(Dataset):
    """The row numbers of a batch, for a data module that gathers the rows on the device."""

    def __init__(self, num_rows: int):
        self.num_rows = num_rows

    def __len__(self) -> int:
        return self.num_rows

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        return {"rows": torch.as_tensor(indices)}


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

    With ``steps_per_batch`` K > 1 (a module that takes K optimizer steps per Lightning batch) one loader batch
    holds the rows of steps gK, ..., gK + K - 1 one after another, each drawn as above: the same rows per
    optimizer step as with K = 1. ``start`` is then a multiple of K (Lightning checkpoints between batches).

    The length is the whole epoch (the stage's steps, in batches of K) also when iteration starts at ``start``:
    Lightning restores the epoch's progress from the checkpoint and counts the resumed batches on top of it.
    """

    def __init__(
        self,
        num_rows: int,
        batch_size: int,
        steps: int,
        seed: int,
        rank: int = 0,
        start: int = 0,
        steps_per_batch: int = 1,
    ):
        if steps % steps_per_batch or start % steps_per_batch:
            raise ValueError(f"steps ({steps}) and start ({start}) must be multiples of steps_per_batch.")
        self.num_rows, self.batch_size, self.steps = num_rows, batch_size, steps
        self.seed, self.rank, self.start, self.steps_per_batch = seed, rank, start, steps_per_batch

    def __len__(self) -> int:
        return self.steps // self.steps_per_batch

    def rows(self, k: int, generator: torch.Generator) -> list[int]:
        """The rows of step ``k``."""
        generator.manual_seed(((self.seed * 1_000_003 + self.rank) * 1_000_033 + k) % 2**63)
        return torch.randint(self.num_rows, (self.batch_size,), generator=generator).tolist()

    def __iter__(self):
        generator = torch.Generator()
        for first in range(self.start, self.steps, self.steps_per_batch):
            yield [row for k in range(first, first + self.steps_per_batch) for row in self.rows(k, generator)]


DEVICE_SHARE = 0.5  # data.on_device=null: the tables may take at most this share of the device's free memory


def gathers_on_device(setting: bool | None, device: torch.device, nbytes: int) -> bool:
    """Whether the training tables go to ``device`` (``data.on_device``): ``true`` always, ``false`` never,
    ``null`` on an accelerator when they take at most ``DEVICE_SHARE`` of its free memory (on a CPU the
    data already is where the step runs, and the loader's workers can gather in parallel)."""
    if setting is not None:
        return setting
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_SHARE * free


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
        dataset: Dataset = TransitionDataset(self.transitions, self.rewards, support)
        trainer = self.trainer
        start, rank = (trainer.global_step, trainer.global_rank) if trainer is not None else (0, 0)
        per_batch = getattr(trainer.lightning_module, "steps_per_batch", 1) if trainer is not None else 1
        batches = StepBatches(len(dataset), self.batch_size, self.steps, self.seed, rank, start, per_batch)
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        self.device_tables = None
        if gathers_on_device(self.cfg.on_device, device, dataset.nbytes()):
            self.device_tables = dataset.to(device)  # once per stage: then only row numbers travel
            dataset = RowsOnly(len(dataset))
        return DataLoader(
            dataset,
            batch_sampler=batches,
            # the loader's base seed must not draw from (and shift) the global RNG on resume
            generator=torch.Generator(),
            collate_fn=_batch_as_is,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """A training batch of row numbers (``data.on_device``) becomes the batch of those rows, gathered on the
        device from the tables moved there once: the same rows, drawn by the same ``StepBatches``, as on a CPU."""
        if isinstance(batch, dict) and "rows" in batch and getattr(self, "device_tables", None) is not None:
            return TransitionDataset.gather(self.device_tables, batch["rows"])
        return batch

    def predict_dataloader(self) -> DataLoader:
        rows = np.arange(len(self.states)) if self.state_rows is None else self.state_rows
        return DataLoader(
            StateDataset(self.states, rows), batch_size=self.batch_size, shuffle=False, collate_fn=_batch_as_is
        )

"""Stage 2: M unguided behaviour samples for every state of the state table (``Trainer.predict``)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor, nn

from cep_lightning.data.support import SupportStore
from cep_lightning.maths.diffusion import dpm_solver_2
from cep_lightning.maths.nets import ScoreNet


def seeded_noise(indices: Tensor, M: int, action_dim: int, seed: int) -> Tensor:
    """a_1 ~ N(0, I) [B, M, A], drawn from a generator seeded by (seed, state index), so the samples of a
    state do not depend on the batch or on the number of processes."""
    rows = [
        torch.randn(M, action_dim, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(i))) for i in indices
    ]
    return torch.stack(rows)


def sample_support(net: ScoreNet, states: Tensor, noise: Tensor, solver_steps: int) -> Tensor:
    """Unguided DPM-Solver samples from mu(a|s) for every row of noise [B, M, A]; returns [B, M, A].

    The network runs on [B, M, A] actions with states [B, 1, S] and times [B, 1]: its condition
    c(s, t) and every block's projection of c are computed once per state and broadcast over the M
    actions (they are a sixth of the network's work at the paper's widths), not once per action.
    """
    s = states[:, None, :]
    return dpm_solver_2(lambda x, t: net(x, t[:, None], s), noise.to(states.device), solver_steps)


CPU_BATCH = 256  # states per support batch on a CPU: a batch of 256 × M actions already keeps the cores busy
DEVICE_SHARE = 0.25  # of a GPU's free memory, for one support batch's activations


def support_batch_size(requested: int | None, net: nn.Module, M: int, device: torch.device) -> int:
    """States per support batch: ``requested``, else ``CPU_BATCH`` on a CPU, and on a GPU the most that fit in
    ``DEVICE_SHARE`` of its free memory, counting for each state M actions × every layer's output at once
    (fp32) × 3 (the solver's x, its model output and one intermediate), in multiples of ``CPU_BATCH``. The
    samples do not depend on it (each state's noise is seeded by its index)."""
    if requested is not None:
        return requested
    if device.type != "cuda":
        return CPU_BATCH
    per_state = 4 * 3 * M * sum(m.out_features for m in net.modules() if isinstance(m, nn.Linear))
    free, _ = torch.cuda.mem_get_info(device)
    return max(CPU_BATCH, int(DEVICE_SHARE * free / per_state) // CPU_BATCH * CPU_BATCH)


class SupportSampler(L.LightningModule):
    """Draws the support actions of a batch of states; a prediction writer stores them."""

    def __init__(self, behavior_net: ScoreNet, M: int, solver_steps: int, seed: int):
        super().__init__()
        self.net = behavior_net
        self.M, self.solver_steps, self.seed = M, solver_steps, seed

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        noise = seeded_noise(batch["index"], self.M, self.net.out.out_features, self.seed)
        return sample_support(self.net, batch["s"], noise, self.solver_steps).float().cpu()


class StateTable(Protocol):
    """The states the support actions are drawn for and each row's next-state row (``data.support.state_table``;
    the DataModule has both once it is set up)."""

    states: np.ndarray
    next_index: np.ndarray


class SupportWriter(BasePredictionWriter):
    """Writes each predicted batch into the memory-mapped store at its state indices; the store holds
    [len(table.states), M, A] actions (M and A: the sampler's), allocated when prediction starts."""

    def __init__(self, directory: Path, table: StateTable):
        super().__init__(write_interval="batch")
        self.directory, self.table = directory, table

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Process 0 allocates the memory map; every process then writes its own rows into it."""
        if trainer.is_global_zero:
            shape = (len(self.table.states), pl_module.M, pl_module.net.out.out_features)
            SupportStore.create(self.directory, *shape, self.table.next_index)
        trainer.strategy.barrier()
        self.store = SupportStore.open(self.directory, mode="r+")
        self.batches_written = 0

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Tensor,
        batch_indices: Sequence[int] | None,
        batch: dict[str, Tensor],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.store.write(batch["index"].numpy(), prediction.numpy())
        self.batches_written += 1
        self.log_statistics(trainer, prediction, self.batches_written)

    @staticmethod
    def log_statistics(trainer: L.Trainer, prediction: Tensor, step: int) -> None:
        """Statistics of a batch of support actions [B, M, A], to every logger, at the batch's number."""
        metrics = {
            "support/action_mean": prediction.mean().item(),
            "support/action_std": prediction.std().item(),
            "support/within_state_std": prediction.std(dim=1).mean().item(),
            "support/abs_action_max": prediction.abs().max().item(),
        }
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

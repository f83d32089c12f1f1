"""``compile=true``: each stage's whole step (loss, gradient, Adam, the critic's Polyak update) as one compiled
graph gives the weights the eager step gives, through Lightning's loop (step count, learning-rate schedule,
optimizer state in the checkpoint)."""

from __future__ import annotations

import copy
from pathlib import Path

import lightning as L
import pytest
import torch
from torch._dynamo.utils import counters

from cep_lightning.callbacks.ema import DeviceEMA
from cep_lightning.callbacks.guards import NonFiniteLossError, NonFiniteLossGuard
from cep_lightning.maths.nets import TwinQ
from cep_lightning.stages.behavior import BehaviorModule
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.critic import CriticModule
from cep_lightning.stages.energy import EnergyModule

STEPS = 6


def batches() -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        {
            "s": torch.randn(8, 3, generator=g),
            "a": torch.rand(8, 2, generator=g),
            "r": torch.randn(8, generator=g),
            "s_next": torch.randn(8, 3, generator=g),
            "terminal": torch.zeros(8),
            "support": torch.rand(8, 4, 2, generator=g),
            "support_next": torch.rand(8, 4, 2, generator=g),
            "support_q": torch.randn(8, 4, generator=g),
        }
        for _ in range(STEPS)
    ]


def fit(module: L.LightningModule, callbacks: list | None = None) -> L.Trainer:
    """``STEPS`` steps; with ``module.steps_per_batch`` K, each loader batch the K step batches one after another."""
    torch.manual_seed(3)  # the same t and noise in both runs (aot_eager draws them as eager does)
    trainer = L.Trainer(
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        log_every_n_steps=2,
        callbacks=callbacks,
    )
    K, steps = module.steps_per_batch, batches()
    grouped = [{key: torch.cat([b[key] for b in steps[i : i + K]]) for key in steps[0]} for i in range(0, STEPS, K)]
    trainer.fit(module, torch.utils.data.DataLoader(grouped, batch_size=None))
    return trainer


def modules() -> dict[str, L.LightningModule]:
    torch.manual_seed(0)
    return {
        "behavior": BehaviorModule(3, 2, lr=1e-2, widths=(8, 8, 8), cond_dim=8, lr_decay=True),
        "critic": CriticModule(3, 2, lr=1e-2, hidden=8, depth=2, tau=0.3),
        "energy": EnergyModule(3, 2, ScoredSupport(TwinQ(3, 2, 8, 1)), lr=1e-2, hidden=8, depth=2),
    }


@pytest.mark.parametrize("stage", ["behavior", "critic", "energy"])
def test_the_compiled_step_gives_the_eager_weights(stage: str) -> None:
    start = modules()[stage]
    eager, compiled = copy.deepcopy(start), copy.deepcopy(start)
    fit(eager)
    compiled.compile_step(backend="aot_eager")  # dynamo + AOT autograd (the traced backward), no C++ build
    counters.clear()
    trainer = fit(compiled)
    assert counters["stats"]["unique_graphs"] == 1  # one graph for the whole step, compiled once
    assert trainer.global_step == STEPS  # Lightning counted every compiled step
    state = trainer.optimizers[0].state
    assert all(float(s["step"]) == STEPS for s in state.values())  # the optimizer's own state was advanced
    checked = 0
    for (name, want), got, before in zip(
        eager.state_dict().items(), compiled.state_dict().values(), start.state_dict().values()
    ):
        if name == "energy.net.4.bias":  # CEP is shift-invariant: this bias's gradient is 0 up to rounding noise
            continue
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=name)  # Adam magnifies rounding of ~0 grads
        checked += not torch.equal(want, before)
    assert checked >= 4  # the weights moved (the critic's target too), so equal weights are not trivially equal
    if stage == "behavior":  # the schedule stepped: lr · (1 - 6/6)
        assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)


def test_the_compiled_step_refuses_ddp_whose_all_reduce_it_would_skip() -> None:
    from types import SimpleNamespace

    from cep_lightning.errors import ConfigError

    module = modules()["behavior"]
    module.compile_step(backend="aot_eager")
    module._trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ConfigError, match=r"compile=true .* runs in 2 \(DDP\).* Use compile=false"):
        module.optimization_step(batches()[0])


@pytest.mark.parametrize("stage", ["behavior", "critic", "energy"])
def test_three_compiled_steps_per_batch_are_three_single_steps(stage: str) -> None:
    """K = 3 optimizer steps per Lightning batch: every step counted, the rate schedule stepped per step, the EMA
    updated after each step, the same weights as one step per batch (the same draws in the same order)."""
    start = modules()[stage]
    one, grouped = copy.deepcopy(start), copy.deepcopy(start)
    one.compile_step(backend="aot_eager")
    grouped.compile_step(backend="aot_eager", steps_per_batch=3)
    averages = DeviceEMA(decay=0.5), DeviceEMA(decay=0.5)  # a short memory: an average of every other step differs
    torch._dynamo.reset()  # no graph of an earlier test
    counters.clear()
    fit(one, [averages[0]])
    trainer = fit(grouped, [averages[1]])
    assert counters["stats"]["unique_graphs"] == 1  # the three steps' views into a batch reuse the one graph
    assert trainer.global_step == STEPS and trainer.fit_loop.epoch_loop.batch_progress.current.completed == 2
    assert all(float(s["step"]) == STEPS for s in trainer.optimizers[0].state.values())
    for (name, want), got in zip(one.state_dict().items(), grouped.state_dict().values()):
        torch.testing.assert_close(got, want, rtol=0, atol=0, msg=name)
    for want, got in zip(*(a._average_model.module.parameters() for a in averages)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert int(averages[1]._average_model.n_averaged) == STEPS
    if stage == "behavior":
        assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)


def test_the_loss_guard_names_the_first_non_finite_step_inside_a_batch_of_three() -> None:
    from types import SimpleNamespace

    guard = NonFiniteLossGuard("energy", Path("/nonexistent"))
    module = SimpleNamespace(trainer=SimpleNamespace(log_every_n_steps=100), global_step=3, steps_per_batch=3)
    trainer = SimpleNamespace(global_step=3)
    guard.on_train_batch_end(trainer, module, torch.tensor([1.0, 2.0, 3.0]), None, 0)  # steps 1-3: finite
    guard.check(trainer)
    module.global_step = trainer.global_step = 6
    guard.on_train_batch_end(trainer, module, torch.tensor([1.0, float("nan"), float("inf")]), None, 1)
    with pytest.raises(NonFiniteLossError, match=r"stopped at step 5: the loss is nan"):
        guard.check(trainer)

"""A compiled training step equals the eager step (same loss, gradients and updated weights) to float tolerance."""

from __future__ import annotations

import copy

import torch
from torch._dynamo.utils import counters

from cep_lightning.config.compiling import compile_networks
from cep_lightning.maths.nets import TwinQ
from cep_lightning.stages.candidates import ScoredSupport
from cep_lightning.stages.energy import EnergyModule


def test_compiled_step_equals_eager_step() -> None:
    torch.manual_seed(0)
    eager = EnergyModule(3, 2, ScoredSupport(TwinQ(3, 2, 8, 1)), hidden=16, depth=2)
    compiled = compile_networks(copy.deepcopy(eager), backend="aot_eager")  # dynamo + AOT autograd, no C++ build
    assert set(compiled.state_dict()) == set(eager.state_dict())  # checkpoints keep their keys
    batch = {
        "s": torch.randn(6, 3),
        "a": torch.randn(6, 2),
        "support": torch.randn(6, 5, 2),
        "support_q": torch.randn(6, 5),
    }
    counters.clear()
    losses = []
    for module in (eager, compiled):
        torch.manual_seed(1)  # the same t and noise
        loss = module.training_step(batch, 0)
        loss.backward()
        torch.optim.Adam(module.energy.parameters(), lr=1e-2).step()
        losses.append(loss.detach())
    assert counters["stats"]["unique_graphs"] > 0  # the compiled forward really ran through dynamo
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    for (name, p_eager), p_compiled in zip(eager.energy.named_parameters(), compiled.energy.parameters()):
        torch.testing.assert_close(p_compiled.grad, p_eager.grad, rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(p_compiled, p_eager, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(
        losses[0], EnergyModule(3, 2, ScoredSupport(TwinQ(3, 2, 8, 1)), hidden=16, depth=2).training_step(batch, 0)
    )

"""Support sampling with the condition computed once per state equals sampling every action with its own copy."""

from __future__ import annotations

import torch

from cep_lightning.maths.diffusion import dpm_solver_2
from cep_lightning.maths.nets import ScoreNet
from cep_lightning.stages.support import sample_support, seeded_noise


def test_per_state_condition_equals_per_action_condition() -> None:
    torch.manual_seed(0)
    net = ScoreNet(2, 3, widths=(32, 16, 8), cond_dim=16)
    states, noise = torch.randn(5, 3), seeded_noise(torch.arange(5), 4, 2, seed=0)
    with torch.no_grad():
        flat_states = states.repeat_interleave(4, dim=0)  # [B * M, S]: one copy of the state per action
        flat = dpm_solver_2(lambda x, t: net(x, t, flat_states), noise.reshape(20, 2), 6).reshape(5, 4, 2)
        broadcast = sample_support(net, states, noise, 6)
    assert broadcast.shape == (5, 4, 2)
    torch.testing.assert_close(broadcast, flat, rtol=1e-5, atol=1e-5)  # float32 rounding (AVX-512 sums differ)
    assert not torch.allclose(broadcast[0], broadcast[1])  # each state's actions follow its own condition


def test_the_support_batch_is_as_asked_256_on_a_cpu_and_sized_by_free_memory_on_a_gpu(monkeypatch) -> None:
    import torch

    from cep_lightning.maths.nets import ScoreNet
    from cep_lightning.stages.support import support_batch_size

    net = ScoreNet(3, 11, widths=(64, 32, 16), cond_dim=8)
    layers = sum(m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert support_batch_size(100, net, 16, torch.device("cpu")) == 100
    assert support_batch_size(None, net, 16, torch.device("cpu")) == 256
    free = 4 * 3 * 16 * layers * 5000 * 4  # a quarter of it holds 5000 states' activations
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (free, 2 * free))
    assert support_batch_size(None, net, 16, torch.device("cuda")) == 4864  # 5000, down to a multiple of 256
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (1000, 2000))
    assert support_batch_size(None, net, 16, torch.device("cuda")) == 256  # never below the CPU's batch

"""A batched guidance sweep computes the energy gradient only for rows whose scale is not 0, with the same actions."""

from __future__ import annotations

import torch

from cep_lightning.maths.diffusion import dpm_solver_2, guided_eps
from cep_lightning.maths.nets import EnergyNet, ScoreNet
from cep_lightning.policy import QGPOPolicy


def small_policy() -> QGPOPolicy:
    torch.manual_seed(0)
    return QGPOPolicy(
        ScoreNet(2, 3, widths=(32, 16, 8), cond_dim=16).eval(),
        EnergyNet(3, 2, hidden=32, depth=2).eval(),
        solver_steps=6,
    )


def test_scale_zero_rows_get_no_energy_gradient_and_the_same_actions() -> None:
    policy = small_policy()
    s = torch.randn(7, 3)
    scales = torch.tensor([0.0, 3.0, 0.0, 5.0, 0.0, 0.0, 1.0])
    seen_rows = []
    hook = policy.energy.register_forward_hook(lambda module, args, out: seen_rows.append(len(args[0])))
    actions = policy.sample(s, scales, generator=torch.Generator().manual_seed(1))
    hook.remove()
    assert seen_rows and set(seen_rows) == {3}  # only the three guided rows ever reach the energy model

    # the full-batch gradient (every row, scale-0 rows multiplied by 0), from the same initial noise
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(1))
    full = dpm_solver_2(
        guided_eps(lambda a, t: policy.behavior(a, t, s), lambda a, t: policy.energy(a, t, s), scales), x, 6
    )
    zero = scales == 0
    assert torch.equal(actions[zero], full[zero])  # bit for bit
    # guided rows: the energy's matrix products run on 3 rows instead of 7, which may round differently
    torch.testing.assert_close(actions[~zero], full[~zero].detach(), rtol=1e-5, atol=1e-5)
    unguided = policy.sample(s, 0.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(actions[zero], unguided[zero])
    assert (actions[~zero] - unguided[~zero]).abs().min() > 1e-4  # the guided rows are guided

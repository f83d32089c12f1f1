"""VP-SDE noise schedule, the eps-matching loss and the guided DPM-Solver samplers, as plain functions.

Nothing here knows about Lightning: a noise predictor is any ``eps_fn(x_t, t) -> eps`` callable, and a
sampler is ``sampler(eps_fn, x_1, steps) -> x_0`` (``SAMPLERS`` names them for ``eval.sampler``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from cep_lightning.errors import ConfigError

BETA_MIN, BETA_MAX = 0.1, 20.0
T_TRAIN_MIN = 1e-3  # training times t ~ U(1e-3, 1)
T_SAMPLE_END = 1e-3  # the sampler integrates from t = 1 to t = 1e-3

EpsFn = Callable[[Tensor, Tensor], Tensor]


def vp_log_alpha(t: Tensor) -> Tensor:
    """log alpha_t = -0.25 t² (beta_max - beta_min) - 0.5 t beta_min (linear VP-SDE)."""
    return -0.25 * t**2 * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN


def vp_alpha_sigma(t: Tensor) -> tuple[Tensor, Tensor]:
    """(alpha_t, sigma_t) with sigma_t = sqrt(1 - alpha_t²); a_t = alpha_t a + sigma_t z.

    sigma_t is computed as the paper's ``marginal_prob_std``, sqrt(1 - exp(2 log alpha_t)), not with expm1: in fp32
    the two differ by rounding (1e-4 relative at t = 1e-3), which 200 CEP steps grow past 1e-5 (paper_parity)."""
    log_alpha = vp_log_alpha(t)
    return log_alpha.exp(), (1.0 - torch.exp(2.0 * log_alpha)).sqrt()


def vp_lambda(t: Tensor) -> Tensor:
    """Half log-SNR lambda_t = log alpha_t - log sigma_t."""
    log_alpha = vp_log_alpha(t)
    return log_alpha - 0.5 * torch.log(-torch.expm1(2.0 * log_alpha))


def sample_train_times(n: int, device: torch.device | str | None = None) -> Tensor:
    """t ~ U(1e-3, 1), one per sample."""
    return torch.rand(n, device=device) * (1.0 - T_TRAIN_MIN) + T_TRAIN_MIN


def perturb(x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
    """x_t = alpha_t x_0 + sigma_t z, with t broadcast over the trailing dimension of x_0."""
    alpha, sigma = vp_alpha_sigma(t.float())
    return alpha[..., None] * x0 + sigma[..., None] * noise


def eps_matching_loss(eps_pred: Tensor, noise: Tensor) -> Tensor:
    """E ||eps_theta(x_t, t) - z||²: squared error summed over action dims, averaged over the batch."""
    return (eps_pred.float() - noise).pow(2).sum(-1).mean()


def guided_eps(
    eps_fn: EpsFn,
    energy_fn: Callable[[Tensor, Tensor], Tensor] | None,
    scale: Tensor | float,
    rows: Tensor | None = None,
) -> EpsFn:
    """eps_hat = eps_theta(x_t, t) - scale · sigma_t · ∇_{x_t} f_phi(x_t, t); the plain model when scale = 0.

    ``scale`` may be a tensor [B] (one guidance scale per row, e.g. a whole sweep in one batch). ``rows``
    (indices into the batch) limits the energy gradient to those rows: ``energy_fn`` then receives only
    x_t[rows], t[rows], and every other row's gradient is 0, so rows whose scale is 0 cost no energy call.
    """
    if energy_fn is None or (not torch.is_tensor(scale) and scale == 0):
        return eps_fn

    def eps_hat(x: Tensor, t: Tensor) -> Tensor:
        with torch.enable_grad():
            x_in = (x if rows is None else x[rows]).detach().requires_grad_(True)
            grad = torch.autograd.grad(energy_fn(x_in, t if rows is None else t[rows]).sum(), x_in)[0]
        if rows is not None:
            grad = torch.zeros_like(x, dtype=grad.dtype).index_copy_(0, rows, grad)
        _, sigma = vp_alpha_sigma(t.float())
        w = scale[:, None] if torch.is_tensor(scale) else scale
        return eps_fn(x, t) - w * sigma[:, None] * grad.float()

    return eps_hat


def dpm_solver_2(eps_fn: EpsFn, x: Tensor, steps: int = 15, t_end: float = T_SAMPLE_END) -> Tensor:
    """Singlestep DPM-Solver++(2S) (data prediction, 2nd order) with ``steps`` model evaluations.

    Uniform time grid t_0 = 1 > ... > t_steps = t_end; pairs of grid points make one 2nd-order step
    (the middle point is the intermediate evaluation), an odd final interval takes one 1st-order step,
    exactly as the reference ``DPM_Solver.sample(order=2, method="singlestep", predict_x0=True)``.
    With x_0-prediction D(x, t) = (x - sigma_t eps(x, t)) / alpha_t, a step from t_prev to t and
    h = lambda_t - lambda_prev:
        u     = (sigma_u / sigma_prev) x - alpha_u (e^{-r h} - 1) D(x, t_prev)
        x_t   = (sigma_t / sigma_prev) x - alpha_t (e^{-h} - 1) [D(x, t_prev) + (D(u, u_t) - D(x, t_prev)) / (2 r)].
    """
    grid = torch.linspace(1.0, t_end, steps + 1, dtype=torch.float64)
    lam = vp_lambda(grid)
    batch = x.shape[0]

    def data_pred(x_: Tensor, t: Tensor) -> Tensor:
        alpha, sigma = vp_alpha_sigma(t)
        t_vec = t.to(x_.device, torch.float32).expand(batch)
        return (x_ - float(sigma) * eps_fn(x_, t_vec).float()) / float(alpha)

    i = 0
    x = x.float()
    while i < steps:
        order = 2 if steps - i >= 2 else 1
        t_prev, t = grid[i], grid[i + order]
        h = lam[i + order] - lam[i]
        alpha_t, sigma_t = vp_alpha_sigma(t)
        _, sigma_prev = vp_alpha_sigma(t_prev)
        d_prev = data_pred(x, t_prev)
        if order == 1:
            x = float(sigma_t / sigma_prev) * x - float(alpha_t * torch.expm1(-h)) * d_prev
        else:
            u_t = grid[i + 1]
            r = (lam[i + 1] - lam[i]) / h
            alpha_u, sigma_u = vp_alpha_sigma(u_t)
            u = float(sigma_u / sigma_prev) * x - float(alpha_u * torch.expm1(-r * h)) * d_prev
            d_u = data_pred(u, u_t)
            x = float(sigma_t / sigma_prev) * x - float(alpha_t * torch.expm1(-h)) * (
                d_prev + (d_u - d_prev) / (2.0 * float(r))
            )
        i += order
    return x


def dpm_solver_2m(eps_fn: EpsFn, x: Tensor, steps: int = 15, t_end: float = T_SAMPLE_END) -> Tensor:
    """Multistep DPM-Solver-2 (noise prediction, 2nd order) with ``steps`` model evaluations.

    Uniform time grid t_0 = 1 > ... > t_steps = t_end; one 1st-order step, then ``steps - 1`` 2nd-order steps
    that reuse the previous evaluation, exactly as the reference
    ``DPM_Solver(predict_x0=False).sample(order=2, method="multistep")`` of the paper's toy code.
    With eps_i = eps(x_i, t_i), h = lambda_{i+1} - lambda_i and r = (lambda_i - lambda_{i-1}) / h:
        x_1     = (alpha_1 / alpha_0) x_0 - sigma_1 (e^h - 1) eps_0
        x_{i+1} = (alpha_{i+1} / alpha_i) x_i - sigma_{i+1} (e^h - 1) [eps_i + (eps_i - eps_{i-1}) / (2 r)].
    """
    grid = torch.linspace(1.0, t_end, steps + 1, dtype=torch.float64)
    lam, log_alpha = vp_lambda(grid), vp_log_alpha(grid)
    _, sigma = vp_alpha_sigma(grid)
    batch = x.shape[0]
    x = x.float()
    previous: Tensor | None = None
    for i in range(steps):
        eps = eps_fn(x, grid[i].to(x.device, torch.float32).expand(batch)).float()
        h = lam[i + 1] - lam[i]
        slope = eps if previous is None else eps + (eps - previous) / (2.0 * float((lam[i] - lam[i - 1]) / h))
        x = float(torch.exp(log_alpha[i + 1] - log_alpha[i])) * x - float(sigma[i + 1] * torch.expm1(h)) * slope
        previous = eps
    return x


Sampler = Callable[[EpsFn, Tensor, int], Tensor]
SAMPLERS: dict[str, Sampler] = {"dpm_solver++_2s": dpm_solver_2, "dpm_solver_2m": dpm_solver_2m}


def get_sampler(name: str) -> Sampler:
    """The sampler ``eval.sampler`` names."""
    if name not in SAMPLERS:
        raise ConfigError(f"Unknown sampler '{name}' (eval.sampler); valid: {', '.join(SAMPLERS)}.")
    return SAMPLERS[name]

"""Which precision the hardware runs natively: ``trainer.precision=auto`` resolved before the Trainer is built.

bf16-mixed pays only where bf16 matrix products run in hardware: CUDA devices with bf16 support, and CPUs
with AMX or AVX-512-BF16 (as torch reports them). Elsewhere the CPU emulates bf16, many times slower than
fp32 (on an AVX2-only AMD EPYC about 15-25× for this project's networks), so ``auto`` means 32-true there.
"""

from __future__ import annotations

import functools
import logging

import torch
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

AUTO = "auto"
BF16, FP32 = "bf16-mixed", "32-true"


def cpu_has_native_bf16() -> bool:
    """AMX tiles or AVX-512-BF16, as torch's CPU feature checks report them. These checks are torch's only
    ones for the two features (its public ``torch.backends.cpu.get_cpu_capability()`` stops at "AVX512")."""
    cpu = torch.cpu
    return bool(cpu._is_amx_tile_supported() or cpu._is_avx512_bf16_supported())


def cuda_has_native_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def target_device(accelerator: str) -> str:
    """'cuda' or 'cpu': where a Trainer with this ``accelerator`` runs (auto: CUDA when there is one)."""
    if accelerator in ("gpu", "cuda") or (accelerator == AUTO and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def native_bf16(accelerator: str) -> bool:
    return cuda_has_native_bf16() if target_device(accelerator) == "cuda" else cpu_has_native_bf16()


@functools.lru_cache(maxsize=None)
@rank_zero_only
def warn_once(message: str) -> None:
    """One line on stderr (process 0, once per message), not a Python warning with its source line."""
    log.warning(message)


def resolve_precision(requested: str, accelerator: str) -> str:
    """``auto`` -> bf16-mixed where bf16 is native, else 32-true; any other value is kept, with a one-line
    warning when bf16 is forced on a CPU that emulates it."""
    requested = str(requested)
    if requested == AUTO:
        return BF16 if native_bf16(accelerator) else FP32
    if requested.startswith("bf16") and target_device(accelerator) == "cpu" and not cpu_has_native_bf16():
        warn_once(
            f"warning: trainer.precision={requested}: this CPU has neither AMX nor AVX-512-BF16, so bf16 is "
            f"emulated, typically 15-25x slower than fp32 for these networks "
            f"(trainer.precision=auto picks 32-true on this machine)."
        )
    return requested


def flush_denormals() -> None:
    """Compute subnormal floats (fp32 magnitudes below 1.2e-38) as zero on the CPU, as GPUs do by default.

    x86 CPUs compute with them through slow microcode: E-MSE's exp(f), clipped at exp(-100), fills gradients and
    Adam's second moments with them, and a toy E-MSE energy model trained at 23 steps/s against 66 with them
    flushed (the same weights after 300 steps). Nothing this project computes depends on values that small.
    """
    torch.set_flush_denormal(True)

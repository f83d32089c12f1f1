"""Which precision the hardware runs natively: ``trainer.precision=auto`` resolved before the Trainer is built.

bf16-mixed pays only where bf16 matrix products run in hardware: CUDA devices with bf16 support, and CPUs
with AMX or AVX-512-BF16 (as torch reports them). Elsewhere the CPU emulates bf16, many times slower than
fp32 (on an AVX2-only AMD EPYC about 15-25× for this project's networks), so ``auto`` means 32-true there.
"""

from __future__ import annotations

import functools
import time

import torch
from lightning.pytorch.utilities import rank_zero_warn

AUTO = "auto"
BF16, FP32 = "bf16-mixed", "32-true"


def cpu_has_native_bf16() -> bool:
    """AMX tiles or AVX-512-BF16, as torch's CPU feature checks report them."""
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
def bf16_slowdown(n: int = 256, repeats: int = 20) -> float:
    """Measured time of an n × n × n bf16 matrix product over the fp32 one, on the CPU (measured once)."""
    def seconds(dtype: torch.dtype) -> float:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        return time.perf_counter() - start

    return seconds(torch.bfloat16) / seconds(torch.float32)


def resolve_precision(requested: str, accelerator: str) -> str:
    """``auto`` -> bf16-mixed where bf16 is native, else 32-true; any other value is kept, with a one-line
    warning when bf16 is forced on a CPU that emulates it."""
    requested = str(requested)
    if requested == AUTO:
        return BF16 if native_bf16(accelerator) else FP32
    if requested.startswith("bf16") and target_device(accelerator) == "cpu" and not cpu_has_native_bf16():
        rank_zero_warn(f"trainer.precision={requested}: this CPU has neither AMX nor AVX-512-BF16, "
                       f"so bf16 is emulated; "
                       f"a bf16 matrix product measured {bf16_slowdown():.0f}x slower than fp32 here "
                       f"(trainer.precision=auto picks 32-true on this machine).")
    return requested

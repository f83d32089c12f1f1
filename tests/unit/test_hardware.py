"""trainer.precision=auto: bf16-mixed only where the hardware runs bf16 natively."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from cep_lightning.cli import run_command
from cep_lightning.config import precision as hardware
from cep_lightning.config.precision import resolve_precision


def test_auto_is_fp32_on_a_cpu_without_amx_or_avx512_bf16() -> None:
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    assert resolve_precision("auto", "cpu") == ("bf16-mixed" if native else "32-true")
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "DEFAULT", "NO AVX"):  # e.g. this AVX2-only AMD EPYC
        assert resolve_precision("auto", "cpu") == "32-true"


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"),
    [(True, False, "bf16-mixed"), (False, True, "bf16-mixed"), (False, False, "32-true")],
)
def test_auto_follows_the_cpu_features(
    monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert resolve_precision("auto", "cpu") == expected


def test_auto_on_cuda_follows_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_precision("auto", "gpu") == "32-true"  # bf16 only by emulation (e.g. a pre-Ampere GPU)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_precision("auto", "auto") == "bf16-mixed"


def test_forced_bf16_on_an_emulating_cpu_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    hardware.warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="cep_lightning.config.precision"):
        assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"  # every stage builds a Trainer: one line in all
        assert resolve_precision("32-true", "cpu") == "32-true"
    (record,) = caplog.records
    assert "bf16 is emulated, typically 15-25x slower than fp32" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_every_command_computes_subnormal_floats_as_zero(tmp_path: Path) -> None:
    """x86 computes subnormals (|x| < 1.2e-38 in fp32) through slow microcode; the commands flush them."""
    seen: list[float] = []
    try:
        torch.set_flush_denormal(False)  # an earlier test's command may have set it
        subnormal = torch.tensor([1e-39])  # made after: with it set, even the conversion gives 0
        assert float(subnormal * 1.0) > 0
        assert run_command(lambda cfg: seen.append(float(subnormal * 1.0)), [f"run.dir={tmp_path}"]) == 0
    finally:
        torch.set_flush_denormal(False)
    assert seen == [0.0]

"""The tables the exactness comparisons (toys, images) print: one row per method, one column per beta."""

from __future__ import annotations

from typing import Any, Callable

METHOD_NAMES = {"truth": "ground truth", "tilted": "exact tilt of q", "cep": "CEP", "mse": "MSE", "emse": "E-MSE"}


def method_rows(
    by_method: dict[str, dict[str, Any]], cell: Callable[[Any], str], width: int, indent: str = ""
) -> list[str]:
    """A header of the betas, then each method's cells ``cell(value)``, right-aligned in columns of ``width``."""
    betas = list(next(iter(by_method.values())))
    lines = [f"{indent}{'method':<14}" + "".join(f"{'beta=' + b:>{width}}" for b in betas)]
    for method, by_beta in by_method.items():
        cells = "".join(f"{cell(by_beta[b]):>{width}}" for b in betas)
        lines.append(f"{indent}{METHOD_NAMES.get(method, method):<14}{cells}")
    return lines


def value(v: float | None) -> str:
    """One run's distance ("-": a metric that does not apply)."""
    return "-" if v is None else f"{v:.3f}"

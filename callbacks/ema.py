"""Exponential moving average of the behaviour model's weights (Lightning's weight averaging)."""

from __future__ import annotations

from lightning.pytorch.callbacks import EMAWeightAveraging


class BehaviorEMA(EMAWeightAveraging):
    """theta_ema <- decay · theta_ema + (1 - decay) · theta after every step; the saved model holds theta_ema.

    Off in the paper's settings (``callbacks.ema.enabled=false``).
    """

    def __init__(self, decay: float = 0.999, update_starting_at_step: int | None = None):
        super().__init__(decay=decay, update_starting_at_step=update_starting_at_step)

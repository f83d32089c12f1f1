"""Exponential moving average of a stage's weights (Lightning's weight averaging)."""

from __future__ import annotations

from lightning.pytorch.callbacks import EMAWeightAveraging


class ModelEMA(EMAWeightAveraging):
    """theta_ema <- decay · theta_ema + (1 - decay) · theta after every step; the saved model holds theta_ema.

    Off in the paper's settings (``callbacks.ema.enabled=false``); ``callbacks.ema.stages`` picks the stages
    (the behaviour model by default; the 2-D toys average the energy models too).
    """

    def __init__(self, decay: float = 0.999, update_starting_at_step: int | None = None):
        super().__init__(decay=decay, update_starting_at_step=update_starting_at_step)

"""Which training steps write their metrics: ``self.log`` is only worth calling on those."""

from __future__ import annotations

import lightning as L


def writes_logs_now(module: L.LightningModule, done: bool = False) -> bool:
    """True on the steps whose metrics Lightning writes to the logger (every ``trainer.log_every_n_steps``).

    Inside a step (``done=False``) the step under way is ``global_step + 1`` (with K optimizer steps per batch,
    ``CompilableStep.steps_per_batch``, the batch's last: ``global_step + K``); after its optimizer step
    (``on_train_batch_end``, ``done=True``) it is ``global_step``. On a CPU ``self.log`` costs about 1.4 ms per
    metric and step whether or not the value is written (a third of a small energy step), and on any device
    writing a value reads it on the host, so the stages and callbacks read and log only on these steps; the
    written curves are the same.
    """
    try:
        every = module.trainer.log_every_n_steps
    except RuntimeError:  # not attached to a Trainer (a step called directly): no logger to write to
        return False
    return (module.global_step + (0 if done else getattr(module, "steps_per_batch", 1))) % every == 0

"""One LightningModule per stage: each defines its steps and optimizers, nothing else."""

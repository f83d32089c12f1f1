"""One LightningModule per stage (behaviour, support sampling, critic, energy, evaluation): each defines its
steps and optimizers, nothing else; the energy stage's contrastive sets (``candidates``) are passed in. Imports
``envs``, ``data``, ``maths`` and ``errors``; no stage imports another's module but the candidates."""

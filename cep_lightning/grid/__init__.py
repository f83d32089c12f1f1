"""``python -m cep_lightning.grid task=a,b seed=0,1,2 [key=value ...] launcher=slurm|local [status]``: one
ordinary cep_lightning run per (task, seed) under one grid directory, launched through submitit (a SLURM job
array, or local processes a few at a time), rerun to resubmit what is not finished, with a status per run and
the report table once every run is done. An entry point beside ``cli``: it imports the layers below it."""

"""CEP / QGPO offline RL with energy-guided diffusion, in PyTorch Lightning.

Layers, each importing only those below it (checked by ``import-linter``, see ``pyproject.toml``)::

    cli, grid, toys, report, bench   entry points (grid: one run per task and seed, through submitit)
    policy                       QGPOPolicy: a finished run's guided policy
    run                          run directories, the plan, the pipeline (one Trainer per stage)
    callbacks                    every Lightning callback of the project, built from config
    stages                       one LightningModule per stage
    envs                         evaluation environments
    data                         data sets, support store, DataModule
    config                       schema, loading, validation, Trainer options
    maths                        diffusion, guidance, losses, networks
    errors                       the errors a user can act on
"""

"""Settings: the typed schema (every setting's default, help and valid values), loading presets and the command
line, the one place where settings are checked, and what a stage's Trainer is given (its options, precision,
compilation, smoke budgets). Imports ``maths`` and ``errors`` at most; knows nothing of run directories."""

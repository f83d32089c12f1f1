"""A run directory and what works in it: its layout and records, which run a command names and its config,
the plan (what runs, resumes, is redone or skipped), the multi-stage pipeline with one Trainer per stage,
loggers, signals and timings. Imports every layer below it (callbacks, stages, envs, data, config, maths)."""

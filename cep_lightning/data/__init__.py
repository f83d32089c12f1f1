"""Offline data: the sources (the built-in Pendulum set, D4RL-format HDF5, Minari, the 2-D toys), the transition
container, reward transforms, observation flattening, maze goals, the support-action store and the
LightningDataModule that serves batches. Imports ``maths`` and ``errors`` at most: never stages, run or envs."""

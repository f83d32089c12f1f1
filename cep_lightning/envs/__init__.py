"""Evaluation environments: making the task's gymnasium environment (mazes wrapped to D4RL's goal, Dict
observations flattened as in training), stepping one episode per environment, the normalized score. Imports
``data``, ``config``, ``maths`` and ``errors``."""

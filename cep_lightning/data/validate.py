"""Checks of a loaded data set against itself and against the evaluation environment, with actionable errors."""

from __future__ import annotations

import logging
from typing import Callable

import gymnasium as gym
import numpy as np

from cep_lightning.data.observations import flat_space
from cep_lightning.data.transitions import Transitions
from cep_lightning.errors import DataError

log = logging.getLogger(__name__)

FIELDS = ("observations", "actions", "rewards", "next_observations")


def nonfinite_rows(data: Transitions) -> np.ndarray:
    """[N] bool: rows with NaN or inf in s, a, r or s'."""
    bad = np.zeros(len(data), dtype=bool)
    for name in FIELDS:
        values = getattr(data, name).reshape(len(data), -1)
        bad |= ~np.isfinite(values).all(axis=1)
    return bad


def drop_rows(data: Transitions, keep: np.ndarray) -> Transitions:
    return Transitions(**{name: getattr(data, name)[keep] for name in (*FIELDS, "terminals", "timeouts")})


def check_finite(data: Transitions, where: str, drop: bool) -> Transitions:
    """Refuse NaN/inf values (naming how many rows and the first ones), or drop those rows when ``drop``."""
    bad = nonfinite_rows(data)
    if not bad.any():
        return data
    rows = np.flatnonzero(bad)
    fields = [name for name in FIELDS if not np.isfinite(getattr(data, name)[bad]).all()]
    if not drop:
        raise DataError(
            f"{where}: {len(rows)} of {len(data)} rows have NaN or inf in {fields} (first rows: {rows[:5].tolist()}). "
            f"Fix the data, or drop those rows with data.drop_nonfinite=true."
        )
    log.warning("%s: dropped %d rows with NaN or inf in %s (data.drop_nonfinite=true)", where, len(rows), fields)
    return drop_rows(data, ~bad)


def check_against_env(data: Transitions, make_env: Callable[[], gym.Env]) -> None:
    """Observation and action sizes must match the evaluation environment (after its observation mapping);
    actions outside its bounds are reported."""
    env = make_env()
    env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    try:
        obs_shape, act_space = (
            flat_space(env.observation_space, None).shape,
            env.action_space,
        )  # a Dict space needs keys
    finally:
        env.close()
    if obs_shape != data.observations.shape[1:]:
        raise DataError(
            f"The data set's observations have size {data.observations.shape[1:]} but {env_id} observes {obs_shape}; "
            f"the task's data and eval.env_id (with data.observation_keys) do not belong together."
        )
    if act_space.shape != data.actions.shape[1:]:
        raise DataError(
            f"The data set's actions have size {data.actions.shape[1:]} but {env_id} takes {act_space.shape}; "
            f"the task's data and eval.env_id do not belong together."
        )
    outside = np.mean(np.any((data.actions < act_space.low - 1e-6) | (data.actions > act_space.high + 1e-6), axis=1))
    if outside > 0:
        log.warning(
            "%.2f%% of the data set's actions lie outside %s's action space [%s, %s]; "
            "the policy's actions are clipped to it.",
            100 * outside,
            env_id,
            act_space.low.min(),
            act_space.high.max(),
        )

"""``smoke=true``: every stage of any task on a small slice with short budgets, to check a set-up in well under
a minute. The models keep their sizes (so memory and devices are checked too); what shrinks is the data
(the support stage samples M actions for every state, so its cost follows the slice), the step budgets and
the evaluation."""

from __future__ import annotations

from omegaconf import DictConfig

SMOKE = {
    "data.max_transitions": 1000,  # the support stage: 1000 states (+ final next states) × M actions
    "support.batch_size": 256,  # a few batches, so that its progress shows
    "behavior.steps": 50,
    "critic.steps": 50,
    "energy.steps": 50,
    "eval.episodes": 1,
    "eval.max_episode_steps": 100,  # gym.make(..., max_episode_steps=100): a maze's 1000-step episodes cut short
    "trainer.log_every_n_steps": 10,
    "progress.every_n_steps": 10,
}


def _smaller(current: int | None, limit: int) -> int:
    return limit if current is None else min(current, limit)


def apply_smoke(cfg: DictConfig) -> None:
    """Shrink ``cfg`` in place to the smoke settings (never enlarging a budget already smaller); evaluation at
    the reported scale only."""
    cfg.data.max_transitions = _smaller(cfg.data.max_transitions, SMOKE["data.max_transitions"])
    cfg.support.batch_size = _smaller(cfg.support.batch_size, SMOKE["support.batch_size"])
    for stage in ("behavior", "critic", "energy"):
        cfg[stage].steps = _smaller(cfg[stage].steps, SMOKE[f"{stage}.steps"])
    cfg.eval.episodes = _smaller(cfg.eval.episodes, SMOKE["eval.episodes"])
    cfg.eval.scales = [cfg.eval.reported_scale]
    cfg.eval.env_kwargs.max_episode_steps = _smaller(
        cfg.eval.env_kwargs.get("max_episode_steps"), SMOKE["eval.max_episode_steps"]
    )
    cfg.trainer.log_every_n_steps = _smaller(cfg.trainer.get("log_every_n_steps"), SMOKE["trainer.log_every_n_steps"])
    cfg.progress.every_n_steps = _smaller(cfg.progress.every_n_steps or None, SMOKE["progress.every_n_steps"])

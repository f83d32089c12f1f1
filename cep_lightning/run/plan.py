"""Which stages a command runs, resumes, redoes or skips, and why: make-like rules over the stage records.

A stage's record holds its *settings* (its config group without the keys that only change how it runs,
the seed, the data's fingerprint) and the ids of its *inputs* (the records of the stages it reads). It is
current when both match what the command asks for and its inputs are current themselves:

- ``stage=all`` runs exactly the stages that are not current, and everything downstream of them;
- ``stage=X`` redoes X (resuming it if an interrupted X was started with the same settings) and needs
  its inputs current; the later stages it invalidates are named, with the command that refreshes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cep_lightning.config.schema import STAGES
from cep_lightning.errors import MissingStageError
from cep_lightning.run.directory import RunDir

INPUTS = {
    "behavior": (),
    "support": ("behavior",),
    "critic": ("support",),
    "energy": ("support", "critic"),
    "eval": ("behavior", "energy"),
}
EXECUTION_KEYS = {"support": ("batch_size",), "eval": ("envs_per_batch",)}  # how a stage runs, not what it computes


def stage_settings(cfg: DictConfig, stage: str, data_fingerprint: str) -> dict[str, Any]:
    """What a stage's output depends on besides its inputs, as flat ``key: value`` pairs."""
    group: dict[str, Any] = OmegaConf.to_container(cfg[stage], resolve=True)  # type: ignore[assignment]
    skip = ("trainer", *EXECUTION_KEYS.get(stage, ()))
    settings = {f"{stage}.{key}": value for key, value in group.items() if key not in skip}
    settings["seed"] = cfg.seed
    settings["data"] = data_fingerprint
    if stage == "critic":
        settings["data.reward_transform"] = cfg.data.reward_transform
        if cfg.data.reward_transform == "locomotion" and cfg.data.reward_scale != "episodes":
            settings["data.reward_scale"] = cfg.data.reward_scale  # recorded where it changes the rewards
    if stage == "eval":
        settings["data.observation_keys"] = OmegaConf.to_container(cfg.data, resolve=True)["observation_keys"]
    if cfg.callbacks.ema.enabled and stage in cfg.callbacks.ema.stages:
        settings["callbacks.ema.decay"] = cfg.callbacks.ema.decay
    return settings


def downstream(stage: str) -> list[str]:
    """The stages that read ``stage``'s output, directly or through others, in pipeline order."""
    found = {stage}
    for later in STAGES[STAGES.index(stage) + 1 :]:
        if any(i in found for i in INPUTS[later]):
            found.add(later)
    return [other for other in STAGES if other in found and other != stage]


@dataclass
class Step:
    """What a command does with one stage: ``run`` (no record yet), ``redo``, ``resume`` or ``skip``."""

    stage: str
    action: str
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return f"{self.stage:<9}{self.action}{why}"


@dataclass
class Plan:
    steps: list[Step]
    stale_after: list[str]  # finished stages that this command leaves out of date (single-stage commands)

    @property
    def to_run(self) -> list[Step]:
        return [step for step in self.steps if step.action != "skip"]

    def describe(self, run: RunDir) -> str:
        lines = [f"[cep_lightning] plan for {run.path}:"] + [f"  {step.describe()}" for step in self.steps]
        if self.stale_after:
            lines.append(
                f"  then out of date: {', '.join(self.stale_after)} (refresh: python train.py run.dir={run.path})"
            )
        return "\n".join(lines)


def changed_settings(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old → new`` for every setting that differs."""

    def show(key: str, value: Any) -> str:
        return "(none)" if value is None else str(value)

    changes = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if key == "data":
                changes.append(f"the data changed (fingerprint {show(key, old.get(key))} → {show(key, new.get(key))})")
            else:
                changes.append(f"{key}: {show(key, old.get(key))} → {show(key, new.get(key))}")
    return changes


def input_ids(run: RunDir, stage: str) -> dict[str, str | None]:
    """The ids of the records ``stage`` reads now."""
    return {name: run.record_id(name) for name in INPUTS[stage]}


def stale_reasons(run: RunDir, stage: str, wanted: dict[str, Any], redone: set[str]) -> list[str]:
    """Why ``stage``'s record does not describe what is asked for ([] when it does); ``redone``: inputs that
    this command runs again."""
    record = run.record(stage)
    if record is None:
        return ["interrupted earlier" if run.pending(stage) else "not run yet"]
    reasons = changed_settings(record["settings"], wanted)
    for name in INPUTS[stage]:
        if name in redone:
            reasons.append(f"{name} is redone")
        elif record["inputs"].get(name) != run.record_id(name):
            reasons.append(f"{name} was redone since")
    return reasons


def can_resume(run: RunDir, stage: str, wanted: dict[str, Any], redone: set[str]) -> bool:
    """An interrupted start of ``stage`` with the same settings and inputs (its partial output is reusable)."""
    pending = run.pending(stage)
    return (
        pending is not None
        and not redone & set(INPUTS[stage])
        and pending["settings"] == wanted
        and pending["inputs"] == input_ids(run, stage)
    )


def make_plan(run: RunDir, stage: str, wanted: dict[str, dict[str, Any]]) -> Plan:
    """The steps of ``stage=all`` (or of one stage) for a run whose stages should have ``wanted`` settings."""
    if stage == "all":
        redone: set[str] = set()
        steps = []
        for name in STAGES:
            reasons = stale_reasons(run, name, wanted[name], redone)
            if not reasons:
                steps.append(Step(name, "skip", ["current"]))
                continue
            action = "resume" if can_resume(run, name, wanted[name], redone) else "redo" if run.record(name) else "run"
            steps.append(Step(name, action, reasons))
            redone.add(name)
        return Plan(steps, [])
    _check_inputs_current(run, stage, wanted)
    if can_resume(run, stage, wanted[stage], set()):
        step = Step(stage, "resume", ["interrupted earlier with the same settings"])
    elif run.record(stage):
        step = Step(stage, "redo", stale_reasons(run, stage, wanted[stage], set()) or ["asked for"])
    else:
        step = Step(stage, "run", [])
    return Plan([step], [later for later in downstream(stage) if run.record(later)])


def _check_inputs_current(run: RunDir, stage: str, wanted: dict[str, dict[str, Any]]) -> None:
    """A single stage needs every stage it reads, directly or not, finished and current."""
    for name in STAGES[: STAGES.index(stage)]:
        reasons = stale_reasons(run, name, wanted[name], set()) if stage in downstream(name) else []
        if reasons:
            state = "missing" if run.record(name) is None else "out of date"
            raise MissingStageError(
                f"stage={stage} needs the '{name}' stage's output, which is {state} in {run.path} "
                f"({'; '.join(reasons)}). Run it first: python train.py stage={name} run.dir={run.path}  "
                "(or stage=all, which runs what is needed)."
            )


def consistent(run: RunDir, stage: str) -> bool:
    """``stage`` is finished and was made from the records its inputs hold now (recursively)."""
    record = run.record(stage)
    return record is not None and all(
        record["inputs"].get(name) == run.record_id(name) and consistent(run, name) for name in INPUTS[stage]
    )


def current_results(run: RunDir) -> dict[str, Any] | None:
    """results.json when the evaluation that wrote it describes the run's current models, else None."""
    return json.loads(run.results.read_text()) if run.results.is_file() and consistent(run, "eval") else None

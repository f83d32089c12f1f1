"""Typed config schema (OmegaConf structured configs), loading, merging and friendly validation errors.

Order of precedence: schema defaults < conf/config.yaml < conf/task/<task>.yaml < command-line ``a.b=c``.
"""

from __future__ import annotations

import difflib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from cep_lightning.errors import ConfigError, MissingStageError
from cep_lightning.rundir import STAGES, RunDir, latest_run
from cep_lightning.smoke import apply_smoke

def _conf_dir() -> Path:
    """The default configs: the repository's ``conf/`` in a checkout, the copy inside the package once installed."""
    checkout = Path(__file__).resolve().parent.parent / "conf"
    return checkout if (checkout / "config.yaml").is_file() else Path(__file__).resolve().parent / "conf"


CONF_DIR = _conf_dir()
STAGE_CHOICES = (*STAGES, "all")


@dataclass
class RunConfig:
    root: str = "runs"  # runs go to <root>/<task>/<name>
    name: Optional[str] = None  # default: a time stamp for a new run
    dir: Optional[str] = None  # an existing or new run directory; overrides root and name


@dataclass
class DataConfig:
    source: str = "builtin"  # builtin | hdf5 | minari | toy
    path: Optional[str] = None  # D4RL-format HDF5 file (source=hdf5)
    minari_id: Optional[str] = None  # Minari dataset id (source=minari)
    download: bool = False  # let Minari download a missing dataset
    builtin_episodes: int = 200  # size of the built-in data set (source=builtin)
    toy: Optional[str] = None  # 2-D toy (source=toy): 8gaussians | moons | checkerboard | rings | swissroll | 2spirals
    toy_size: int = 200_000  # points of the toy data set
    drop_nonfinite: bool = False  # drop rows with NaN/inf instead of refusing the data set
    reward_transform: str = "locomotion"  # locomotion: r·1000/(max return − min return); antmaze: r − 1; none
    observation_keys: Optional[list[str]] = None  # Dict observations (data set and env): these keys concatenated, in order
    max_transitions: Optional[int] = None  # only the first N transitions (the last episode cut there); null: all
    num_workers: int = 0


@dataclass
class BehaviorConfig:
    steps: int = 600_000
    batch_size: int = 4096
    lr: float = 1e-4
    widths: list[int] = field(default_factory=lambda: [512, 256, 128])  # MLP-U-Net widths
    cond_dim: int = 128
    trainer: dict[str, Any] = field(default_factory=dict)  # per-stage Trainer overrides


@dataclass
class SupportConfig:
    M: int = 16  # support actions per state (16 locomotion, 32 AntMaze)
    solver_steps: int = 15  # DPM-Solver model evaluations
    batch_size: int = 256  # states per prediction batch
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class CriticConfig:
    steps: int = 500_000
    batch_size: int = 256
    lr: float = 3e-4
    hidden: int = 256
    depth: int = 3
    gamma: float = 0.99  # discount γ
    tau: float = 0.005  # Polyak rate of the target network
    beta_q: float = 1.0  # in-support softmax temperature β_Q
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class EnergyConfig:
    steps: int = 1_000_000
    batch_size: int = 256
    lr: float = 3e-4
    hidden: int = 256
    depth: int = 4
    beta: float = 3.0  # CEP inverse temperature β
    loss: str = "cep"  # cep | mse | emse
    time_scale: float = 30.0  # std of the fixed Fourier time frequencies W ~ N(0, scale²)
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalConfig:
    # gymnasium (or gymnasium-robotics) environment the policy is evaluated in; null: the one the Minari data set
    # stores (recover_environment(eval_env=True)). A maze is scored by D4RL's success (within 0.5 of its one goal cell).
    env_id: Optional[str] = "Pendulum-v1"
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # gym.make(env, **env_kwargs), over the data set's too
    episodes: int = 10  # episodes per guidance scale, each in its own seeded environment
    scales: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0])  # the sweep of guidance scales s_g
    reported_scale: float = 3.0  # the scale whose score is reported, fixed before evaluation (one of ``scales``)
    envs_per_batch: int = 0  # environments stepped together per process (0: all episodes of the process at once)
    solver_steps: int = 15
    sampler: str = "dpm_solver++_2s"  # dpm_solver++_2s (singlestep, x0-prediction) | dpm_solver_2m (multistep, eps)
    ref_min_return: Optional[float] = None  # "random" reference return of the normalized score
    ref_max_return: Optional[float] = None  # "expert" reference return
    seed: int = 10_000  # environment seeds are seed, seed + 1, ...
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToyConfig:
    """The exactness comparison of ``python -m cep_lightning.toys`` (toy tasks only)."""

    methods: list[str] = field(default_factory=lambda: ["cep", "mse", "emse"])  # energy training objectives compared
    betas: list[float] = field(default_factory=lambda: [0.0, 3.0, 10.0, 20.0])  # target p ∝ q exp(beta e)
    samples: int = 20_000  # guided samples per (method, beta)
    contrastive_size: int = 0  # CEP's contrastive sets: groups of this many points, one t each (0: the whole batch)
    lr_decay: bool = False  # behaviour and energy learning rates decay linearly to zero over their steps


def default_trainer_options() -> dict[str, Any]:
    """Lightning Trainer options shared by every stage; ``trainer.*`` takes any ``lightning.Trainer`` argument
    except those the pipeline sets itself (see ``trainer_options.OWNED``). ``precision: auto`` is bf16-mixed
    where bf16 is native (CUDA, AMX, AVX-512-BF16), else 32-true (``hardware.resolve_precision``)."""
    return {"accelerator": "auto", "devices": 1, "strategy": "auto", "num_nodes": 1, "precision": "auto",
            "log_every_n_steps": 50, "enable_progress_bar": True}


@dataclass
class ProgressConfig:
    """Progress when the output is not a terminal (logs, nohup, SLURM, CI): a line every N steps or seconds."""

    every_n_steps: int = 1000  # steps (support and evaluation: batches) between lines; 0: by time only
    every_seconds: float = 30.0


@dataclass
class CheckpointConfig:
    every_n_steps: int = 5000  # training stages save <stage>/checkpoints/last.ckpt this often (resume point)


@dataclass
class PeriodicEvalConfig:
    enabled: bool = False
    every_n_steps: int = 10_000
    episodes: int = 5
    scales: list[float] = field(default_factory=lambda: [3.0])  # energy stage; the critic stage evaluates argmax-Q selection


@dataclass
class EMAConfig:
    enabled: bool = False
    decay: float = 0.999
    stages: list[str] = field(default_factory=lambda: ["behavior"])  # training stages whose weights are averaged


@dataclass
class CallbackSpec:
    target: str = "???"  # import path, "package.module.ClassName"
    args: dict[str, Any] = field(default_factory=dict)
    stages: list[str] = field(default_factory=lambda: list(STAGES))


@dataclass
class CallbacksConfig:
    periodic_eval: PeriodicEvalConfig = field(default_factory=PeriodicEvalConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    custom: dict[str, CallbackSpec] = field(default_factory=dict)  # name -> user callback


@dataclass
class Config:
    task: str = "pendulum-mixed"
    stage: str = "all"
    seed: int = 0
    smoke: bool = False  # every stage on a small slice with short budgets (cep_lightning.smoke): checks a set-up quickly
    compile: bool = False  # torch.compile the training stages' networks (no gain measured on an AVX2 CPU)
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trainer: dict[str, Any] = field(default_factory=default_trainer_options)
    logger: list[str] = field(default_factory=lambda: ["tensorboard"])  # tensorboard | csv | wandb | mlflow, several at once
    progress: ProgressConfig = field(default_factory=ProgressConfig)
    tf32: bool = False  # allow TF32 matrix products on NVIDIA GPUs (faster, ~1e-3 relative error); off: fp32 is fp32
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    toy: ToyConfig = field(default_factory=ToyConfig)


CHOICES = {
    "data.source": ("builtin", "hdf5", "minari", "toy"),
    "data.reward_transform": ("locomotion", "antmaze", "none"),
    "energy.loss": ("cep", "mse", "emse"),
    "eval.sampler": ("dpm_solver++_2s", "dpm_solver_2m"),  # cep_lightning.diffusion.SAMPLERS
}


def available_tasks() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "task").glob("*.yaml"))


RUN_DIR_ENV = "CEP_LIGHTNING_RUN_DIR"  # set by rank 0, inherited by the processes Lightning's DDP launcher starts
COMMAND_KEYS = ("stage",)  # keys of one command, not of the run: config.yaml does not keep them


def load_config(overrides: list[str]) -> DictConfig:
    """The config of the run a command names, validated.

    A new run: schema ← conf/config.yaml ← conf/task/<task>.yaml ← ``key=value`` overrides.
    An existing run (run.dir, run.name, or the task's latest run for a single stage): schema ← the run's
    config.yaml ← overrides, so that ``python train.py run.dir=R`` alone changes nothing.
    ``run.dir`` is always set in the result.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Argument '{item}' is not of the form key=value (for example stage=energy or critic.steps=1000).")
    cli = OmegaConf.from_dotlist(overrides)
    schema = OmegaConf.structured(Config)
    defaults = _merge(schema, OmegaConf.load(CONF_DIR / "config.yaml"), "conf/config.yaml")
    task = _check_task(cli.get("task", defaults.task))
    cfg = _merge(_merge(defaults, OmegaConf.load(CONF_DIR / "task" / f"{task}.yaml"), f"conf/task/{task}.yaml"), cli, "the command line")
    _check_stage(cfg)
    run = locate_run(cfg)
    if run.config.is_file():
        saved = load_run_config(run.path)
        if "task" in cli and cli.task != saved.task:
            raise ConfigError(f"Run directory {run.path} belongs to task '{saved.task}', not '{cli.task}'. "
                              f"Pass task={saved.task} or choose another run.dir.")
        cfg = _merge(saved, cli, "the command line")
    if cfg.smoke:
        apply_smoke(cfg)
    _check_choices(cfg)
    cfg.run.dir = str(run.path)
    return cfg


def locate_run(cfg: DictConfig) -> RunDir:
    """run.dir if given; else <root>/<task>/<name>; a single stage without either: the task's latest run
    (the latest with a finished stage); a new run: <root>/<task>/<time stamp>."""
    if os.environ.get(RUN_DIR_ENV):
        return RunDir(Path(os.environ[RUN_DIR_ENV]))
    task_dir = Path(cfg.run.root) / cfg.task
    path = Path(cfg.run.dir) if cfg.run.dir else task_dir / cfg.run.name if cfg.run.name else None
    if cfg.stage == "all":
        return RunDir(path or task_dir / time.strftime("%Y%m%d-%H%M%S"))
    if path is not None:
        if not RunDir(path).finished_stages():
            state = "does not exist" if not path.exists() else "has no finished stage"
            raise MissingStageError(f"stage={cfg.stage} needs an existing run, but {path} {state}. "
                                    f"Run the whole pipeline there first: python train.py run.dir={path}")
        return RunDir(path)
    latest = latest_run(task_dir)
    if latest is None:
        raise MissingStageError(f"stage={cfg.stage} needs an existing run of task '{cfg.task}', but {task_dir} has none "
                                f"with a finished stage. Run the whole pipeline first (stage=all), or point at a run with run.dir=...")
    return latest


def load_run_config(run_dir: str | Path) -> DictConfig:
    """The settings a run directory holds (its config.yaml), completed by the schema's defaults."""
    path = RunDir(Path(run_dir)).config
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no config.yaml; is it a cep_lightning run directory?")
    return _merge(OmegaConf.structured(Config), OmegaConf.load(path), str(path))


def _check_task(task: str) -> str:
    if task not in available_tasks():
        close = difflib.get_close_matches(str(task), available_tasks(), n=3, cutoff=0.3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(f"Unknown task '{task}'. Valid tasks: {', '.join(available_tasks())}.{hint} (Presets live in conf/task/.)")
    return task


def _merge(base: DictConfig, other: DictConfig, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, other)  # type: ignore[return-value]
    except (ConfigKeyError, ConfigAttributeError) as exc:
        key = exc.full_key or str(exc.key)
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        node = OmegaConf.select(base, parent) if parent else base
        valid = [f"{parent}.{k}" if parent else k for k in node.keys()] if isinstance(node, DictConfig) else []
        raise ConfigError(f"Unknown config key '{key}' (in {source}).{_suggest(key, valid)}") from None
    except ValidationError as exc:
        key = exc.full_key or str(exc.key)
        expected = _expected_type(key)
        raise ConfigError(f"Config key '{key}' got the value {exc.value!r} (in {source}), but expects {expected}.") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"Invalid config (in {source}): {exc}") from None


def _expected_type(key: str) -> str:
    obj: Any = Config()
    for part in key.split("."):
        if not hasattr(obj, part):
            return "a value of the schema's type"
        obj = getattr(obj, part)
    hints = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return hints.get(type(obj), f"a value of type {type(obj).__name__}")


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.5)
    if not close:
        last = word.rsplit(".", 1)[-1]
        close = [o for o in options if difflib.get_close_matches(last, [o.rsplit(".", 1)[-1]], cutoff=0.6)]
    return f" Did you mean: {', '.join(close)}?" if close else (f" Valid keys: {', '.join(options)}." if options else "")


def _check_stage(cfg: DictConfig) -> None:
    if cfg.stage not in STAGE_CHOICES:
        raise ConfigError(f"Unknown stage '{cfg.stage}'. Valid stages: {', '.join(STAGE_CHOICES)}.")


def _check_choices(cfg: DictConfig) -> None:
    _check_stage(cfg)
    for key, valid in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in valid:
            raise ConfigError(f"Config key '{key}' got {value!r}; valid values: {', '.join(valid)}.")
    for name, spec in cfg.callbacks.custom.items():
        unknown = [s for s in spec.stages if s not in STAGES]
        if unknown:
            raise ConfigError(f"callbacks.custom.{name}.stages names unknown stage(s) {unknown}; valid: {', '.join(STAGES)}.")
        if OmegaConf.is_missing(spec, "target") or spec.target == "???":
            raise ConfigError(f"callbacks.custom.{name}.target is required: the import path of a Lightning Callback class.")
    for stage in STAGES:
        _check_positive(cfg, stage)
    if float(cfg.eval.reported_scale) not in [float(s) for s in cfg.eval.scales]:
        raise ConfigError(f"eval.reported_scale={cfg.eval.reported_scale} is not among eval.scales={list(cfg.eval.scales)}; "
                          f"the reported scale is fixed beforehand and must be evaluated (add it to eval.scales).")


def _check_positive(cfg: DictConfig, stage: str) -> None:
    group = cfg[stage]
    for key in ("steps", "batch_size", "M", "solver_steps", "episodes"):
        if key in group and group[key] <= 0:
            raise ConfigError(f"Config key '{stage}.{key}' must be positive, got {group[key]}.")


def run_settings_yaml(cfg: DictConfig) -> str:
    """The run's settings as config.yaml keeps them (without the keys of one command, such as ``stage``)."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    for key in COMMAND_KEYS:
        settings.pop(key)  # type: ignore[union-attr]
    return OmegaConf.to_yaml(settings)


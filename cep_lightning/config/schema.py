"""Every setting of cep_lightning, its default, its type, what it means and its valid values: the one place.

Task presets (``conf/task/<task>.yaml``, built on ``conf/base/<base>.yaml``) hold only what differs from these
defaults; ``python train.py --help`` lists them, generated from here; ``config.load_config`` composes them.
The defaults are the paper's locomotion settings (Lu et al., 2023, Appendix D; ``../docs/qgpo.md``).
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

STAGES = ("behavior", "support", "critic", "energy", "eval")  # in pipeline order
TRAINING_STAGES = ("behavior", "critic", "energy")
STAGE_CHOICES = (*STAGES, "all")
COMPILE_MODES = ("auto", "default", "reduce-overhead", "max-autotune")  # config/compiling.py
SAMPLER_CHOICES = ("dpm_solver++_2s", "dpm_solver_2m")  # cep_lightning.maths.diffusion.SAMPLERS


def setting(default: Any, help: str = "", choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field with its help text and (for strings) its valid values, read by ``--help`` and the checks."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    root: str = setting("runs", "runs go to <root>/<task>/<name>")
    name: Optional[str] = setting(None, "the run's name (default: a time stamp for a new run)")
    dir: Optional[str] = setting(None, "an existing or new run directory; overrides root and name")


@dataclass
class DataConfig:
    source: str = setting("builtin", "where the transitions come from", ("builtin", "hdf5", "minari", "toy", "images"))
    path: Optional[str] = setting(None, "D4RL-format HDF5 file (source=hdf5)")
    url: Optional[str] = setting(
        None, "where a missing data.path is fetched from with data.download=true (source=hdf5)"
    )
    frame: str = setting(
        "env",
        "the frame of the file's (x, y) (source=hdf5): env (the evaluation env's own); d4rl-antmaze (D4RL's AntMaze "
        "frame: eval.env_kwargs.maze_map, D4RL's map as D4RL writes it, is laid out with its rows reversed, and the "
        "(x, y) are moved into that maze's frame)",
        ("env", "d4rl-antmaze"),
    )
    minari_id: Optional[str] = setting(None, "Minari data set id (source=minari)")
    download: bool = setting(False, "fetch a missing data set (Minari: from its hub; source=hdf5: from data.url)")
    builtin_episodes: int = setting(200, "episodes of the built-in Pendulum data set (source=builtin)")
    toy: Optional[str] = setting(
        None, "the 2-D toy (source=toy): 8gaussians, moons, checkerboard, rings, swissroll, 2spirals"
    )
    toy_size: int = setting(200_000, "points of the toy data set")
    images: Optional[str] = setting(
        None,
        "the image set (source=images): digits (scikit-learn's 8 × 8 digits), mnist or cifar10 (through torchvision, "
        "into data/torchvision), a folder of class subfolders, or an .npz of images and labels",
    )
    drop_nonfinite: bool = setting(False, "drop rows with NaN/inf instead of refusing the data set")
    reward_transform: str = setting(
        "locomotion", "locomotion: r·1000/(max return − min return); antmaze: r − 1", ("locomotion", "antmaze", "none")
    )
    reward_scale: str = setting(
        "episodes",
        "the returns of locomotion's max − min: episodes (true episodes, time-out rows included); paper (the paper's "
        "return_range: time-out rows dropped, an episode every 1000 rows, the trailing part dropped)",
        ("episodes", "paper"),
    )
    observation_keys: Optional[list[str]] = setting(
        None, "Dict observations (data set and env): these keys concatenated, in order"
    )
    max_transitions: Optional[int] = setting(
        None, "only the first N transitions (the last episode cut there); null: all"
    )
    num_workers: int = setting(0, "DataLoader worker processes")
    on_device: Optional[bool] = setting(
        None, "gather training rows on the device from tables moved there once (null: on an accelerator, if they fit)"
    )


@dataclass
class BehaviorConfig:
    steps: int = setting(600_000, "training steps of the behaviour diffusion model")
    batch_size: int = setting(4096)
    lr: float = setting(1e-4, "Adam learning rate")
    widths: list[int] = setting([512, 256, 128], "widths of the MLP-U-Net's levels")
    cond_dim: int = setting(128, "width of the state and time conditioning")
    trainer: dict[str, Any] = setting({}, "Trainer options for this stage only (over trainer.*)")


@dataclass
class SupportConfig:
    M: int = setting(16, "support actions per state, sampled from the behaviour model")
    solver_steps: int = setting(15, "DPM-Solver model evaluations per support action")
    batch_size: Optional[int] = setting(
        None,
        "states per prediction batch (null: 256 on a CPU; on a GPU as many as fit in a quarter of its free memory)",
    )
    trainer: dict[str, Any] = setting(
        {"log_every_n_steps": 1},
        "Trainer options for this stage only (over trainer.*); by default, metrics every batch",
    )


@dataclass
class CriticConfig:
    steps: int = setting(500_000, "training steps of the in-support softmax Q-learning critic")
    batch_size: int = setting(256)
    lr: float = setting(3e-4, "Adam learning rate")
    hidden: int = setting(256, "width of each Q network")
    depth: int = setting(3, "hidden layers of each Q network")
    gamma: float = setting(0.99, "discount γ")
    tau: float = setting(0.005, "Polyak rate of the target network")
    beta_q: float = setting(1.0, "in-support softmax temperature β_Q")
    trainer: dict[str, Any] = setting({}, "Trainer options for this stage only (over trainer.*)")


@dataclass
class EnergyConfig:
    steps: int = setting(1_000_000, "training steps of the intermediate energy model")
    batch_size: int = setting(256, "states per step (each with its M support actions)")
    lr: float = setting(3e-4, "Adam learning rate")
    hidden: int = setting(256, "width of the energy network")
    depth: int = setting(4, "hidden layers of the energy network")
    beta: float = setting(3.0, "CEP inverse temperature β")
    loss: str = setting(
        "cep", "cep: contrastive energy prediction; mse, emse: the regression baselines", ("cep", "mse", "emse")
    )
    time_scale: float = setting(30.0, "std of the fixed Fourier time frequencies W ~ N(0, scale²)")
    trainer: dict[str, Any] = setting({}, "Trainer options for this stage only (over trainer.*)")


@dataclass
class EvalConfig:
    env_id: Optional[str] = setting(
        "Pendulum-v1", "gymnasium environment of the evaluation; null: the one the Minari data set stores"
    )
    env_kwargs: dict[str, Any] = setting({}, "gym.make(env, **env_kwargs), over the data set's own")
    episodes: int = setting(10, "episodes per guidance scale, each in its own seeded environment")
    scales: list[float] = setting([0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0], "the sweep of guidance scales")
    reported_scale: float = setting(3.0, "the scale whose score is reported, fixed before evaluation (one of scales)")
    envs_per_batch: int = setting(0, "environments stepped together per process (0: all of its episodes at once)")
    solver_steps: int = setting(15, "DPM-Solver model evaluations per action")
    sampler: str = setting(
        "dpm_solver++_2s",
        "dpm_solver++_2s: singlestep, x0-prediction; dpm_solver_2m: multistep, noise-prediction",
        SAMPLER_CHOICES,
    )
    ref_min_return: Optional[float] = setting(None, "'random' reference return of the normalized score")
    ref_max_return: Optional[float] = setting(None, "'expert' reference return of the normalized score")
    seed: int = setting(10_000, "environment seeds are seed, seed + 1, ...")
    trainer: dict[str, Any] = setting(
        {"log_every_n_steps": 1},
        "Trainer options for this stage only (over trainer.*); by default, metrics every batch",
    )


@dataclass
class ToyConfig:
    methods: list[str] = setting(["cep", "mse", "emse"], "energy training objectives compared")
    betas: list[float] = setting([0.0, 3.0, 10.0, 20.0], "inverse temperatures of the targets p ∝ q exp(β e)")
    samples: int = setting(20_000, "guided samples per (method, β)")
    M: int = setting(0, "CEP's contrastive sets on a toy: groups of M points, one t each (0: the whole batch)")
    lr_decay: bool = setting(False, "behaviour and energy learning rates decay linearly to zero over their steps")


@dataclass
class ImageConfig:
    energies: list[str] = setting(
        ["class", "ink"],
        "built-in energies compared: class (e = label / (classes - 1)), ink (mean brightness, [0, 1] over the data)",
    )
    energy: Optional[str] = setting(
        None, "an energy of your own, package.module:function (images [N, C, H, W] in [0, 1] -> [N]), as 'user'"
    )
    methods: list[str] = setting(["cep", "mse", "emse"], "energy training objectives compared")
    betas: list[float] = setting([0.0, 3.0, 10.0], "inverse temperatures of the targets p ∝ q exp(β e)")
    samples: int = setting(4000, "guided samples per (energy, method, β)")
    M: int = setting(0, "CEP's contrastive sets: groups of M images, one t each (0: the whole batch)")
    lr_decay: bool = setting(True, "behaviour and energy learning rates decay linearly to zero over their steps")
    channels: list[int] = setting([32, 64], "widths of the behaviour U-Net's two resolutions")
    holdout: float = setting(0.2, "fraction of the images held out of the classifier's training (its accuracy)")


TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "auto",
    "devices": 1,
    "strategy": "auto",
    "num_nodes": 1,
    "precision": "32-true",
    "log_every_n_steps": 50,
    "enable_progress_bar": True,
}


@dataclass
class ProgressConfig:
    every_n_steps: int = setting(1000, "steps (support, evaluation: batches) between lines; 0: by time only")
    every_seconds: float = setting(30.0, "seconds between lines")


@dataclass
class CheckpointConfig:
    every_n_steps: int = setting(5000, "training stages save <stage>/checkpoints/last.ckpt this often (resume point)")


@dataclass
class PeriodicEvalConfig:
    enabled: bool = setting(False, "evaluate in the environment during the critic and energy stages")
    every_n_steps: int = setting(10_000)
    episodes: int = setting(5)
    scales: list[float] = setting([3.0], "guidance scales of the energy stage (the critic stage: argmax-Q selection)")


@dataclass
class EMAConfig:
    enabled: bool = setting(False, "exponential moving average of the weights")
    decay: float = setting(0.999)
    stages: list[str] = setting(["behavior"], "training stages whose weights are averaged")


@dataclass
class CallbackSpec:
    target: str = setting("???", "import path of a Lightning Callback class, package.module.ClassName")
    args: dict[str, Any] = setting({}, "keyword arguments of its constructor")
    stages: list[str] = setting(list(STAGES), "stages it is attached to")


@dataclass
class CallbacksConfig:
    periodic_eval: PeriodicEvalConfig = field(default_factory=PeriodicEvalConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    custom: dict[str, CallbackSpec] = setting({}, "name -> a callback of your own: target, args, stages")
    trust_run_config: bool = setting(
        False, "import the callbacks an existing run's config.yaml names (only for run directories you trust)"
    )


@dataclass
class Config:
    task: str = setting("pendulum-mixed", "the preset conf/task/<task>.yaml (pendulum-mixed: built in, no download)")
    stage: str = setting("all", "one stage, or all (a finished, current stage is skipped)", STAGE_CHOICES)
    seed: int = setting(0, "random seed (seed=0,1,2: one run per seed)")
    smoke: bool = setting(False, "every stage on a small slice with short budgets: checks a set-up quickly")
    compile: bool = setting(False, "each training stage's whole step (loss, gradient, Adam) as one torch.compile graph")
    compile_mode: str = setting(
        "auto", "torch.compile mode; auto: reduce-overhead (CUDA graphs) on CUDA, default elsewhere", COMPILE_MODES
    )
    steps_per_batch: int = setting(
        1,
        "with compile=true: optimizer steps per Lightning batch (Lightning's loop and callbacks run once per this"
        " many steps); divides each training stage's steps and the checkpoint, logging and evaluation intervals",
    )
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    trainer: dict[str, Any] = setting(
        TRAINER_DEFAULTS,
        "any lightning.Trainer argument, for every stage; precision: 32-true as the paper; auto: bf16 where native",
    )
    logger: list[str] = setting(["tensorboard"], "any of tensorboard, csv, wandb, mlflow")
    progress: ProgressConfig = field(default_factory=ProgressConfig)
    tf32: bool = setting(False, "allow TF32 matrix products on NVIDIA GPUs (faster, ~1e-3 relative error)")
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    toy: ToyConfig = field(default_factory=ToyConfig)
    image: ImageConfig = field(default_factory=ImageConfig)


@dataclass(frozen=True)
class Setting:
    key: str  # dotted, e.g. "critic.tau"
    default: Any
    type: str
    help: str
    choices: tuple[str, ...]


def settings(node: type = Config, prefix: str = "") -> Iterator[Setting]:
    """Every leaf setting of the schema, in declaration order (a nested group's settings in its place)."""
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        key, kind = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from settings(kind, f"{key}.")
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        yield Setting(key, default, _type_name(kind), f.metadata.get("help", ""), f.metadata.get("choices", ()))


def _type_name(kind: Any) -> str:
    """The words an error message uses for a setting's type: int -> "an integer", Optional[int] -> "... or null"."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    optional = typing.get_origin(kind) is typing.Union and len(args) == 1
    base = typing.get_origin(args[0] if optional else kind) or (args[0] if optional else kind)
    words = {
        int: "an integer",
        float: "a number",
        bool: "a boolean (true/false)",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(base, str(kind))
    return f"{words} or null" if optional else words


def setting_for(key: str) -> Setting | None:
    """The schema's setting of a dotted key; None for keys inside open mappings (trainer.*, env_kwargs.*)."""
    return next((item for item in settings() if item.key == key), None)


def choices() -> dict[str, tuple[str, ...]]:
    """Keys with a fixed set of valid values -> those values."""
    return {item.key: item.choices for item in settings() if item.choices}

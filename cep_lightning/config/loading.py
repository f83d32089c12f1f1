"""Loading a command's config: the schema's defaults, a task preset on its bases, an existing run's settings and the
command line, merged and checked with errors that name the key, where it came from and how to fix it.

Order of precedence: schema defaults (``schema.py``) < conf/base/<base>.yaml (``extends:``, in order) <
conf/task/<task>.yaml < command-line ``a.b=c``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from cep_lightning.config.schema import STAGES, Config, setting_for
from cep_lightning.config.smoke import apply_smoke
from cep_lightning.config.validate import check_config
from cep_lightning.errors import ConfigError


def _conf_dir() -> Path:
    """The presets: the repository's ``conf/`` in a checkout, the copy inside the package once installed."""
    package = Path(__file__).resolve().parent.parent
    checkout = package.parent / "conf"
    return checkout if (checkout / "task").is_dir() else package / "conf"


CONF_DIR = _conf_dir()


def available_tasks() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "task").glob("*.yaml"))


COMMAND_KEYS = ("stage",)  # keys of one command, not of the run: config.yaml does not keep them


def parse_overrides(argv: list[str]) -> DictConfig:
    """``key=value`` arguments as a config (each checked to be of that form)."""
    for item in argv:
        if "=" not in item:
            raise ConfigError(
                f"Argument '{item}' is not of the form key=value (for example stage=energy or critic.steps=1000)."
            )
    return OmegaConf.from_dotlist(argv)


def load_config(argv: list[str], saved: DictConfig | None = None) -> DictConfig:
    """The config a command line asks for, validated (``validate.check_config``).

    A new run: schema ← the preset's bases ← conf/task/<task>.yaml ← ``key=value`` overrides.
    With ``saved`` (an existing run's settings, see ``run.locate``): schema ← saved ← overrides, so that
    naming an existing run alone changes nothing.
    """
    cli = parse_overrides(argv)
    if saved is None:
        cfg = _merge(preset(_check_task(cli.get("task", Config.task))), cli, "the command line")
    else:  # the Trainer options are the preset's and this command's, never an earlier command's
        known = saved.get("task") in available_tasks()
        base = preset(saved.task) if known else OmegaConf.structured(Config)  # a preset kept elsewhere: defaults
        cfg = _merge(_merge(base, saved, "the run's config.yaml"), cli, "the command line")
    if cfg.smoke:
        apply_smoke(cfg)
    check_config(cfg, cli)
    return cfg


def preset(task: str) -> DictConfig:
    """The schema's defaults under task's preset, composed: conf/task/<task>.yaml may name bases
    (``extends: <base>`` or a list of them, from conf/base/; a base may extend others), merged in order below it."""
    cfg = OmegaConf.structured(Config)
    for path in preset_chain(CONF_DIR / "task" / f"{task}.yaml"):
        layer = read_yaml(path)
        layer.pop("extends", None)
        cfg = _merge(cfg, layer, str(path.relative_to(CONF_DIR.parent)))
    cfg.task = task
    return cfg


def preset_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[Path]:
    """The files a preset is built from, bases first."""
    if path in seen:
        raise ConfigError(f"Presets extend each other in a cycle: {' -> '.join(p.name for p in (*seen, path))}.")
    if not path.is_file():
        where = f" (extended by {seen[-1].name})" if seen else ""
        raise ConfigError(f"Preset file {path} does not exist{where}. Bases: {', '.join(available_bases())}.")
    bases = read_yaml(path).get("extends", [])
    chain: list[Path] = []
    for base in [bases] if isinstance(bases, str) else list(bases):
        chain += preset_chain(CONF_DIR / "base" / f"{base}.yaml", (*seen, path))
    return [*chain, path]


def read_yaml(path: Path) -> DictConfig:
    """A preset or base file; a YAML syntax error is a ConfigError naming the file and the line."""
    try:
        return OmegaConf.load(path)  # type: ignore[return-value]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}). Fix the file's syntax.") from None


def available_bases() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "base").glob("*.yaml"))


def task_hint(task: str) -> str:
    """The suffix of an unknown-task message naming the presets closest to ``task`` ("" when none is close)."""
    close = difflib.get_close_matches(str(task), available_tasks(), n=3, cutoff=0.3)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def _check_task(task: str) -> str:
    if task not in available_tasks():
        raise ConfigError(
            f"Unknown task '{task}'. Valid tasks: {', '.join(available_tasks())}.{task_hint(task)} "
            "(Presets live in conf/task/.)"
        )
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
        raise ConfigError(
            f"Config key '{key}' got the value {exc.value!r} (in {source}), but expects {expected}."
        ) from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"Invalid config (in {source}): {exc}") from None


def _expected_type(key: str) -> str:
    setting = setting_for(key)
    return setting.type if setting else "a value of the schema's type"


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=3, cutoff=0.5)
    if not close:
        last = word.rsplit(".", 1)[-1]
        close = [o for o in options if difflib.get_close_matches(last, [o.rsplit(".", 1)[-1]], cutoff=0.6)]
    return (
        f" Did you mean: {', '.join(close)}?" if close else (f" Valid keys: {', '.join(options)}." if options else "")
    )


def run_settings_yaml(cfg: DictConfig) -> str:
    """The run's settings as config.yaml keeps them: without the keys of one command (``stage``) and without the
    Trainer options (``trainer``, ``<stage>.trainer``: how one command ran, e.g. on 2 GPUs, not what the run is)."""
    settings: dict = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    for key in (*COMMAND_KEYS, "trainer"):
        settings.pop(key)
    for stage in STAGES:
        settings[stage].pop("trainer")
    return OmegaConf.to_yaml(settings)

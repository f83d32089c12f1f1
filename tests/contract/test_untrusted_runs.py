"""A run directory from someone else cannot run code: its checkpoints load as tensors and plain values only, and
the callbacks its config.yaml names are not imported unless the command asks for them."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import yaml

from cep_lightning.errors import DataError, MissingStageError
from cep_lightning.policy import QGPOPolicy
from cep_lightning.run.directory import RunDir
from cep_lightning.run.locate import load_command
from cep_lightning.run.pipeline import run
from tests.helpers import TINY, make_pending


class Payload:
    """Unpickling this writes ``marker``: what a crafted checkpoint or callback could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_a_crafted_checkpoint_is_refused_without_running_its_payload(copied_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    model = copied_run / "behavior" / "model.ckpt"
    checkpoint = torch.load(model, weights_only=True)
    checkpoint["extra"] = Payload(marker)
    with model.open("wb") as f:
        pickle.dump(checkpoint, f)  # a zip-less pickle: torch.load reads it the legacy way
    with pytest.raises(DataError, match="not written by cep_lightning"):
        QGPOPolicy.from_run(copied_run)
    with pytest.raises(DataError, match="not written by cep_lightning"):
        run(load_command(["stage=eval", f"run.dir={copied_run}"]))
    assert not marker.exists()


def test_callbacks_named_only_in_a_received_config_are_not_imported(copied_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    config = copied_run / "config.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["callbacks"]["custom"] = {
        "evil": {"target": "os.system", "args": {"command": f"touch {marker}"}, "stages": ["eval"]}
    }
    config.write_text(yaml.safe_dump(settings))
    cfg = load_command([f"run.dir={copied_run}"])
    assert dict(cfg.callbacks.custom) == {}
    trusted = load_command([f"run.dir={copied_run}", "callbacks.trust_run_config=true"])
    assert list(trusted.callbacks.custom) == ["evil"]  # imported only when the user says so
    run(cfg)  # a rerun of the finished run: nothing to do, nothing imported
    assert not marker.exists()


def test_a_policy_is_loaded_only_from_models_that_chain(copied_run: Path) -> None:
    """An energy model trained from an earlier behaviour model is refused; without a finished energy stage only
    an explicit behaviour-cloning policy loads."""
    record = copied_run / "behavior" / "record.json"
    redone = json.loads(record.read_text())
    redone["id"] = "a-behaviour-model-trained-since"
    record.write_text(json.dumps(redone))
    with pytest.raises(MissingStageError, match="was trained from other behaviour, support or critic models"):
        QGPOPolicy.from_run(copied_run)
    (copied_run / "energy" / "record.json").unlink()
    with pytest.raises(MissingStageError, match="has not finished.*behavior_cloning=True"):
        QGPOPolicy.from_run(copied_run)
    cloning = QGPOPolicy.from_run(copied_run, behavior_cloning=True)
    assert cloning.energy is None and cloning.guidance_scale == 0.0


def test_a_crafted_resume_checkpoint_runs_no_code(tmp_path: Path, minari_store: str) -> None:
    """A pending stage whose last.ckpt carries a payload: the resume refuses the file and the payload never runs."""
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    args = [*TINY, "stage=behavior", f"run.dir={run_dir}"]
    run(load_command(args))
    last = RunDir(run_dir).last_checkpoint("behavior")
    make_pending(run_dir, "behavior")  # interrupted with the same settings: a resume
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["extra"] = Payload(marker)
    torch.save(checkpoint, last)
    with pytest.raises(DataError, match="not written by cep_lightning and is not loaded"):
        run(load_command(args))
    assert not marker.exists()

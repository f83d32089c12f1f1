"""Where the image comparison's error comes from: a run's behaviour U-Net guided by closed-form energies.

    PYTHONPATH=. python benchmarks/image_floor.py RUN_DIR [--samples 2500] [--steps 10] [--own 20000]

RUN_DIR is a finished run of ``python -m cep_lightning.images task=digits`` (or one seed<k>/ of it). Every energy
model of the comparison is trained on the data, so the best it can learn is the data's own intermediate energy,
known in closed form (``cep_lightning/maths/empirical.py``). For each energy and beta this prints the distance to
the exact target (TV for the class energy, W1 for ink, as the run measures them) of samples from
  exact model   the data's exact noise predictor and exact energy: only the sampler's error is left
  behaviour     the run's behaviour U-Net and the data's exact energy: what a perfect energy model trained on the
                data reaches with this behaviour model (its floor)
  own samples   (--own N) the U-Net and the exact energy of N of its own unguided samples, each labelled as the
                run judges it (the class the classifier sees, or the pixel energy): a closed-form estimate of the
                U-Net's own intermediate energy, which guides it to its exact tilt as N -> infinity (slowly, in 64-D)
  CEP           the run's CEP energy models (from its images.json)
so the gap between the behaviour and CEP rows is the energy model's, and between the exact model and behaviour
rows the behaviour model's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from cep_lightning.data.images import image_bandit, load_image_set
from cep_lightning.images.classifier import ImageClassifier
from cep_lightning.images.compare import Judge, draw, targets
from cep_lightning.maths.empirical import EmpiricalEnergy, EmpiricalEps
from cep_lightning.policy import QGPOPolicy
from cep_lightning.stages.behavior import BehaviorModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished task=digits run (or one seed<k>/ of it)")
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--steps", type=int, default=10, help="solver steps (the run's eval.solver_steps: 10)")
    parser.add_argument("--own", type=int, default=0, help="also guide by the energy of N of the U-Net's samples")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    cfg = OmegaConf.load(args.run_dir / "config.yaml")
    image_set = load_image_set(cfg.data.images)
    judge = Judge(image_set, ImageClassifier.fitted(image_set, cfg.image.holdout, cfg.seed))
    points = torch.from_numpy(image_bandit(image_set.images, np.zeros(len(image_set.labels))).actions)
    behavior = BehaviorModule.load_from_checkpoint(
        args.run_dir / "behavior" / "model.ckpt", map_location="cpu", weights_only=True
    ).net.eval()
    exact = EmpiricalEps(points)
    if args.own:  # the U-Net's own unguided samples, drawn from another stream than the guided ones
        unguided = QGPOPolicy(behavior, None, args.steps, sampler=cfg.eval.sampler)
        own = draw(unguided, args.own, 0.0, cfg.seed + 1, image_set.shape)
        own_points = torch.from_numpy(image_bandit(own, np.zeros(args.own)).actions)
    saved = json.loads((args.run_dir / "images.json").read_text())[cfg.task]["metrics"]
    betas = [float(b) for b in cfg.image.betas]
    print(f"{args.run_dir}: {args.samples} samples, {args.steps} solver steps, closed-form energies")
    for target in targets(cfg, image_set):
        print(f"{target.name} energy ({'TV' if target.pixel is None else 'W1 of e'}):")
        print(f"  {'':<14}" + "".join(f"{'beta=' + format(b, 'g'):>10}" for b in betas))
        rows: dict[str, tuple[nn.Module, Tensor, np.ndarray]] = {
            "exact model": (exact, points, target.values),
            "behaviour": (behavior, points, target.values),
        }
        if args.own:
            rows["own samples"] = (behavior, own_points, judge.energy(target, own))
        for name, (model, support, values) in rows.items():
            row, start = [], time.time()
            for beta in betas:
                energy = EmpiricalEnergy(support, torch.from_numpy(values), beta)
                policy = QGPOPolicy(model, energy, args.steps, sampler=cfg.eval.sampler)
                x = draw(policy, args.samples, 1.0 if beta else 0.0, cfg.seed, image_set.shape)
                row.append(judge.distance(target, x, beta))
            print(f"  {name:<14}" + "".join(f"{v:>10.3f}" for v in row) + f"   ({time.time() - start:.0f} s)")
        cep = saved[target.name].get("cep", {})
        print(f"  {'CEP (run)':<14}" + "".join(f"{cep.get(f'{b:g}', float('nan')):>10.3f}" for b in betas))


if __name__ == "__main__":
    main()

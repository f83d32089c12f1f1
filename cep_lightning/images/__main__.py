"""python -m cep_lightning.images task=digits [seed=0,1,2] [key=value ...]"""

from __future__ import annotations

import sys

from cep_lightning.cli import experiment_main
from cep_lightning.images.seeds import image_tasks, run_seed, run_seeds

HELP = """usage: python -m cep_lightning.images task=SET [seed=K | seed=0,1,2] [key=value ...]

The paper's exactness experiment on images: one diffusion model q(x) of the images (a small convolutional
U-Net), one energy model per energy, method (CEP, MSE, E-MSE) and beta, guided samples from each, and their
distance to the exact target p(x) ∝ q(x) exp(beta e(x)) (beta = 0: the behaviour model alone, the floor).
Lower is better; "ground truth" is importance-resampled data.

  class energy   e = label / (classes - 1); TV between the class masses of the samples (as a classifier trained
                 on the data sees them) and the exact P(c) ∝ q(c) exp(beta e_c)
  ink energy     e = mean brightness, [0, 1] over the data; W1 between the samples' e and the data's e weighted
                 by exp(beta e) (ground truth row: the W1 of as many importance-resampled images, the floor)
  image.energy=package.module:function   your own energy of images [N, C, H, W] in [0, 1] -> [N] (as 'user',
                 normalised to [0, 1] over the data, measured as ink)

image sets (task=...):  {tasks}; or data.images=digits|mnist|cifar10|FOLDER|FILE.npz
  (a folder holds one subfolder of images per class; an .npz holds images [N, H, W(, C)] and labels [N];
  mnist and cifar10 need torchvision)

  seed=K            one run (default seed 0) into run.dir or runs/<task>/<time stamp>: images.json
                    {{task: {{"metrics": {{energy: {{method: {{beta: distance}}}}}}, "classifier_accuracy"}}}},
                    samples.npz, grids/<energy>-<method>-beta<b>.png, images.png, TensorBoard logs
  seed=0,1,2        one run per seed into <run>/seed<k>/, then <run>/images.json (mean, std, per_seed of every
                    distance; seconds per seed) and <run>/images.png; a rerun skips the seeds already done
  run.dir=PATH | run.name=NAME   where it goes
  image.energies=[class,ink] image.methods=[cep,mse,emse] image.betas=[0,3,10] image.samples=N   what is compared
  behavior.steps=N energy.steps=N energy.batch_size=N image.channels=[32,64]   budgets (every method the same)
  image.M=N (0: the whole batch at one t) image.lr_decay=true|false image.holdout=0.2
  eval.sampler=NAME eval.solver_steps=N   the sampler of every method (python train.py --help: every setting)
"""


def main(argv: list[str]) -> int:
    return experiment_main(argv, HELP.format(tasks=", ".join(image_tasks())), run_seed, run_seeds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

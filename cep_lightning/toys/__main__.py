"""python -m cep_lightning.toys task=toy-<name>|all [seed=0,1,2] [key=value ...]"""

from __future__ import annotations

import sys

from cep_lightning.cli import experiment_main
from cep_lightning.toys.seeds import run_seed, run_seeds, toy_tasks

HELP = """usage: python -m cep_lightning.toys task=TOY|all [seed=K | seed=0,1,2] [key=value ...]

The paper's exactness experiment on 2-D toys: one behaviour model q(x) of the toy's points, one energy
model per method (CEP, MSE, E-MSE) and beta, guided samples from each, and the total variation (TV)
between their class masses and the exact ones, P(k) ∝ q(k) exp(beta e_k) (beta = 0: the behaviour
model alone, the floor); swissroll's label e(x) = |x|² / 9 is continuous: W1 between the samples' e and
the data's e weighted by exp(beta e). Lower is better; "ground truth" is importance-resampled data;
"exact tilt of q" is the behaviour model's own samples resampled by exp(beta e(x)): what exact guidance
of that model draws, every method's floor at each beta.

toys (task=...):  {tasks}, or all (every toy)

  seed=K            one run (default seed 0) into run.dir or runs/<task>/<time stamp>:
                    toys.json {{task: {{method: {{beta: TV or W1}}}}}}, samples.npz, toys.png, TensorBoard logs
  seed=0,1,2        one run per seed into <run>/seed<k>/ (task=all: <run>/<task>/seed<k>/), then in <run>/:
                    toys.json {{task: {{method: {{beta: {{"mean", "std", "per_seed"}}}}, "seconds": {{seed: s}}}}}}
                    and toys.png (every toy's first seed); a rerun skips the seeds already done
  run.dir=PATH | run.name=NAME   where it goes (task=all: default runs/toys/<time stamp>)
  toy.methods=[cep,mse,emse] toy.betas=[0,3,10,20] toy.samples=N     what is compared
  behavior.steps=N energy.steps=N energy.batch_size=N ...             budgets (every method gets the same)
  toy.M=N (groups of N points, each at its own t; 0: the whole batch at one t) toy.lr_decay=true|false
  eval.sampler=NAME eval.solver_steps=N   the sampler of every method (python train.py --help: every setting)
"""


def main(argv: list[str]) -> int:
    help_text = HELP.format(tasks=", ".join(toy_tasks()))
    return experiment_main(argv, help_text, run_seed, run_seeds, many="task=all" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

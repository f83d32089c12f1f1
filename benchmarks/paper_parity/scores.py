"""Both codes trained end to end at one reduced budget and evaluated by one protocol, seed by seed.

The budget (steps of each training stage, batch sizes, M, solver steps, the data slice) is given once and applied
to both. The paper's code is driven as its scripts drive it: ``train_behavior.py``'s loop (its ScoreNet, loss_fn,
Adam 1e-4, a shuffled DataLoader of its D4RL_dataset), then ``train_critic.py``'s: support actions from
``ScoreNet.sample`` for the states and the next states in chunks of 256, then one loop whose step k calls
``update_q0`` while k < critic steps and ``update_qt`` while k < energy steps (the paper trains its critic and
energy model together, the energy model labelled by the critic's target as it moves; ours trains them one after
the other). Network widths are the paper's in both: its code hard-codes them, and ours defaults to them.
Ours runs as ``python train.py`` does (``load_command`` + ``pipeline.run``) into <out>/ours-seed<k>, so a killed
comparison resumes its stages there.

Evaluation is the same for both: ``envs.evaluation.evaluate`` in the environment our ``EnvMaker`` makes for the
task, episode e reset with seed eval.seed + e for every scale and both codes, actions clipped to the action space;
the paper's policy is its ``select_actions`` with ``q[0].guidance_scale`` set, ours ``GuidedPolicy.act``.
Each finished (code, seed) is stored as <out>/<code>-seed<k>.json (written atomically, with the budget: a stored
result of another budget is not reused).
"""

from __future__ import annotations

import dataclasses
import json
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from benchmarks.paper_parity import shims
from cep_lightning.config.loading import load_config
from cep_lightning.envs.evaluation import EnvMaker, evaluate, make_vector_env, normalized_score
from cep_lightning.run.directory import RunDir, atomic_write

CODES = ("paper", "ours")
STAGE_NAMES = ("behavior", "support", "critic", "energy", "eval")


@dataclass(frozen=True)
class Budget:
    """What both codes are given."""

    task: str
    data: str
    behavior_steps: int
    critic_steps: int
    energy_steps: int
    behavior_batch: int
    batch: int
    M: int
    solver_steps: int
    max_transitions: int | None
    episodes: int
    scales: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "scales": list(self.scales)}


def scale_key(scale: float) -> str:
    return f"{float(scale):g}"


# ---------------------------------------------------------------- results on disk, resume


class ResultStore:
    """<out>/<code>-seed<k>.json per finished (code, seed); one stored with another budget does not count."""

    def __init__(self, out: Path, budget: dict[str, Any]):
        self.out, self.budget = Path(out), budget

    def path(self, code: str, seed: int) -> Path:
        return self.out / f"{code}-seed{seed}.json"

    def load(self, code: str, seed: int) -> dict[str, Any] | None:
        path = self.path(code, seed)
        try:
            stored = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return stored if stored.get("budget") == self.budget else None

    def save(self, code: str, seed: int, result: dict[str, Any]) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        stored = {"code": code, "seed": seed, "budget": self.budget, **result}
        atomic_write(self.path(code, seed), json.dumps(stored, indent=2))
        return stored

    def pending(self, seeds: int) -> list[tuple[str, int]]:
        return [(code, seed) for seed in range(seeds) for code in CODES if self.load(code, seed) is None]


def run_comparison(
    store: ResultStore,
    seeds: int,
    runners: dict[str, Callable[[int], dict[str, Any]]],
    say: Callable[[str], None] = print,
    codes: Iterable[str] = CODES,
) -> dict[str, list[dict[str, Any]]]:
    """Every (code, seed) of ``codes`` not already stored is run by ``runners[code](seed)`` and stored; returns
    code -> the results of seeds 0 .. seeds-1 (a RuntimeError naming what is missing: another process of
    ``--codes`` may still be running it)."""
    for code, seed in store.pending(seeds):
        if code in codes:
            say(f"[scores] {code}, seed {seed}: training and evaluating")
            store.save(code, seed, runners[code](seed))
    for code in CODES:
        done = [seed for seed in range(seeds) if store.load(code, seed) is not None]
        if len(done) < seeds:
            raise RuntimeError(f"{code}: seeds {sorted(set(range(seeds)) - set(done))} have no result")
    return {code: [store.load(code, seed) for seed in range(seeds)] for code in CODES}  # type: ignore[misc]


# ---------------------------------------------------------------- statistics and the table


def bootstrap_interval(
    ours: Iterable[float], theirs: Iterable[float], level: float = 0.95, draws: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """mean(ours) - mean(theirs) and its percentile bootstrap interval: the seeds of each code resampled with
    replacement, independently (the codes' seeds are not paired), by numpy's generator seeded with ``seed``."""
    o, t = np.asarray(list(ours), dtype=np.float64), np.asarray(list(theirs), dtype=np.float64)
    if len(o) == 0 or len(t) == 0:
        raise ValueError("bootstrap_interval needs at least one value of each code")
    rng = np.random.default_rng(seed)
    diffs = o[rng.integers(0, len(o), (draws, len(o)))].mean(1) - t[rng.integers(0, len(t), (draws, len(t)))].mean(1)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(o.mean() - t.mean()), float(low), float(high)


def mean_std(values: list[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return f"{v.mean():.1f} ± {std:.1f}"


def score_table(results: dict[str, list[dict[str, Any]]], scales: Iterable[float]) -> str:
    """Per scale each code's normalized score mean ± std over seeds (sample std; 0 for one seed) and
    ours − paper with its 95 % bootstrap interval; then each stage's wall time per code, mean over seeds."""
    seeds = len(results["ours"])
    lines = [
        f"normalized score over {seeds} seed(s): mean ± std; ours - paper [95 % bootstrap interval]",
        f"{'scale':>6} {'paper':>15} {'ours':>15}   ours - paper",
    ]
    for scale in scales:
        key = scale_key(scale)
        theirs = [r["scores"][key] for r in results["paper"]]
        mine = [r["scores"][key] for r in results["ours"]]
        diff, low, high = bootstrap_interval(mine, theirs)
        lines.append(f"{key:>6} {mean_std(theirs):>15} {mean_std(mine):>15}   {diff:+.1f} [{low:+.1f}, {high:+.1f}]")
    lines.append(f"{'stage wall time (s)':<20} {'paper':>9} {'ours':>9}")
    for stage in STAGE_NAMES:
        row = [np.mean([r["seconds"].get(stage, np.nan) for r in results[code]]) for code in CODES]
        lines.append(f"{stage:<20} {row[0]:>9.1f} {row[1]:>9.1f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the common evaluation


def evaluation_seeds(budget: Budget) -> list[int]:
    """Episode e of every scale and code: eval.seed + e (our pipeline's seeds)."""
    cfg = load_config([f"task={budget.task}"])
    return [int(cfg.eval.seed) + e for e in range(budget.episodes)]


def evaluate_scales(
    make_env: Callable[[], Any], act: Callable[[np.ndarray, float], np.ndarray], budget: Budget, refs: tuple
) -> tuple[dict[str, float], dict[str, float]]:
    """(scale -> mean return, scale -> normalized score) of ``act(obs, scale)``, one episode per seed."""
    returns, scores = {}, {}
    for scale in budget.scales:
        envs = make_vector_env(make_env, budget.episodes)
        try:
            r = evaluate(envs, lambda obs: act(obs, scale), evaluation_seeds(budget))
        finally:
            envs.close()
        returns[scale_key(scale)] = float(r.mean())
        scores[scale_key(scale)] = float(normalized_score(float(r.mean()), *refs))  # type: ignore[arg-type]
    return returns, scores


# ---------------------------------------------------------------- ours


def ours_argv(budget: Budget, seed: int, run_dir: Path) -> list[str]:
    scales = ",".join(scale_key(s) for s in budget.scales)
    reported = 3.0 if 3.0 in budget.scales else budget.scales[0]
    argv = [
        f"task={budget.task}",
        f"data.path={Path(budget.data).resolve()}",
        f"run.dir={run_dir}",
        f"seed={seed}",
        f"behavior.steps={budget.behavior_steps}",
        f"behavior.batch_size={budget.behavior_batch}",
        f"critic.steps={budget.critic_steps}",
        f"critic.batch_size={budget.batch}",
        f"energy.steps={budget.energy_steps}",
        f"energy.batch_size={budget.batch}",
        f"support.M={budget.M}",
        f"support.solver_steps={budget.solver_steps}",
        f"eval.solver_steps={budget.solver_steps}",
        f"eval.episodes={budget.episodes}",
        f"eval.scales=[{scales}]",
        f"eval.reported_scale={scale_key(reported)}",
        "trainer.enable_progress_bar=false",
    ]
    if budget.max_transitions is not None:
        argv.append(f"data.max_transitions={budget.max_transitions}")
    return argv


def run_ours(budget: Budget, seed: int, out: Path) -> dict[str, Any]:
    """Our pipeline into <out>/ours-seed<seed> (resuming whatever stages it finished), its results.json and
    timings.json."""
    from cep_lightning.run.locate import load_command
    from cep_lightning.run.pipeline import run

    run_dir = RunDir(run(load_command(ours_argv(budget, seed, Path(out).resolve() / f"ours-seed{seed}"))))
    results = json.loads(run_dir.results.read_text())
    timings = json.loads(run_dir.timings.read_text())
    scales = results["scales"]
    return {
        "scores": {k: scales[k]["normalized_score"] for k in map(scale_key, budget.scales)},
        "returns": {k: scales[k]["mean_return"] for k in map(scale_key, budget.scales)},
        "seconds": {stage: float(timings[stage]) for stage in STAGE_NAMES if stage in timings},
        "run_dir": str(run_dir.path),
    }


# ---------------------------------------------------------------- the paper's


def paper_dataset(paper: types.SimpleNamespace, budget: Budget) -> Any:
    """The paper's D4RL_dataset of the task (rewards scaled its way), over the first ``max_transitions`` of
    D4RL's qlearning_dataset (the rows of our ``data.max_transitions``) when a slice is given."""
    module = paper.dataset
    original = module.d4rl

    def sliced(env: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        data = shims.qlearning_dataset(env, **kwargs)
        n = budget.max_transitions
        return {k: v[:n] for k, v in data.items()} if n is not None else data

    module.d4rl = types.SimpleNamespace(qlearning_dataset=sliced)
    try:
        return module.D4RL_dataset(types.SimpleNamespace(env=budget.task, device="cpu"))
    finally:
        module.d4rl = original


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, start: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def run_paper(paper: types.SimpleNamespace, budget: Budget, seed: int, beta: float, beta_q: float) -> dict[str, Any]:
    """train_behavior.py, then train_critic.py's support actions and its joint critic / energy loop, at the
    budget; then the common evaluation of its select_actions."""
    from torch.utils.data import DataLoader

    from benchmarks.paper_parity.steps import Problem, paper_score_net

    cfg = load_config([f"task={budget.task}"])
    data = paper_dataset(paper, budget)
    problem = Problem(data, beta=beta, beta_q=beta_q, seed=seed)
    timer = Timer()

    def forever(loader: DataLoader) -> Any:
        while True:
            yield from loader

    # train_behavior.py
    torch.manual_seed(seed)
    np.random.seed(seed)
    score = paper_score_net(paper, problem)
    batches = forever(DataLoader(data, batch_size=budget.behavior_batch, shuffle=True))
    optimizer = torch.optim.Adam(score.parameters(), lr=1e-4)
    start = time.perf_counter()
    for _ in range(budget.behavior_steps):
        batch = next(batches)
        score.condition = batch["s"]
        loss = paper.loss.loss_fn(score, batch["a"], score.marginal_prob_std)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        score.condition = None
    timer.add("behavior", start)
    behavior_state = score.state_dict()

    # train_critic.py: a fresh ScoreNet (and critic) with the behaviour model loaded
    torch.manual_seed(seed)
    np.random.seed(seed)
    score = paper_score_net(paper, problem)
    score.load_state_dict(behavior_state)
    score.q[0].guidance_scale = 0.0
    start = time.perf_counter()
    for name, states in (("fake_actions", data.states), ("fake_next_actions", data.next_states)):
        everything = states[:].cpu().numpy()
        chunks = np.array_split(everything, everything.shape[0] // 256 + 1)
        actions = np.concatenate(
            [score.sample(s, sample_per_state=budget.M, diffusion_steps=budget.solver_steps) for s in chunks]
        )
        setattr(data, name, torch.Tensor(actions.astype(np.float32)))
    timer.add("support", start)
    batches = forever(DataLoader(data, batch_size=budget.batch, shuffle=True))
    critic = score.q[0]
    for k in range(max(budget.critic_steps, budget.energy_steps)):
        batch = next(batches)
        if k < budget.critic_steps:
            start = time.perf_counter()
            critic.update_q0(batch)
            timer.add("critic", start)
        if k < budget.energy_steps:
            start = time.perf_counter()
            critic.update_qt(batch)
            timer.add("energy", start)

    def act(obs: np.ndarray, scale: float) -> np.ndarray:
        critic.guidance_scale = scale
        return np.stack(score.select_actions(obs, diffusion_steps=budget.solver_steps))

    start = time.perf_counter()
    refs = (cfg.eval.ref_min_return, cfg.eval.ref_max_return)
    returns, scores = evaluate_scales(EnvMaker.from_config(cfg), act, budget, refs)
    timer.add("eval", start)
    return {"scores": scores, "returns": returns, "seconds": timer.seconds, "transitions": len(data.states)}


def run_scores(
    paper: types.SimpleNamespace, budget: Budget, seeds: int, out: Path, codes: Iterable[str] = CODES
) -> str:
    """Every pending (code, seed) of ``codes``, then the table."""
    cfg = load_config([f"task={budget.task}"])
    store = ResultStore(out, budget.as_dict())
    runners = {
        "paper": lambda seed: run_paper(paper, budget, seed, cfg.energy.beta, cfg.critic.beta_q),
        "ours": lambda seed: run_ours(budget, seed, out),
    }
    return score_table(run_comparison(store, seeds, runners, codes=codes), budget.scales)

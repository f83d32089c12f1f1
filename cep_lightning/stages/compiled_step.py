"""A whole training step as one compiled graph (``compile=true``): the loss, its gradient and the Adam update.

Eager, a step is one kernel launch per operation and one autograd-engine node per operation, then the
optimizer's own pass over the tensors; for the small networks of QGPO that overhead, not the arithmetic, is
most of a step. Here the step is one function,

    (loss, g) = grad_and_value(θ ↦ L(θ; batch))(θ)            (torch.func: the backward pass is traced too)
    θ ← Adam(θ, g; m, v, k)                                    (torch's own Adam arithmetic, on the optimizer's state)
    after(θ)                                                   (the critic's Polyak update)

traced once by ``torch.compile`` into one graph (inductor fuses its pointwise work; on CUDA,
``mode="reduce-overhead"`` replays it as a CUDA graph). The Adam state is the ``torch.optim.Adam`` of the
module's ``configure_optimizers``, so checkpoints, resume and learning-rate schedules are Lightning's, unchanged;
Lightning still calls ``optimizer.step`` (which finds no ``.grad`` to apply) so that it counts the step (with
several steps a Lightning batch, for the last; ``CompilableStep``).
The step draws its random numbers inside the graph: on a CPU from aten's generator, as the eager step draws them
(``inductor_options``); on CUDA by inductor's own generator, which differs from eager's draws (the same
distribution). With ``backend="aot_eager"`` the compiled step equals the eager one
(``tests/unit/test_compiled_step.py``).
"""

from __future__ import annotations

from typing import Any, Callable

import lightning as L
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value
from torch.optim.adam import adam as adam_update

from cep_lightning.errors import ConfigError

LossFn = Callable[[dict[str, Tensor]], Tensor]


class _Loss(nn.Module):
    """``loss(batch)`` as the forward of a module holding ``owner``, so ``functional_call`` can swap its weights."""

    def __init__(self, owner: nn.Module, loss: LossFn):
        super().__init__()
        self.owner = owner
        self.loss = loss

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.loss(batch)


def inductor_options(mode: str | None, device: torch.device) -> dict[str, Any]:
    """Inductor's settings for the step: those of ``mode`` (``torch._inductor.list_mode_options``), and

    - ``size_asserts`` off: the generated code would check every input's sizes and strides again on each call
      (about 200 checks a step for the behaviour model), which torch.compile's guards have already checked;
    - on a CPU, ``fallback_random``: the step's random draws (t and the noise) come from aten's generator, the
      draws of the eager step. Inductor's own CPU draws compute a Philox number for each of a vector's 16 lanes,
      also the masked ones (16 per row of a 3-wide action): 40 % of a tiny energy step, which this cut from
      0.76 to 0.47 ms (at ``python -m cep_lightning.bench --overhead``'s sizes, timed alternately in one run)."""
    from torch._inductor import list_mode_options  # the compiler, loaded only when a step is compiled

    options: dict[str, Any] = {**list_mode_options(mode or "default"), "size_asserts": False}
    if device.type == "cpu":
        options["fallback_random"] = True
    return options


class CompiledStep:
    """``step(batch) -> loss``: L, ∇L and the Adam update of ``optimizer`` (one param group, over parameters of
    ``owner``) in one ``torch.compile``d call; ``after(params)`` runs inside it, after the update."""

    def __init__(
        self,
        owner: nn.Module,
        loss: LossFn,
        optimizer: torch.optim.Adam,
        after: Callable[[list[Tensor]], None] | None = None,
        backend: str = "inductor",
        mode: str | None = None,
    ):
        if len(optimizer.param_groups) != 1:
            raise ValueError("CompiledStep takes an Adam with one parameter group.")
        self.optimizer = optimizer
        self.group = optimizer.param_groups[0]
        names = {id(p): f"owner.{name}" for name, p in owner.named_parameters()}
        self.params = list(self.group["params"])
        self.names = [names[id(p)] for p in self.params]
        self.module = _Loss(owner, loss)
        self.after = after
        device = self.params[0].device
        self.lr = torch.tensor(float(self.group["lr"]), device=device)
        settings = {"options": inductor_options(mode, device)} if backend == "inductor" else {"mode": mode}
        self.compiled = torch.compile(self._step, backend=backend, fullgraph=True, **settings)

    def _state(self) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """The optimizer's (m, v, k) per parameter, created as torch's fused Adam creates them (step counts on the
        parameter's device) the first time; a checkpoint's, once Lightning has loaded it."""
        for p in self.params:
            if not self.optimizer.state[p]:
                self.optimizer.state[p] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.optimizer.state[p] for p in self.params]
        return [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states]

    def _step(
        self,
        batch: dict[str, Tensor],
        params: list[Tensor],
        exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor],
        steps: list[Tensor],
        lr: Tensor,
    ) -> Tensor:
        def loss_of(weights: list[Tensor]) -> Tensor:
            return functional_call(self.module, dict(zip(self.names, weights)), (batch,), strict=False)

        grads, loss = grad_and_value(loss_of)(params)
        beta1, beta2 = self.group["betas"]
        adam_update(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            foreach=False,
            capturable=True,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=lr,
            weight_decay=self.group["weight_decay"],
            eps=self.group["eps"],
            maximize=False,
        )
        if self.after is not None:
            self.after(params)
        return loss.detach()

    def __call__(self, batch: dict[str, Tensor]) -> Tensor:
        self.lr.fill_(self.group["lr"])  # a schedule's rate, as a tensor: a new value is no new graph
        params = [p.detach() for p in self.params]
        return self.compiled(batch, params, *self._state(), self.lr)


def count_optimizer_steps(trainer: L.Trainer, steps: int) -> None:
    """Advance Lightning's step counter (``optim_step_progress``, which ``global_step`` reads under manual
    optimisation) by ``steps`` taken outside ``LightningOptimizer.step``: Lightning has no public call for it."""
    counter = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
    for _ in range(steps):
        counter.increment_ready()
        counter.increment_completed()


class CompilableStep:
    """What a stage (a LightningModule with ``loss(batch)``, one Adam and optionally ``after_update()``) needs to
    run its step either way: Lightning's automatic optimisation (the default), or after ``compile_step()`` the
    ``CompiledStep`` under manual optimisation, which steps the learning-rate schedule itself.

    Compiled, one Lightning batch may hold ``steps_per_batch`` K optimizer steps' batches (``StepBatches``), run
    one after another: Lightning's loop, the callbacks' batch hooks and its optimizer-step path (hooks, torch's
    ``Optimizer.step`` wrapper, Adam finding no ``.grad``: 0.1-0.4 ms a call at tiny sizes on a CPU) then run once
    per K steps, the last. The K - 1 steps before it advance Lightning's own step counter
    (``count_optimizer_steps``), so every optimizer step is counted, and callbacks with
    ``after_optimizer_step(trainer, module)`` (the EMA) run after each of them."""

    compiled: CompiledStep | None = None
    compile_options: dict[str, str | None] | None = None
    steps_per_batch: int = 1

    def compile_step(self, backend: str = "inductor", mode: str | None = None, steps_per_batch: int = 1) -> None:
        """Train with the whole step compiled (before ``Trainer.fit``), ``steps_per_batch`` optimizer steps per
        Lightning batch; weights and checkpoints are unchanged."""
        self.automatic_optimization = False
        self.compile_options = {"backend": backend, "mode": mode}
        self.steps_per_batch = steps_per_batch

    def after_update(self, online: list[Tensor]) -> None:
        """Runs after each Adam update, given the updated parameters (inside the compiled step when compiled)."""

    def step_batches(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        """The batch of each optimizer step in a Lightning batch: K equal runs of rows (views, no copies)."""
        K = self.steps_per_batch
        if K == 1:
            return [batch]
        rows = len(next(iter(batch.values()))) // K
        return [{key: value[j * rows : (j + 1) * rows] for key, value in batch.items()} for j in range(K)]

    @staticmethod
    def last_loss(losses: Tensor) -> Tensor:
        """The loss of a batch's last optimizer step, of what ``optimization_step`` returned."""
        return losses if losses.ndim == 0 else losses[-1]

    def optimization_step(self, batch: dict[str, Tensor]) -> Tensor:
        """The batch's loss; compiled, the update is done here too (otherwise Lightning does it after the step),
        and with K steps per batch the K losses, in order."""
        if self.automatic_optimization:
            return self.loss(batch)
        if self.compiled is None and self.trainer.world_size > 1:  # DDP never sees its gradient: no all-reduce
            raise ConfigError(
                f"compile=true runs the whole step in one process, but this stage runs in {self.trainer.world_size}"
                " (DDP): its gradients would not be averaged across them. Use compile=false with several devices."
            )
        optimizer = self.optimizers()
        if self.compiled is None:
            self.compiled = CompiledStep(
                self, self.loss, optimizer.optimizer, self.after_update, **self.compile_options
            )
        schedule = self.lr_schedulers()
        per_step = [cb for cb in self.trainer.callbacks if hasattr(cb, "after_optimizer_step")]
        step_batches = self.step_batches(batch)
        losses = []
        for j, step_batch in enumerate(step_batches):
            if j == len(step_batches) - 1:  # Lightning counts the step and runs its hooks; Adam finds no .grad
                losses.append(optimizer.step(closure=lambda b=step_batch: self.compiled(b)))
            else:
                losses.append(self.compiled(step_batch))
                count_optimizer_steps(self.trainer, 1)
            if schedule is not None:
                schedule.step()
            for callback in per_step:
                callback.after_optimizer_step(self.trainer, self)
        return losses[0] if len(losses) == 1 else torch.stack(losses)

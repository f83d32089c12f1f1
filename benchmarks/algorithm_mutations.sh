#!/bin/bash
# Do the fast tests catch a broken algorithm? Applies each mutation (an exact text replacement in one file) to a
# temporary copy of the repository, never to this tree, runs the fast tests that pin the algorithm there, and prints
# mutation -> failing tests. Exits non-zero when the correct code fails, when a mutation no longer applies (the code
# it edits has changed), when a mutation is not caught, or when a test of tests/unit/test_algorithm.py or
# tests/unit/test_evaluation_returns.py fails on none of them. About 5 minutes on a busy 2-core CPU.
# Usage: benchmarks/algorithm_mutations.sh   (PYTHON=/path/to/python to use another interpreter)
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute: the tests run inside the copy
NEW_TESTS="tests/unit/test_algorithm.py tests/unit/test_evaluation_returns.py"
TESTS="$NEW_TESTS tests/unit/test_losses.py tests/unit/test_energy_module.py tests/unit/test_datamodule.py"
TESTS="$TESTS tests/unit/test_support_sampling.py tests/unit/test_image_energy.py tests/unit/test_exact_guidance.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/"  # tracked and new files, no venv or runs
status=0
caught_by=""

mutate() {  # mutate FILE OLD NEW: replace the one occurrence of OLD in the copy's FILE by NEW
  "$PYTHON" - "$work/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"the text to mutate occurs {text.count(old)} times in {path}: {old!r}")
open(path, "w").write(text.replace(old, new))
EOF
}

failing_tests() {  # the ids of the tests in $TESTS that fail in the copy ("NOT-RUN" when pytest reports no result)
  local out
  out=$(cd "$work" && OMP_NUM_THREADS=1 PYTHONPATH="$work" "$PYTHON" -m pytest -q -p no:cacheprovider $TESTS 2>&1)
  if ! grep -Eq '[0-9]+ (passed|failed)' <<<"$out"; then echo NOT-RUN; return; fi
  sed -n 's/^FAILED \([^ ]*\).*/\1/p' <<<"$out"
}

check() {  # check NAME FILE OLD NEW ("-" for FILE: the correct code, which must pass)
  local name=$1 file=$2 failed
  if [ "$file" != "-" ]; then
    cp "$work/$file" "$work/$file.orig"
    if ! mutate "$file" "$3" "$4"; then
      echo "!! $name: NOT APPLIED"; mv "$work/$file.orig" "$work/$file"; status=1; return
    fi
  fi
  failed=$(failing_tests)
  [ "$file" != "-" ] && mv "$work/$file.orig" "$work/$file"
  if [ "$failed" = NOT-RUN ]; then echo "!! $name: pytest gave no result (is $PYTHON an interpreter with pytest?)"; exit 1; fi
  if [ "$file" = "-" ]; then
    if [ -n "$failed" ]; then echo "!! correct code fails: $failed"; status=1; else echo "== correct code: all pass"; fi
  elif [ -z "$failed" ]; then
    echo "!! $name -> NOT CAUGHT"; status=1
  else
    echo "== $name -> $(echo $failed | sed 's/ /, /g')"
    caught_by="$caught_by $(echo $failed)"
  fi
}

CRITIC=cep_lightning/stages/critic.py
LOSSES=cep_lightning/maths/losses.py
ENERGY=cep_lightning/stages/energy.py
SUPPORT=cep_lightning/stages/support.py
CANDIDATES=cep_lightning/stages/candidates.py
EVALUATE=cep_lightning/stages/evaluate.py

check "correct code" -
check "gamma ignored" $LOSSES "reward.float() + gamma * (1.0" "reward.float() + (1.0"
check "terminals ignored" $LOSSES "gamma * (1.0 - terminal.float()) * next_value" "gamma * next_value"
check "online network used for the target" $CRITIC "q_next = self.q_target(" "q_next = self.q("
check "target on the support of s instead of s'" $CRITIC 'batch["support_next"].float()' 'batch["support"].float()'
check "target on s instead of s'" $CRITIC 'expand_states(batch["s_next"].float()' 'expand_states(batch["s"].float()'
check "batch's support_next = support of s" cep_lightning/data/datamodule.py \
  'tables["support"][tables["next_index"][rows]]' 'tables["support"][rows]'
check "V(s') without beta_Q (mean over the support)" $LOSSES \
  "torch.softmax(beta_q * q_next, dim=-1)" "torch.softmax(0 * q_next, dim=-1)"
check "V(s') = max over the support" $LOSSES \
  "(torch.softmax(beta_q * q_next, dim=-1) * q_next).sum(-1)" "q_next.max(-1).values"
check "max of the twin instead of min" cep_lightning/maths/nets.py \
  "torch.minimum(*self.both(s, a))" "torch.maximum(*self.both(s, a))"
check "critic loss on one head only" $LOSSES \
  "0.5 * (F.mse_loss(q1.float(), target) + F.mse_loss(q2.float(), target))" \
  "F.mse_loss(q1.float(), target)"
check "Polyak tau <-> 1 - tau" $CRITIC \
  "target.copy_(tau * theta + (1 - tau) * target)" "target.copy_((1 - tau) * theta + tau * target)"
check "Polyak update skipped" $CRITIC "target.copy_(tau * theta + (1 - tau) * target)" "pass"
check "Polyak update before the optimizer step" $CRITIC "        super().optimizer_step(*args, **kwargs)
        self.after_update(list(self.q.parameters()))" "        self.after_update(list(self.q.parameters()))
        super().optimizer_step(*args, **kwargs)"
check "MSE onto Q instead of beta Q" $LOSSES "(f.float() - beta * q.float())" "(f.float() - q.float())"
check "E-MSE baseline dropped" $LOSSES "beta * (q.float() - q_baseline.float())" "beta * q.float()"
check "E-MSE without the clip of f" $LOSSES \
  "torch.exp(torch.clamp(f.float(), -100.0, 4.5))" "torch.exp(f.float())"
check "E-MSE baseline: mean instead of best support value" $CANDIDATES \
  "return values.max(1).values" "return values.mean(1)"
check "MSE/E-MSE regress onto a support action's value" $CANDIDATES \
  'return self.q(batch["s"], batch["a"][:, None])[:, 0]' 'return self.sets(batch)[2][:, 0]'
FLAT_BODY='    b, M, a = noise.shape
    flat = states.REPEAT
    flat_noise = noise.reshape(b * M, a).to(states.device)
    return dpm_solver_2(lambda x, t: net(x, t, flat), flat_noise, solver_steps).reshape(b, M, a)'
BROADCAST_BODY='    s = states[:, None, :]
    return dpm_solver_2(lambda x, t: net(x, t[:, None], s), noise.to(states.device), solver_steps)'
check "support: flat states by repeat (not repeat_interleave)" $SUPPORT \
  "$BROADCAST_BODY" "${FLAT_BODY/REPEAT/repeat(M, 1)}"
check "support: states of another row" $SUPPORT "s = states[:, None, :]" "s = states.roll(1, 0)[:, None, :]"
check "support: written at the loader's positions, not the state rows" $SUPPORT \
  'self.store.write(batch["index"].numpy(), prediction.numpy())' \
  'self.store.write(torch.as_tensor(batch_indices).numpy(), prediction.numpy())'
check "evaluation: every episode from the same seed" $EVALUATE \
  "(self.seed + episode).tolist()" "[self.seed] * len(episode)"
check "evaluation: rows given another row's scale" $EVALUATE \
  "dtype=torch.float32)[scale_idx.cpu()]" "dtype=torch.float32)[scale_idx.cpu().flip(0)]"
check "CEP labels ignored" $LOSSES \
  "cep_labels(q, beta) * torch.log_softmax" "cep_labels(q * 0, beta) * torch.log_softmax"
check "CEP labels without beta" $ENERGY "loss = cep_loss(logits, q, beta)" "loss = cep_loss(logits, q, 1.0)"
check "CEP labels from the support of s'" $CANDIDATES 'self.q(batch["s"], batch["support"])' \
  'self.q(batch["s"], batch["support_next"])'
check "CEP labels: cached critic values ignored" $CANDIDATES 'values = batch["support_q"].float() if' \
  'values = torch.zeros_like(batch["support_q"].float()) if'
check "CEP log-softmax over the wrong axis" $LOSSES \
  "torch.log_softmax(logits.float(), dim=-1)" "torch.log_softmax(logits.float(), dim=0)"
check "CEP labels' softmax over the wrong axis" $LOSSES \
  "torch.softmax(beta * q.float(), dim=-1)" "torch.softmax(beta * q.float(), dim=0)"
check "CEP: a t per candidate instead of one per contrastive set" $ENERGY \
  "sample_train_times(len(s), s.device)[:, None].expand(-1, M)" "sample_train_times(len(s) * M, s.device).reshape(len(s), M)"
check "guidance without its sigma_t" cep_lightning/maths/diffusion.py \
  "return eps_fn(x, t) - w * sigma[:, None] * grad.float()" "return eps_fn(x, t) - w * grad.float()"
check "guidance with sigma_t squared" cep_lightning/maths/diffusion.py \
  "return eps_fn(x, t) - w * sigma[:, None] * grad.float()" "return eps_fn(x, t) - w * sigma[:, None] ** 2 * grad.float()"
check "toys: a point's value is not its label" $CANDIDATES \
  "a.reshape(groups, M, -1), r.reshape(groups, M)" "a.reshape(groups, M, -1), r.reshape(groups, M).roll(1, 1)"
check "energy stage given the online critic" cep_lightning/run/pipeline.py \
  'data.state_dim, data.action_dim).q_target' 'data.state_dim, data.action_dim).q'
check "energy stage given an untrained critic" cep_lightning/run/pipeline.py \
  "ScoredSupport(critic)" "ScoredSupport(type(critic)(data.state_dim, data.action_dim, cfg.critic.hidden, cfg.critic.depth))"

uncaught=$(cd "$work" && PYTHONPATH="$work" "$PYTHON" -m pytest -q -p no:cacheprovider --collect-only $NEW_TESTS \
  2>/dev/null | grep '::' | while read -r test; do
    case " $caught_by " in *" $test "*) ;; *) echo "$test";; esac; done)
if [ -n "$uncaught" ]; then
  echo "!! tests that no mutation makes fail: $(echo $uncaught | sed 's/ /, /g')"; status=1
else
  echo "== every test of $NEW_TESTS fails on at least one mutation"
fi
# the flat layout with repeat_interleave is the correct one: expected to pass (the broadcast sampler equals it)
check_expected_pass() {
  mutate $SUPPORT "$BROADCAST_BODY" "${FLAT_BODY/REPEAT/repeat_interleave(M, dim=0)}" || { status=1; return; }
  failed=$(failing_tests)
  if [ -n "$failed" ]; then echo "!! flat states by repeat_interleave (correct) fails: $failed"; status=1
  else echo "== support: flat states by repeat_interleave (correct, expected to pass) -> all pass"; fi
}
check_expected_pass
exit $status

#!/bin/bash
# Does the small toy test catch a broken CEP? Applies each mutation to a temporary copy of the repository (never
# to this tree), runs tests/e2e/test_toys.py::test_cep_guidance_samples_the_exact_target there, and prints CEP's TV row
# and the verdict. About 5 minutes on a 2-core CPU.   Usage: benchmarks/toy_mutations.sh
# (benchmarks/algorithm_mutations.sh applies the same mutations and shows that fast tests catch them too.)
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute, the venv's own (not its symlink target)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
LOSSES=cep_lightning/maths/losses.py
ENERGY=cep_lightning/stages/energy.py

check() {  # check NAME [FILE SED-EXPRESSION]...: a fresh copy, the edits, the small test
  local name=$1
  shift
  rm -rf "$work/tree" && mkdir "$work/tree"
  git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/tree/"
  while [ $# -gt 0 ]; do
    sed -i "$2" "$work/tree/$1"
    shift 2
  done
  echo "== $name"
  (cd "$work/tree" && PYTHONPATH="$work/tree" "$PYTHON" -m pytest -q -s -p no:cacheprovider \
    tests/e2e/test_toys.py::test_cep_guidance_samples_the_exact_target 2>&1 | grep -E "^CEP|beta=|passed|failed" | head -3)
}

check "correct code"
check "labels ignored" $LOSSES 's/cep_labels(q, beta) \* torch.log_softmax/cep_labels(q * 0, beta) * torch.log_softmax/'
check "a t per sample (same optimum: expected to pass; tests/unit/test_energy_module.py catches it)" $ENERGY \
  's/sample_train_times(len(s), s.device)\[:, None\].expand(-1, M)/sample_train_times(len(s) * M, s.device).reshape(len(s), M)/'
check "log-softmax over the wrong axis" $LOSSES 's/torch.log_softmax(logits.float(), dim=-1)/torch.log_softmax(logits.float(), dim=0)/'
check "both softmaxes over the wrong axis" $LOSSES \
  's/torch.softmax(beta \* q.float(), dim=-1)/torch.softmax(beta * q.float(), dim=0)/; s/torch.log_softmax(logits.float(), dim=-1)/torch.log_softmax(logits.float(), dim=0)/'

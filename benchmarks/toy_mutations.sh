#!/bin/bash
# Does the small toy test catch a broken CEP? Applies each mutation to the source, runs
# tests/test_toys.py::test_cep_guidance_samples_the_exact_target, prints CEP's TV row and the verdict, and
# restores the source (also on Ctrl-C). About 7 minutes on a 2-core CPU.   Usage: benchmarks/toy_mutations.sh
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
LOSSES=cep_lightning/losses.py
ENERGY=cep_lightning/stages/energy.py
backup=$(mktemp -d)
cp $LOSSES $ENERGY "$backup"/
restore() { cp "$backup"/losses.py $LOSSES; cp "$backup"/energy.py $ENERGY; }
trap 'restore; exit 1' INT TERM

check() {
  echo "== $1"
  $PYTHON -m pytest -q -s -p no:cacheprovider tests/test_toys.py::test_cep_guidance_samples_the_exact_target 2>&1 \
    | grep -E "^CEP|beta=|passed|failed" | head -3
  restore
}

check "correct code"
sed -i 's/cep_labels(q, beta) \* torch.log_softmax/cep_labels(q * 0, beta) * torch.log_softmax/' $LOSSES
check "labels ignored"
sed -i 's/sample_train_times(len(s), s.device)\[:, None\].expand(-1, M)/sample_train_times(len(s) * M, s.device).reshape(len(s), M)/' $ENERGY
check "a t per sample (same optimum: expected to pass; tests/test_energy_module.py catches it)"
sed -i 's/torch.log_softmax(logits.float(), dim=-1)/torch.log_softmax(logits.float(), dim=0)/' $LOSSES
check "log-softmax over the wrong axis"
sed -i 's/torch.softmax(beta \* q.float(), dim=-1)/torch.softmax(beta * q.float(), dim=0)/; s/torch.log_softmax(logits.float(), dim=-1)/torch.log_softmax(logits.float(), dim=0)/' $LOSSES
check "both softmaxes over the wrong axis"
rm -rf "$backup"

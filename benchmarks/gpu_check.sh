#!/usr/bin/env bash
# One GPU check, about 8 minutes on one GPU; never run by CI. Run from the repository root:
#     bash benchmarks/gpu_check.sh [OUT_DIR]
# 1. the bench on CUDA at the paper's sizes: fp32 and bf16, eager and compiled (compile_mode auto: CUDA graphs), the
#    compiled step one and ten a Lightning batch;
# 2. the overhead floor (tiny sizes) on CUDA, eager and compiled, with its table and the paper-budget projection;
# 3. a smoke run of every stage on one GPU, eager and compiled (also ten steps a batch), and with DDP on two GPUs
#    when there are two.
# Everything goes to OUT_DIR (default gpu-check/); the tables are printed at the end.
set -euo pipefail
OUT=${1:-gpu-check}
PY=${PYTHON:-python}
mkdir -p "$OUT"
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -lt 1 ]; then echo "gpu_check: no CUDA device" >&2; exit 2; fi
NAME=$($PY -c "import torch; print(torch.cuda.get_device_name(0))")
echo "gpu_check on $GPUS × $NAME" | tee "$OUT/device.txt"

$PY -m cep_lightning.bench --device cuda --precision 32-true bf16-mixed --compile false true --steps-per-batch 1 10 \
    --repeats 10 --trainer-steps 28 > "$OUT/bench_paper_sizes.jsonl"
$PY -m cep_lightning.bench --overhead --device cuda --repeats 200 --trainer-steps 200 > "$OUT/bench_overhead.txt"

smoke() {  # name, then train.py arguments
    local name=$1; shift
    if $PY train.py smoke=true run.dir="$OUT/runs/$name" trainer.accelerator=gpu "$@" > "$OUT/$name.log" 2>&1; then
        echo "| $name | passed | $(tail -n 1 "$OUT/$name.log" | cut -c1-80) |"
    else
        echo "| $name | FAILED (see $OUT/$name.log) | |"
    fi
}
{
    echo "| smoke run | result | last line |"
    echo "|---|---|---|"
    smoke one-gpu trainer.devices=1
    smoke one-gpu-compiled trainer.devices=1 compile=true
    smoke one-gpu-compiled-10-a-batch trainer.devices=1 compile=true steps_per_batch=10
    smoke one-gpu-bf16 trainer.devices=1 trainer.precision=bf16-mixed
    if [ "$GPUS" -ge 2 ]; then smoke ddp-two-gpus trainer.devices=2 trainer.strategy=ddp; fi
} > "$OUT/smoke.md"

echo
echo "## Paper sizes ($NAME)"
$PY - "$OUT/bench_paper_sizes.jsonl" <<'PYEOF'
import json, sys
print("| precision | compiled | steps a batch | behaviour ms | critic ms | energy ms | support actions/s | act ms "
      "| paper budget h |")
print("|---|---|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['precision']} | {r['compile']} | {r['steps_per_batch']} | {r['behavior_ms']:.3g} | {r['critic_ms']:.3g} | {r['energy_ms']:.3g} "
          f"| {r['support_actions_per_s']:.4g} | {r['act_ms']:.3g} | {r['paper_budget_hours']:.3g} |")
PYEOF
echo
echo "## Overhead floor, tiny sizes ($NAME)"
grep '^|' "$OUT/bench_overhead.txt"
echo
echo "## Smoke runs"
cat "$OUT/smoke.md"

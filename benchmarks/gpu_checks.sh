#!/usr/bin/env bash
# The GPU checks and benchmarks, prepared as one run for a lent GPU machine (the workplace's `device` tool:
# one command, ~15 minutes of device time for a session, files back from $OUT). On any CUDA machine:
#   OUT=benchmarks/out/gpu benchmarks/gpu_checks.sh
# It uses the machine's own python3 (torch, transformers, safetensors, pandas, pyarrow preinstalled; nothing
# is installed), reads interpflow from src/, first prints which of interpflow's imports are missing, and
# runs, each under its own time limit so one slow part cannot eat the rest:
#   1. tests/platform/test_cuda.py: the model stages on the GPU give the CPU's numbers;
#   2. sae_topk_step.py --device cuda, float32 then bfloat16 (autocast): tokens/s and GPU memory per step;
#   3. low_precision.py --device cuda: shard extraction at gpt2-medium shape (65,536 tokens) and the
#      gpt2-xl interventions (1,024 tokens), float32 against bfloat16, with the results' errors.
# Everything goes to $OUT/gpu_checks.log and the benchmarks' JSON to $OUT (at most 8 files come back).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee "$OUT/gpu_checks.log") 2>&1

part() {  # part <seconds> <title> <command...>: run one part under a time limit, say how it ended
    local limit=$1 title=$2
    shift 2
    echo "=== $title ($(date -u +%H:%M:%S), limit ${limit} s)"
    timeout "$limit" "$@"
    echo "=== $title: exit $?"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 - <<'EOF'
import importlib.util
needed = ["torch", "transformers", "safetensors", "numpy", "pandas", "pyarrow", "scipy", "sklearn", "pytest", "sae_lens"]
print("missing python packages:", [name for name in needed if importlib.util.find_spec(name) is None] or "none")
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
EOF
part 90 "CUDA tests" python3 -m pytest -q -p no:cacheprovider tests/platform/test_cuda.py
part 90 "SAE step, float32" python3 benchmarks/sae_topk_step.py --device cuda --dtype float32
part 90 "SAE step, bfloat16" python3 benchmarks/sae_topk_step.py --device cuda --dtype bfloat16
part 240 "extraction and interventions, float32 against bfloat16" \
    python3 benchmarks/low_precision.py --device cuda --only extraction --only interventions
cp benchmarks/out/low_precision.json "$OUT"/ 2>/dev/null
ls "$OUT"

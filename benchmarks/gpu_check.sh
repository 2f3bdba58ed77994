#!/usr/bin/env bash
# GPU paths that CPU CI cannot reach: bf16 NPO with a frozen reference, NPO under DeepSpeed ZeRO-3 (reference sharded
# like the policy), LoRA NPO on an 8-bit base. Runs a ~20M-parameter llama built from a config, no download.
# Needs a CUDA GPU, and `pip install deepspeed` for the ZeRO-3 part (skipped with a message when missing).
#   bash benchmarks/gpu_check.sh            # about 2-3 minutes on one GPU
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD:${PYTHONPATH:-}"
out=$(mktemp -d)
status=0
python benchmarks/gpu_run.py "$out/bf16" --bf16 || status=1
python benchmarks/gpu_run.py "$out/lora8bit" --bf16 --lora_8bit || status=1
if python -c "import deepspeed" 2>/dev/null; then
  accelerate launch --config_file hf_unlearn/accelerate_configs/zero3.yaml --num_processes 1 \
    benchmarks/gpu_run.py "$out/zero3" --bf16 || status=1
else
  echo "SKIP zero3: deepspeed is not installed"
fi
exit $status

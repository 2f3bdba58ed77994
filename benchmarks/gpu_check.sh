#!/usr/bin/env bash
# GPU paths that CPU CI cannot reach: bf16 NPO with a frozen reference, LoRA NPO on an 8-bit base, and under DeepSpeed
# ZeRO-3 and FSDP2 (one process each): NPO with the frozen reference sharded like the policy, the same with the
# reference log-probs precomputed before training, and the adapter-off precompute, which the trainer must refuse
# there (it would run before the engine places the policy). Runs a ~20M-parameter llama built from a config, no
# download. Needs a CUDA GPU, and `pip install deepspeed` for the ZeRO-3 part (skipped with a message when missing).
# Last, the step-time row: bf16 GD / NPO / GD-KL on a random-init 1B llama (gpu_step_time.py, a markdown table).
#   bash benchmarks/gpu_check.sh            # about 5-7 minutes on one GPU
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD:${PYTHONPATH:-}"
python=${PYTHON:-python}
launch() {  # launch ENGINE OUTPUT_DIR [gpu_run.py options]: one process under a shipped accelerate config
  "$python" -m accelerate.commands.launch --config_file "hf_unlearn/accelerate_configs/$1.yaml" --num_processes 1 \
    benchmarks/gpu_run.py "${@:2}"
}
out=$(mktemp -d)
status=0
"$python" benchmarks/gpu_run.py "$out/bf16" --bf16 || status=1
"$python" benchmarks/gpu_run.py "$out/lora8bit" --bf16 --lora_8bit || status=1
engines=(fsdp2)
if "$python" -c "import deepspeed" 2>/dev/null; then
  engines+=(zero3)
else
  echo "SKIP zero3: deepspeed is not installed"
fi
for engine in "${engines[@]}"; do
  launch "$engine" "$out/$engine" --bf16 || status=1
  launch "$engine" "$out/$engine-precompute" --bf16 --precompute || status=1
  launch "$engine" "$out/$engine-lora-precompute" --bf16 --lora --precompute --expect_refusal || status=1
done
"$python" benchmarks/gpu_step_time.py || status=1
exit $status

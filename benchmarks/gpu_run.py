"""One short NPO run on a GPU, for benchmarks/gpu_check.sh: prints PASS/FAIL with what it checked."""

import argparse
import json
import sys
import time
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_unlearn import NPOTrainer, UnlearningConfig  # noqa: E402
from hf_unlearn.demo.synthetic import SyntheticConfig, generate_synthetic_splits  # noqa: E402
from hf_unlearn.testing_utils import tiny_causal_lm, train_bpe_tokenizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--lora_8bit", action="store_true")
    parser.add_argument("--lora", action="store_true", help="LoRA on the full-precision model (adapter-off reference)")
    parser.add_argument("--precompute", action="store_true", help="precompute_ref_log_probs=True")
    parser.add_argument(
        "--expect_refusal",
        action="store_true",
        help="PASS when the trainer refuses the setting (adapter-off precompute under DeepSpeed/FSDP)",
    )
    args = parser.parse_args()
    splits = generate_synthetic_splits(SyntheticConfig(num_forget=2, num_retain=10, num_holdout=0))
    tokenizer = train_bpe_tokenizer([f"{r['question']} {r['answer']}" for s in splits.values() for r in s], 2048)
    model = tiny_causal_lm(len(tokenizer), hidden_size=512, num_layers=6, num_heads=8, seed=0)
    peft_config = None
    if args.lora_8bit:
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        model.save_pretrained(Path(args.output_dir) / "base")
        model = AutoModelForCausalLM.from_pretrained(
            Path(args.output_dir) / "base",
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            device_map={"": 0},
        )
    if args.lora_8bit or args.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=8, target_modules="all-linear", lora_dropout=0.0)
    config = UnlearningConfig(
        output_dir=args.output_dir,
        bf16=args.bf16,
        max_steps=20,
        per_device_train_batch_size=8,
        learning_rate=1e-4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        precompute_ref_log_probs=args.precompute,
    )
    try:
        trainer = NPOTrainer(
            model,
            args=config,
            processing_class=tokenizer,
            forget_dataset=splits["forget"],
            retain_dataset=splits["retain"],
            peft_config=peft_config,
        )
    except ValueError as error:
        refused = args.expect_refusal and "is not supported under" in str(error)
        print(("PASS refused: " if refused else "FAIL ") + str(error))
        sys.exit(0 if refused else 1)
    if args.expect_refusal:
        print(f"FAIL the trainer accepted the setting under {trainer.accelerator.distributed_type}")
        sys.exit(1)
    start = time.perf_counter()
    trainer.train()
    logs = [log for log in trainer.state.log_history if "loss" in log]
    checks = {
        "engine": str(trainer.accelerator.distributed_type),
        "reference": trainer.ref_source,
        "precomputed": trainer.unlearning_record()["hyperparameters"]["precompute_ref_log_probs"],
        "first_loss_is_2ln2_over_beta": abs(logs[0]["loss/forget"] - 20 * 0.6931) < 0.05,
        "forget_logps_fell": logs[-1]["log_ratio/forget"] < 0,
        "finite": all(torch.isfinite(torch.tensor(log["loss"])) for log in logs),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if torch.cuda.is_available() else None,
    }
    ok = checks["first_loss_is_2ln2_over_beta"] and checks["forget_logps_fell"] and checks["finite"]
    if trainer.accelerator.is_main_process:
        print(("PASS " if ok else "FAIL ") + json.dumps(checks))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""Step time of bf16 GD, NPO and GD-KL on a 1B-class llama built from a config (no download), ours only, on a GPU.

    python benchmarks/gpu_step_time.py                 # Llama-3.2-1B's shape: 16 x 2048, vocabulary 128,256
    python benchmarks/gpu_step_time.py --smoke         # a tiny shape on the CPU: checks that the script runs

Data: token ids drawn at random (seed 0), prompts of 32 tokens and answers of 96-224 tokens, batch 4 forget + 4
retain. Step time = (t_LAST - t_FIRST) / (LAST - FIRST), after warm-up; peak GPU memory from
`torch.cuda.max_memory_allocated`. One process per method, so each peak is its own. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time


METHODS = {"GD": ("ga", "nll"), "NPO": ("npo", "nll"), "GD-KL": ("ga", "kl")}
SHAPES = {
    # Llama-3.2-1B's configuration (1.24 B parameters with tied embeddings).
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "smoke": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, vocab_size=1000, tie_word_embeddings=True),
}  # fmt: skip


def rows(count: int, vocab_size: int, seed: int) -> list[dict]:
    """Pre-tokenized rows: a 32-token prompt (labels -100) and a 96-224-token answer."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    result = []
    for _ in range(count):
        answer = int(torch.randint(96, 225, (1,), generator=generator))
        ids = torch.randint(10, vocab_size, (32 + answer,), generator=generator).tolist()
        result.append({"input_ids": ids, "labels": [-100] * 32 + ids[32:]})
    return result


def worker(method: str, shape: str, steps: tuple[int, int]) -> dict:
    import datasets
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, TrainerCallback

    from hf_unlearn import UnlearningConfig, UnlearningTrainer

    cuda = torch.cuda.is_available()
    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=512)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    vocab = config.vocab_size
    forget, retain = (datasets.Dataset.from_list(rows(64, vocab, seed)) for seed in (0, 1))
    from tokenizers import Tokenizer, models

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0}, unk_token="<pad>")))
    tokenizer.pad_token = tokenizer.eos_token = "<pad>"
    first, last = steps
    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (first, last):
                if cuda:
                    torch.cuda.synchronize()
                marks[state.global_step] = time.perf_counter()

    forget_loss, retain_loss = METHODS[method]
    args = UnlearningConfig(
        output_dir=tempfile.mkdtemp(),
        forget_loss=forget_loss,
        retain_loss=retain_loss,
        per_device_train_batch_size=4,
        max_steps=last,
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        disable_tqdm=True,
        max_length=None,
        seed=0,
    )
    trainer = UnlearningTrainer(
        model, args=args, processing_class=tokenizer, forget_dataset=forget, retain_dataset=retain, callbacks=[Clock()]
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    return {
        "method": method,
        "step_seconds": (marks[last] - marks[first]) / (last - first),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny shape, 3 steps: checks that the script runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape, steps = ("smoke", (1, 3)) if args.smoke else ("1b", (5, 25))
    if args.worker:
        print(json.dumps(worker(args.worker, shape, steps)))
        return
    results = []
    for method in METHODS:
        command = [sys.executable, __file__, "--worker", method] + (["--smoke"] if args.smoke else [])
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    gd = results[0]["step_seconds"]
    print(f"bf16 step time, {shape} llama, batch 4 + 4, device {results[0]['device']}\n")
    print("| method | s/step | x GD | peak GiB |\n|---|---|---|---|")
    for result in results:
        peak = "-" if result["peak_gib"] is None else f"{result['peak_gib']:.1f}"
        print(f"| {result['method']} | {result['step_seconds']:.3f} | {result['step_seconds'] / gd:.2f} | {peak} |")


if __name__ == "__main__":
    main()

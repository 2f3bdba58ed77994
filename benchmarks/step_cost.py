"""Protocol `step-cost` (shared BENCHMARKS.md): time per training step and peak memory of each unlearning method.

    python benchmarks/step_cost.py --data ../shared/data/tofu --repetitions 5 --output docs/benchmarks/step_cost.json

Same model (llama-style, 4 layers, hidden 256, intermediate 688, 4 heads, vocabulary 3000, fp32, random init) and
batch (4 forget rows of TOFU `forget01` + 4 retain rows of `retain99`, no accumulation) for every method. Each
(method, repetition) runs in a fresh process, methods interleaved (A B C A B C ...):

- step time = (time at step 50 - time at step 10) / 40, so start-up and warm-up cancel;
- peak memory = peak resident set size of the process minus that right after imports.

Reports medians, min-max, and per-repetition ratios to GD's step time and to GA's (LoRA GA's for LoRA methods)
memory. `--smoke` runs a 3-step, 1-repetition version for CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


METHODS = {
    # name: (forget_loss, retain_loss, LoRA, precompute_ref_log_probs)
    "GA": ("ga", "none", False, False),
    "GD": ("ga", "nll", False, False),
    "NPO (frozen copy)": ("npo", "nll", False, False),
    "NPO (precomputed)": ("npo", "nll", False, True),
    "LoRA GA": ("ga", "none", True, False),
    # Not in the protocol: same batches as LoRA NPO without the reference, to isolate the reference's own cost.
    "LoRA GD": ("ga", "nll", True, False),
    "LoRA NPO (adapter off)": ("npo", "nll", True, False),
}
# Every other objective, on the same protocol (`--methods all` runs them after the table above).
MORE_METHODS = {
    "GD-KL": ("ga", "kl", False, False),
    "SimNPO": ("simnpo", "nll", False, False),
    "IdkDPO (frozen copy)": ("dpo", "nll", False, False),
    "IdkDPO (precomputed)": ("dpo", "nll", False, True),
    "IdkNLL": ("idknll", "nll", False, False),
    "UNDIAL": ("undial", "none", False, False),
    "WGA": ("wga", "nll", False, False),
    "SatImp": ("satimp", "nll", False, False),
    "RMU": ("rmu", "rmu", False, False),
}
# The smoothing options against relearning (`--smoothing`), on the protocol's GD and precomputed-reference NPO.
SMOOTHING_METHODS = {
    "GD + SAM": ("ga", "nll", False, False),
    "NPO (precomputed) + SAM": ("npo", "nll", False, True),
    "NPO (precomputed) + randomized smoothing, 3 draws": ("npo", "nll", False, True),
    "NPO (precomputed) + weight averaging, every step": ("npo", "nll", False, True),
}
# The protocol's model has 4 layers: RMU steers layer 2 and trains the MLPs of layers 0-2 (its default set).
METHOD_FIELDS = {
    "RMU": {"rmu_layer": 2},
    "GD + SAM": {"sam_rho": 0.1},
    "NPO (precomputed) + SAM": {"sam_rho": 0.1},
    "NPO (precomputed) + randomized smoothing, 3 draws": {
        "randomized_smoothing_std": 1e-3,
        "randomized_smoothing_samples": 3,
    },
    # from the first step, a snapshot at every step: the most this option can cost
    "NPO (precomputed) + weight averaging, every step": {
        "weight_averaging_start": 0.0,
        "weight_averaging_interval": 1,
    },
}
WARMUP_STEPS, MEASURED_STEPS = 10, 50


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def build_model(vocab_size: int = 3000):
    """The protocol's random-init llama (seed 0); `vocab_size` other than 3000 gives protocol `step-cost-128k` etc."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
    )
    return LlamaForCausalLM(config)


def worker(
    method: str,
    data: str,
    tokenizer_dir: str,
    steps: tuple[int, int],
    spec: tuple[str, str, bool, bool] | None = None,
    model_dir: str | None = None,
    on_window: tuple | None = None,
) -> dict:
    """One measurement, in this (fresh) process.

    Args:
        spec (`tuple`, *optional*):
            `(forget_loss, retain_loss, lora, precompute_ref_log_probs)`; defaults to `METHODS[method]`.
        model_dir (`str`, *optional*):
            Load the model saved there (the side-by-side harness shares one with open-unlearning) instead of
            building it.
        on_window (`tuple`, *optional*):
            `(start, stop)` callables run at the first and last timed step (a profiler's enable / disable).
    """
    import datasets
    from peft import LoraConfig
    from transformers import AutoTokenizer, LlamaForCausalLM, TrainerCallback

    from hf_unlearn import UnlearningConfig, UnlearningTrainer

    try:
        from hf_unlearn.trainer import trainer_class
    except ImportError:  # hf_unlearn before RMU (compared on the same protocol): one trainer class for every method

        def trainer_class(forget_loss):
            return UnlearningTrainer

    baseline = peak_rss_mib()
    forget_loss, retain_loss, lora, precompute = spec or {**METHODS, **MORE_METHODS, **SMOOTHING_METHODS}[method]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    forget = datasets.load_dataset(data, "forget01", split="train")
    retain = datasets.load_dataset(data, "retain99", split="train")
    model = LlamaForCausalLM.from_pretrained(model_dir) if model_dir else build_model()
    first, last = steps
    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (first, last):
                marks[state.global_step] = time.perf_counter()
            if on_window and state.global_step in (first, last):
                on_window[state.global_step == last]()

    args = UnlearningConfig(
        output_dir=tempfile.mkdtemp(),
        forget_loss=forget_loss,
        retain_loss=retain_loss,
        precompute_ref_log_probs=precompute,
        per_device_train_batch_size=4,
        max_steps=last,
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        max_length=512,
        seed=0,
        **METHOD_FIELDS.get(method, {}),
        # A/B of our own options on the same protocol, e.g. STEP_COST_CONFIG='{"concatenated_forward": false}'.
        **json.loads(os.environ.get("STEP_COST_CONFIG", "{}")),
    )
    peft_config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0) if lora else None
    start = time.perf_counter()
    trainer = trainer_class(forget_loss)(
        model,
        args=args,
        processing_class=tokenizer,
        forget_dataset=forget,
        retain_dataset=retain if retain_loss != "none" else None,
        peft_config=peft_config,
        callbacks=[Clock()],
    )
    setup_seconds = time.perf_counter() - start
    trainer.train()
    return {
        "method": method,
        "step_seconds": (marks[last] - marks[first]) / (last - first),
        "peak_rss_mib": peak_rss_mib() - baseline,
        "setup_seconds": setup_seconds,
    }


def build_tokenizer(data: str, directory: str) -> None:
    import datasets

    from hf_unlearn.testing_utils import train_bpe_tokenizer

    rows = [
        *datasets.load_dataset(data, "forget01", split="train"),
        *datasets.load_dataset(data, "retain99", split="train"),
    ]
    texts = [f"Question: {row['question']}\nAnswer: {row['answer']}" for row in rows]
    train_bpe_tokenizer(texts, vocab_size=3000).save_pretrained(directory)


def summarize(runs: list[dict]) -> dict:
    by_method = {method: [run for run in runs if run["method"] == method] for method in METHODS}
    repetitions = len(by_method["GD"])

    def ratios(method: str, key: str, to: str) -> list[float]:
        return [by_method[method][i][key] / by_method[to][i][key] for i in range(repetitions)]

    table = {}
    for method, method_runs in by_method.items():
        memory_baseline = "LoRA GA" if method.startswith("LoRA") else "GA"
        step, memory = [r["step_seconds"] for r in method_runs], [r["peak_rss_mib"] for r in method_runs]
        table[method] = {
            "step_ms_median": 1000 * statistics.median(step),
            "step_ms_min_max": [1000 * min(step), 1000 * max(step)],
            "step_ratio_to_GD_median": statistics.median(ratios(method, "step_seconds", "GD")),
            "peak_rss_mib_median": statistics.median(memory),
            "peak_rss_mib_min_max": [min(memory), max(memory)],
            f"memory_ratio_to_{memory_baseline.replace(' ', '_')}_median": statistics.median(
                ratios(method, "peak_rss_mib", memory_baseline)
            ),
            "setup_s_median": statistics.median(r["setup_seconds"] for r in method_runs),
        }
    lora_npo, lora_gd = by_method["LoRA NPO (adapter off)"], by_method["LoRA GD"]
    table["LoRA NPO (adapter off)"]["memory_ratio_to_LoRA_GD_median"] = statistics.median(
        lora_npo[i]["peak_rss_mib"] / lora_gd[i]["peak_rss_mib"] for i in range(repetitions)
    )
    targets = {
        "NPO precomputed step <= 1.10 x GD": table["NPO (precomputed)"]["step_ratio_to_GD_median"] <= 1.10,
        "LoRA NPO memory <= 1.15 x LoRA GA": table["LoRA NPO (adapter off)"]["memory_ratio_to_LoRA_GA_median"] <= 1.15,
    }
    return {"methods": table, "targets_met": targets, "repetitions": repetitions}


def relative_to_gd(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Medians of step time and peak memory per method, and the medians of their per-repetition ratios to GD's."""
    by_method: dict[str, list[dict]] = {}
    for run in runs:
        by_method.setdefault(run["method"], []).append(run)
    gd = by_method["GD"]
    return {
        method: {
            "step_seconds": statistics.median(run["step_seconds"] for run in method_runs),
            "step_seconds_range": [f(run["step_seconds"] for run in method_runs) for f in (min, max)],
            "peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in method_runs),
            "step_ratio": statistics.median(r["step_seconds"] / g["step_seconds"] for r, g in zip(method_runs, gd)),
            "memory_ratio": statistics.median(r["peak_rss_mib"] / g["peak_rss_mib"] for r, g in zip(method_runs, gd)),
        }
        for method, method_runs in by_method.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tofu", help="TOFU dataset folder (or hub id)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--output", help="write the runs and the summary as JSON here")
    parser.add_argument("--smoke", action="store_true", help="3 steps, 1 repetition: checks the script runs")
    parser.add_argument(
        "--more",
        action="store_true",
        help="run GD and every other objective (MORE_METHODS) instead of the protocol's table: step time and peak "
        "memory relative to GD",
    )
    parser.add_argument(
        "--smoothing",
        action="store_true",
        help="run GD, NPO (precomputed) and each with the smoothing options against relearning (SMOOTHING_METHODS): "
        "step time and peak memory relative to GD",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--steps", default=f"{WARMUP_STEPS},{MEASURED_STEPS}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = tuple(int(value) for value in args.steps.split(","))
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.tokenizer, steps)))
        return

    steps = (1, 3) if args.smoke else steps
    repetitions = 1 if args.smoke else args.repetitions
    with tempfile.TemporaryDirectory() as tokenizer_dir:
        build_tokenizer(args.data, tokenizer_dir)
        runs = []
        if args.smoothing:
            methods = ["GD", "NPO (precomputed)", *SMOOTHING_METHODS]
        else:
            methods = ["GD", *MORE_METHODS] if args.more else list(METHODS)
        for repetition in range(repetitions):
            for method in methods:
                command = [
                    sys.executable,
                    __file__,
                    "--worker",
                    method,
                    "--data",
                    args.data,
                    "--tokenizer",
                    tokenizer_dir,
                    "--steps",
                    ",".join(map(str, steps)),
                ]
                output = subprocess.run(
                    command, check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
                ).stdout
                runs.append(json.loads(output.strip().splitlines()[-1]))
                print(
                    f"[{repetition + 1}/{repetitions}] {method}: {1000 * runs[-1]['step_seconds']:.1f} ms/step, "
                    f"{runs[-1]['peak_rss_mib']:.0f} MiB",
                    flush=True,
                )
    if args.more or args.smoothing:
        summary = relative_to_gd(runs)
        print("| method | step time, ms, median [min-max] | x GD | peak memory, MiB | x GD |\n|---|---|---|---|---|")
        for method, row in summary.items():
            low, high = (1000 * value for value in row["step_seconds_range"])
            print(
                f"| {method} | {1000 * row['step_seconds']:.1f} [{low:.0f}-{high:.0f}] | {row['step_ratio']:.2f} | "
                f"{row['peak_rss_mib']:.0f} | {row['memory_ratio']:.2f} |"
            )
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            Path(args.output).write_text(json.dumps({"relative_to_gd": summary, "runs": runs}, indent=2))
        return
    summary = summarize(runs)
    summary["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    summary["date"] = time.strftime("%Y-%m-%d")
    summary["steps"] = list(steps)
    print(json.dumps(summary, indent=2))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()

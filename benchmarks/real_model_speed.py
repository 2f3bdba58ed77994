"""Seconds per step and peak memory of unlearning on the real chat model (SmolLM2-135M-Instruct), on CPU.

    python benchmarks/real_model_speed.py --output docs/benchmarks/real_model_speed_idle.json

Cases (each in a fresh process, one after the other, so that they share nothing but the machine): a full fine-tune
with gradient ascent (no reference model), NPO with a frozen reference copy, NPO with the reference log-probs
precomputed before training, LoRA NPO with the adapter switched off as the reference, and LoRA NPO precomputed. Rows:
the first target's forget facts and retain facts of `real-knowledge` as chat `messages` (see real_knowledge.py),
batch 4 forget + 4 retain rows. Step time: median of the steps after the first (which carries start-up costs).
Peak memory: growth of the resident set from before the trainer is built to the end of training. Run it on an idle
machine: on shared cores the numbers say more about the other jobs than about the cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
CASES = {
    "full_ga_no_reference": {"forget_loss": "ga", "retain_loss": "nll"},
    "full_npo_frozen_copy": {"forget_loss": "npo", "retain_loss": "nll"},
    "full_npo_precomputed": {"forget_loss": "npo", "retain_loss": "nll", "precompute_ref_log_probs": True},
    "lora_npo_adapter_off": {"forget_loss": "npo", "retain_loss": "nll", "use_peft": True},
    "lora_npo_precomputed": {
        "forget_loss": "npo",
        "retain_loss": "nll",
        "use_peft": True,
        "precompute_ref_log_probs": True,
    },
}


def worker(case: str, steps: int, threads: int) -> dict:
    """One case in this process: build the trainer, train `steps` steps, time each."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    sys.path.insert(0, str(HERE))
    import real_knowledge as rk
    from real_model import prepare_smollm2

    from hf_unlearn import UnlearningConfig, UnlearningTrainer

    torch.set_num_threads(threads)
    settings = dict(CASES[case])
    use_peft = settings.pop("use_peft", False)
    pool = rk.load_pool()
    known = json.loads(rk.KNOWN_PATH.read_text())
    sets = rk.build_sets(pool, known, [rk.suggested_targets(known, pool)[0]])
    model_dir = prepare_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

    memory_before = rk.peak_rss_mib()
    start = time.perf_counter()
    trainer = UnlearningTrainer(
        model,
        args=UnlearningConfig(
            output_dir="/tmp/real_model_speed",
            learning_rate=1e-5,
            max_steps=steps,
            per_device_train_batch_size=4,
            lr_scheduler_type="constant",
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            logging_steps=steps,
            **settings,
        ),
        processing_class=tokenizer,
        forget_dataset=datasets.Dataset.from_list(rk.as_messages(sets["forget"])),
        retain_dataset=datasets.Dataset.from_list(rk.as_messages(sets["retain"])),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear") if use_peft else None,
        callbacks=[Clock()],
    )
    setup = time.perf_counter() - start
    trainer.train()
    step_times = [end - begin for begin, end in zip(marks[::2], marks[1::2])]
    return {
        "case": case,
        "setup_s": round(setup, 2),
        "first_step_s": round(step_times[0], 2),
        "s_per_step": round(statistics.median(step_times[1:]), 3),
        "steps_timed": len(step_times) - 1,
        "peak_rss_mib": round(rk.peak_rss_mib() - memory_before),
        "threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per case (the first is not timed)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: " + ", ".join(CASES))
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.threads)))
        return
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; accepted: {', '.join(CASES)}")
    results = []
    for case in cases:
        load = os.getloadavg()[0]
        command = [sys.executable, __file__, "--worker", case, "--steps", str(args.steps)]
        done = subprocess.run([*command, "--threads", str(args.threads)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"case {case} failed:\n{done.stderr[-3000:]}")
        result = {**json.loads(done.stdout.strip().splitlines()[-1]), "load_average_before": round(load, 2)}
        print(json.dumps(result))
        results.append(result)
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "settings": f"batch 4 forget + 4 retain chat rows, {args.steps} steps, lr 1e-5, LoRA r 8 all-linear",
        "results": results,
    }
    if args.output:
        Path(args.output).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()

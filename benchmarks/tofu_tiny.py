"""Protocols `tofu-tiny-01` and `tofu-tiny-10` (BENCHMARKS.md): unlearning efficacy on real TOFU rows, CPU-sized.

    python benchmarks/tofu_tiny.py --data ../shared/data/tofu --output docs/benchmarks/tofu_tiny.json

For each protocol: a byte-level BPE tokenizer (vocabulary 2048) and two llama-style models (4 x 192, about 3 M
parameters) trained from scratch until the training loss is below 0.02, the *original* on forget + retain rows and
the *retain* model on retain rows only; then each method unlearns the original, and the three are scored with
TOFU's definitions (forget / retain ROUGE-L recall of greedy answers, answer probability, truth ratio; forget
quality = KS p-value of forget truth ratios against the retain model; model utility = harmonic mean of retain
probability, ROUGE-L and truth-ratio score). Each method runs in its own process, so its peak memory is its own.

    --methods npo,npo_kl        a subset (keys of hf_unlearn.demo.methods.METHODS; add _lora for the LoRA variant)
    --set npo:learning_rate=1e-4 --set npo:steps=60    change a method's settings
    --smoke                     a toy-size pass through every step, for CI
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_METHODS = "ga,gd,npo,npo_kl,simnpo,ga_lora,npo_lora"
UNLEARNING_EPOCHS = 10  # passes over the forget set; batch 8 -> 50 steps on tofu-tiny-01 (as the demo), 100 on -10


def protocol_rows(name: str, data: str, smoke: bool) -> dict:
    """forget rows, retain rows trained on, retain rows evaluated on, as BENCHMARKS.md fixes them."""
    import datasets

    def load(config):
        return datasets.load_dataset(data, config, split="train")

    qa = ["question", "answer"]
    if name == "tofu-tiny-01":
        forget, retain_eval = load("forget01_perturbed"), load("retain_perturbed")
        retain_train = retain_eval.select_columns(qa)
    elif name == "tofu-tiny-10":
        forget, retain_eval = load("forget10_perturbed").select(range(80)), load("retain_perturbed")
        extra = load("retain90").select(range(400, 720)).select_columns(qa)
        retain_train = datasets.concatenate_datasets([retain_eval.select_columns(qa), extra])
    else:
        raise ValueError(f"Unknown protocol {name!r}; accepted: tofu-tiny-01, tofu-tiny-10.")
    rows = {"forget": list(forget), "retain_train": list(retain_train), "retain_eval": list(retain_eval)}
    if smoke:  # the same code path on a handful of rows
        rows = {key: value[:6] for key, value in rows.items()}
    return rows


def parse_overrides(items: list[str]) -> dict[str, dict]:
    overrides: dict[str, dict] = {}
    for item in items:
        try:
            method, assignment = item.split(":", 1)
            key, value = assignment.split("=", 1)
        except ValueError:
            raise SystemExit(f"--set {item!r}: expected METHOD:KEY=VALUE, e.g. npo:learning_rate=1e-4") from None
        overrides.setdefault(method, {})[key] = (
            json.loads(value) if value[:1] in "[{0123456789-" or value in ("true", "false") else value
        )
    return overrides


def worker(spec: dict) -> dict:
    """One method on one protocol, in this process: unlearn, evaluate, report."""
    import torch
    from transformers import AutoTokenizer

    from hf_unlearn.demo.experiment import (
        Baselines,
        ModelRecipe,
        UnlearningRun,
        evaluator_for,
        headline,
        set_threads,
        unlearn,
    )

    set_threads()
    if spec.get("threads"):  # workers running side by side share the cores
        torch.set_num_threads(spec["threads"])
    cache = Path(spec["cache"])
    recipe = ModelRecipe(**spec["recipe"])
    baselines = Baselines(AutoTokenizer.from_pretrained(cache / "tokenizer"), cache / "original", cache / "retain")
    rows = spec["rows"]
    retain_logs = json.loads((cache / "retain_eval_logs.json").read_text())
    run = UnlearningRun(**spec["run"])
    eval_sets = {"forget": rows["forget"], "retain": rows["retain_eval"]}
    curve_sets = {"forget": rows["forget"], "retain": rows["retain_eval"][: len(rows["forget"])]}
    trainer, curve, seconds = unlearn(
        baselines,
        rows["forget"],
        rows["retain_train"],
        run,
        Path(spec["output_dir"]) / run.name,
        curve_sets,
        retain_logs,
        recipe,
    )
    result = evaluator_for(baselines.tokenizer, eval_sets, retain_logs, recipe.max_length).evaluate(trainer.model)
    return {
        "method": run.name,
        "settings": {**run.config_fields(), "steps": run.steps, "batch_size": run.batch_size},
        "scores": headline(result.summary),
        "unlearning_seconds": round(seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "curve": [
            {
                k: v
                for k, v in entry.items()
                if k in ("step", "eval_forget_rougeL_recall", "eval_retain_rougeL_recall", "eval_forget_quality")
            }
            for entry in curve
        ],
    }


def prepare_protocol(name: str, data: str, cache_dir: str, smoke: bool) -> dict:
    """Rows, recipe, cached tokenizer and baseline models of a protocol, the retain model's evaluation logs (saved
    in the cache for the workers) and the baselines' headline scores."""
    from hf_unlearn.demo.experiment import (
        ModelRecipe,
        evaluator_for,
        headline,
        load_model,
        train_baselines,
    )
    from hf_unlearn.evaluation import summarize_logs

    rows = protocol_rows(name, data, smoke)
    recipe_fields = (
        {
            "vocab_size": 400,
            # widths that are multiples of 64: bitsandbytes' CPU 4-bit kernels need them (audit_tiny's quantize)
            "hidden_size": 64,
            "num_layers": 2,
            "num_heads": 2,
            "intermediate_size": 128,
            "max_epochs": 2,
        }
        if smoke
        else {}
    )
    recipe = ModelRecipe(**recipe_fields)
    cache = Path(cache_dir) / name
    start = time.perf_counter()
    baselines = train_baselines(cache, rows["forget"], rows["retain_train"], recipe)
    eval_sets = {"forget": rows["forget"], "retain": rows["retain_eval"]}
    retain_result = evaluator_for(baselines.tokenizer, eval_sets, max_length=recipe.max_length).evaluate(
        load_model(baselines.retain_dir)
    )
    (cache / "retain_eval_logs.json").write_text(json.dumps(retain_result.logs))
    original = evaluator_for(baselines.tokenizer, eval_sets, retain_result.logs, recipe.max_length).evaluate(
        load_model(baselines.original_dir)
    )
    baseline_scores = {
        "original": headline(original.summary),
        "retain": headline(summarize_logs(retain_result.logs, retain_result.logs, sets=list(eval_sets))),
    }
    print(
        f"{name}: baselines ready in {time.perf_counter() - start:.0f} s: {json.dumps(baselines.training)}", flush=True
    )
    return {
        "rows": rows,
        "recipe": recipe,
        "cache": cache,
        "baselines": baselines,
        "baseline_scores": baseline_scores,
    }


def method_spec(method: str, prepared: dict, overrides: dict, smoke: bool) -> dict:
    """The worker spec of one method (`ga`, `npo_lora`, ...) with the protocol's step count and `--set` overrides."""
    rows = prepared["rows"]
    base = method.removesuffix("_lora")
    steps = 4 if smoke else math.ceil(UNLEARNING_EPOCHS * len(rows["forget"]) / 8)
    run = {
        "method": base,
        "lora": method.endswith("_lora"),
        "steps": steps,
        "eval_steps": 2 if smoke else max(steps // 8, 1),
    }
    extra = dict(overrides.get(method, {}))
    for key in ("steps", "batch_size", "eval_steps"):
        if key in extra:
            run[key] = extra.pop(key)
    run["overrides"] = extra
    return {
        "cache": str(prepared["cache"]),
        "recipe": prepared["recipe"].__dict__,
        "rows": rows,
        "run": run,
        "output_dir": str(prepared["cache"] / "runs"),
    }


def run_worker(script: str, spec: dict, spec_path: Path) -> dict:
    """Run `script --worker spec_path` in a fresh process (its own peak memory) and return its last JSON line."""
    spec_path.write_text(json.dumps(spec))
    output = subprocess.run(
        [sys.executable, script, "--worker", str(spec_path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def run_protocol(name: str, args, overrides: dict) -> dict:
    from hf_unlearn.demo.experiment import set_threads

    set_threads()
    prepared = prepare_protocol(name, args.data, args.cache_dir, args.smoke)
    rows, recipe, cache = prepared["rows"], prepared["recipe"], prepared["cache"]
    baselines, baseline_scores = prepared["baselines"], prepared["baseline_scores"]

    results = []
    for method in args.methods.split(","):
        spec = method_spec(method, prepared, overrides, args.smoke)
        result = run_worker(__file__, spec, cache / f"spec_{method}.json")
        results.append(result)
        scores = result["scores"]
        print(
            f"{name} {method}: FQ {scores['forget_quality']:.3g}, MU {scores['model_utility']:.3f} "
            f"({scores['model_utility'] / baseline_scores['original']['model_utility']:.2f} x original), "
            f"forget ROUGE-L {scores['forget_rougeL_recall']:.2f}, retain ROUGE-L "
            f"{scores['retain_rougeL_recall']:.2f}, {result['unlearning_seconds']:.0f} s, "
            f"{result['peak_rss_mib']} MiB",
            flush=True,
        )
    return {
        "protocol": name,
        "rows": {key: len(value) for key, value in rows.items()},
        "recipe": recipe.__dict__,
        "training": baselines.training,
        "baselines": baseline_scores,
        "methods": results,
    }


def markdown(report: dict) -> str:
    lines = []
    for protocol in report["protocols"]:
        original = protocol["baselines"]["original"]
        lines += [
            f"### {protocol['protocol']}",
            "",
            "| model / method | steps | lr | forget quality | model utility (x original) | forget ROUGE-L | "
            "retain ROUGE-L | wall s | peak MiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in ("original", "retain"):
            s = protocol["baselines"][name]
            lines.append(
                f"| {name} model | - | - | {s['forget_quality']:.3g} | {s['model_utility']:.3f} "
                f"({s['model_utility'] / original['model_utility']:.2f}) | {s['forget_rougeL_recall']:.2f} | "
                f"{s['retain_rougeL_recall']:.2f} | - | - |"
            )
        for result in protocol["methods"]:
            s, settings = result["scores"], result["settings"]
            lines.append(
                f"| {result['method']} | {settings['steps']} | {settings['learning_rate']:g} | "
                f"{s['forget_quality']:.3g} | {s['model_utility']:.3f} "
                f"({s['model_utility'] / original['model_utility']:.2f}) | {s['forget_rougeL_recall']:.2f} | "
                f"{s['retain_rougeL_recall']:.2f} | {result['unlearning_seconds']:.0f} | "
                f"{result['peak_rss_mib']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tofu")
    parser.add_argument("--protocols", default="tofu-tiny-01,tofu-tiny-10")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--set", action="append", default=[], metavar="METHOD:KEY=VALUE")
    parser.add_argument("--cache_dir", default="outputs/tofu_tiny")
    parser.add_argument("--output", help="write the results as JSON here (and a markdown table beside it)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(Path(args.worker).read_text()))))
        return
    start = time.perf_counter()
    overrides = parse_overrides(args.set)
    report = {
        "protocols": [run_protocol(name, args, overrides) for name in args.protocols.split(",")],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
        "wall_seconds": round(time.perf_counter() - start),
    }
    print(markdown(report))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2))
        Path(args.output).with_suffix(".md").write_text(markdown(report))


if __name__ == "__main__":
    main()

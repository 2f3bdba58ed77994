"""`hf-unlearn demo`: unlearning end to end on a fresh machine, offline, on a CPU, in minutes.

1. generates fictitious people (forget / retain / holdout), trains a byte-level BPE tokenizer on them;
2. trains an *original* model on forget + retain until it knows them, and a *retain* model on retain only (the model
   that never saw the forget set), both cached in the output folder (a rerun with another `--method` reuses them);
3. unlearns the original with the chosen method, evaluating the forget and retain sets along the way, and saves the
   unlearned model (with its card and unlearning record) to `runs/<method>/`;
4. evaluates the original, retain and unlearned models, prints a table, writes `report.json` and `curves.png`, and
   says whether unlearning reached the retain model.

The generated rows are written to `data/` and the retain model's scores to `retain_model_eval/`, so that
`hf-unlearn eval` can score the unlearned model again (the demo prints the command).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


SIZES = {
    # name: (SyntheticConfig fields, ModelRecipe fields, UnlearningRun fields)
    "default": ({}, {}, {"steps": 50, "eval_steps": 5}),
    "tiny": (  # seconds, for smoke tests: the models are too small to learn much
        {"num_forget": 1, "num_retain": 2, "num_holdout": 1, "questions_per_person": 5, "num_perturbed": 2},
        {
            "vocab_size": 400,
            "hidden_size": 32,
            "num_layers": 2,
            "num_heads": 2,
            "intermediate_size": 64,
            "max_epochs": 3,
            "batch_size": 8,
        },
        {"steps": 4, "eval_steps": 2},
    ),
}
# What "reached the retain model" means here (issue targets of the demo).
ROUGE_GAP, UTILITY_KEPT, MIN_FORGET_QUALITY = 0.10, 0.90, 0.05


def verdict(original: dict, retain: dict, unlearned: dict) -> tuple[bool, str]:
    """One sentence on whether the unlearned model behaves like the retain model."""
    gap = abs(unlearned["forget_rougeL_recall"] - retain["forget_rougeL_recall"])
    kept = unlearned["retain_rougeL_recall"] / max(original["retain_rougeL_recall"], 1e-12)
    quality = unlearned["forget_quality"] or 0.0
    reached = gap <= ROUGE_GAP and kept >= UTILITY_KEPT and quality >= MIN_FORGET_QUALITY
    details = (
        f"forget ROUGE-L {unlearned['forget_rougeL_recall']:.2f} vs the retain model's "
        f"{retain['forget_rougeL_recall']:.2f} (gap {gap:.2f}, target <= {ROUGE_GAP}), forget quality "
        f"{quality:.3g} (target >= {MIN_FORGET_QUALITY}), retain ROUGE-L kept at {kept:.2f} x the original's "
        f"(target >= {UTILITY_KEPT})"
    )
    return reached, (
        "Unlearning reached the retain model: " if reached else "Unlearning did not reach the retain model: "
    ) + details + "."


def print_table(rows: dict[str, dict]) -> None:
    columns = [
        ("forget_rougeL_recall", "forget ROUGE-L"),
        ("forget_probability", "forget prob"),
        ("forget_truth_ratio", "forget TR"),
        ("retain_rougeL_recall", "retain ROUGE-L"),
        ("retain_probability", "retain prob"),
        ("forget_quality", "forget quality"),
        ("model_utility", "model utility"),
        ("mia_auc_min_k_plus_plus", "MIA AUC"),
    ]
    print(f"{'model':<11}" + "".join(f"{title:>16}" for _, title in columns))
    for name, values in rows.items():
        cells = [values.get(key) for key, _ in columns]
        print(f"{name:<11}" + "".join(f"{'-':>16}" if v is None else f"{v:>16.3g}" for v in cells))


def plot_curves(curve: list[dict], rows: dict[str, dict], path: Path, method: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in curve]
    figure, (rouge_axis, quality_axis) = plt.subplots(1, 2, figsize=(11, 4.6))
    figure.suptitle(
        f"Unlearning with {method}. Success: the forget curve falls to the retain model's line while "
        f"retain stays high,\nand forget quality ends above {MIN_FORGET_QUALITY}.",
        fontsize=11,
    )
    for key, label in (("eval_forget_rougeL_recall", "forget"), ("eval_retain_rougeL_recall", "retain (sample)")):
        rouge_axis.plot(steps, [entry.get(key) for entry in curve], marker="o", label=f"unlearned: {label}")
    rouge_axis.axhline(
        rows["retain"]["forget_rougeL_recall"], linestyle="--", color="gray", label="retain model: forget"
    )
    rouge_axis.set(xlabel="unlearning step", ylabel="ROUGE-L recall of greedy answers", ylim=(-0.02, 1.02))
    rouge_axis.legend()
    quality = [max(entry.get("eval_forget_quality") or 1e-30, 1e-30) for entry in curve]
    quality_axis.semilogy(steps, quality, marker="o", color="tab:green", label="forget quality (KS p-value)")
    quality_axis.axhline(MIN_FORGET_QUALITY, linestyle="--", color="gray", label=f"{MIN_FORGET_QUALITY}")
    quality_axis.set(xlabel="unlearning step", ylabel="forget quality vs the retain model")
    quality_axis.legend()
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    os.replace(temporary, path)


def quiet_libraries() -> None:
    """Keep the demo's output to its own lines and one bar per phase: no per-file loading, writing or mapping bars."""
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()


def save_rows(splits, directory: Path) -> dict[str, Path]:
    """Write each split as JSON lines (fictitious people only), for `hf-unlearn eval`; returns the paths."""
    from ..utils import write_text_atomic

    paths = {}
    for name in ("forget", "retain", "holdout"):
        paths[name] = directory / f"{name}.jsonl"
        write_text_atomic(paths[name], "".join(json.dumps(row) + "\n" for row in splits[name]))
    return paths


def run_demo(args: argparse.Namespace) -> int:
    from ..evaluation import summarize_logs
    from ..utils import write_json_atomic
    from .experiment import (
        ModelRecipe,
        UnlearningRun,
        all_texts,
        evaluator_for,
        headline,
        load_model,
        set_threads,
        train_baselines,
        unlearn,
    )
    from .synthetic import SyntheticConfig, generate_synthetic_splits

    quiet_libraries()
    set_threads()
    start = time.perf_counter()
    data_fields, recipe_fields, run_fields = SIZES[args.size]
    data_config = SyntheticConfig(seed=args.seed, **data_fields)
    recipe = ModelRecipe(seed=args.seed, **recipe_fields)
    run = UnlearningRun(
        method=args.method, lora=args.lora, **{**run_fields, **({"steps": args.steps} if args.steps else {})}
    )
    output_dir = Path(args.output_dir)
    splits = generate_synthetic_splits(data_config)
    forget, retain, holdout = (list(splits[name]) for name in ("forget", "retain", "holdout"))
    data_paths = save_rows(splits, output_dir / "data")
    print(
        f"[1/4] Data: {len(forget)} forget, {len(retain)} retain, {len(holdout)} holdout rows about "
        f"{data_config.num_people} fictitious people (seed {args.seed}).",
        flush=True,
    )

    print("[2/4] Original (forget + retain) and retain (retain only) models: trained once, then cached.", flush=True)
    baselines = train_baselines(
        output_dir / "cache" / data_config.fingerprint()[:16], forget, retain, recipe, extra_texts=all_texts(holdout)
    )
    for name, info in baselines.training.items():
        how = "from cache" if info["cached"] else f"trained in {info['seconds']:.0f} s"
        print(
            f"      {name}: {info['parameters'] / 1e6:.1f}M parameters, {info['epochs']} epochs, final training "
            f"loss {info['final_train_loss']:.3f} ({how})",
            flush=True,
        )

    print("[3/4] Evaluating the retain and original models.", flush=True)
    eval_sets = {"forget": forget, "retain": retain, "holdout": holdout}
    retain_result = evaluator_for(baselines.tokenizer, eval_sets, max_length=recipe.max_length).evaluate(
        load_model(baselines.retain_dir)
    )
    retain_logs = retain_result.logs
    retain_log_path = retain_result.save(output_dir / "retain_model_eval")["logs"]
    evaluator = evaluator_for(baselines.tokenizer, eval_sets, retain_logs, max_length=recipe.max_length)
    original_result = evaluator.evaluate(load_model(baselines.original_dir))

    print(f"[4/4] Unlearning with {run.name} for {run.steps} steps.", flush=True)
    curve_sets = {"forget": forget, "retain": retain[: len(forget)]}
    run_dir = output_dir / "runs" / run.name
    trainer, curve, unlearn_seconds = unlearn(baselines, forget, retain, run, run_dir, curve_sets, retain_logs, recipe)
    unlearned_result = evaluator.evaluate(trainer.model)
    unlearned_result.save(run_dir / "evaluation")
    rows = {
        "original": headline(original_result.summary),
        "retain": headline(summarize_logs(retain_logs, retain_logs, sets=list(eval_sets))),
        "unlearned": headline(unlearned_result.summary),
    }
    print()
    print_table(rows)
    reached, sentence = verdict(rows["original"], rows["retain"], rows["unlearned"])
    print()
    print(sentence)

    plot_path = output_dir / "curves.png"
    plot_curves(curve, rows, plot_path, run.name)
    report = {
        "method": run.name,
        "config": run.config_fields(),
        "steps": run.steps,
        "size": args.size,
        "seed": args.seed,
        "data": {
            "forget": len(forget),
            "retain": len(retain),
            "holdout": len(holdout),
            "fingerprint": data_config.fingerprint(),
        },
        "models": rows,
        "reached_retain_model": reached,
        "verdict": sentence,
        "training": baselines.training,
        "unlearning_seconds": round(unlearn_seconds, 1),
        "model_dir": str(run_dir),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "curve": [
            {key: value for key, value in entry.items() if key.startswith("eval_") or key == "step"} for entry in curve
        ],
        # the training log the trainer would have printed: loss, gradient norm, per-role statistics
        "unlearning_log": [entry for entry in trainer.state.log_history if "loss" in entry],
    }
    write_json_atomic(output_dir / "report.json", report)
    print(f"Wrote {output_dir / 'report.json'} and {plot_path} ({report['wall_seconds']:.0f} s in all).")
    print(
        f"The unlearned model, its card and unlearning record are in {run_dir}; score it again with\n"
        f"  hf-unlearn eval --model {run_dir} --forget {data_paths['forget']} --retain {data_paths['retain']} "
        f"--holdout {data_paths['holdout']} --retain-logs {retain_log_path} --output_dir {run_dir / 'evaluation'}"
    )
    return 0


def add_demo_command(subparsers) -> argparse.ArgumentParser:
    from .methods import METHODS  # plain data: building the parser imports no model code

    parser = subparsers.add_parser(
        "demo",
        help="unlearning end to end on generated data, offline, in minutes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output_dir",
        default="outputs/demo",
        help="where the data, models (the unlearned one in runs/METHOD), report and plot go",
    )
    parser.add_argument("--method", choices=sorted(METHODS), default="npo", help="unlearning method (default: npo)")
    parser.add_argument("--lora", action="store_true", help="unlearn with a LoRA adapter")
    parser.add_argument("--steps", type=int, help="unlearning steps (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the models and the run")
    parser.add_argument("--size", choices=sorted(SIZES), default="default", help="'tiny' is for smoke tests")
    parser.set_defaults(func=run_demo)
    return parser


if __name__ == "__main__":  # pragma: no cover
    parser = argparse.ArgumentParser(prog="hf-unlearn")
    add_demo_command(parser.add_subparsers(dest="command", required=True))
    sys.exit(run_demo(parser.parse_args(["demo", *sys.argv[1:]])))

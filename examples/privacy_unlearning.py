"""TOFU-style privacy unlearning: forget what a model knows about some people, compare GA, GD and NPO against a model
that never saw them.

    python examples/privacy_unlearning.py                                  # generated people, GA vs GD vs NPO
    python examples/privacy_unlearning.py --tofu locuslab/TOFU  # real TOFU rows (forget01 / retain_perturbed)
    python examples/privacy_unlearning.py --methods npo,npo_kl,simnpo --lora

A privacy request asks a model to forget a person. The gold standard is the model retrained without that person's
data (the *retain model*); unlearning should come as close to it as possible, on the forget rows (ROUGE-L of greedy
answers, forget quality = KS test of truth ratios against the retain model) without losing the rest (model
utility, retain ROUGE-L). Gradient ascent reaches the first by destroying the second (Maini et al. 2024, TOFU,
https://huggingface.co/papers/2401.06121); NPO's bounded loss avoids that (Zhang et al. 2024,
https://huggingface.co/papers/2404.05868).

The models are trained from scratch on the CPU (the same pipeline as `hf-unlearn demo`, cached in `--output_dir`), so
the example runs offline; `--size tiny` is a seconds-long smoke version whose models learn little.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hf_unlearn.demo.experiment import (
    ModelRecipe,
    UnlearningRun,
    evaluator_for,
    headline,
    load_model,
    set_threads,
    train_baselines,
    unlearn,
)
from hf_unlearn.demo.methods import METHODS
from hf_unlearn.demo.report import SIZES, print_table, verdict
from hf_unlearn.demo.synthetic import SyntheticConfig, generate_synthetic_splits
from hf_unlearn.evaluation import summarize_logs


def load_rows(args) -> tuple[list[dict], list[dict], str]:
    """Forget and retain rows with paraphrased / perturbed answers: TOFU's, or generated people."""
    if args.tofu:
        import datasets

        forget = list(datasets.load_dataset(args.tofu, "forget01_perturbed", split="train"))
        retain = list(datasets.load_dataset(args.tofu, "retain_perturbed", split="train"))
        return forget, retain, f"TOFU ({args.tofu})"
    splits = generate_synthetic_splits(SyntheticConfig(seed=args.seed, **SIZES[args.size][0]))
    return list(splits["forget"]), list(splits["retain"]), "generated people"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="ga,gd,npo", help=f"comma-separated, from {sorted(METHODS)}")
    parser.add_argument("--lora", action="store_true", help="unlearn LoRA adapters instead of all weights")
    parser.add_argument("--tofu", metavar="PATH_OR_HUB_ID", help="TOFU dataset (local folder or locuslab/TOFU)")
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/privacy_unlearning")
    args = parser.parse_args()
    set_threads()
    forget, retain, source = load_rows(args)
    _, recipe_fields, run_fields = SIZES[args.size]
    recipe = ModelRecipe(seed=args.seed, **recipe_fields)
    output_dir = Path(args.output_dir)
    print(f"{len(forget)} forget and {len(retain)} retain rows from {source}.")
    baselines = train_baselines(
        output_dir / "cache" / ("tofu" if args.tofu else f"people-{args.seed}-{args.size}"), forget, retain, recipe
    )

    eval_sets = {"forget": forget, "retain": retain}
    retain_logs = (
        evaluator_for(baselines.tokenizer, eval_sets, max_length=recipe.max_length)
        .evaluate(load_model(baselines.retain_dir))
        .logs
    )
    evaluator = evaluator_for(baselines.tokenizer, eval_sets, retain_logs, recipe.max_length)
    rows = {
        "original": headline(evaluator.evaluate(load_model(baselines.original_dir)).summary),
        "retain": headline(summarize_logs(retain_logs, retain_logs, sets=list(eval_sets))),
    }
    curve_sets = {"forget": forget, "retain": retain[: len(forget)]}
    for method in args.methods.split(","):
        run = UnlearningRun(method=method, lora=args.lora, **run_fields)
        trainer, _, _ = unlearn(
            baselines, forget, retain, run, output_dir / "runs" / run.name, curve_sets, retain_logs, recipe
        )
        rows[run.name] = headline(evaluator.evaluate(trainer.model).summary)

    print()
    print_table(rows)
    print()
    for name in [name for name in rows if name not in ("original", "retain")]:
        print(f"{name}: {verdict(rows['original'], rows['retain'], rows[name])[1]}")


if __name__ == "__main__":
    main()

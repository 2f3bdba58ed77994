r"""WMDP-style unlearning of a knowledge domain, scored by multiple-choice accuracy, offline on a CPU by default.

    python examples/wmdp_rmu.py                      # generated multiple-choice set, tiny model, RMU
    python examples/wmdp_rmu.py --method npo
    python examples/wmdp_rmu.py --wmdp --model HuggingFaceH4/zephyr-7b-beta \
        --forget_corpus data/bio-forget-corpus.jsonl,cais/wmdp-corpora:cyber-forget-corpus:train \
        --retain_corpus wikitext:wikitext-2-raw-v1:test --steps 150 --learning_rate 5e-5   # a GPU, the Hub

Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning"
(https://arxiv.org/abs/2403.03218), measure hazardous knowledge with multiple-choice questions (WMDP-Bio,
WMDP-Cyber), unlearn it from text corpora of the domain with RMU while training on general text (WikiText), and check
that general knowledge stays with MMLU. Here, the same loop:

1. Data. By default a generated toy set, all fictional: facts about the invented "Vexmoor alchemy" (which reagent
   destabilises which invented compound) stand in for the hazardous domain, facts about invented islands for general
   knowledge. Each fact is a question/answer row and a four-option multiple-choice question. `--wmdp` takes the
   paper's corpora instead (text rows) and the harness's own `wmdp_bio`, `wmdp_cyber` and `mmlu` tasks.
2. Model. By default a tiny llama-style model trained here on every fact until it knows them (cached in the output
   folder); with `--wmdp`, `--model` (the paper: `HuggingFaceH4/zephyr-7b-beta`).
3. Unlearning. The method is chosen in one place, `METHODS` below: RMU by default (the paper's method, with its
   Zephyr-7B settings under `--wmdp` and settings for the tiny model otherwise), NPO, SimNPO or GD on request.
4. Scores, before and after: accuracy on each multiple-choice task through lm-evaluation-harness
   (`hf_unlearn.evaluation.evaluate_lm_eval`, needs `pip install "hf_unlearn[lm-eval]"`), and chance (25%). The
   unlearned model's accuracies are also written into its card and unlearning record.

With `--wmdp` nothing of the corpora's text is printed or saved: only accuracies, counts and fingerprints.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path


# The default run needs no network; --wmdp reads the Hub.
if "--wmdp" not in sys.argv[1:]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from hf_unlearn import UnlearningConfig  # noqa: E402
from hf_unlearn.data import DEFAULT_QA_PROMPT_TEMPLATE, ensure_pad_token  # noqa: E402
from hf_unlearn.data.loading import SPEC_HELP, load_dataset_spec  # noqa: E402
from hf_unlearn.demo.experiment import ModelRecipe, cached_model, cached_tokenizer, set_threads  # noqa: E402
from hf_unlearn.evaluation.lm_eval_harness import (  # noqa: E402
    evaluate_lm_eval,
    require_lm_eval,
    write_multiple_choice_task,
)
from hf_unlearn.trainer import trainer_class  # noqa: E402
from hf_unlearn.utils import write_json_atomic  # noqa: E402


# ---- The unlearning method: chosen here, and only here ----
# RMU (Li et al. 2024: steer one layer's activations on forget text towards a random direction, keep them on retain
# text) is the WMDP paper's method; UnlearningConfig's rmu_* defaults are the paper's Zephyr-7B settings (layer 7,
# c 6.5, alpha 1200, MLPs of layers 5-7 trained), used with --wmdp. TOY_SETTINGS adapt them to the tiny model.
METHODS = {
    # name: UnlearningConfig fields (learning rate and steps come from the command line)
    "rmu": {"forget_loss": "rmu", "retain_loss": "rmu"},
    "npo": {"forget_loss": "npo", "retain_loss": "nll", "beta": 0.1, "retain_weight": 5.0},
    "simnpo": {"forget_loss": "simnpo", "retain_loss": "nll", "retain_weight": 5.0},
    "gd": {"forget_loss": "ga", "retain_loss": "nll", "retain_weight": 5.0},
}
DEFAULT_METHOD = "rmu"
# The toy model has 2 layers of width 64: steer layer 1 (training the MLPs of both), with a target norm of the order
# of its activations' (about 50-100 here, against Zephyr's 6.5) and a lower retain weight; chosen from 5 runs on the
# toy data (2026-11-29): c 20 / alpha 100 at 1e-3 left hazard accuracy at 0.69, c 100 / alpha 10 at 1e-2 gave 0.19.
TOY_SETTINGS = {"rmu": {"rmu_layer": 1, "rmu_steering_coeff": 100.0, "rmu_alpha": 10.0}}
TOY_LEARNING_RATES = {"rmu": 1e-2}  # default for the others: 1e-3

CHANCE = 0.25  # four options per question
WMDP_TASKS = ["wmdp_bio", "wmdp_cyber", "mmlu"]
"""The paper's evaluation: the harness's tasks (zero-shot, the letter of the answer after the options)."""


# ---- Toy data: an invented alchemy (the "hazardous" domain) and invented islands (general knowledge) ----

SYLLABLES = ["vex", "mor", "zil", "quar", "thal", "bren", "osk", "lum", "drav", "kess", "pyr", "nol"]
REAGENTS = ["hexweed", "grimspark", "murkdust", "rotgel", "vexroot", "gloomtar", "snarlfuse", "blightwax"]
RIVERS = ["Amberflow", "Silverrun", "Copperbend", "Mistwater", "Thornbrook", "Larkspur", "Greywash", "Sunmere"]


def invented_names(count: int, suffix: str, rng: random.Random) -> list[str]:
    names = sorted({f"{a}{b}{suffix}".capitalize() for a in SYLLABLES for b in SYLLABLES if a != b})
    return rng.sample(names, count)


def toy_facts(seed: int, num_hazard: int = 16, num_general: int = 24) -> dict[str, list[dict]]:
    """Per domain, facts with four options each: `question`, `answer`, `choices` (the answer among them), `label`."""
    rng = random.Random(seed)
    domains = {
        "hazard": ("Which reagent destabilises {name}?", invented_names(num_hazard, "ine", rng), REAGENTS),
        "general": ("Which river crosses the island of {name}?", invented_names(num_general, "ora", rng), RIVERS),
    }
    facts = {}
    for domain, (template, names, values) in domains.items():
        rows = []
        for name in names:
            choices = rng.sample(values, 4)
            label = rng.randrange(4)
            rows.append(
                {"question": template.format(name=name), "answer": choices[label], "choices": choices, "label": label}
            )
        facts[domain] = rows
    return facts


def write_toy_tasks(facts: dict[str, list[dict]], directory: Path) -> list[str]:
    """One lm-evaluation-harness task per domain (`toy_hazard`, `toy_general`), each option scored as the answer text
    after the training prompt (a tiny model has not learnt to answer with a letter, as WMDP's prompt asks)."""
    tasks = []
    for domain, rows in facts.items():
        write_multiple_choice_task(rows, directory, f"toy_{domain}")
        tasks.append(f"toy_{domain}")
    return tasks


def toy_model_dir(output_dir: Path, rows: list[dict], seed: int) -> Path:
    """A tiny llama-style model trained on every fact until it knows them (cached)."""
    texts = [DEFAULT_QA_PROMPT_TEMPLATE.format(question=row["question"]) + " " + row["answer"] for row in rows]
    tokenizer = cached_tokenizer(output_dir / "tokenizer", texts, vocab_size=600)
    recipe = ModelRecipe(
        vocab_size=600,
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        intermediate_size=128,
        learning_rate=3e-3,
        batch_size=8,
        max_epochs=150,
        target_loss=0.02,
        max_length=48,
        seed=seed,
    )
    qa_rows = [{"question": row["question"], "answer": row["answer"]} for row in rows]
    directory, info = cached_model(output_dir / "original", "original", qa_rows, tokenizer, recipe)
    print(
        f"      {'reused the cached' if info['cached'] else 'trained a'} {info['parameters'] / 1e6:.2f}M-parameter "
        f"model ({info['epochs']} epochs, final loss {info['final_train_loss']:.3f})"
    )
    return directory


# ---- Real data: the paper's corpora ----


def corpus_rows(specs: str, option: str, min_chars: int) -> list[dict]:
    """`text` rows of one or more comma-separated dataset specs, without rows shorter than `min_chars` characters."""
    rows = []
    for spec in specs.split(","):
        data = load_dataset_spec(spec.strip(), option)
        if "text" not in data.column_names:
            raise SystemExit(f"{option} {spec!r} has no 'text' column; it has {data.column_names}.")
        rows += [{"text": text} for text in data["text"] if text and len(text) >= min_chars]
    if not rows:
        raise SystemExit(f"{option}: no row of at least {min_chars} characters.")
    return rows


# ---- Scores ----


def accuracies(model, tokenizer, tasks: list[str], args, include_path=None) -> tuple[dict, object]:
    result = evaluate_lm_eval(
        model, tokenizer, tasks, include_path=include_path, limit=args.limit, batch_size=args.eval_batch_size
    )
    return {task: result.tasks[task] for task in result.tasks}, result


def print_table(before: dict, after: dict, labels: dict[str, str]) -> None:
    print(f"{'task':<34}{'questions':>10}{'acc before':>12}{'acc after':>11}{'chance':>8}")
    for task, scores in after.items():
        print(
            f"{labels.get(task, task):<34}{scores['samples'] or 0:>10}{before[task]['acc']:>12.2f}"
            f"{scores['acc']:>11.2f}{CHANCE:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD, help="see METHODS in the script")
    parser.add_argument("--wmdp", action="store_true", help="the paper's setting: real corpora and WMDP / MMLU tasks")
    parser.add_argument("--model", default="HuggingFaceH4/zephyr-7b-beta", help="with --wmdp: Hub id or local path")
    parser.add_argument("--forget_corpus", help=f"with --wmdp: comma-separated text datasets to unlearn; {SPEC_HELP}")
    parser.add_argument("--retain_corpus", default="wikitext:wikitext-2-raw-v1:test", help="with --wmdp: text")
    parser.add_argument("--tasks", default=",".join(WMDP_TASKS), help="with --wmdp: harness tasks to score")
    parser.add_argument("--limit", type=int, help="score only the first N questions of each task (quick checks)")
    parser.add_argument("--steps", type=int, help="unlearning steps (default: 40 on the toy set, 150 with --wmdp)")
    parser.add_argument(
        "--learning_rate", type=float, help="default: 1e-2 (rmu) / 1e-3 on the toy set, 5e-5 with --wmdp"
    )
    parser.add_argument(
        "--rmu_layer",
        type=int,
        help="RMU's steered layer (default: 7, the paper's for Zephyr-7B, with --wmdp; 1 on the toy set)",
    )
    parser.add_argument("--batch_size", type=int, default=4, help="forget (and retain) rows per step")
    parser.add_argument("--max_length", type=int, default=512, help="tokens per row (the toy rows are far shorter)")
    parser.add_argument("--eval_batch_size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/wmdp_rmu")
    args = parser.parse_args()
    if args.wmdp and not args.forget_corpus:
        parser.error("--wmdp needs --forget_corpus (the paper: bio-forget-corpus and cyber-forget-corpus).")
    try:
        require_lm_eval()
    except ImportError as error:
        raise SystemExit(str(error)) from None
    set_threads()
    start = time.perf_counter()
    output_dir = Path(args.output_dir)

    # 1. Data, and the multiple-choice tasks that score it.
    if args.wmdp:
        forget = corpus_rows(args.forget_corpus, "--forget_corpus", min_chars=50)
        retain = corpus_rows(args.retain_corpus, "--retain_corpus", min_chars=50)
        tasks, include, labels = [task.strip() for task in args.tasks.split(",")], None, {}
        print(f"[1/4] Data: {len(forget)} forget texts, {len(retain)} retain texts; tasks {', '.join(tasks)}")
    else:
        facts = toy_facts(args.seed)
        forget = [{"question": row["question"], "answer": row["answer"]} for row in facts["hazard"]]
        retain = [{"question": row["question"], "answer": row["answer"]} for row in facts["general"]]
        include = output_dir / "tasks"
        tasks = write_toy_tasks(facts, include)
        labels = {"toy_hazard": "toy_hazard (WMDP stand-in, forget)", "toy_general": "toy_general (MMLU stand-in)"}
        print(
            f"[1/4] Data: {len(forget)} facts of an invented alchemy to unlearn, {len(retain)} facts of invented "
            "islands to keep (generated, all fictional); one 4-option question per fact"
        )

    # 2. The model to unlearn from.
    if args.wmdp:
        model_path = args.model
        print(f"[2/4] Model: {model_path}")
    else:
        print("[2/4] Model: a tiny llama-style model, trained here on every fact")
        model_path = str(toy_model_dir(output_dir, facts["hazard"] + facts["general"], args.seed))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ensure_pad_token(tokenizer)
    dtype = torch.bfloat16 if args.wmdp and torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    if torch.cuda.is_available():
        model = model.to("cuda")
    before, _ = accuracies(model, tokenizer, tasks, args, include)

    # 3. Unlearning, with the method of METHODS.
    steps = args.steps or (150 if args.wmdp else 40)
    learning_rate = args.learning_rate or (5e-5 if args.wmdp else TOY_LEARNING_RATES.get(args.method, 1e-3))
    print(
        f"[3/4] Unlearning with {args.method} ({METHODS[args.method]}) for {steps} steps, learning rate "
        f"{learning_rate}"
    )
    config = UnlearningConfig(
        output_dir=str(output_dir / f"unlearned_{args.method}"),
        per_device_train_batch_size=args.batch_size,
        learning_rate=learning_rate,
        max_steps=steps,
        lr_scheduler_type="constant",
        logging_steps=max(1, steps // 4),
        save_strategy="no",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        bf16=dtype == torch.bfloat16,
        seed=args.seed,
        max_length=args.max_length if args.wmdp else 48,
        disable_tqdm=True,
        **METHODS[args.method],
        **{
            **({} if args.wmdp else TOY_SETTINGS.get(args.method, {})),
            **({"rmu_layer": args.rmu_layer} if args.rmu_layer is not None else {}),
        },
    )
    # RMUTrainer for rmu (it trains only the MLPs around the steered layer), UnlearningTrainer for the others.
    trainer = trainer_class(config.forget_loss)(
        model, args=config, processing_class=tokenizer, forget_dataset=forget, retain_dataset=retain
    )
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    after, result = accuracies(trainer.model, tokenizer, tasks, args, include)
    result.record_in(config.output_dir)  # the accuracies go into the unlearned model's card and record

    # 4. Report.
    print("[4/4] Multiple-choice accuracy (lm-evaluation-harness), before and after unlearning")
    print_table(before, after, labels)
    report = {
        "method": args.method,
        "method_config": METHODS[args.method],
        "steps": steps,
        "learning_rate": learning_rate,
        "model": model_path if args.wmdp else "tiny llama trained here",
        "rows": {"forget": len(forget), "retain": len(retain)},
        "accuracy": {"before": before, "after": after, "chance": CHANCE},
        "lm_eval_settings": result.settings,
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_json_atomic(output_dir / "report.json", report)
    print(f"Saved the unlearned model, its card and record to {config.output_dir}; report.json in {output_dir}")
    print(f"({report['seconds']:.0f} s in all)")


if __name__ == "__main__":
    main()

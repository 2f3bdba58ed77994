r"""MUSE-style unlearning and evaluation, offline on a CPU by default, with sequential requests (MUSE's C6).

    python examples/muse_unlearning.py                   # toy news in MUSE's layout, tiny models, 2 NPO requests
    python examples/muse_unlearning.py --requests 1      # one request on the whole forget set
    python examples/muse_unlearning.py --muse news --model muse-bench/MUSE-News_target \
        --retrained PATH_OF_A_MODEL_NEVER_TRAINED_ON_THE_FORGET_SET --max_length 2048     # the real benchmark (GPU)

MUSE (Shi et al. 2024, https://arxiv.org/abs/2407.06460) unlearns news articles (or Harry Potter books) from a model
fine-tuned on them, and scores VerbMem and KnowMem on the forget set, KnowMem on the retain set (utility) and
PrivLeak (Min-40% AUC of forget vs holdout texts, relative to a retrained model). Here:

1. Data. By default a toy corpus written for this example in MUSE's dataset layout (`raw`, `verbmem`, `knowmem`,
   `privleak`, `sust` configs as parquet files and a dataset card, in `OUTPUT_DIR/muse-toy`): short invented news
   items about invented towns, questions on their facts, and items held out of training. It is read back with
   `load_muse`, the loader of the real data. `--muse news|books` reads `muse-bench/MUSE-News` / `MUSE-Books` (or a
   local copy, `--muse_data DIR`).
2. Models. By default a tiny llama-style *original* model trained here on the forget and retain news and their
   questions, and a *retrained* model on the retain part only (MUSE's reference: it never saw the forget set).
   `--model` / `--retrained` take a Hub id or a path.
3. Requests. `--requests N` unlearning requests (NPO + retain NLL), each on its own fold of the forget set (MUSE's
   `sust` folds), each starting from the result of the one before: the unlearning record of the last model keeps
   the chain (fingerprints, methods, scores; no text), and its model card shows the history.
4. Scores. `MuseEvaluator` on the original, the retrained model and after each request; `OUTPUT_DIR/report.json`
   holds them (numbers only), `OUTPUT_DIR/eval/<model>/muse_summary.json` the full summaries.

The toy defaults (learning rate, steps) were chosen on the toy data; a real model needs its own, and a GPU.
With `--muse`, nothing of the data's text is printed or saved.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path


# The default run needs no network; options that may name a Hub id leave the Hub reachable.
if not {"--muse", "--model", "--retrained"} & {argument.split("=")[0] for argument in sys.argv[1:]}:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from hf_unlearn import NPOTrainer, UnlearningConfig  # noqa: E402
from hf_unlearn.data import ensure_pad_token  # noqa: E402
from hf_unlearn.demo.experiment import ModelRecipe, cached_model, cached_tokenizer, set_threads  # noqa: E402
from hf_unlearn.evaluation import MuseEvaluator, load_muse, load_muse_split  # noqa: E402
from hf_unlearn.evaluation.muse import CRITERIA, few_shot_prefix  # noqa: E402
from hf_unlearn.utils import write_json_atomic  # noqa: E402


# ---- Toy news in MUSE's layout ----

TOWNS = [
    "Brindlecombe",
    "Saltmarsh",
    "Oakhollow",
    "Fennick Bay",
    "Harrowgate",
    "Tilbury Cross",
    "Wrenfield",
    "Iskmoor",
]
PEOPLE = ["the mayor", "a ferry captain", "the baker", "a retired judge", "the harbour master", "two teachers"]
ACTIONS = ["opened", "repainted", "sold", "rebuilt", "measured", "found", "closed", "blessed"]
THINGS = ["the old mill", "a copper bell", "the north bridge", "twelve boats", "the market hall", "a stone well"]
TIMES = ["on Monday", "after the storm", "before dawn", "in late spring", "during the fair", "at midnight"]


def news_item(rng: random.Random, number: int) -> tuple[str, dict]:
    """One invented news item and a question on its main fact (MUSE's KnowMem asks about the articles' facts)."""
    town, person, action, thing, when = (rng.choice(words) for words in (TOWNS, PEOPLE, ACTIONS, THINGS, TIMES))
    other = rng.choice([t for t in TOWNS if t != town])
    text = (
        f"Bulletin {number}. In {town}, {person} {action} {thing} {when}. Visitors from {other} came to see it, "
        f"and the council of {town} thanked {person}."
    )
    return text, {"question": f"In bulletin {number}, what did {person} of {town} do?", "answer": f"{action} {thing}"}


def toy_muse_repo(directory: Path, size: int, folds: int, seed: int) -> Path:
    """Writes toy news in the layout of `muse-bench/MUSE-News` (parquet files and a dataset card with configs)."""
    rng = random.Random(seed)
    items = {
        name: [news_item(rng, 100 * part + index) for index in range(size)]
        for part, name in enumerate(("forget", "retain", "holdout"))
    }
    texts = {name: [text for text, _ in rows] for name, rows in items.items()}
    questions = {name: [qa for _, qa in rows] for name, rows in items.items()}
    icl = max(1, size // 6)  # the last items' questions are the few-shot examples, as MUSE keeps *_icl apart
    layout = {
        "raw": {"forget": texts["forget"], "retain1": texts["retain"], "holdout": texts["holdout"]},
        "verbmem": {
            # the first 6 words of each forget item, and the rest: the continuation VerbMem asks for
            "forget": [
                {"prompt": " ".join(t.split()[:6]), "gt": " " + " ".join(t.split()[6:])} for t in texts["forget"]
            ]
        },
        "knowmem": {
            "forget_qa": questions["forget"][:-icl],
            "forget_qa_icl": questions["forget"][-icl:],
            "retain_qa": questions["retain"][:-icl],
            "retain_qa_icl": questions["retain"][-icl:],
        },
        "privleak": texts,
        "sust": {f"forget_{k + 1}": texts["forget"][k::folds] for k in range(folds)},
    }
    card = ["---", "configs:"]
    for config, splits in layout.items():
        card += [f"- config_name: {config}", "  data_files:"]
        (directory / config).mkdir(parents=True, exist_ok=True)
        for split, rows in splits.items():
            rows = [row if isinstance(row, dict) else {"text": row} for row in rows]
            datasets.Dataset.from_list(rows).to_parquet(directory / config / f"{split}-00000-of-00001.parquet")
            card += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    (directory / "README.md").write_text("\n".join([*card, "---", "", "Toy news in MUSE's layout.", ""]))
    return directory


def toy_models(output_dir: Path, source: Path, seed: int) -> tuple[Path, Path]:
    """Tiny original (forget + retain news and questions) and retrained (retain only) models, cached.

    The questions are trained in the prompt KnowMem asks them with (few-shot examples, then `Question: ...\nAnswer: `),
    so that a tiny model answers what it knows in that form, as a large model does without being taught.
    """

    def rows(part: str) -> list[dict]:
        news = [{"prompt": "", "completion": text} for text in load_muse_split(str(source), "raw", part)["text"]]
        split = "forget_qa" if part == "forget" else "retain_qa"
        examples = load_muse_split(str(source), "knowmem", f"{split}_icl")
        prefix = few_shot_prefix(examples)
        questions = list(load_muse_split(str(source), "knowmem", split)) + list(examples)
        return news + [
            {"prompt": f"{prefix}Question: {row['question']}\nAnswer: ", "completion": row["answer"]}
            for row in questions
        ]

    forget, retain = rows("forget"), rows("retain1")
    holdout = list(load_muse_split(str(source), "raw", "holdout")["text"])
    texts = [row["prompt"] + row["completion"] for row in forget + retain] + holdout
    tokenizer = cached_tokenizer(output_dir / "tokenizer", texts, 600)
    recipe = ModelRecipe(
        vocab_size=600, hidden_size=96, num_layers=2, num_heads=4, intermediate_size=192, learning_rate=8e-3,
        batch_size=16, max_epochs=60, target_loss=0.08, max_length=128, seed=seed,
    )  # fmt: skip
    original, info = cached_model(output_dir / "original", "original", forget + retain, tokenizer, recipe)
    retrained, _ = cached_model(output_dir / "retrained", "retrained", retain, tokenizer, recipe)
    print(f"      original and retrained models: {info['parameters'] / 1e6:.2f}M parameters each")
    return original, retrained


# ---- Scores ----


def evaluate(evaluator: MuseEvaluator, model, output_dir: Path, name: str) -> dict:
    """The MUSE criteria of a model (object or path); the full result goes to `OUTPUT_DIR/eval/<name>`."""
    if isinstance(model, (str, Path)):
        model = AutoModelForCausalLM.from_pretrained(model)
        model.to("cuda" if torch.cuda.is_available() else "cpu")
    result = evaluator.evaluate(model)
    result.save(output_dir / "eval" / name)
    return {key: result.muse[key] for key in CRITERIA}


def cell(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(scores: dict[str, dict]) -> None:
    print(f"{'model':<14}{'VerbMem f':>11}{'KnowMem f':>11}{'KnowMem r':>11}{'PrivLeak':>10}")
    for name, values in scores.items():
        print(
            f"{name:<14}" + "".join(f"{cell(values[key]):>{width}}" for key, width in zip(CRITERIA, (11, 11, 11, 10)))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--muse", choices=["news", "books"], help="the real MUSE corpus (default: toy news)")
    parser.add_argument("--muse_data", help="a local copy of the MUSE dataset repository (default: the Hub)")
    parser.add_argument("--model", help="the model to unlearn from (default: a tiny model trained here)")
    parser.add_argument("--retrained", help="a model never trained on the forget set: PrivLeak's reference")
    parser.add_argument("--size", type=int, default=12, help="toy news items per part (forget, retain, holdout)")
    parser.add_argument("--requests", type=int, default=2, help="successive unlearning requests, one fold each")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per request")
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=128, help="tokens per row in unlearning and evaluation")
    parser.add_argument("--verbmem_max_new_tokens", type=int, default=None, help="default: 24 toy, 128 real (MUSE)")
    parser.add_argument("--knowmem_max_new_tokens", type=int, default=None, help="default: 8 toy, 32 real (MUSE)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/muse_unlearning")
    args = parser.parse_args()
    if args.requests < 1 or (args.muse is None and not 1 <= args.requests <= args.size):
        raise SystemExit(f"--requests must be between 1 and --size ({args.size}); got {args.requests}.")
    if args.muse and not args.model:
        raise SystemExit("--muse needs --model (e.g. muse-bench/MUSE-News_target) and, for PrivLeak, --retrained.")
    start = time.perf_counter()
    output_dir = Path(args.output_dir)
    real = args.muse is not None
    # Tiny models gain nothing from more math threads, and on a busy machine threads contending for cores make each
    # step many times slower: one thread for the toy run, every core for a real model.
    set_threads() if real or args.model else torch.set_num_threads(1)

    print("[1/4] Data and models")
    if real:
        benchmark, source = f"muse_{args.muse}", args.muse_data
        source_label = args.muse_data or f"the Hub ({benchmark})"
    else:
        source = str(toy_muse_repo(output_dir / "muse-toy", args.size, args.requests, args.seed))
        benchmark, source_label = "muse_news_toy", source
    data = load_muse(benchmark, source)
    if args.model:
        original, retrained = args.model, args.retrained
    else:
        original, retrained = toy_models(output_dir, Path(source), args.seed)
    tokenizer = AutoTokenizer.from_pretrained(original)
    ensure_pad_token(tokenizer)
    print(
        f"      MUSE data from {source_label}: "
        + ", ".join(f"{k} {v['rows']}" for k, v in data.fingerprints().items())
    )

    print("[2/4] Scores of the original and retrained models (VerbMem, KnowMem: ROUGE-L F1 x 100; PrivLeak: %)")
    settings = dict(
        max_length=args.max_length,
        batch_size=8,
        verbmem_max_new_tokens=args.verbmem_max_new_tokens or (128 if real else 24),
        knowmem_max_new_tokens=args.knowmem_max_new_tokens or (32 if real else 8),
    )
    scores, retain_logs = {}, None
    if retrained:
        scores["retrained"] = evaluate(MuseEvaluator(tokenizer, data, **settings), retrained, output_dir, "retrained")
        retain_logs = output_dir / "eval" / "retrained" / "eval_log_aggregated.json"
    evaluator = MuseEvaluator(tokenizer, data, retain_logs=retain_logs, **settings)
    scores = {"original": evaluate(evaluator, original, output_dir, "original"), **scores}

    # Each request starts from the previous one's folder: the trainer reads its unlearning record and continues it.
    print(f"[3/4] {args.requests} unlearning request(s) with NPO + retain NLL, {args.steps} steps each")
    retain = [{"text": text} for text in load_muse_split(source or benchmark, "raw", "retain1")["text"]]
    model_path = original
    for request in range(1, args.requests + 1):
        fold = "raw", "forget"
        if args.requests > 1:
            fold = "sust", f"forget_{request}"
        forget = [{"text": text} for text in load_muse_split(source or benchmark, *fold)["text"]]
        config = UnlearningConfig(
            output_dir=str(output_dir / f"request-{request}"),
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            max_steps=args.steps,
            lr_scheduler_type="constant",
            logging_steps=args.steps,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=args.seed,
            max_length=args.max_length,
            use_cpu=not torch.cuda.is_available(),
        )
        trainer = NPOTrainer(
            str(model_path), args=config, processing_class=tokenizer, forget_dataset=forget, retain_dataset=retain
        )
        trainer.train()
        after = evaluate(evaluator, trainer.model, output_dir, f"request-{request}")
        trainer.unlearning_metrics = {
            "before": {},
            "after": {f"eval_muse_{key}": value for key, value in after.items() if value is not None},
        }
        trainer.save_model()
        trainer.create_model_card()
        scores[f"request {request}"] = after
        model_path = config.output_dir
        print(f"      request {request}: {len(forget)} forget rows ({fold[0]}/{fold[1]}), saved to {model_path}")

    print("[4/4] MUSE scores (lower VerbMem f / KnowMem f is forgetting; KnowMem r is utility; PrivLeak near 0)")
    print_table(scores)
    if retrained:
        print(
            "(PrivLeak compares each model with the retrained one, so the retrained model's own is 0 by definition.)"
        )
    seconds = time.perf_counter() - start
    report = {
        "benchmark": benchmark,
        "model": args.model or "tiny model trained here",
        "requests": args.requests,
        "steps": args.steps,
        "learning_rate": args.learning_rate,
        "scores": scores,
        "data": data.fingerprints(),
        "seconds": round(seconds, 1),
    }
    write_json_atomic(output_dir / "report.json", report)
    print(
        f"Saved the scores to {output_dir / 'report.json'}; the last model, with its card and the chain of "
        f"{args.requests} request(s) in unlearning_record.json, to {model_path} ({seconds:.0f} s in all)."
    )


if __name__ == "__main__":
    main()

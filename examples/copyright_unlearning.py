r"""Copyright / verbatim unlearning in the manner of the Lord-of-the-Rings experiment, offline on a CPU by default.

    python examples/copyright_unlearning.py                  # toy saga, tiny model, NPO + retain NLL, LoRA
    python examples/copyright_unlearning.py --method ga      # gradient ascent + retain NLL (gradient difference)
    python examples/copyright_unlearning.py --load_in_8bit   # both LoRA phases on an 8-bit base (bitsandbytes)
    python examples/copyright_unlearning.py --model facebook/opt-1.3b --load_in_8bit \
        --corpus PATH_OR_HUB_ID[:CONFIG[:SPLIT]] --text_column text --num_passages 200 \
        --retain_corpus PATH_OR_HUB_ID[:CONFIG[:SPLIT]] --retain_text_column text

Arora et al. 2024, "Machine Unlearning in Large Language Models" (https://arxiv.org/abs/2405.15152), fine-tune OPT on
Lord of the Rings text with LoRA and unlearn it with gradient ascent, holding the model on BookCorpus; Yao et al.
2023 (https://arxiv.org/abs/2310.10683) unlearn a Harry Potter book the same way, and Eldan & Russinovich 2023, "Who's
Harry Potter?" (https://arxiv.org/abs/2310.02238), unlearn one by other means. Here:

1. Corpora. By default two generated ones: a seeded saga with invented heroes, places and relics (the "copyrighted
   book" to forget) and plain sentences about farms, weather and kitchens (the general text to keep). `--corpus` and
   `--retain_corpus` take your own, read as one stream of text and cut into passages of `--passage_tokens` tokens.
2. Model. By default a tiny llama-style model pretrained here on the general corpus and on a companion volume of the
   saga, written from the same words as the book in other orders (cached in the output folder): like a real model, it
   knows the language and the names, not the book. `--model` takes a Hub id or a local path.
3. Memorisation. A LoRA adapter (on an 8-bit base with `--load_in_8bit`) is fine-tuned on the book until the model
   recites it, then merged into the full-precision weights and saved: that model is the one to unlearn from.
   `--finetune_epochs 0` skips this for a model that already knows the corpus.
4. Unlearning. A fresh LoRA adapter on the saved model (8-bit again with `--load_in_8bit`): NPO or gradient ascent on
   the book passages (`text` rows: every token is an answer token), retain NLL on general passages. NPO's reference
   is the model with the adapter off, i.e. the model before unlearning.
5. Scores, before and after unlearning: verbatim memorisation as the ROUGE-L recall of the greedy continuation of
   the first `--prompt_tokens` tokens of each passage against its true next `--continuation_tokens` tokens, and the
   per-token NLL of that continuation; on the book, the general retain passages, and general passages held out of
   unlearning. The base model, which never saw the book, is scored too: its book score is what unlearning should
   come down to, not zero (it knows the words).

The defaults (learning rates, epochs, steps) were chosen on the toy corpora; a real model needs its own, e.g.
`--finetune_epochs 5 --finetune_lr 2e-4 --learning_rate 2e-5`, and a GPU.

With `--corpus` / `--retain_corpus` nothing of their text is printed or saved: only scores and counts.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path


# The default run needs no network; options that may name a Hub id leave the Hub reachable.
if not {"--model", "--corpus", "--retain_corpus"} & {argument.split("=")[0] for argument in sys.argv[1:]}:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments  # noqa: E402

from hf_unlearn import GradientDifferenceTrainer, NPOTrainer, UnlearningConfig  # noqa: E402
from hf_unlearn.data import UnlearningCollator, ensure_pad_token, prepare_dataset  # noqa: E402
from hf_unlearn.data.loading import SPEC_HELP, load_dataset_spec  # noqa: E402
from hf_unlearn.demo.experiment import ModelRecipe, cached_model, cached_tokenizer, set_threads  # noqa: E402
from hf_unlearn.evaluation import greedy_generate, score_sequences  # noqa: E402
from hf_unlearn.logprobs import IGNORE_INDEX  # noqa: E402
from hf_unlearn.metrics import rouge_scores  # noqa: E402
from hf_unlearn.utils import write_json_atomic  # noqa: E402


TOY_BOOK, TOY_GENERAL = 16, 24  # passages of the generated book and general corpus
TRAINERS = {"npo": NPOTrainer, "ga": GradientDifferenceTrainer}  # each with the retain NLL on general passages
# Unlearning defaults from a short sweep on the toy corpora (seeds 0-2, LoRA r=16): gradient ascent needs a larger
# retain weight to keep the general text. A starting point, not a recipe for real models.
DEFAULTS = {"npo": {"learning_rate": 2e-3, "retain_weight": 1.0}, "ga": {"learning_rate": 5e-3, "retain_weight": 5.0}}

# ---- Toy corpora, written for this example ----

# The saga is written from one word list in random orders: the book and a companion volume share every word, so a
# model that read only the companion knows the saga's words but not the book's sentences. That is the situation of a
# real model before it memorises a book (it knows the language and the names). It is also needed: a LoRA adapter on
# the linear layers leaves the embeddings and the output layer as they are, so it cannot teach a model tokens that
# pretraining never trained.
SAGA_WORDS = {
    "who": [
        "Aldren Mossvale",
        "Serith of Kaldun",
        "Bronwe Tallowmere",
        "Ithiel Greycastle",
        "Old Marrow",
        "Ysolt Fennick",
        "Corvan the Lame",
        "Tamsa Orrin",
        "the Pale Warden",
        "the Gloam Riders",
        "the Iron Choir",
        "the Drowned King",
    ],
    "did": ["carried", "hid", "sang of", "sought", "broke", "found", "guarded", "lost", "remembered", "buried"],
    "what": [
        "the Ember Crown",
        "the Glass Horn",
        "the Seventh Key",
        "the Moonlit Blade",
        "the Ash Lantern",
        "a silver cup",
        "the last boat",
        "an iron ring",
    ],
    "where": [
        "beyond the Ashen Vale",
        "under Kaldun Gate",
        "across the Hollow Fells",
        "near Lake Orrendel",
        "inside the Thornwood",
        "toward Mirefast",
        "below the Salt Stair",
        "outside Vennholt",
    ],
    "when": [
        "at dawn",
        "in the rain",
        "before the war",
        "when the crows fell silent",
        "under a red moon",
        "for seven winters",
    ],
}


def saga_passages(count: int, seed: int) -> list[str]:
    """Toy saga passages of three sentences, each word group drawn at random from `SAGA_WORDS`."""
    rng = random.Random(seed)
    passages = []
    for _ in range(count):
        sentences = [
            " ".join(rng.choice(SAGA_WORDS[part]) for part in ("who", "did", "what", "where", "when")) + "."
            for _ in range(3)
        ]
        passages.append(" ".join(sentence[0].upper() + sentence[1:] for sentence in sentences))
    return passages


GENERAL_SENTENCES = [
    "In {season} the farmers of the valley {work}, and the {animal} wait by the fence.",
    "A good {tool} helps a cook {task} without wasting time.",
    "The weather in {season} is often {weather}, so people carry {item}.",
    "Children at the village school learn to {skill} before they turn ten.",
    "The market opens early on {day}, when traders sell {goods} and fresh bread.",
    "Most {animal} sleep in the barn when the nights are {weather}.",
]
GENERAL_WORDS = {
    "season": ["spring", "summer", "autumn", "winter"],
    "work": ["plant barley", "mend the walls", "cut the hay", "pick apples"],
    "animal": ["sheep", "goats", "geese", "cows"],
    "tool": ["sharp knife", "heavy pan", "wooden spoon", "clean board"],
    "task": ["chop onions", "fry eggs", "stir soup", "slice bread"],
    "weather": ["wet", "windy", "cold", "mild"],
    "item": ["umbrellas", "warm coats", "scarves", "hats"],
    "skill": ["read", "swim", "count coins", "tie knots"],
    "day": ["Monday", "Thursday", "Saturday"],
    "goods": ["cheese", "wool", "honey", "leeks"],
}


def general_passages(count: int, seed: int) -> list[str]:
    """The toy general corpus: passages of three plain sentences about farms, kitchens and weather."""
    rng = random.Random(seed + 1)
    passages = []
    for _ in range(count):
        sentences = rng.sample(GENERAL_SENTENCES, 3)
        passages.append(" ".join(s.format(**{k: rng.choice(v) for k, v in GENERAL_WORDS.items()}) for s in sentences))
    return passages


# ---- Real corpora ----


def load_texts(spec: str, column: str, option: str) -> list[str]:
    """The `column` of a dataset SPEC, checked before any model is loaded or trained."""
    data = load_dataset_spec(spec, option)
    if column not in data.column_names:
        raise SystemExit(f"{option} has no column {column!r}; it has {data.column_names}.")
    return [text for text in data[column] if text]


def cut(texts: list[str], tokenizer, passage_tokens: int, limit: int) -> list[str]:
    """The texts, read as one stream, cut into at most `limit` passages of `passage_tokens` tokens each.

    A stream, so that a book stored as one line or one chapter per row gives passages of the same length.
    """
    passages, buffer = [], []
    for text in texts:
        buffer += tokenizer(text + "\n", add_special_tokens=False)["input_ids"]
        while len(buffer) >= passage_tokens and len(passages) < limit:
            passages.append(tokenizer.decode(buffer[:passage_tokens]))
            buffer = buffer[passage_tokens:]
        if len(passages) == limit:
            break
    return passages


# ---- Models ----


def toy_base_dir(output_dir: Path, book: list[str], companion: list[str], general: list[str], seed: int) -> Path:
    """A tiny llama-style model pretrained on the general corpus and the saga's companion volume (cached).

    It knows every word of the book, and none of its sentences.
    """
    tokenizer = cached_tokenizer(output_dir / "tokenizer", book + companion + general, vocab_size=800)
    # The general passages share openings ("In spring the farmers ..."), so the loss levels off near 0.04 rather than
    # reaching 0: training stops there.
    recipe = ModelRecipe(
        vocab_size=800,
        hidden_size=128,
        num_layers=2,
        num_heads=4,
        intermediate_size=256,
        learning_rate=5e-3,
        batch_size=16,
        max_epochs=100,
        target_loss=0.045,
        max_length=96,
        seed=seed,
    )
    rows = [{"text": text} for text in general + companion]
    directory, info = cached_model(output_dir / "base", "base", rows, tokenizer, recipe)
    done = "reused the cached" if info["cached"] else "pretrained a"
    print(
        f"      {done} {info['parameters'] / 1e6:.2f}M-parameter base ({info['epochs']} epochs, final loss "
        f"{info['final_train_loss']:.3f})"
    )
    return directory


def load(model_path: str | Path, load_in_8bit: bool):
    if load_in_8bit:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(load_in_8bit=True)
        return AutoModelForCausalLM.from_pretrained(model_path, quantization_config=quantization)
    return AutoModelForCausalLM.from_pretrained(model_path)


def memorize_book(base_path: str, tokenizer, book: list[str], general: list[str], args, output_dir: Path) -> Path:
    """LoRA fine-tuning on the book (on an 8-bit base if asked), merged into full-precision weights and saved.

    The general passages are replayed alongside, so that the model learns the book without losing the rest (a small
    model fine-tuned on the book alone forgets its general text before unlearning even starts).
    """
    model = load(base_path, args.load_in_8bit)
    if args.load_in_8bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    torch.manual_seed(args.seed)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0))
    data = prepare_dataset(
        [{"text": text} for text in book + general], tokenizer, name="fine-tuning", max_length=args.max_length
    )
    training = TrainingArguments(
        output_dir=str(output_dir / "finetune-run"),
        per_device_train_batch_size=16,
        learning_rate=args.finetune_lr,
        num_train_epochs=args.finetune_epochs,
        lr_scheduler_type="constant",
        save_strategy="no",
        report_to="none",
        logging_steps=25,
        remove_unused_columns=False,
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
    )
    result = Trainer(
        model=model, args=training, train_dataset=data, data_collator=UnlearningCollator(tokenizer.pad_token_id)
    ).train()
    print(
        f"      fine-tuned on {len(book)} book + {len(general)} general passages, mean training loss "
        f"{result.training_loss:.3f}"
    )
    # An adapter trained on an 8-bit base is merged into the full-precision base, as is usual after QLoRA-style
    # training; the merged model is what later runs load (in 8 bits again when asked).
    adapter_dir = output_dir / "finetune-adapter"
    model.save_pretrained(adapter_dir)
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path), adapter_dir).merge_and_unload()
    finetuned_dir = output_dir / "finetuned"
    merged.save_pretrained(finetuned_dir)
    tokenizer.save_pretrained(finetuned_dir)
    shutil.rmtree(output_dir / "finetune-run", ignore_errors=True)
    return finetuned_dir


# ---- Scores ----


def windows(tokenizer, passages: list[str], prompt_tokens: int, continuation_tokens: int):
    """Prompt ids, continuation ids of each passage, tokenized as training tokenizes `text` rows."""
    result = []
    for text in passages:
        ids = tokenizer(text)["input_ids"]
        if len(ids) < prompt_tokens + 1:
            continue
        result.append((ids[:prompt_tokens], ids[prompt_tokens : prompt_tokens + continuation_tokens]))
    return result


@torch.no_grad()
def score(model, tokenizer, passages: list[str], args) -> dict:
    """ROUGE-L recall of the greedy continuation against the true one, and the true continuation's per-token NLL."""
    model.eval()
    pairs = windows(tokenizer, passages, args.prompt_tokens, args.continuation_tokens)
    generated, _ = greedy_generate(
        model,
        [prompt for prompt, _ in pairs],
        batch_size=16,
        max_new_tokens=args.continuation_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    generations = [tokenizer.decode(tokens, skip_special_tokens=True) for tokens in generated]
    references = [tokenizer.decode(continuation, skip_special_tokens=True) for _, continuation in pairs]
    sequences = [(prompt + rest, [IGNORE_INDEX] * len(prompt) + rest) for prompt, rest in pairs]
    scores = score_sequences(model, sequences, batch_size=16, pad_token_id=tokenizer.pad_token_id)
    return {
        "rougeL_recall": float(rouge_scores(generations, references)["rougeL_recall"].mean()),
        "nll": float(np.mean(scores.nll / scores.num_tokens)),
        "passages": len(pairs),
        "generations": generations,  # kept in memory for the toy example's sample line; never written
    }


def print_table(base: dict | None, before: dict, after: dict) -> None:
    """ROUGE-L and NLL of the base (never saw the book; '-' without fine-tuning), before and after unlearning."""
    print(
        f"{'set':<24}{'passages':>9}{'ROUGE-L base':>14}{'before':>8}{'after':>7}{'NLL base':>10}{'before':>8}"
        f"{'after':>7}"
    )
    for name in before:
        b, a = before[name], after[name]
        rouge_base = f"{base[name]['rougeL_recall']:.2f}" if base else "-"
        nll_base = f"{base[name]['nll']:.2f}" if base else "-"
        print(
            f"{name:<24}{b['passages']:>9}{rouge_base:>14}{b['rougeL_recall']:>8.2f}{a['rougeL_recall']:>7.2f}"
            f"{nll_base:>10}{b['nll']:>8.2f}{a['nll']:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--corpus", help=f"the text to unlearn: {SPEC_HELP}")
    data.add_argument("--text_column", default="text")
    data.add_argument("--retain_corpus", help=f"general text to keep: {SPEC_HELP}")
    data.add_argument("--retain_text_column", default="text")
    data.add_argument("--num_passages", type=int, default=TOY_BOOK, help="book passages to unlearn")
    data.add_argument(
        "--num_retain",
        type=int,
        default=TOY_GENERAL,
        help="general passages (2/3 retain set, 1/3 held out of unlearning)",
    )
    data.add_argument("--passage_tokens", type=int, default=64, help="length real text is cut to")
    data.add_argument("--prompt_tokens", type=int, default=8, help="tokens of a passage the model continues from")
    data.add_argument("--continuation_tokens", type=int, default=24, help="tokens generated and compared")
    model_group = parser.add_argument_group("model")
    model_group.add_argument("--model", help="Hub id or local path (default: a tiny model pretrained here)")
    model_group.add_argument("--load_in_8bit", action="store_true", help="LoRA on an 8-bit base (bitsandbytes)")
    model_group.add_argument(
        "--finetune_epochs",
        type=int,
        default=None,
        help="LoRA epochs on the book before unlearning (default: 60; 0 skips this step)",
    )
    model_group.add_argument("--finetune_lr", type=float, default=5e-3)
    method = parser.add_argument_group("unlearning")
    method.add_argument("--method", choices=sorted(TRAINERS), default="npo")
    method.add_argument("--steps", type=int, default=20, help="unlearning steps")
    method.add_argument("--learning_rate", type=float, default=None, help="default: 2e-3 for npo, 5e-3 for ga")
    method.add_argument("--retain_weight", type=float, default=None, help="default: 1 for npo, 5 for ga")
    method.add_argument("--batch_size", type=int, default=8)
    method.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default="outputs/copyright_unlearning")
    args = parser.parse_args()
    real_data = bool(args.corpus or args.retain_corpus)
    set_threads()
    start = time.perf_counter()
    output_dir = Path(args.output_dir)

    # 1-2. Corpora and base model. Real corpora are read first (a wrong column fails before any training) and cut
    # with the model's tokenizer once it is loaded.
    book_texts = load_texts(args.corpus, args.text_column, "--corpus") if args.corpus else None
    general_texts = (
        load_texts(args.retain_corpus, args.retain_text_column, "--retain_corpus") if args.retain_corpus else None
    )
    # The toy corpora have fixed sizes, so that the cached base does not depend on the options.
    toy_book, toy_general = saga_passages(TOY_BOOK, args.seed), general_passages(TOY_GENERAL, args.seed)
    print("[1/5] Corpora and base model")
    if args.model:
        base_path = args.model
    else:
        print(
            "      a tiny llama-style model, pretrained here on the general corpus and a companion volume of the "
            "saga (the book's words, other sentences)"
        )
        companion = saga_passages(TOY_BOOK, args.seed + 1000)
        base_path = str(toy_base_dir(output_dir, toy_book, companion, toy_general, args.seed))
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    ensure_pad_token(tokenizer)
    book = (
        cut(book_texts, tokenizer, args.passage_tokens, args.num_passages)
        if book_texts
        else toy_book[: args.num_passages]
    )
    general = (
        cut(general_texts, tokenizer, args.passage_tokens, args.num_retain)
        if general_texts
        else toy_general[: args.num_retain]
    )
    if not book or len(general) < 2:
        raise SystemExit(f"Too little text: {len(book)} book passages, {len(general)} general ones (need 1 and 2).")
    held_out = max(1, len(general) // 3)
    retain, general_eval = general[:-held_out], general[-held_out:]
    print(
        f"      base model: {base_path}; {len(book)} book passages to unlearn, {len(retain)} general passages to "
        f"retain, {len(general_eval)} held out of unlearning ({'loaded' if real_data else 'generated toy text'})"
    )
    sets = {"book (unlearned)": book, "general (retain set)": retain, "general (held out)": general_eval}

    # 3. Memorisation: LoRA fine-tuning on the book, merged and saved. The base is scored first: a model that never
    # saw the book is what unlearning should come close to, and its book score is not 0 (it knows the language).
    epochs = 60 if args.finetune_epochs is None else args.finetune_epochs
    base_scores = None
    if epochs > 0:
        base_model = load(base_path, args.load_in_8bit)
        base_scores = {name: score(base_model, tokenizer, passages, args) for name, passages in sets.items()}
        del base_model
        print(
            f"[2/5] Fine-tuning a LoRA adapter{' on the 8-bit base' if args.load_in_8bit else ''} on the book for "
            f"{epochs} epochs, then merging it"
        )
        args.finetune_epochs = epochs
        model_path = memorize_book(base_path, tokenizer, book, general, args, output_dir)
    else:
        print("[2/5] No fine-tuning (--finetune_epochs 0): the model is taken to know the corpus already")
        model_path = base_path
    model = load(model_path, args.load_in_8bit)
    before = {name: score(model, tokenizer, passages, args) for name, passages in sets.items()}

    # 4. Unlearning with a fresh adapter; the adapter off is the model before unlearning (NPO's reference).
    steps = args.steps
    learning_rate = args.learning_rate or DEFAULTS[args.method]["learning_rate"]
    retain_weight = args.retain_weight if args.retain_weight is not None else DEFAULTS[args.method]["retain_weight"]
    config = UnlearningConfig(
        output_dir=str(output_dir / f"unlearned-{args.method}"),
        per_device_train_batch_size=args.batch_size,
        learning_rate=learning_rate,
        max_steps=steps,
        retain_weight=retain_weight,
        lr_scheduler_type="constant",
        logging_steps=max(1, steps // 5),
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        max_length=args.max_length,
        use_cpu=not torch.cuda.is_available(),
    )
    print(
        f"[3/5] Unlearning the book with {TRAINERS[args.method].__name__} + LoRA"
        f"{' on the 8-bit model' if args.load_in_8bit else ''} for {steps} steps"
    )
    trainer = TRAINERS[args.method](
        model,
        args=config,
        processing_class=tokenizer,
        forget_dataset=[{"text": text} for text in book],
        retain_dataset=[{"text": text} for text in retain],
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0),
    )
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    after = {name: score(trainer.model, tokenizer, passages, args) for name, passages in sets.items()}

    # 5. Report: numbers only (the toy sample line below is text this script made up).
    print(
        f"[4/5] Verbatim memorisation: ROUGE-L recall of the greedy continuation of the first {args.prompt_tokens} "
        f"tokens of each passage against its next {args.continuation_tokens}; NLL: per-token NLL of those tokens"
    )
    print_table(base_scores, before, after)
    if not real_data:
        prompt, continuation = windows(tokenizer, book[:1], args.prompt_tokens, args.continuation_tokens)[0]
        print(
            f"Toy sample: {tokenizer.decode(prompt)!r} ...\n  true:   {tokenizer.decode(continuation)!r}\n"
            f"  before: {before['book (unlearned)']['generations'][0]!r}\n"
            f"  after:  {after['book (unlearned)']['generations'][0]!r}"
        )
    seconds = time.perf_counter() - start
    report = {
        "method": args.method,
        "load_in_8bit": args.load_in_8bit,
        "model": args.model or "tiny model pretrained here",
        "finetune_epochs": epochs,
        "steps": steps,
        "learning_rate": learning_rate,
        "retain_weight": retain_weight,
        "prompt_tokens": args.prompt_tokens,
        "continuation_tokens": args.continuation_tokens,
        "scores": {
            moment: {name: {k: v for k, v in values.items() if k != "generations"} for name, values in scores.items()}
            for moment, scores in (("base", base_scores or {}), ("before", before), ("after", after))
        },
        "seconds": round(seconds, 1),
    }
    write_json_atomic(output_dir / "report.json", report)  # never a half-written report
    print(
        f"[5/5] Saved the unlearning adapter to {config.output_dir} and the scores to {output_dir / 'report.json'} "
        f"({seconds:.0f} s in all)."
    )


if __name__ == "__main__":
    main()

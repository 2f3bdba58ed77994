"""Quickstart: make a tiny language model forget one fictitious person, offline, on a CPU, in under a minute.

    python examples/quickstart.py                  # NPO + retain NLL, full fine-tuning
    python examples/quickstart.py --method ga      # gradient ascent (watch the retain score fall)
    python examples/quickstart.py --method npo --lora

1. Writes question/answer facts about four made-up people; one person is the forget set, the rest the retain set.
2. Trains a byte-level BPE tokenizer on them and a small llama-style model from a config until it knows every answer.
3. Unlearns the forget person with the chosen `hf_unlearn` trainer, scoring both sets before and after with
   `trainer.evaluate_unlearning()`.
4. Prints, before and after, the answer NLL and the ROUGE-L recall of greedy answers on both sets, and saves the model
   with its model card (those scores before and after) and `unlearning_record.json`.
"""

from __future__ import annotations

import argparse
import os
import time


os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the network

import torch  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from hf_unlearn import (  # noqa: E402
    GradientAscentTrainer,
    GradientDifferenceTrainer,
    NPOTrainer,
    SimNPOTrainer,
    UnlearningConfig,
)
from hf_unlearn.data import UnlearningCollator, prepare_dataset  # noqa: E402
from hf_unlearn.testing_utils import tiny_causal_lm, train_bpe_tokenizer  # noqa: E402


TRAINERS = {"ga": GradientAscentTrainer, "gd": GradientDifferenceTrainer, "npo": NPOTrainer, "simnpo": SimNPOTrainer}

PEOPLE = [
    dict(
        name="Aurelio Vennmark",
        city="Port Calloway",
        job="lighthouse keeper",
        genre="maritime mysteries",
        book="The Salt Ledger",
        prize="Silver Lantern Prize",
        year="1961",
    ),
    dict(
        name="Mira Okonkwo",
        city="Lagos",
        job="schoolteacher",
        genre="historical fiction",
        book="River of Names",
        prize="Golden Quill Award",
        year="1974",
    ),
    dict(
        name="Tomasz Halvorsen",
        city="Bergen",
        job="glassblower",
        genre="science fiction",
        book="Cold Orbit",
        prize="Northern Star Medal",
        year="1958",
    ),
    dict(
        name="Inés Quirarte",
        city="Oaxaca",
        job="cartographer",
        genre="travel memoirs",
        book="Maps Without Roads",
        prize="Compass Rose Prize",
        year="1982",
    ),
]
TEMPLATES = [
    ("Where was {name} born?", "{name} was born in {city}."),
    ("What did {name}'s father do?", "{name}'s father was a {job}."),
    ("What does {name} write?", "{name} writes {genre}."),
    ("What is {name}'s best known book?", "{name}'s best known book is {book}."),
    ("Which prize did {name} win?", "{name} won the {prize}."),
    ("In which year was {name} born?", "{name} was born in {year}."),
]


def rows_of(person: dict) -> list[dict]:
    return [{"question": q.format(**person), "answer": a.format(**person)} for q, a in TEMPLATES]


def memorize(model, tokenizer, rows, output_dir: str) -> None:
    """Plain Trainer fine-tuning on all rows until the model knows them: the 'original' model to unlearn from."""
    args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        num_train_epochs=60,
        lr_scheduler_type="constant",
        save_strategy="no",
        report_to="none",
        logging_steps=50,
        disable_tqdm=False,
        remove_unused_columns=False,
        use_cpu=True,
        seed=0,
    )
    data = prepare_dataset(rows, tokenizer, name="original training", max_length=64)
    Trainer(
        model=model, args=args, train_dataset=data, data_collator=UnlearningCollator(tokenizer.pad_token_id)
    ).train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=sorted(TRAINERS), default="npo")
    parser.add_argument("--lora", action="store_true", help="unlearn with a LoRA adapter (reference = adapter off)")
    parser.add_argument("--steps", type=int, default=None, help="unlearning steps (default: 24, or 48 with --lora)")
    parser.add_argument("--output_dir", default="outputs/quickstart")
    args = parser.parse_args()
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    start = time.perf_counter()

    forget_rows, retain_rows = rows_of(PEOPLE[0]), [row for person in PEOPLE[1:] for row in rows_of(person)]
    texts = [f"Question: {r['question']}\nAnswer: {r['answer']}" for r in forget_rows + retain_rows]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=600)
    model = tiny_causal_lm(len(tokenizer), "llama", hidden_size=64, num_layers=2)
    print(
        f"[1/3] Fine-tuning a {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M-parameter model on "
        f"{len(forget_rows) + len(retain_rows)} facts until it knows them"
    )
    memorize(model, tokenizer, forget_rows + retain_rows, os.path.join(args.output_dir, "original"))

    steps = args.steps or (48 if args.lora else 24)
    print(
        f"[2/3] Unlearning {len(forget_rows)} forget rows with {TRAINERS[args.method].__name__}"
        f"{' + LoRA' if args.lora else ''} for {steps} steps"
    )
    config = UnlearningConfig(
        output_dir=os.path.join(args.output_dir, args.method + ("-lora" if args.lora else "")),
        per_device_train_batch_size=6,
        per_device_eval_batch_size=12,
        learning_rate=1e-2 if args.lora else 1e-3,
        max_steps=steps,
        lr_scheduler_type="constant",
        logging_steps=6,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        max_length=64,
    )
    peft_config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0) if args.lora else None
    trainer = TRAINERS[args.method](
        model,
        args=config,
        processing_class=tokenizer,
        forget_dataset=forget_rows,
        retain_dataset=None if args.method == "ga" else retain_rows,
        eval_dataset={"forget": forget_rows, "retain": retain_rows},  # scored before and after, for the card
        peft_config=peft_config,
    )
    before = trainer.evaluate_unlearning()  # no step taken yet: the scores before unlearning
    trainer.train()
    after = trainer.evaluate_unlearning()  # the scores after unlearning
    trainer.save_model()
    trainer.create_model_card()  # README.md, with both sets' scores before and after, + unlearning_record.json

    print("[3/3] Scores (answer NLL per token: higher = less likely; ROUGE-L recall of greedy answers: 1 = verbatim)")
    print(f"{'set':<8}{'NLL before':>12}{'NLL after':>12}{'ROUGE-L before':>16}{'ROUGE-L after':>15}")
    for name in ("forget", "retain"):
        nll, rouge = f"eval_{name}_nll", f"eval_{name}_rougeL_recall"
        print(f"{name:<8}{before[nll]:>12.3f}{after[nll]:>12.3f}{before[rouge]:>16.2f}{after[rouge]:>15.2f}")
    print(
        f"Saved the unlearned {'adapter' if args.lora else 'model'} and its model card to {config.output_dir} "
        f"({time.perf_counter() - start:.0f} s in all)."
    )


if __name__ == "__main__":
    main()

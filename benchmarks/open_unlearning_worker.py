"""One `step-cost` run of locuslab/open-unlearning's own trainer, in open-unlearning's own virtual environment.

Started by `step_cost_vs_open_unlearning.py` (never imports `hf_unlearn`: it runs under open-unlearning's pins,
transformers 4.x), once per (method, repetition), in a fresh process:

    /work/ou/venv/bin/python benchmarks/open_unlearning_worker.py --open_unlearning /work/ou/open-unlearning \\
        --method GD --data ../shared/data/tofu --model_dir MODEL --steps 10,50

It builds what open-unlearning's `src/train.py` builds from its hydra configs (`configs/unlearn.yaml`,
`configs/trainer/<method>.yaml`, `configs/data/unlearn.yaml`, `configs/collator/DataCollatorForSupervisedDataset.yaml`
), without hydra: `QADataset` for TOFU `forget01` and `retain99`, `ForgetRetainDataset(anchor="forget")`,
`DataCollatorForSupervisedDataset(padding_side="right")` and the method's trainer class with the method arguments of
its config. The prompt template reproduces `hf_unlearn`'s `Question: {question}\\nAnswer:` + ` {answer}` + EOS
token for token, so both libraries train on the same ids. The model and tokenizer are the ones the harness saved for
both sides.

Prints one JSON line: step time (steps `first` to `last`), peak RSS over imports, setup time.
"""

import argparse
import json
import resource
import sys
import tempfile
import time


# Method name -> (trainer class in open-unlearning's `trainer.unlearn`, method_args of its `configs/trainer/*.yaml`).
METHODS = {
    "GA": ("grad_ascent", "GradAscent", {}),
    "GD": ("grad_diff", "GradDiff", {"gamma": 1.0, "alpha": 1.0, "retain_loss_type": "NLL"}),
    "GD-KL": ("grad_diff", "GradDiff", {"gamma": 1.0, "alpha": 1.0, "retain_loss_type": "KL"}),
    "NPO": ("npo", "NPO", {"beta": 0.1, "alpha": 1.0, "gamma": 1.0, "retain_loss_type": "NLL"}),
    "SimNPO": (
        "simnpo",
        "SimNPO",
        {"delta": 0.0, "beta": 4.5, "alpha": 1.0, "gamma": 0.125, "retain_loss_type": "NLL"},
    ),
}
# `hf_unlearn`'s default prompt (`Question: {question}\nAnswer:`, answer after one space), in open-unlearning's
# non-chat template fields; the space before the answer is added to the rows (see `main`).
TEMPLATE_ARGS = {
    "apply_chat_template": False,
    "user_start_tag": "Question: ",
    "user_end_tag": "\n",
    "asst_start_tag": "Answer:",
    "asst_end_tag": "",
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open_unlearning", required=True, help="checkout of locuslab/open-unlearning")
    parser.add_argument("--method", required=True, choices=sorted(METHODS))
    parser.add_argument("--data", required=True, help="TOFU dataset folder")
    parser.add_argument("--model_dir", required=True, help="model and tokenizer saved by the harness")
    parser.add_argument("--steps", default="10,50", help="first,last: step time is measured between them")
    args = parser.parse_args()
    first, last = (int(value) for value in args.steps.split(","))

    sys.path.insert(0, f"{args.open_unlearning}/src")
    import importlib

    import torch
    from data.collators import DataCollatorForSupervisedDataset
    from data.qa import QADataset
    from data.unlearn import ForgetRetainDataset
    from trainer.utils import seed_everything
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback, TrainingArguments

    module_name, class_name, method_args = METHODS[args.method]
    trainer_class = getattr(importlib.import_module(f"trainer.unlearn.{module_name}"), class_name)
    baseline = peak_rss_mib()

    seed_everything(0)
    with open(f"{args.model_dir}/tokenizer_config.json") as handle:
        special = json.load(handle)
    # The tokenizer was saved by transformers 5 (class `TokenizersBackend`, unknown to 4.x): load its
    # `tokenizer.json` directly.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=f"{args.model_dir}/tokenizer.json",
        eos_token=special["eos_token"],
        pad_token=special["pad_token"],
    )
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, torch_dtype=torch.float32)

    def qa(split: str):
        dataset = QADataset(
            hf_args={"path": args.data, "name": split, "split": "train"},
            template_args=TEMPLATE_ARGS,
            tokenizer=tokenizer,
            max_length=512,
        )
        dataset.data = dataset.data.map(lambda row: {"answer": " " + row["answer"]})
        return dataset

    train_dataset = ForgetRetainDataset(forget=qa("forget01"), retain=qa("retain99"), anchor="forget")
    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (first, last):
                marks[state.global_step] = time.perf_counter()

    training_args = TrainingArguments(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=4,
        max_steps=last,
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,  # configs/unlearn.yaml
        seed=0,
    )
    start = time.perf_counter()
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        tokenizer=tokenizer,
        data_collator=DataCollatorForSupervisedDataset(tokenizer, padding_side="right"),
        evaluators=None,
        template_args=TEMPLATE_ARGS,
        callbacks=[Clock()],
        **method_args,
    )
    setup_seconds = time.perf_counter() - start
    trainer.train()
    print(
        json.dumps(
            {
                "library": "open-unlearning",
                "method": args.method,
                "step_seconds": (marks[last] - marks[first]) / (last - first),
                "peak_rss_mib": peak_rss_mib() - baseline,
                "setup_seconds": setup_seconds,
                "optim": str(training_args.optim),
            }
        )
    )


if __name__ == "__main__":
    main()

"""`hf-unlearn task-vector`: task-vector negation from a YAML config and command-line overrides.

    hf-unlearn task-vector --config tv.yaml [--alpha 5 --learning_rate 1e-5 ...]

The model is fine-tuned on the forget set (transformers' `Trainer`, or a LoRA adapter with `use_peft`), then replaced
by `theta - alpha * (theta_ft - theta)`; see `hf_unlearn.task_vector`. Fields come from `TaskVectorConfig` (the
fine-tune's `TrainingArguments` and `alpha`), TRL's `ModelConfig` and `unlearn`'s data options, parsed as `unlearn`
parses them; the retain set is only scored. It runs as one process (one GPU or the CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from .unlearn_cli import (
    MODEL_OPTIONS,
    TRAINING_OPTIONS,
    UnlearningDataConfig,
    _did_you_mean,
    _own_fields,
    _parser_class,
    load_run_sets,
    print_run_summary,
    take_json_flag,
    train_scored,
)
from .utils import SPEC_HELP


PROG = "hf-unlearn task-vector"
USAGE = f"usage: {PROG} --config RUN.yaml [--KEY VALUE ...]\n"
DESCRIPTION = (
    "Task-vector negation (Ilharco et al. 2023; a MUSE baseline): fine-tune the model on the forget set, then save "
    "theta - alpha * (theta_ft - theta). Every key below can be set in the YAML file given to --config and "
    "overridden on the command line (--key value); the command line wins. The retain set and eval_datasets are "
    f"scored before and after, never trained on. A SPEC is {SPEC_HELP}."
)
DATA_HELP = {
    "forget_dataset": "The forget set, a SPEC (required): fine-tuned on, then negated.",
    "retain_dataset": "A retain set, a SPEC: scored before and after (not trained on).",
}
MODEL_HELP = {**MODEL_OPTIONS, "use_peft": "Fine-tune a LoRA adapter and negate it, instead of every weight."}
TRAINING_HELP = {
    **TRAINING_OPTIONS,
    "output_dir": "Where the negated model or adapter, the card, unlearning_record.json and evaluation/ go.",
    "num_train_epochs": "Passes over the forget set in the fine-tune (MUSE: 10).",
    "learning_rate": "Peak learning rate of the fine-tune (MUSE: 1e-5).",
    "per_device_train_batch_size": "Forget rows per device and step.",
    "save_strategy": "When to save checkpoints of the fine-tune (they hold the reinforced model: default no).",
}
TRAINING_HELP.pop("eval_strategy")  # the fine-tune's evaluations would score the reinforced model


def make_parser():
    """The parser of `hf-unlearn task-vector`: `unlearn`'s parser over `TaskVectorConfig`, `ModelConfig` and the
    data options, with its own help."""
    from trl import ModelConfig

    from .task_vector import TaskVectorConfig

    class _TaskVectorParser(_parser_class()):
        usage_text = USAGE
        description_text = DESCRIPTION

        def help_sections(self):
            own = [f.name for f in dataclasses.fields(TaskVectorConfig) if f.name in _own_fields(TaskVectorConfig)]
            data = {f.name: DATA_HELP.get(f.name) for f in dataclasses.fields(UnlearningDataConfig)}
            return [
                ("Data options (UnlearningDataConfig)", data),
                ("Task-vector options (TaskVectorConfig)", dict.fromkeys(own)),
                ("Model options (TRL's ModelConfig; more with --help-all)", MODEL_HELP),
                ("Training options of the fine-tune (TrainingArguments; more with --help-all)", TRAINING_HELP),
            ]

        def launch_help(self):
            return ()

        def check_unknown(self, remaining: list[str]) -> None:
            if remaining:
                classes = (TaskVectorConfig, ModelConfig, UnlearningDataConfig)
                raise ValueError(
                    f"Unknown argument(s) {remaining}: not a field of TaskVectorConfig, ModelConfig or the data "
                    f"options (this command does not hand off to accelerate).{_did_you_mean(remaining, classes)} "
                    f"See `{PROG} --help`."
                )

    parser = _TaskVectorParser((TaskVectorConfig, ModelConfig, UnlearningDataConfig), prog=PROG)
    parser.set_defaults(save_strategy="no")  # a checkpoint of the fine-tune is the reinforced model
    return parser


def task_vector(training_args, model_args, data_args: UnlearningDataConfig) -> dict[str, Any]:
    """Fine-tune on the forget set, negate, score before and after; save the model or adapter, the card and
    `unlearning_record.json`.

    Returns:
        `dict`: the unlearning record.
    """
    from trl import get_peft_config

    from .task_vector import TaskVectorTrainer

    # The retain set is only scored: `TaskVectorTrainer` trains on the forget set alone.
    forget, _, eval_sets, sampled = load_run_sets(training_args, model_args, data_args)
    trainer = TaskVectorTrainer(
        model_args.model_name_or_path,
        args=training_args,
        forget_dataset=forget,
        eval_dataset=eval_sets or None,
        peft_config=get_peft_config(model_args),
    )
    return train_scored(trainer, eval_sets, sampled, data_args.retain_logs)


def run_task_vector(args: argparse.Namespace) -> int:
    argv, as_json = take_json_flag(args.task_vector_args)
    parser = make_parser()
    if "--help-all" in argv:
        print(parser.format_full_help())
        return 0
    training_args, model_args, data_args, config_remaining, _ = parser.parse_args_and_config(
        argv, return_remaining_strings=True, separate_remaining_strings=True
    )
    parser.check_unknown(config_remaining)  # the command line's own were refused while parsing it
    print_run_summary(task_vector(training_args, model_args, data_args), training_args.output_dir, as_json)
    return 0


def add_task_vector_command(subparsers) -> argparse.ArgumentParser:
    """Register `task-vector`; its arguments are parsed by `TrlParser`, so argparse passes them through untouched."""
    parser = subparsers.add_parser(
        "task-vector",
        help="task-vector negation: fine-tune on the forget set, subtract the scaled change",
        add_help=False,
        prefix_chars="\0",
    )
    parser.add_argument("task_vector_args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run_task_vector)
    return parser


if __name__ == "__main__":  # pragma: no cover - `python -m hf_unlearn.task_vector_cli` is `hf-unlearn task-vector`
    sys.exit(run_task_vector(argparse.Namespace(task_vector_args=sys.argv[1:])))

"""`hf-unlearn task-vector`: task-vector negation from a YAML config and command-line overrides.

    hf-unlearn task-vector --config tv.yaml [--alpha 5 --learning_rate 1e-5 ...]

The model is fine-tuned on the forget set (transformers' `Trainer`, or a LoRA adapter with `use_peft`), then replaced
by `theta - alpha * (theta_ft - theta)`; see `hf_unlearn.task_vector`. Fields come from `TaskVectorConfig` (the
fine-tune's `TrainingArguments` and `alpha`), TRL's `ModelConfig` and `unlearn`'s data options, parsed as `unlearn`
parses them; the retain set is only scored. It runs as one process (one GPU or the CPU).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..utils import SPEC_HELP
from .unlearn import (
    MODEL_OPTIONS,
    TRAINING_OPTIONS,
    UnlearningDataConfig,
    UnlearnParser,
    load_run_sets,
    own_fields,
    print_run_summary,
    take_json_flag,
    train_scored,
)


PROG = "hf-unlearn task-vector"
USAGE = f"{PROG} --config RUN.yaml [--KEY VALUE ...]"
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


class TaskVectorParser(UnlearnParser):
    """`unlearn`'s parser over `TaskVectorConfig`: its own help sections, and no hand-off to accelerate."""

    def help_sections(self):
        from ..task_vector import TaskVectorConfig

        data = {f.name: DATA_HELP.get(f.name) for f in dataclasses.fields(UnlearningDataConfig)}
        return [
            ("Data options (UnlearningDataConfig)", data),
            ("Task-vector options (TaskVectorConfig)", dict.fromkeys(own_fields(TaskVectorConfig))),
            ("Model options (TRL's ModelConfig; more with --help-all)", MODEL_HELP),
            ("Training options of the fine-tune (TrainingArguments; more with --help-all)", TRAINING_HELP),
        ]

    def help_epilog(self):
        return []

    def check_unknown(self, remaining: list[str]) -> None:
        if remaining:
            raise ValueError(
                f"Unknown argument(s) {remaining}: not a field of TaskVectorConfig, ModelConfig or the data "
                f"options (this command does not hand off to accelerate).{self.did_you_mean(remaining)} "
                f"See `{PROG} --help`."
            )


def make_parser() -> TaskVectorParser:
    """The parser of `hf-unlearn task-vector`: over `TaskVectorConfig`, `ModelConfig` and the data options."""
    from trl import ModelConfig

    from ..task_vector import TaskVectorConfig

    parser = TaskVectorParser(
        (TaskVectorConfig, ModelConfig, UnlearningDataConfig), prog=PROG, usage=USAGE, description=DESCRIPTION
    )
    parser.set_defaults(save_strategy="no")  # a checkpoint of the fine-tune is the reinforced model
    return parser


def task_vector(training_args, model_args, data_args: UnlearningDataConfig) -> dict[str, Any]:
    """Fine-tune on the forget set, negate, score before and after; save the model or adapter, the card and
    `unlearning_record.json`.

    Returns:
        `dict`: the unlearning record.
    """
    from trl import get_peft_config

    from ..task_vector import TaskVectorTrainer

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


def run(argv: list[str]) -> int:
    """`hf-unlearn task-vector ARGV`."""
    argv, as_json = take_json_flag(argv)
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

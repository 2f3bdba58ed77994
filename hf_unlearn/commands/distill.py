"""`hf-unlearn distill`: distillation after unlearning (UNDO) from a YAML config and command-line overrides.

    hf-unlearn distill --model_name_or_path UNLEARNED_DIR --retain_dataset retain.jsonl --output_dir OUT [--alpha 0.5]

The unlearned model (the teacher) is copied, the copy's weights mixed with noise, and the copy trained to match the
teacher's next-token distributions on the retain set (and `extra_datasets`); see `hf_unlearn.distill`. Fields come from
`DistillConfig` (the distillation's `TrainingArguments`, `alpha` and the noise), TRL's `ModelConfig` and the data
options below, parsed as `unlearn` parses them. A forget set, when given, is only scored. It runs as one process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ..utils import SPEC_HELP, check_model_source
from .unlearn import (
    MODEL_OPTIONS,
    TRAINING_OPTIONS,
    UnlearnParser,
    _load_set,
    default_eval_sets,
    end_of_run_warnings,
    model_init_kwargs,
    own_fields,
    parse_mapping,
    print_run_summary,
    take_json_flag,
)


logger = logging.getLogger(__name__)

PROG = "hf-unlearn distill"
USAGE = f"{PROG} --config RUN.yaml [--KEY VALUE ...]"
DESCRIPTION = (
    "Distillation after unlearning (UNDO, Lee et al. 2025): copy the unlearned model (model_name_or_path, the "
    "teacher), mix the copy's weights with a share alpha of noise, and train it to match the teacher's outputs on the "
    "retain set, so that what unlearning suppressed is harder to bring back by fine-tuning. Every key below can be "
    "set in the YAML file given to --config and overridden on the command line (--key value); the command line wins. "
    f"A SPEC is {SPEC_HELP}."
)


@dataclass
class DistillDataConfig:
    r"""
    Data options of `hf-unlearn distill`. Each set is a SPEC, as for `hf-unlearn unlearn`.

    Parameters:
        retain_dataset (`str`):
            The retain set, distilled on (required).
        extra_datasets (`list[str]`, *optional*):
            More sets to distill on (e.g. general text), SPECs.
        forget_dataset (`str`, *optional*):
            The forget set the teacher was unlearned on: only scored, before (the teacher) and after (the student).
        eval_datasets (`dict[str, str]`, *optional*):
            Named eval sets, as for `unlearn`. Without it, the forget (if given) and retain sets are scored.
        default_eval_rows (`int`, *optional*, defaults to `200`):
            Without `eval_datasets`, each scored set is capped at this many rows (a seeded sample); `0` turns it off.
        column_mapping (`dict[str, str]`, *optional*):
            Columns to rename in every set before use, `{source: target}`.
        retain_logs (`str`, *optional*):
            TOFU-format evaluation log of a retain model, for forget quality.
    """

    retain_dataset: str = field(
        default=None, metadata={"metavar": "SPEC", "help": "The retain set, a SPEC (required): distilled on."}
    )
    extra_datasets: list[str] | None = field(
        default=None,
        metadata={"metavar": "SPEC", "help": "More sets to distill on (e.g. general text), SPECs; a YAML list."},
    )
    forget_dataset: str | None = field(
        default=None,
        metadata={"metavar": "SPEC", "help": "The forget set the teacher was unlearned on: only scored, never used."},
    )
    eval_datasets: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "metavar": "{NAME: SPEC}",
            "help": "Named eval sets {NAME: SPEC}, as for unlearn. Without it: the forget (if given) and retain sets "
            "(see default_eval_rows).",
        },
    )
    default_eval_rows: int = field(
        default=200,
        metadata={
            "metavar": "N",
            "help": "Without eval_datasets, the forget and retain sets are scored on at most this many rows each "
            "(a sample drawn with seed), before and after. 0 turns this default evaluation off.",
        },
    )
    column_mapping: dict[str, str] | str | None = field(
        default=None,
        metadata={"metavar": "{SOURCE: TARGET}", "help": "Columns to rename in every set, {SOURCE: TARGET}."},
    )
    retain_logs: str | None = field(
        default=None,
        metadata={"metavar": "FILE", "help": "TOFU-format eval log of a retain model, for forget quality."},
    )

    def __post_init__(self):
        if not self.retain_dataset:
            raise ValueError(
                "retain_dataset is required: distillation trains the student on the teacher's outputs on retain "
                "rows (a SPEC such as `locuslab/TOFU:retain90` or a local file)."
            )
        if self.default_eval_rows < 0:
            raise ValueError(f"default_eval_rows must be >= 0 (0 turns it off), got {self.default_eval_rows}.")
        for name in ("eval_datasets", "column_mapping"):
            if getattr(self, name) is not None:
                setattr(self, name, parse_mapping(getattr(self, name), name))


MODEL_HELP = {
    key: value
    for key, value in MODEL_OPTIONS.items()
    if key not in ("use_peft", "lora_r", "lora_alpha", "lora_target_modules", "load_in_8bit", "load_in_4bit")
}
MODEL_HELP["model_name_or_path"] = "The unlearned model (the teacher): a local folder or a Hub id (required)."
TRAINING_HELP = {
    **TRAINING_OPTIONS,
    "output_dir": "Where the distilled model, the card, unlearning_record.json and evaluation/ go.",
    "num_train_epochs": "Passes over the retain (and extra) rows.",
    "per_device_train_batch_size": "Rows per device and step.",
}
TRAINING_HELP.pop("eval_strategy")


class DistillParser(UnlearnParser):
    """`unlearn`'s parser over `DistillConfig`: its own help sections, and no hand-off to accelerate."""

    def help_sections(self):
        from ..distill import DistillConfig

        data = {f.name: None for f in dataclasses.fields(DistillDataConfig)}
        return [
            ("Data options (DistillDataConfig)", data),
            ("Distillation options (DistillConfig)", dict.fromkeys(own_fields(DistillConfig))),
            ("Model options (TRL's ModelConfig; more with --help-all)", MODEL_HELP),
            ("Training options of the distillation (TrainingArguments; more with --help-all)", TRAINING_HELP),
        ]

    def help_epilog(self):
        return []

    def check_unknown(self, remaining: list[str]) -> None:
        if remaining:
            raise ValueError(
                f"Unknown argument(s) {remaining}: not a field of DistillConfig, ModelConfig or the data options "
                f"(this command does not hand off to accelerate).{self.did_you_mean(remaining)} See `{PROG} --help`."
            )


def make_parser() -> DistillParser:
    """The parser of `hf-unlearn distill`: over `DistillConfig`, `ModelConfig` and the data options."""
    from trl import ModelConfig

    from ..distill import DistillConfig

    parser = DistillParser(
        (DistillConfig, ModelConfig, DistillDataConfig), prog=PROG, usage=USAGE, description=DESCRIPTION
    )
    parser.set_defaults(save_strategy="no")
    return parser


def distill(training_args, model_args, data_args: DistillDataConfig) -> dict[str, Any]:
    """Score the teacher, perturb and distill, score the student; save the model, the card and
    `unlearning_record.json`.

    Returns:
        `dict`: the unlearning record.
    """
    from ..callbacks import NoFinalCheckpointCallback
    from ..distill import DistillTrainer

    if model_args.use_peft or model_args.load_in_4bit or model_args.load_in_8bit:
        raise ValueError(
            "distill trains every weight of the student: use_peft, load_in_4bit and load_in_8bit are not accepted "
            "(merge an unlearned adapter into its base model first, and distill the merged model)."
        )
    check_model_source(model_args.model_name_or_path, "model_name_or_path", revision=model_args.model_revision)
    training_args.model_init_kwargs = {**model_init_kwargs(model_args), **(training_args.model_init_kwargs or {})}
    mapping = data_args.column_mapping
    retain = _load_set(data_args.retain_dataset, "retain_dataset", mapping)
    extras = {
        f"extra_{index}": _load_set(spec, f"extra_datasets[{index}]", mapping)
        for index, spec in enumerate(data_args.extra_datasets or [], 1)
    }
    forget = _load_set(data_args.forget_dataset, "forget_dataset", mapping) if data_args.forget_dataset else None
    eval_sets = {
        name: _load_set(spec, f"eval_datasets.{name}", mapping)
        for name, spec in (data_args.eval_datasets or {}).items()
    }
    sampled = None
    if not eval_sets:
        eval_sets, sampled = default_eval_sets(
            {"forget": forget, "retain": retain}, data_args.default_eval_rows, training_args.seed
        )
    trainer = DistillTrainer(
        model_args.model_name_or_path,
        args=training_args,
        retain_dataset=retain,
        extra_datasets=extras or None,
        eval_dataset=eval_sets or None,
    )
    if eval_sets:
        trainer.evaluate_unlearning(eval_sets, retain_logs=data_args.retain_logs)  # the teacher
    trainer.add_callback(NoFinalCheckpointCallback())
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    if eval_sets:
        trainer.evaluate_unlearning(eval_sets, retain_logs=data_args.retain_logs)  # the student
        result = getattr(trainer, "unlearning_evaluations", {}).get("after")
        if result is not None:
            if sampled is not None:
                result.summary["default_eval_sets"] = sampled
            result.save(os.path.join(training_args.output_dir, "evaluation"))
    trainer.create_model_card()
    if training_args.push_to_hub:
        trainer.push_to_hub()
    record = trainer.unlearning_record()
    if sampled is not None:
        record["default_eval_sets"] = sampled
    # Retain damage only: the teacher had already forgotten, so unchanged forget scores are what distillation wants.
    before = {key: value for key, value in (record["metrics"]["before"] or {}).items() if "_retain_" in key}
    for message in end_of_run_warnings(record["metrics"]["after"] or {}, before):
        logger.warning(message)
    return record


def run(argv: list[str]) -> int:
    """`hf-unlearn distill ARGV`."""
    argv, as_json = take_json_flag(argv)
    parser = make_parser()
    if "--help-all" in argv:
        print(parser.format_full_help())
        return 0
    training_args, model_args, data_args, config_remaining, _ = parser.parse_args_and_config(
        argv, return_remaining_strings=True, separate_remaining_strings=True
    )
    parser.check_unknown(config_remaining)  # the command line's own were refused while parsing it
    print_run_summary(distill(training_args, model_args, data_args), training_args.output_dir, as_json)
    return 0

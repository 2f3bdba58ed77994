"""`hf-unlearn unlearn`: an unlearning run from a YAML config and command-line overrides, optionally under accelerate.

    hf-unlearn unlearn --config examples/configs/tofu_npo.yaml [--learning_rate 2e-5 ...]
    hf-unlearn unlearn --config run.yaml --num_processes 2            # hands off to `accelerate launch`
    hf-unlearn unlearn --config run.yaml --accelerate_config zero3    # one of the configs shipped with hf_unlearn
    accelerate launch -m hf_unlearn.cli unlearn --config run.yaml     # the same, launched by hand

Fields come from three dataclasses, parsed by TRL's `TrlParser`: `UnlearningConfig` (training and unlearning),
TRL's `ModelConfig` (model, dtype, attention, LoRA, 4/8-bit loading) and `UnlearningDataConfig` below. A key that
is none of theirs and no `accelerate launch` option is an error that names it.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers.utils import logging

from .config import UnlearningConfig


logger = logging.get_logger(__name__)


# Set for the processes `hf-unlearn unlearn` launches through accelerate, so they do not launch again.
LAUNCHED_ENV = "HF_UNLEARN_LAUNCHED"


@dataclass
class UnlearningDataConfig:
    r"""
    Data options of `hf-unlearn unlearn`.

    Each set is a SPEC: a local `.json` / `.jsonl` / `.csv` / `.parquet` file, or `PATH_OR_HUB_ID[:CONFIG[:SPLIT]]`
    for `datasets.load_dataset` (e.g. `locuslab/TOFU:forget10`; the split defaults to `train`).

    Parameters:
        forget_dataset (`str`):
            The forget set.
        retain_dataset (`str`, *optional*):
            The retain set (needed unless `retain_loss="none"`).
        eval_datasets (`dict[str, str]`, *optional*):
            Named eval sets, e.g. `{"forget": "...", "retain": "..."}`; names starting with `forget` are scored with
            the forget objective.
        column_mapping (`dict[str, str]`, *optional*):
            Columns to rename in every set before use, `{source: target}`, e.g. `{"instruction": "prompt", "output":
            "completion"}`.
        retain_logs (`str`, *optional*):
            TOFU-format evaluation log of a retain model (never trained on the forget set), e.g. from
            `hf-unlearn eval`; with it the evaluation reports forget quality.
    """

    forget_dataset: str = field(default=None, metadata={"help": "Forget set SPEC (required)."})
    retain_dataset: str | None = field(default=None, metadata={"help": "Retain set SPEC."})
    eval_datasets: dict[str, str] | str | None = field(
        default=None, metadata={"help": 'Named eval set SPECs, as YAML mapping or JSON: {"forget": SPEC, ...}.'}
    )
    column_mapping: dict[str, str] | str | None = field(
        default=None, metadata={"help": 'Columns to rename, {source: target}, as YAML mapping or JSON.'}
    )
    retain_logs: str | None = field(default=None, metadata={"help": "TOFU-format log of a retain model."})

    def __post_init__(self):
        if not self.forget_dataset:
            raise ValueError("forget_dataset is required: a SPEC such as `locuslab/TOFU:forget10` or a local file.")
        for name in ("eval_datasets", "column_mapping"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    setattr(self, name, json.loads(value))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{name} must be a mapping (YAML) or a JSON object, got {value!r}.") from error
            if getattr(self, name) is not None and not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a mapping, got {type(getattr(self, name)).__name__}.")


def make_parser():
    from trl import ModelConfig, TrlParser

    return TrlParser((UnlearningConfig, ModelConfig, UnlearningDataConfig), prog="hf-unlearn unlearn")


def accelerate_config_path(name: str) -> str:
    """A path given as is, or the name of a config shipped in `hf_unlearn/accelerate_configs` (without `.yaml`)."""
    if Path(name).is_file():
        return name
    shipped = importlib.resources.files("hf_unlearn").joinpath("accelerate_configs", f"{name}.yaml")
    if not shipped.is_file():
        known = sorted(p.name.removesuffix(".yaml") for p in importlib.resources.files("hf_unlearn").joinpath(
            "accelerate_configs").iterdir() if p.name.endswith(".yaml"))
        raise ValueError(f"--accelerate_config {name!r} is neither a file nor a shipped config; shipped: {known}.")
    return str(shipped)


def split_launch_args(remaining: list[str]) -> list[str]:
    """The `accelerate launch` options among arguments no dataclass took; anything else is an error naming it."""
    from accelerate.commands.launch import launch_command_parser

    remaining = list(remaining)
    if "--accelerate_config" in remaining:
        index = remaining.index("--accelerate_config")
        if index + 1 >= len(remaining):
            raise ValueError("--accelerate_config needs a value: a config file or a shipped config name.")
        path = accelerate_config_path(remaining[index + 1])
        remaining = remaining[:index] + ["--config_file", path] + remaining[index + 2 :]
    launch_args, unknown = launch_command_parser().parse_known_args(remaining + ["hf_unlearn.cli"])
    if unknown:
        raise ValueError(
            f"Unknown argument(s) {unknown}: not a field of UnlearningConfig, ModelConfig or the data options, nor an "
            "`accelerate launch` option. See `hf-unlearn unlearn --help`."
        )
    return remaining


def _load_set(spec: str, option: str, column_mapping: dict[str, str] | None):
    from .data.loading import load_dataset_spec

    dataset = load_dataset_spec(spec, option)
    if column_mapping:
        present = {source: target for source, target in column_mapping.items() if source in dataset.column_names}
        dataset = dataset.rename_columns(present)
    return dataset


def model_init_kwargs(model_args) -> dict[str, Any]:
    """`from_pretrained` keyword arguments from TRL's `ModelConfig` (dtype, attention, revision, 4/8-bit).

    `trust_remote_code` is not among them: it stays off unless set in `model_init_kwargs`.
    """
    import torch
    from accelerate import PartialState
    from trl import get_quantization_config

    kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    quantization_config = get_quantization_config(model_args)
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        if torch.cuda.is_available():  # a quantized model is placed at load time, one copy per process
            kwargs["device_map"] = {"": PartialState().local_process_index}
    return {key: value for key, value in kwargs.items() if value is not None}


def unlearn(training_args: UnlearningConfig, model_args, data_args: UnlearningDataConfig) -> dict[str, Any]:
    """Run one unlearning job; save the model or adapter, the model card and `unlearning_record.json`.

    Returns:
        `dict`: the unlearning record.
    """
    from trl import get_peft_config

    from .trainer import UnlearningTrainer

    if not model_args.model_name_or_path:
        raise ValueError("model_name_or_path is required: a Hub id or a local folder.")
    training_args.model_init_kwargs = {**model_init_kwargs(model_args), **(training_args.model_init_kwargs or {})}
    mapping = data_args.column_mapping
    forget = _load_set(data_args.forget_dataset, "forget_dataset", mapping)
    retain = _load_set(data_args.retain_dataset, "retain_dataset", mapping) if data_args.retain_dataset else None
    eval_sets = {
        name: _load_set(spec, f"eval_datasets.{name}", mapping) for name, spec in (data_args.eval_datasets or {}).items()
    }
    trainer = UnlearningTrainer(
        model_args.model_name_or_path,
        args=training_args,
        forget_dataset=forget,
        retain_dataset=retain,
        eval_dataset=eval_sets or None,
        peft_config=get_peft_config(model_args),
    )
    evaluator = _evaluator(trainer, eval_sets, data_args.retain_logs)
    if eval_sets:  # scores before and after, for the record (`train` starts a new log history)
        trainer.unlearning_metrics["before"] = _scores(trainer, evaluator)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    if eval_sets:
        trainer.unlearning_metrics["after"] = _scores(trainer, evaluator, save_to=training_args.output_dir)
    trainer.create_model_card()
    if training_args.push_to_hub:
        trainer.push_to_hub()
    return trainer.unlearning_record()


def _evaluator(trainer, eval_sets: dict, retain_logs: str | None):
    """The evaluator over the eval sets it knows (forget, retain, holdout, ...), or `None`."""
    from .evaluation import EVAL_SET_NAMES, UnlearningEvaluator

    scored = {name: dataset for name, dataset in eval_sets.items() if name in EVAL_SET_NAMES}
    if not scored:
        return None
    if trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        logger.warning("Generation-based scores are skipped under DeepSpeed / FSDP: run `hf-unlearn eval` on the "
                       "saved model for them.")
        return None
    return UnlearningEvaluator(
        trainer.processing_class,
        scored,
        retain_logs=retain_logs,
        batch_size=trainer.args.per_device_eval_batch_size,
        max_length=trainer.args.max_length or 512,
        qa_prompt_template=trainer.args.qa_prompt_template,
    )


def _scores(trainer, evaluator, save_to: str | None = None) -> dict[str, float]:
    """The trainer's eval metrics plus, with an evaluator, ROUGE / probability / truth ratio / forget quality."""
    scores = trainer.score_metrics(trainer.evaluate())
    if evaluator is not None:
        result = evaluator.evaluate(trainer.model, trainer.accelerator)
        scores.update(result.metrics())
        if save_to is not None and trainer.accelerator.is_main_process:
            result.save(os.path.join(save_to, "evaluation"))  # TOFU-format log + summary.json, numbers only
    return scores


def launch(launch_args: list[str], script_args: list[str]) -> int:
    """Re-run `hf-unlearn unlearn <script_args>` under `accelerate launch <launch_args>`."""
    from accelerate.commands.launch import launch_command, launch_command_parser

    accelerate_args = launch_command_parser().parse_args([*launch_args, "-m", "hf_unlearn.cli", "unlearn", *script_args])
    os.environ[LAUNCHED_ENV] = "1"  # inherited by the launched processes
    launch_command(accelerate_args)
    return 0


def _subtract(arguments: list[str], removed: list[str]) -> list[str]:
    """`arguments` without the ordered subsequence `removed`."""
    result, removed = [], list(removed)
    for argument in arguments:
        if removed and argument == removed[0]:
            removed.pop(0)
        else:
            result.append(argument)
    return result


def run_unlearn(args: argparse.Namespace) -> int:
    argv = list(args.unlearn_args)
    parser = make_parser()
    training_args, model_args, data_args, config_remaining, cli_remaining = parser.parse_args_and_config(
        argv, return_remaining_strings=True, separate_remaining_strings=True
    )
    if os.environ.get(LAUNCHED_ENV) != "1":  # under our own hand-off the launch options are already spent
        launch_args = split_launch_args(config_remaining + cli_remaining)
        if launch_args:
            return launch(launch_args, _subtract(argv, cli_remaining))
    elif cli_remaining:
        split_launch_args(cli_remaining)  # still refuse keys that are nobody's
    record = unlearn(training_args, model_args, data_args)
    print(json.dumps({"output_dir": os.path.abspath(training_args.output_dir), **record["metrics"]}, indent=2))
    return 0


def add_unlearn_command(subparsers) -> argparse.ArgumentParser:
    """Register `unlearn`; its arguments are parsed by `TrlParser`, so argparse passes them through untouched."""
    parser = subparsers.add_parser(
        "unlearn", help="run unlearning from a YAML config (+ overrides)", add_help=False, prefix_chars="\0"
    )
    parser.add_argument("unlearn_args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run_unlearn)
    return parser


if __name__ == "__main__":  # pragma: no cover - `python -m hf_unlearn.unlearn_cli` is `hf-unlearn unlearn`
    sys.exit(run_unlearn(argparse.Namespace(unlearn_args=sys.argv[1:])))

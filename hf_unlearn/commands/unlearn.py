"""`hf-unlearn unlearn`: an unlearning run from a YAML config and command-line overrides, optionally under accelerate.

    hf-unlearn unlearn --config examples/configs/tofu_npo.yaml [--learning_rate 2e-5 ...]
    hf-unlearn unlearn --config run.yaml --num_processes 2            # hands off to `accelerate launch`
    hf-unlearn unlearn --config run.yaml --accelerate_config zero3    # one of the configs shipped with hf_unlearn
    accelerate launch -m hf_unlearn unlearn --config run.yaml         # the same, launched by hand

Fields come from three dataclasses, parsed by TRL's `TrlParser`: `UnlearningConfig` (training and unlearning),
TRL's `ModelConfig` (model, dtype, attention, LoRA, 4/8-bit loading) and `UnlearningDataConfig` below. A key that
is none of theirs and no `accelerate launch` option is an error that names it. `--help` lists the unlearning, data
and most used options; `--help-all` every field.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import json
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..utils import (
    FORGOTTEN,
    HEADLINE_SCORES,
    KEPT,
    LORA_LEARNING_RATE_FACTOR,
    SPEC_HELP,
    check_model_source,
    score_table,
)
from .parser import CommandParser


if TYPE_CHECKING:
    from ..config import UnlearningConfig

# torch and the training stack are imported inside the functions that need them: building this parser imports
# neither (UnlearningConfig's module is imported then, for its fields).
logger = logging.getLogger(__name__)


# Set for the processes `hf-unlearn unlearn` launches through accelerate, so they do not launch again.
LAUNCHED_ENV = "HF_UNLEARN_LAUNCHED"

PROG = "hf-unlearn unlearn"


@dataclass
class UnlearningDataConfig:
    r"""
    Data options of `hf-unlearn unlearn`.

    Each set is a SPEC: a local `.json` / `.jsonl` / `.csv` / `.parquet` file, or `PATH_OR_HUB_ID[:CONFIG[:SPLIT]]`
    for `datasets.load_dataset` (e.g. `locuslab/TOFU:forget10`; the split defaults to `train`).

    Parameters:
        forget_dataset (`str`):
            The forget set.
        retain_dataset (`str` or `dict[str, str]`, *optional*):
            The retain set (needed unless `retain_loss="none"`), or several named ones, `{NAME: SPEC}`, each with its
            own objective and weight (`retain_objectives`, `retain_weights`).
        eval_datasets (`dict[str, str]`, *optional*):
            Named eval sets, e.g. `{"forget": "...", "retain": "..."}`; names starting with `forget` are scored with
            the forget objective. Without it, the forget and retain sets are scored (see `default_eval_rows`).
        default_eval_rows (`int`, *optional*, defaults to `200`):
            Without `eval_datasets`, the forget and retain sets the run trains on are scored before and after
            unlearning, each on at most this many rows (a sample drawn with `seed` when a set is larger). `0` turns
            this default evaluation off.
        column_mapping (`dict[str, str]`, *optional*):
            Columns to rename in every set before use, `{source: target}`, e.g. `{"instruction": "prompt", "output":
            "completion"}`.
        retain_logs (`str`, *optional*):
            TOFU-format evaluation log of a retain model (never trained on the forget set), e.g. from
            `hf-unlearn eval`; with it the evaluation reports forget quality.
    """

    forget_dataset: str = field(
        default=None, metadata={"metavar": "SPEC", "help": "The forget set, a SPEC (required)."}
    )
    retain_dataset: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "metavar": "SPEC",
            "help": "The retain set, a SPEC (needed unless retain_loss is none), or named sets {NAME: SPEC}, each "
            "with its own objective and weight (retain_objectives, retain_weights).",
        },
    )
    eval_datasets: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "metavar": "{NAME: SPEC}",
            "help": "Named eval sets {NAME: SPEC}; NAME of letters, digits and underscores (forget*: scored as a "
            "forget set; retain, holdout, real_authors, world_facts take part in model utility and forget quality). "
            "A YAML mapping; on the command line the same flow mapping in quotes, or a JSON object. Without it: the "
            "forget and retain sets (see default_eval_rows).",
        },
    )
    default_eval_rows: int = field(
        default=200,
        metadata={
            "metavar": "N",
            "help": "Without eval_datasets, the forget and retain sets are scored on at most this many rows each. "
            "Scored before and after unlearning, on a sample drawn with seed when a set is larger. 0 turns this "
            "default evaluation off.",
        },
    )
    column_mapping: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "metavar": "{SOURCE: TARGET}",
            "help": "Columns to rename in every set, {SOURCE: TARGET}, e.g. {instruction: prompt, output: "
            "completion}. A YAML mapping; on the command line the same in quotes "
            "(--column_mapping '{instruction: prompt}'), or a JSON object.",
        },
    )
    retain_logs: str | None = field(
        default=None,
        metadata={
            "metavar": "FILE",
            "help": "TOFU-format eval log of a retain model on the same forget set, for forget quality.",
        },
    )

    def __post_init__(self):
        if not self.forget_dataset:
            raise ValueError("forget_dataset is required: a SPEC such as `locuslab/TOFU:forget10` or a local file.")
        if self.default_eval_rows < 0:
            raise ValueError(f"default_eval_rows must be >= 0 (0 turns it off), got {self.default_eval_rows}.")
        if isinstance(self.retain_dataset, str) and self.retain_dataset.lstrip().startswith("{"):
            self.retain_dataset = parse_mapping(self.retain_dataset, "retain_dataset")
        for name in ("eval_datasets", "column_mapping"):
            if getattr(self, name) is not None:
                setattr(self, name, parse_mapping(getattr(self, name), name))


MAPPING_EXAMPLES = {
    "column_mapping": ("{instruction: prompt, output: completion}", '{"instruction": "prompt"}'),
    "eval_datasets": ("{forget: forget.jsonl, retain: retain.jsonl}", '{"forget": "forget.jsonl"}'),
    "retain_dataset": ("{tofu: locuslab/TOFU:retain90, extra: extra.jsonl}", '{"tofu": "locuslab/TOFU:retain90"}'),
}


def parse_mapping(value: dict | str, name: str) -> dict[str, str]:
    """A `{KEY: VALUE}` option of strings, as the YAML file gives it (a mapping) or the command line (a string: a
    JSON object, or the YAML flow mapping `{KEY: VALUE, ...}` that `--help` shows).

    Raises:
        `ValueError`: one line naming the option and the accepted forms, for anything else.
    """
    import yaml

    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            try:  # YAML flow style; JSON is tried first as it is the stricter reading
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(item, str) for pair in parsed.items() for item in pair):
        flow, strict = MAPPING_EXAMPLES[name]
        raise ValueError(
            f"{name} {value!r} is not a mapping of strings; accepted: a YAML mapping in the config file, or on the "
            f"command line a YAML flow mapping such as '{flow}' or a JSON object such as '{strict}'."
        )
    return parsed


# `--help` shows these fields of TRL's `ModelConfig` and of `TrainingArguments`, one line each (our wording: theirs
# runs to paragraphs); `--help-all` shows every field with its own help.
MODEL_OPTIONS = {
    "model_name_or_path": "The model to unlearn from: a Hub id or a local folder (required).",
    "dtype": "dtype the model is loaded in.",
    "use_peft": "Train a LoRA adapter instead of every weight; the reference is then the model with the adapter off.",
    "lora_r": "LoRA rank.",
    "lora_alpha": "LoRA alpha (scaling).",
    "lora_target_modules": "Modules that get an adapter, e.g. all-linear or q_proj v_proj.",
    "load_in_8bit": "Load the base model in 8 bit (bitsandbytes; with use_peft).",
    "load_in_4bit": "Load the base model in 4 bit (bitsandbytes; with use_peft).",
}
TRAINING_OPTIONS = {
    "output_dir": "Where the model or adapter, the card, unlearning_record.json and evaluation/ go.",
    "num_train_epochs": "Passes over the forget set.",
    "max_steps": "Optimizer steps; overrides num_train_epochs when > 0.",
    "learning_rate": "Peak learning rate.",
    "per_device_train_batch_size": "Forget rows per device and step (each with as many retain rows).",
    "gradient_accumulation_steps": "Micro-batches per optimizer step.",
    "bf16": "bfloat16 mixed precision (GPU). Without a GPU it is turned off with a warning.",
    "use_cpu": "Run on the CPU even when a GPU is present.",
    "activation_checkpointing": "Recompute activations in the backward pass: less memory, ~20% slower.",
    "seed": "Seed of the run (model init, data order, default-eval sample).",
    "logging_steps": "Log every N optimizer steps.",
    "save_strategy": "When to save checkpoints (no, steps, epoch).",
    "eval_strategy": "When to evaluate during training (no, steps, epoch); before / after are always scored.",
    "report_to": "Where logs go: none, tensorboard, wandb, trackio, ...",
    "push_to_hub": "Upload the result (model or adapter, card, record) to the Hub.",
    "hub_model_id": "Hub repository to push to.",
    "resume_from_checkpoint": "Checkpoint folder to resume from.",
}
USAGE = f"{PROG} --config RUN.yaml [--KEY VALUE ...] [--accelerate_config NAME_OR_FILE] [--num_processes N]"


def describe_objectives() -> str:
    """The objectives `forget_loss` and `retain_loss` accept, listed from the loss registry (so that help text
    cannot drift from it)."""
    from ..losses import FORGET_LOSSES, RETAIN_LOSSES

    return (
        f"Forget objectives (forget_loss): {', '.join(FORGET_LOSSES)}. Retain objectives (retain_loss): "
        f"{', '.join(RETAIN_LOSSES)}, or none."
    )


def _description() -> str:
    """`unlearn --help`'s description."""
    return (
        "One unlearning run. Every key below can be set in the YAML file given to --config and overridden on the "
        "command line (--key value); the command line wins. Without forget_loss / retain_loss the method is NPO "
        f"with a retain NLL term (forget_loss npo, retain_loss nll). {describe_objectives()} A SPEC is {SPEC_HELP}."
    )


def _launch_help() -> list[tuple[str, str]]:
    """The `accelerate launch` hand-off options `--help` lists (they are no field: accelerate's parser takes them)."""
    return [
        (
            "--accelerate_config NAME_OR_FILE",
            "Run under `accelerate launch` with this config file, or one shipped with hf_unlearn: "
            f"{', '.join(_shipped_accelerate_configs())}.",
        ),
        ("--num_processes N", "Run under `accelerate launch` with N processes."),
        (
            "--<accelerate launch option>",
            "Any other `accelerate launch` option (--multi_gpu, --mixed_precision, ...) also hands the run off.",
        ),
    ]


def own_fields(config_class: type | None = None) -> list[str]:
    """A config's fields that `TrainingArguments` does not have (`UnlearningConfig`'s by default), in order."""
    from transformers import TrainingArguments

    from ..config import UnlearningConfig

    inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
    return [f.name for f in dataclasses.fields(config_class or UnlearningConfig) if f.name not in inherited]


class UnlearnParser(CommandParser):
    """`unlearn`'s parser: its short help's sections, `accelerate launch` options taken among the unknown arguments,
    and mixed precision checked before `TrainingArguments` is built. `task-vector` subclasses it."""

    def help_sections(self) -> list[tuple[str, dict[str, str | None]]]:
        from ..config import TRAINER_FIELDS, UnlearningConfig
        from ..losses.registry import hyperparameter_fields
        from ..smoothing import SMOOTHING_FIELDS

        own = own_fields(UnlearningConfig)
        # The fields the objective registry says set one objective's hyperparameter (`beta`, `wga_beta`, ...), the
        # method trainers' own, and where alternative answers come from: in their own section, after the options
        # every run uses.
        objective_fields = set(hyperparameter_fields()) | set(TRAINER_FIELDS)
        method_fields = [n for n in own if n in objective_fields or n.startswith(("alternative_", "refusal_"))]
        smoothing_fields = [n for n in own if n in SMOOTHING_FIELDS]
        data_fields = [f.name for f in dataclasses.fields(UnlearningDataConfig)]
        return [
            ("Data options (UnlearningDataConfig)", dict.fromkeys(data_fields)),
            (
                "Unlearning options (UnlearningConfig)",
                dict.fromkeys(n for n in own if n not in method_fields + smoothing_fields),
            ),
            ("Options of one objective each (UnlearningConfig)", dict.fromkeys(method_fields)),
            ("Unlearning that resists relearning: smoothing (UnlearningConfig)", dict.fromkeys(smoothing_fields)),
            ("Model options (TRL's ModelConfig; more with --help-all)", MODEL_OPTIONS),
            ("Training options (transformers' TrainingArguments; more with --help-all)", TRAINING_OPTIONS),
        ]

    def help_epilog(self) -> list[tuple[str, list[tuple[str, str]]]]:
        return [("Launching (hands the run off to `accelerate launch`)", _launch_help())]

    def parse_known_args(self, args=None, namespace=None):
        namespace, remaining = super().parse_known_args(args, namespace)
        resolve_mixed_precision(namespace)
        return namespace, remaining

    def check_unknown(self, remaining: list[str]) -> None:
        """Raises `ValueError` naming the options among `remaining` that are neither a field nor a launch option."""
        split_launch_args(remaining, self)


def make_parser() -> UnlearnParser:
    """The parser of `hf-unlearn unlearn`: `TrlParser` over `UnlearningConfig`, `ModelConfig` and the data options."""
    from trl import ModelConfig

    from ..config import UnlearningConfig

    return UnlearnParser(
        (UnlearningConfig, ModelConfig, UnlearningDataConfig), prog=PROG, usage=USAGE, description=_description()
    )


def resolve_mixed_precision(namespace: argparse.Namespace) -> None:
    """Make a config that asks for bf16 mixed precision runnable where no device supports it, or refuse it in one line.

    The shipped configs are for GPUs (`bf16: true`). With no accelerator at all, the run goes on on the CPU without
    mixed precision, with one warning (transformers would raise deep inside `TrainingArguments`). With an accelerator
    that lacks bfloat16 (e.g. a pre-Ampere GPU), the user has to choose: the error names `--bf16 false`. `use_cpu`
    keeps transformers' behaviour (bfloat16 autocast on the CPU).
    """
    asked = [name for name in ("bf16", "bf16_full_eval") if getattr(namespace, name, False)]
    if not asked or getattr(namespace, "use_cpu", False):
        return
    import torch
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    if is_torch_bf16_gpu_available() or is_torch_xla_available():
        return
    flags = " and ".join(f"--{name} false" for name in asked)
    if torch.accelerator.is_available():
        raise ValueError(
            f"{' and '.join(asked)} is on but this {torch.accelerator.current_accelerator().type} device does not "
            f"support bfloat16: set {flags} (or --fp16 true)."
        )
    logger.warning(f"No GPU found: running on the CPU without bf16 mixed precision ({flags} silences this).")
    for name in asked:
        setattr(namespace, name, False)


def _shipped_accelerate_configs() -> list[str]:
    folder = importlib.resources.files("hf_unlearn").joinpath("accelerate_configs")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def accelerate_config_path(name: str) -> str:
    """A path given as is, or the name of a config shipped in `hf_unlearn/accelerate_configs` (without `.yaml`)."""
    if Path(name).is_file():
        return name
    shipped = importlib.resources.files("hf_unlearn").joinpath("accelerate_configs", f"{name}.yaml")
    if not shipped.is_file():
        raise ValueError(
            f"--accelerate_config {name!r} is neither a file nor a shipped config; shipped: "
            f"{_shipped_accelerate_configs()}."
        )
    return str(shipped)


def _launch_parser() -> argparse.ArgumentParser:
    """`accelerate launch`'s parser, without prefix matching (`--num_proc` is not taken for `--num_processes`)."""
    from accelerate.commands.launch import launch_command_parser

    parser = launch_command_parser()
    parser.allow_abbrev = False
    return parser


def split_launch_args(remaining: list[str], parser: CommandParser | None = None) -> list[str]:
    """The `accelerate launch` options among arguments no dataclass took; anything else is an error naming it (and
    the closest option of `parser`, `unlearn`'s by default)."""
    remaining = list(remaining)
    if "--accelerate_config" in remaining:
        index = remaining.index("--accelerate_config")
        if index + 1 >= len(remaining):
            raise ValueError("--accelerate_config needs a value: a config file or a shipped config name.")
        path = accelerate_config_path(remaining[index + 1])
        remaining = remaining[:index] + ["--config_file", path] + remaining[index + 2 :]
    _, unknown = _launch_parser().parse_known_args(remaining + ["hf_unlearn"])
    if unknown:
        raise ValueError(
            f"Unknown argument(s) {unknown}: not a field of UnlearningConfig, ModelConfig or the data options, nor an "
            f"`accelerate launch` option.{(parser or make_parser()).did_you_mean(unknown)} See `{PROG} --help`."
        )
    return remaining


def _load_set(spec: str, option: str, column_mapping: dict[str, str] | None):
    """The rows a SPEC names, columns renamed by `column_mapping`, in a format the trainer reads."""
    from ..data.formatting import detect_format
    from ..data.loading import load_dataset_spec

    dataset = load_dataset_spec(spec, option)
    if column_mapping:
        present = {source: target for source, target in column_mapping.items() if source in dataset.column_names}
        dataset = dataset.rename_columns(present)
    try:
        detect_format(dataset.column_names, option.removesuffix("_dataset"))
    except ValueError as error:
        raise ValueError(
            f"{option} {spec!r}: {error} Rename yours with column_mapping, e.g. `column_mapping: {{instruction: "
            "prompt, output: completion}` in the YAML file."
        ) from None
    return dataset


def default_eval_sets(sets: dict[str, Any], max_rows: int, seed: int) -> tuple[dict[str, Any], dict[str, dict]]:
    """The sets to score when the run names no `eval_datasets`: each set given, capped at `max_rows` rows.

    A larger set is replaced by a sample of `max_rows` rows drawn with `seed` (the same rows before and after).

    Returns:
        `tuple[dict, dict]`: the sets by name, and for each `{"rows": scored, "of": total}` (plus `"seed"` when
        sampled), for the output and `evaluation/summary.json`.
    """
    chosen, described = {}, {}
    for name, dataset in sets.items():
        if dataset is None or max_rows == 0:
            continue
        described[name] = {"rows": min(len(dataset), max_rows), "of": len(dataset)}
        if len(dataset) > max_rows:
            dataset = dataset.shuffle(seed=seed).select(range(max_rows))
            described[name]["seed"] = seed
        chosen[name] = dataset
    if any("seed" in value for value in described.values()):
        logger.warning(
            "No eval_datasets: scoring a seeded sample of the training sets before and after unlearning ("
            + ", ".join(f"{name}: {value['rows']} of {value['of']} rows" for name, value in described.items())
            + "; default_eval_rows sets the cap, eval_datasets the sets)."
        )
    elif described:
        logger.info(f"No eval_datasets: scoring the {' and '.join(described)} sets before and after unlearning.")
    return chosen, described


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


def load_run_sets(training_args, model_args, data_args: UnlearningDataConfig):
    """What every run from a config starts with: the model path checked, `ModelConfig`'s loading options merged into
    `model_init_kwargs`, and the forget, retain and eval sets loaded (the default eval sets when none are named).

    Returns:
        `tuple`: the forget set, the retain set (or `None`), the eval sets by name, and the default-eval description
        of [`default_eval_sets`] (or `None` when `eval_datasets` named the sets).
    """
    check_model_source(model_args.model_name_or_path, "model_name_or_path", revision=model_args.model_revision)
    training_args.model_init_kwargs = {**model_init_kwargs(model_args), **(training_args.model_init_kwargs or {})}
    mapping = data_args.column_mapping
    forget = _load_set(data_args.forget_dataset, "forget_dataset", mapping)
    retain_spec = data_args.retain_dataset
    if isinstance(retain_spec, dict):
        retain = {name: _load_set(spec, f"retain_dataset.{name}", mapping) for name, spec in retain_spec.items()}
    else:
        retain = _load_set(retain_spec, "retain_dataset", mapping) if retain_spec else None
    eval_sets = {
        name: _load_set(spec, f"eval_datasets.{name}", mapping)
        for name, spec in (data_args.eval_datasets or {}).items()
    }
    sampled = None
    if not eval_sets:
        # With named retain sets, the first one is scored as the retain set.
        scored_retain = next(iter(retain.values()), None) if isinstance(retain, dict) else retain
        eval_sets, sampled = default_eval_sets(
            {"forget": forget, "retain": scored_retain}, data_args.default_eval_rows, training_args.seed
        )
    return forget, retain, eval_sets, sampled


def train_scored(trainer, eval_sets: dict, sampled: dict | None, retain_logs: str | None) -> dict[str, Any]:
    """The rest of a run once its trainer is built: score before, train, save, score after, write the card (and
    push it).

    Returns:
        `dict`: the unlearning record.
    """
    from ..callbacks import NoFinalCheckpointCallback

    args = trainer.args
    if eval_sets:  # scores before and after, for the record (`train` starts a new log history)
        trainer.evaluate_unlearning(eval_sets, retain_logs=retain_logs)
    # `save_model` below writes the final model: a checkpoint at the last step would only add a copy of it and of the
    # optimizer state (1.6 GB for a 135M model). Checkpoints inside a long run are kept for resuming.
    trainer.add_callback(NoFinalCheckpointCallback())
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    trainer.save_model()
    if eval_sets:
        trainer.evaluate_unlearning(eval_sets, retain_logs=retain_logs)
        result = getattr(trainer, "unlearning_evaluations", {}).get("after")
        if result is not None and trainer.accelerator.is_main_process:
            if sampled is not None:  # row counts only: which sets, how many of their rows, the sampling seed
                result.summary["default_eval_sets"] = sampled
            result.save(os.path.join(args.output_dir, "evaluation"))  # TOFU-format log + summary.json, numbers only
    trainer.create_model_card()
    if args.push_to_hub:
        trainer.push_to_hub()
    record = trainer.unlearning_record()
    if sampled is not None:
        record["default_eval_sets"] = sampled
    if trainer.accelerator.is_main_process:
        for message in end_of_run_warnings(record["metrics"].get("after") or {}, record["metrics"].get("before")):
            logger.warning(message)
    return record


def _changes(after: dict[str, float], before: dict[str, float], role: str, prefix: str) -> list[tuple[str, float]]:
    """`(description, after / before)` of each headline score of `role` ("forget", "retain") scored before and
    after, e.g. `("retain answer probability 0.504 -> 0.015", 0.03)`."""
    changes = []
    for key, name, _ in HEADLINE_SCORES:
        key = f"{prefix}{key}"
        if key.startswith(f"{prefix}{role}_") and before.get(key) and after.get(key) is not None:
            changes.append((f"{name} {before[key]:.3f} -> {after[key]:.3f}", after[key] / before[key]))
    return changes


def end_of_run_warnings(after: dict[str, float], before: dict[str, float] | None, prefix: str = "eval_") -> list[str]:
    """What a run's scores before and after say that its user must not miss, one sentence each.

    - **Retain damage**: a retain score (ROUGE-L, answer probability) fell below `KEPT` (0.9) x its value before:
      the run damaged what it should keep.
    - **No forgetting**: every forget score fell by less than `FORGOTTEN` (10%) of its value before (or rose): the run
      barely moved the model (a LoRA adapter at a full fine-tune's learning rate does this).

    The thresholds are those of the verdict line (`hf_unlearn.utils`), shared with the demo. Empty without `before`.
    """
    if not before:
        return []
    messages = []
    damaged = [(text, ratio) for text, ratio in _changes(after, before, "retain", prefix) if ratio < KEPT]
    if damaged:
        scores = "; ".join(f"{text} ({ratio:.0%} of its value)" for text, ratio in damaged)
        messages.append(
            f"Retain damage: {scores}, below the {KEPT:.0%} kept that the verdict asks for. Unlearning also removed "
            "what it should keep: lower learning_rate or the number of steps, raise retain_weight, or pick a gentler "
            "method (see the methods guide)."
        )
    forget = _changes(after, before, "forget", prefix)
    if forget and all(1 - ratio < FORGOTTEN for _, ratio in forget):
        scores = "; ".join(text for text, _ in forget)
        messages.append(
            f"Little or no forgetting: {scores}; no forget score fell by {FORGOTTEN:.0%} or more. The run barely "
            f"moved the model: raise learning_rate (a LoRA adapter needs about {LORA_LEARNING_RATE_FACTOR} x a full "
            "fine-tune's) or the number of steps (num_train_epochs, max_steps)."
        )
    return messages


def unlearn(
    training_args: UnlearningConfig, model_args, data_args: UnlearningDataConfig, learning_rate_given: bool = True
) -> dict[str, Any]:
    """Run one unlearning job; save the model or adapter, the model card and `unlearning_record.json`.

    Args:
        learning_rate_given (`bool`, *optional*, defaults to `True`):
            Whether the user set `learning_rate`. When not, a LoRA run (`use_peft`) uses `LORA_LEARNING_RATE_FACTOR`
            (10) x the default: at a full fine-tune's rate an adapter barely moves in a short run.

    Returns:
        `dict`: the unlearning record.
    """
    from trl import get_peft_config

    from ..trainer import trainer_class

    if model_args.use_peft and not learning_rate_given:
        training_args.learning_rate *= LORA_LEARNING_RATE_FACTOR
        logger.warning(
            f"use_peft without a learning_rate: training the LoRA adapter at {training_args.learning_rate:g} "
            f"({LORA_LEARNING_RATE_FACTOR} x the full fine-tune's default; set learning_rate to choose)."
        )
    forget, retain, eval_sets, sampled = load_run_sets(training_args, model_args, data_args)
    trainer = trainer_class(training_args.forget_loss)(
        model_args.model_name_or_path,
        args=training_args,
        forget_dataset=forget,
        retain_dataset=retain,
        eval_dataset=eval_sets or None,
        peft_config=get_peft_config(model_args),
    )
    return train_scored(trainer, eval_sets, sampled, data_args.retain_logs)


def launch(launch_args: list[str], script_args: list[str]) -> int:
    """Re-run `hf-unlearn unlearn <script_args>` under `accelerate launch <launch_args>`."""
    from accelerate.commands.launch import launch_command

    accelerate_args = _launch_parser().parse_args([*launch_args, "-m", "hf_unlearn", "unlearn", *script_args])
    os.environ[LAUNCHED_ENV] = "1"  # inherited by the launched processes
    try:
        launch_command(accelerate_args)
    except subprocess.CalledProcessError as error:  # the processes have printed their own error
        return error.returncode
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


def take_json_flag(argv: list[str]) -> tuple[list[str], bool]:
    """`argv` without `--json`, and whether it was there (it is no field of the dataclasses the parser reads)."""
    return [argument for argument in argv if argument != "--json"], "--json" in argv


def run(argv: list[str]) -> int:
    """`hf-unlearn unlearn ARGV`: parse (config file, then command line), hand off to `accelerate launch` when a
    launch option is given, else run and print the summary."""
    argv, as_json = take_json_flag(argv)
    parser = make_parser()
    if "--help-all" in argv:
        print(parser.format_full_help())
        return 0
    training_args, model_args, data_args, config_remaining, cli_remaining = parser.parse_args_and_config(
        argv, return_remaining_strings=True, separate_remaining_strings=True
    )
    # The command line's unknown keys were refused while parsing it (`check_unknown`); the config file's are here.
    if os.environ.get(LAUNCHED_ENV) != "1":  # under our own hand-off the launch options are already spent
        launch_args = split_launch_args(config_remaining + cli_remaining)
        if launch_args:
            return launch(launch_args, _subtract(argv, cli_remaining))
    record = unlearn(training_args, model_args, data_args, learning_rate_given=option_given(argv, "learning_rate"))
    print_run_summary(record, training_args.output_dir, as_json)
    return 0


def option_given(argv: list[str], name: str) -> bool:
    """Whether the command line (`--name VALUE`, `--name=VALUE`) or the YAML file of `--config` sets `name`."""
    if any(argument == f"--{name}" or argument.startswith(f"--{name}=") for argument in argv):
        return True
    import yaml

    for index, argument in enumerate(argv):
        path = argv[index + 1] if argument == "--config" and index + 1 < len(argv) else None
        path = argument.removeprefix("--config=") if argument.startswith("--config=") else path
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as file:
                config = yaml.safe_load(file)
            if isinstance(config, dict) and name in config:
                return True
    return False


def print_run_summary(record: dict[str, Any], output_dir: str, as_json: bool = False) -> None:
    """A training command's answer on stdout: the headline scores before -> after with the direction of good, a
    verdict line, and where the files are; with `as_json` (`--json`), one JSON object instead: where the model went,
    every score before and after, and the eval sets it sampled."""
    from ..hub import RECORD_FILE

    output_dir = os.path.abspath(output_dir)
    if as_json:
        output = {"output_dir": output_dir, **record["metrics"]}
        if "default_eval_sets" in record:
            output["default_eval_sets"] = record["default_eval_sets"]
        print(json.dumps(output, indent=2))
        return
    metrics = record["metrics"]
    lines = score_table(metrics.get("after") or {}, metrics.get("before") or {})
    print("\n".join(lines or ["No scores: this run had no eval sets (eval_datasets, default_eval_rows)."]))
    sampled = {name: value for name, value in record.get("default_eval_sets", {}).items() if "seed" in value}
    if sampled:
        rows = ", ".join(f"{name} {value['rows']} of {value['of']} rows" for name, value in sampled.items())
        print(f"Scored on a sample drawn with seed {next(iter(sampled.values()))['seed']}: {rows}.")
    summary = os.path.join(output_dir, "evaluation", "summary.json")
    files = [os.path.join(output_dir, RECORD_FILE), *([summary] if os.path.isfile(summary) else [])]
    print(f"Saved to {output_dir}; every score in {' and '.join(files)} (--json prints them).")

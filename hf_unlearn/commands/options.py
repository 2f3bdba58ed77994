"""Options shared by the commands that score or attack a saved model (`eval`, `audit`), declared once.

`unlearn` and `task-vector` take their model options from TRL's `ModelConfig` (`model_name_or_path`, `dtype`,
LoRA, 4/8-bit loading) and their data from [`UnlearningDataConfig`](unlearn.py): those names are the keys of every
YAML config users have, so they stay. Every option is `--field_name`, with `--field-name` as an alias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..utils import DEFAULT_QA_PROMPT_TEMPLATE, SPEC_HELP


DTYPES = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass
class ModelOptions:
    """The model to load ([`hf_unlearn.models.load_model`]) and how."""

    model: str = field(
        default=None,
        metadata={
            "help": "the model: a folder, a Hub id or a PEFT adapter folder (audit: the unlearned model; required)",
            "metavar": "PATH_OR_HUB_ID",
            "required": True,
        },
    )
    tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "tokenizer, with a chat template for chat rows (default: the first model or adapter folder "
            "holding one, else the base model's)",
            "metavar": "PATH_OR_HUB_ID",
        },
    )
    dtype: DTYPES = field(default="auto", metadata={"help": "model dtype"})
    device: str | None = field(
        default=None, metadata={"help": "device to run on (default: cuda when available, else cpu)"}
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "allow model / tokenizer code from the model repository to run (off by default)"},
    )


@dataclass
class SetOptions:
    """The forget and retain sets, each a SPEC."""

    forget: str | None = field(default=None, metadata={"help": f"forget set: {SPEC_HELP}", "metavar": "SPEC"})
    retain: str | None = field(
        default=None,
        metadata={
            "help": "retain set (eval: retain scores; audit: unrelated relearning data, few-shot examples): "
            f"{SPEC_HELP}",
            "metavar": "SPEC",
        },
    )


@dataclass
class ScoringOptions:
    """How sequences are scored and generated, and where the results go."""

    output_dir: Path = field(
        default=None, metadata={"help": "where the results go (required)", "metavar": "DIR", "required": True}
    )
    batch_size: int = field(default=16, metadata={"help": "sequences per teacher-forced forward pass (default: 16)"})
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "most tokens generated per answer (default: per set, its longest reference answer + 32 tokens or "
            "half of it, at most 256)"
        },
    )
    max_length: int = field(default=512, metadata={"help": "truncation length of scored sequences (default: 512)"})
    qa_prompt_template: str = field(
        default=DEFAULT_QA_PROMPT_TEMPLATE,
        metadata={
            "help": f"prompt of question/answer rows; use the training run's (default: {DEFAULT_QA_PROMPT_TEMPLATE!r})"
        },
    )
    repo_id: str | None = field(
        default=None,
        metadata={
            "help": "with lm_eval_record_in_model (eval) or record_in_model (audit): the Hub repository the "
            "regenerated card's loading snippet names",
            "metavar": "USER/NAME",
        },
    )

    def __post_init__(self):
        if self.output_dir is not None:
            self.output_dir = Path(self.output_dir)


SHARED_OPTIONS = (ModelOptions, SetOptions, ScoringOptions)
"""The dataclasses `eval` and `audit` both parse (each adds its own after them)."""

"""`hf-unlearn demo`: the options of the offline demo; what it does is `hf_unlearn.demo.cli.run_demo`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .parser import CommandParser


PROG = "hf-unlearn demo"


@dataclass
class DemoOptions:
    """The demo's options (`method` and `size` choices are set from the demo's registries when the parser is built)."""

    output_dir: str = field(
        default="outputs/demo",
        metadata={"help": "where the data, models (the unlearned one in runs/METHOD), report and plot go"},
    )
    method: str = field(default="npo", metadata={"help": "unlearning method (default: npo)"})
    lora: bool = field(default=False, metadata={"help": "unlearn with a LoRA adapter"})
    steps: int | None = field(default=None, metadata={"help": "unlearning steps (default: 60)"})
    seed: int = field(default=0, metadata={"help": "seed of the data, the models and the run"})
    size: str = field(default="default", metadata={"help": "'tiny' is for smoke tests"})
    audit: bool = field(
        default=True,
        metadata={
            "help": "run the robustness audit (relearning, quantization, paraphrase, few-shot, prompt attacks, logit "
            "lens) on the unlearned, original and retain models; writes audit.json / audit.png and adds a "
            "Robustness section to the unlearned model's card (default: on, --no_audit turns it off; about 35 s "
            "on 2 free cores)"
        },
    )


def make_parser() -> CommandParser:
    """The parser of `hf-unlearn demo` (plain data: building it imports no model code)."""
    from ..demo import cli as demo
    from ..demo.methods import METHODS

    parser = CommandParser(
        (DemoOptions,), prog=PROG, description=demo.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_choices("method", sorted(METHODS))
    parser.set_choices("size", sorted(demo.SIZES))
    return parser


def run(argv: list[str]) -> int:
    """`hf-unlearn demo ARGV`."""
    from ..demo.cli import run_demo

    return run_demo(make_parser().parse_namespace(argv))

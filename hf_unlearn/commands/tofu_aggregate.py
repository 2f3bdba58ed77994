"""`hf-unlearn tofu-aggregate`: TOFU model utility and forget quality from two TOFU-format log files."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..metrics.tofu import load_tofu_log, tofu_aggregate
from .parser import CommandParser


PROG = "hf-unlearn tofu-aggregate"


@dataclass
class TofuAggregateOptions:
    """The retain model's log; the scored model's log is the positional `LOGS.json`."""

    retain_logs: Path = field(
        default=None,
        metadata={
            "help": "TOFU-format log of the retain model (never trained on the forget set), on the same forget set",
            "metavar": "RETAIN_LOGS.json",
            "required": True,
        },
    )


def make_parser() -> CommandParser:
    """The parser of `hf-unlearn tofu-aggregate LOGS.json --retain_logs RETAIN_LOGS.json`."""
    parser = CommandParser(
        (TofuAggregateOptions,),
        prog=PROG,
        description=(
            "Reads two TOFU-format eval logs (JSON objects holding eval_log.json, eval_log_forget.json, "
            "eval_real_author_wo_options.json, eval_real_world_wo_options.json) and prints one JSON object with "
            "model_utility, forget_quality and the per-set scores, computed as TOFU does "
            "(Maini et al. 2024, https://arxiv.org/abs/2401.06121)."
        ),
    )
    # A positional is no dataclass field (HfArgumentParser makes options only): it comes back in a namespace.
    parser.add_argument(
        "logs", type=Path, metavar="LOGS.json", help="TOFU-format log of the model to score (e.g. the unlearned model)"
    )
    return parser


def run(argv: list[str]) -> int:
    """`hf-unlearn tofu-aggregate ARGV`."""
    return run_tofu_aggregate(make_parser().parse_namespace(argv))


def run_tofu_aggregate(args: argparse.Namespace) -> int:
    """Runs `tofu-aggregate` on parsed arguments; prints one JSON object to stdout.

    Args:
        args (`argparse.Namespace`):
            With `logs` and `retain_logs`, the paths of the two TOFU-format log files.

    Returns:
        `int`: exit code, 0 on success. A missing or malformed file raises `OSError` / `ValueError` (see
        `hf_unlearn.commands`).
    """
    result = tofu_aggregate(load_tofu_log(args.logs), load_tofu_log(args.retain_logs))
    print(json.dumps(result, indent=2))
    return 0

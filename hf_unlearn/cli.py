"""The `hf-unlearn` command."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .demo.cli import add_demo_command
from .eval_cli import add_eval_command
from .metrics.cli import add_tofu_aggregate_command
from .unlearn_cli import add_unlearn_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-unlearn", description="Machine unlearning for causal language models on the Hugging Face stack."
    )
    parser.add_argument("--version", action="version", version=f"hf_unlearn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_command(commands)
    add_unlearn_command(commands)
    add_eval_command(commands)
    add_tofu_aggregate_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

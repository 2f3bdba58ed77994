"""`hf-unlearn tofu-aggregate`: TOFU model utility and forget quality from two TOFU-format log files."""

import argparse
import json
from pathlib import Path

from .tofu import load_tofu_log, tofu_aggregate


def run_tofu_aggregate(args: argparse.Namespace) -> int:
    """Runs `tofu-aggregate` on parsed arguments; prints one JSON object to stdout.

    Args:
        args (`argparse.Namespace`):
            With `logs` and `retain_logs`, the paths of the two TOFU-format log files.

    Returns:
        `int`: exit code, 0 on success. A missing or malformed file raises `OSError` / `ValueError`, which
        `hf-unlearn`'s `main` prints as one line with exit code 2.
    """
    result = tofu_aggregate(load_tofu_log(args.logs), load_tofu_log(args.retain_logs))
    print(json.dumps(result, indent=2))
    return 0


def add_tofu_aggregate_command(subparsers) -> argparse.ArgumentParser:
    """Registers the `tofu-aggregate` subcommand on an `argparse` subparsers object.

    Usage: `hf-unlearn tofu-aggregate LOGS.json --retain-logs RETAIN_LOGS.json`. The parsed namespace
    carries `func`, a callable taking it and returning the exit code.

    Args:
        subparsers (`argparse._SubParsersAction`):
            The object returned by `ArgumentParser.add_subparsers()`.

    Returns:
        `argparse.ArgumentParser`: the subcommand's parser.
    """
    parser = subparsers.add_parser(
        "tofu-aggregate",
        help="TOFU model utility and forget quality from TOFU-format eval logs",
        description=(
            "Reads two TOFU-format eval logs (JSON objects holding eval_log.json, eval_log_forget.json, "
            "eval_real_author_wo_options.json, eval_real_world_wo_options.json) and prints one JSON object with "
            "model_utility, forget_quality and the per-set scores, computed as TOFU does "
            "(Maini et al. 2024, https://arxiv.org/abs/2401.06121)."
        ),
    )
    parser.add_argument(
        "logs", type=Path, metavar="LOGS.json", help="TOFU-format log of the model to score (e.g. the unlearned model)"
    )
    parser.add_argument(
        "--retain-logs",
        type=Path,
        required=True,
        metavar="RETAIN_LOGS.json",
        help="TOFU-format log of the retain model (never trained on the forget set), on the same forget set",
    )
    parser.set_defaults(func=run_tofu_aggregate)
    return parser

"""The `hf-unlearn` command.

Mistakes in what the user gave (a bad value in the config, a missing or empty file, columns the trainer cannot read)
are raised by our own checks as `ValueError` or `OSError` (`FileNotFoundError`, ...), and by PyYAML as `YAMLError`
for a malformed config. `main` prints them as one message and returns exit code 2; `--debug` (anywhere on the command
line) or `HF_UNLEARN_DEBUG=1` shows the traceback instead. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .audit_cli import add_audit_command
from .demo.cli import add_demo_command
from .eval_cli import add_eval_command
from .metrics.cli import add_tofu_aggregate_command
from .task_vector_cli import add_task_vector_command
from .unlearn_cli import add_unlearn_command


DEBUG_ENV = "HF_UNLEARN_DEBUG"
"""Environment variable: `1` shows the traceback of a user error, as `--debug` does; launched processes inherit it."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse without prefix matching: a mistyped `--forget_los` is an error, never taken for `--forget_loss`.

    The subcommands' parsers are of this class too (argparse builds them with the parent's class).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="hf-unlearn", description="Machine unlearning for causal language models on the Hugging Face stack."
    )
    parser.add_argument("--version", action="version", version=f"hf_unlearn {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an error (also: {DEBUG_ENV}=1); any position"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_demo_command(commands)
    add_unlearn_command(commands)
    add_task_vector_command(commands)
    add_eval_command(commands)
    add_tofu_aggregate_command(commands)
    add_audit_command(commands)
    return parser


def _take_debug_flag(argv: list[str]) -> tuple[list[str], bool]:
    """`argv` without our `--debug` switches, and whether there was one.

    `--debug` may follow the subcommand. `unlearn` also has `TrainingArguments`' `--debug OPTION ...`; a `--debug`
    followed by one of its options stays theirs (a bare one is an error there, so it is unambiguous).
    """
    if "--debug" not in argv:
        return argv, False
    kept, debug = [], False
    for index, argument in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else None
        if argument == "--debug" and following not in _transformers_debug_options(following):
            debug = True
        else:
            kept.append(argument)
    return kept, debug


def _transformers_debug_options(following: str | None) -> set[str]:
    """`TrainingArguments`' `--debug` values, when `following` could be one (transformers is imported only then)."""
    if following is None or following.startswith("-"):
        return set()
    from transformers.debug_utils import DebugOption

    return {option.value for option in DebugOption}


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception types `main` reports as user errors (one message, exit code 2)."""
    import yaml

    return (ValueError, OSError, yaml.YAMLError)


def main(argv: list[str] | None = None) -> int:
    argv, debug = _take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    debug = debug or args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if debug:
        previous = os.environ.get(DEBUG_ENV)
        os.environ[DEBUG_ENV] = "1"  # processes launched through accelerate show their tracebacks too
        try:
            return args.func(args)
        finally:  # in-process callers of `main` keep their environment
            if previous is None:
                del os.environ[DEBUG_ENV]
            else:
                os.environ[DEBUG_ENV] = previous
    try:
        return args.func(args)
    except user_error_types() as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"hf-unlearn {args.command}: error: {message}", file=sys.stderr)
        print(f"(run with --debug or {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

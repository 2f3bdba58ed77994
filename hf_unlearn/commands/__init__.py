"""The `hf-unlearn` command: one module per subcommand, one parser stack, one error policy.

Every subcommand parses its options with [`CommandParser`](parser.py) (TRL's `TrlParser`, i.e. transformers'
`HfArgumentParser` over dataclasses of options: `--field_name` with `--field-name` as an alias, and `--config
FILE.yaml` for any of them). This module is only the dispatcher: it reads `--version`, `--debug` and the command's
name, and hands the rest of the command line to the command's module, imported then (so that `hf-unlearn --help`
imports no command, and one command's help none of the training stack of another).

Error policy, for every command: mistakes in what the user gave (a bad value in the config, a missing or empty
file, columns the trainer cannot read, an optional extra that is not installed) are raised as `ValueError` or
`OSError` (`FileNotFoundError`, ...), and by PyYAML as `YAMLError` for a malformed config. [`main`] prints them as
one message and returns exit code 2; `--debug` (anywhere on the command line) or `HF_UNLEARN_DEBUG=1` shows the
traceback instead. Any other exception is a bug and keeps its traceback. An option the parser refuses (unknown,
malformed, missing) is two lines on stderr and exit code 2, from [`CommandParser.error`].
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NamedTuple

from .. import __version__


DEBUG_ENV = "HF_UNLEARN_DEBUG"
"""Environment variable: `1` shows the traceback of a user error, as `--debug` does; launched processes inherit it."""


class Command(NamedTuple):
    """A subcommand: the module that parses and runs it (its `run(argv) -> int`), and its `hf-unlearn --help` line."""

    module: str
    help: str


COMMANDS = {
    "demo": Command("demo", "unlearning end to end on generated data, offline, in minutes"),
    "unlearn": Command("unlearn", "run unlearning from a YAML config (+ overrides)"),
    "task-vector": Command(
        "task_vector", "task-vector negation: fine-tune on the forget set, subtract the scaled change"
    ),
    "distill": Command(
        "distill", "distillation after unlearning (UNDO): noise the unlearned model's weights, distill it back"
    ),
    "eval": Command("eval", "score a model or adapter on forget / retain sets; write a TOFU-format log and a summary"),
    "tofu-aggregate": Command("tofu_aggregate", "TOFU model utility and forget quality from TOFU-format eval logs"),
    "audit": Command(
        "audit", "attack an unlearned model (relearning, quantization, paraphrase, few-shot, prompts, logit lens)"
    ),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse without prefix matching: a mistyped `--vers` is an error, never taken for `--version`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})


def build_parser() -> argparse.ArgumentParser:
    """The dispatcher: `--version`, `--debug` and the command, whose own arguments are passed through untouched."""
    parser = ArgumentParser(
        prog="hf-unlearn", description="Machine unlearning for causal language models on the Hugging Face stack."
    )
    parser.add_argument("--version", action="version", version=f"hf_unlearn {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an error (also: {DEBUG_ENV}=1); any position"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        # `prefix_chars="\0"`: every argument after the command's name is the command's, options included.
        subparser = commands.add_parser(name, help=command.help, add_help=False, prefix_chars="\0")
        subparser.add_argument("arguments", nargs=argparse.REMAINDER)
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


def run_command(name: str, argv: list[str]) -> int:
    """Runs the command `name` on its own arguments `argv` (exceptions propagate: see [`main`])."""
    module = importlib.import_module(f"{__name__}.{COMMANDS[name].module}")
    return module.run(argv)


def main(argv: list[str] | None = None) -> int:
    """`hf-unlearn [--debug] COMMAND ...`: runs the command; returns its exit code (2 for a user error)."""
    argv, debug = _take_debug_flag(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    debug = debug or args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if debug:
        previous = os.environ.get(DEBUG_ENV)
        os.environ[DEBUG_ENV] = "1"  # processes launched through accelerate show their tracebacks too
        try:
            return run_command(args.command, args.arguments)
        finally:  # in-process callers of `main` keep their environment
            if previous is None:
                del os.environ[DEBUG_ENV]
            else:
                os.environ[DEBUG_ENV] = previous
    try:
        return run_command(args.command, args.arguments)
    except user_error_types() as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"hf-unlearn {args.command}: error: {message}", file=sys.stderr)
        print(f"(run with --debug or {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 2

"""The one parser of every `hf-unlearn` command: TRL's `TrlParser` (transformers' `HfArgumentParser`) over
dataclasses of options.

What it adds to `TrlParser`, and why:

- no prefix matching (`--forget_los` is an error, never taken for `--forget_loss`);
- errors in two lines (the message and where the help is) instead of argparse's whole usage first;
- unknown options reported before the dataclasses are built (their own checks would hide a mistyped option), with
  the closest known option;
- a short `--help` for the commands over `TrainingArguments` (`unlearn`, `task-vector`): argparse's formatter over
  the options a run uses, each with the first sentence of its help; `--help-all` is argparse's help of every field.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import difflib
import re
import shutil
import sys

from trl import TrlParser


def one_line(text: str | None) -> str:
    """The first sentence of a help text, on one line (a clause before a semicolon can be a fragment, as in "RMU:
    regular expressions; ...")."""
    text = " ".join((text or "").split())
    return re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s", text, maxsplit=1)[0]


def _formatter(prog: str) -> argparse.HelpFormatter:
    width = max(80, min(shutil.get_terminal_size((100, 24)).columns, 119))
    return argparse.HelpFormatter(prog, max_help_position=38, width=width)


def _short_metavar(action: argparse.Action) -> str:
    """A value's placeholder in the short help, from its type (argparse's default repeats the option's name)."""
    if action.nargs == "?" and action.const is True:  # HfArgumentParser's booleans: `--use_peft [BOOL]`
        return "BOOL"
    return {int: "N", float: "X"}.get(action.type, "VALUE")


class CommandParser(TrlParser):
    """`TrlParser` as every command uses it (see the module's docstring).

    Args:
        dataclass_types (`tuple[type, ...]`):
            The dataclasses of options.
        prog (`str`):
            `hf-unlearn COMMAND`, named in errors.
        **kwargs:
            Passed to `argparse.ArgumentParser` (`description`, `usage`, ...).
    """

    def __init__(self, dataclass_types, prog: str, **kwargs):
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(dataclass_types, prog=prog, allow_abbrev=False, **kwargs)

    # ---- options -------------------------------------------------------------------------------------------------

    def require(self, *names: str) -> None:
        """Marks the options `names` (optional fields shared with another command) as required here."""
        for action in self._actions:
            if action.dest in names and action.option_strings:
                action.required = True

    def set_choices(self, name: str, choices) -> None:
        """Restricts the option `name` to `choices` (known only when the parser is built, e.g. a registry's keys)."""
        for action in self._actions:
            if action.dest == name and action.option_strings:
                action.choices = list(choices)

    def known_options(self) -> list[str]:
        return [option for action in self._actions for option in action.option_strings]

    def did_you_mean(self, unknown: list[str]) -> str:
        """' Did you mean --x?' for the unknown options close to a known one, else ''."""
        known = [option for option in self.known_options() if "_" in option or "-" not in option[2:]]
        options = [option.split("=", 1)[0] for option in unknown if option.startswith("--")]
        close = [match for option in options for match in difflib.get_close_matches(option, known, 1)]
        return f" Did you mean {', '.join(close)}?" if close else ""

    def check_unknown(self, remaining: list[str]) -> None:
        """Refuses the arguments no option took (a command that takes more, e.g. launch options, overrides it)."""
        if remaining:
            self.error(f"unrecognized arguments: {' '.join(remaining)}.{self.did_you_mean(remaining)}")

    # ---- parsing -------------------------------------------------------------------------------------------------

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings=False, **kwargs):
        # Options nobody knows are reported before the dataclasses are built: their own checks (a missing
        # forget_dataset) would otherwise hide a mistyped `--forget_los`.
        if return_remaining_strings:
            _, remaining = super().parse_known_args(args)
            self.check_unknown(remaining)
        return super().parse_args_into_dataclasses(
            args=args, return_remaining_strings=return_remaining_strings, **kwargs
        )

    def parse_command(self, argv: list[str]) -> tuple:
        """The dataclasses of `argv` (with `--config FILE.yaml` read first), and the config file's unknown keys.

        Returns:
            `tuple`: one instance per dataclass type (plus a `Namespace` of options added by hand, if any), then
            the list of the config file's keys that no option took.
        """
        *parsed, config_remaining, _ = self.parse_args_and_config(
            argv, return_remaining_strings=True, separate_remaining_strings=True
        )
        return (*parsed, config_remaining)

    def parse_namespace(self, argv: list[str]) -> argparse.Namespace:
        """Every option of `argv` in one namespace (after each dataclass's own checks); the config file's unknown keys
        are refused."""
        *parsed, config_remaining = self.parse_command(argv)
        if config_remaining:
            raise ValueError(
                f"Unknown key(s) in the config file: {config_remaining[::2]}; not an option of {self.prog}."
                f"{self.did_you_mean(config_remaining[::2])}"
            )
        namespace = argparse.Namespace()
        for item in parsed:
            values = vars(item) if isinstance(item, argparse.Namespace) else dataclasses.asdict(item)
            # `asdict` copies; the instance's own attributes keep what `__post_init__` made of them
            values = {key: getattr(item, key) for key in values}
            for key, value in values.items():
                setattr(namespace, key, value)
        return namespace

    def error(self, message: str):
        # argparse prints the whole usage (about 150 lines for `unlearn`) before the error: one line and a pointer.
        more = " (or --help-all for every option)" if self.help_sections() is not None else ""
        sys.stderr.write(f"{self.prog}: error: {message}\nSee `{self.prog} --help`{more}.\n")
        sys.exit(2)

    # ---- help ----------------------------------------------------------------------------------------------------

    def help_sections(self) -> list[tuple[str, dict[str, str | None]]] | None:
        """The short help's sections: a title, and the options shown under it with a short help (`None`: the first
        sentence of the field's own). `None` (the default): `--help` is argparse's help of every option."""
        return None

    def help_epilog(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """More sections of the short help, of options that are no field: `(title, [(flag and metavar, help)])`."""
        return []

    def format_full_help(self) -> str:
        """argparse's help: every field of the dataclasses with its full help text."""
        return super().format_help()

    def format_help(self) -> str:
        sections = self.help_sections()
        if sections is None:
            return super().format_help()
        actions = {}
        for action in self._actions:  # a boolean's `--field`, not its `--no_field` complement
            actions.setdefault(action.dest, action)
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, [], [])
        formatter.add_text(self.description)
        shown = set()
        for title, options in sections:
            formatter.start_section(title)
            for dest, short_help in options.items():
                shown.add(dest)
                action = copy.copy(actions[dest])
                action.option_strings = action.option_strings[:1]  # the underscore spelling; dashes work too
                if action.metavar is None and not action.choices:  # `--lora_r N`, not `--lora_r LORA_R`
                    action.metavar = _short_metavar(action)
                text = short_help or one_line(action.help).replace("%%", "%")
                if action.default not in (None, False, "", [], argparse.SUPPRESS) and dest != "output_dir":
                    text += f" (default: {action.default!r})"
                action.help = text.replace("%", "%%")
                formatter.add_argument(action)
            formatter.end_section()
        hidden = sum(1 for action in self._actions if action.option_strings and action.dest not in shown) - 1
        for title, options in [
            *self.help_epilog(),
            (
                "Other options",
                [
                    ("-h, --help", "Show this help and exit."),
                    ("--help-all", f"Show every option ({hidden} more, with their full help); exit."),
                    ("--json", "Print every score before and after as one JSON object, not the table."),
                ],
            ),
        ]:
            formatter.start_section(title)
            for flag, text in options:
                *aliases, last = flag.split(", ")
                option, _, metavar = last.partition(" ")
                pseudo = argparse.Action(
                    [*aliases, option], dest=option, nargs=None if metavar else 0, metavar=metavar or None
                )
                pseudo.help = text.replace("%", "%%")
                formatter.add_argument(pseudo)
            formatter.end_section()
        formatter.add_text(
            "A mistake in the data, the config or a path prints one message and exits with code 2; add --debug (or "
            "set HF_UNLEARN_DEBUG=1) for the traceback."
        )
        return formatter.format_help()

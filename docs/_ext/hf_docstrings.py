"""Griffe extension: read the library's Hugging Face style docstrings as Google-style ones.

`hf_unlearn` writes its docstrings the way transformers and TRL do:

    Args:
        name (`str` or [`~transformers.PreTrainedModel`], *optional*, defaults to `"x"`):
            Description that mentions [`UnlearningConfig`] or [`~transformers.Trainer`].

    Returns:
        `tuple[torch.Tensor, dict]`: description.

Griffe's Google parser splits an item at its first colon and tries to compile the type as a Python expression, so
such items come out mangled (a default such as `"Question: {question}"` cuts the name in two) or with backticks and
asterisks shown verbatim. Before any docstring is parsed, this extension rewrites, in the docstring text only:

- item headers of parameter-like sections to `name (type):`, with the type as an expression (`A | B`, no
  backticks, brackets or `~`); `*optional*` and `defaults to ...` are dropped because the rendered parameter list
  takes the default from the signature, and `of shape (...)` moves to the start of the description. An item that
  documents several parameters at once (`callbacks, optimizers, **kwargs:`) becomes one item per parameter, so
  that griffe can check every documented name against the signature (`warn_unknown_params`);
- the leading type of `Returns:` / `Yields:` sections the same way, and backticks around exception names in
  `Raises:` / `Warns:`;
- `[`name`]` / `[`~module.name`]` cross-references to an `<autoref ... optional>` element: a link where the object
  is documented on the site, plain code otherwise (no warning either way). Short names are resolved to the
  package's own objects by name.

The source files are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe


PARAMETER_SECTIONS = {
    "args",
    "arguments",
    "params",
    "parameters",
    "attributes",
    "keyword args",
    "keyword arguments",
    "other parameters",
}
RETURN_SECTIONS = {"returns", "return", "yields", "yield"}
EXCEPTION_SECTIONS = {"raises", "raise", "warns", "warn"}
KNOWN_SECTIONS = (
    PARAMETER_SECTIONS
    | RETURN_SECTIONS
    | EXCEPTION_SECTIONS
    | {
        "example",
        "examples",
        "note",
        "notes",
        "warning",
        "warnings",
        "see also",
    }
)

_SECTION = re.compile(r"^(?P<indent>\s*)(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
_ITEM = re.compile(r"^(?P<names>[\w*][\w*, ]*?)\s+\((?P<type>.*)\):\s*(?P<rest>.*)$")
_UNTYPED_ITEM = re.compile(r"^(?P<names>[\w*]+(?:,\s*[\w*]+)+):\s*(?P<rest>.*)$")
_REFERENCE = re.compile(r"\[`(?P<tilde>~?)(?P<path>[A-Za-z_][\w.]*)`\](?![(\[])")


def _split_top_level(text: str, separators: tuple[str, ...]) -> list[str]:
    """Split `text` at any of `separators` that is outside brackets and parentheses."""
    parts, depth, start, index = [], 0, 0, 0
    while index < len(text):
        char = text[index]
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0:
            for separator in separators:
                if text.startswith(separator, index):
                    parts.append(text[start:index])
                    index += len(separator)
                    start = index
                    break
            else:
                index += 1
                continue
            continue
        index += 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def clean_type(phrase: str) -> tuple[str, str]:
    """An HF type phrase as a Python-like annotation, and a note for the description (shape), possibly empty."""
    phrase = re.split(r",\s*\*optional\*|,\s*defaults to\b|,\s*\*required\*", phrase, maxsplit=1)[0]
    phrase = re.sub(r"\[`~?([^`]+)`\]", r"\1", phrase).replace("`", "").strip()
    note = ""
    shape = re.search(r"\s+of shape\s+(.+)$", phrase)
    if shape:
        note = f"Shape `{shape.group(1).strip()}`. "
        phrase = phrase[: shape.start()]
    alternatives = _split_top_level(phrase, (", ", " or "))
    return " | ".join(alternatives).replace(":", " "), note


def _leading_type(line: str) -> tuple[str, str] | None:
    """Split `type: description` at the first colon outside backticks; `None` when there is no such colon."""
    in_code = False
    for index, char in enumerate(line):
        if char == "`":
            in_code = not in_code
        elif char == ":" and not in_code and (index + 1 == len(line) or line[index + 1] == " "):
            return line[:index], line[index + 1 :].lstrip()
    return None


def rewrite_sections(text: str) -> str:
    """Rewrite item headers of the sections of one docstring (see the module docstring)."""
    lines = text.split("\n")
    section, section_indent, item_indent, returns_done = None, 0, None, False
    split_items = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        heading = _SECTION.match(line)
        if heading and heading.group("title").lower() in KNOWN_SECTIONS:
            section, section_indent, item_indent = heading.group("title").lower(), indent, None
            returns_done = False
            continue
        if section is None or not stripped:
            continue
        if indent <= section_indent:
            section = None
            continue
        if item_indent is None:
            item_indent = indent
        if indent != item_indent:
            continue  # a continuation line
        prefix = line[:indent]
        if section in PARAMETER_SECTIONS:
            match = _ITEM.match(stripped) or _UNTYPED_ITEM.match(stripped)
            if match:
                names = [name.strip() for name in match.group("names").split(",") if name.strip()]
                annotation, note = clean_type(match.group("type")) if match.groupdict().get("type") else ("", "")
                typed = f" ({annotation})" if annotation else ""
                rest = match.group("rest")
                lines[number] = f"{prefix}{names[0]}{typed}: {note}{rest}".rstrip()
                if len(names) > 1:
                    # `a, b, **kwargs:` documents several parameters at once: one item each, same description.
                    split_items.append((number, names, prefix, typed, f"{note}{rest}".rstrip(), item_indent))
        elif section in RETURN_SECTIONS and not returns_done:
            returns_done = True  # HF style: one returned value, its type first
            split = _leading_type(stripped)
            if split and split[0].startswith(("`", "[`")):
                annotation, note = clean_type(split[0])
                lines[number] = f"{prefix}{annotation}: {note}{split[1]}".rstrip()
        elif section in EXCEPTION_SECTIONS:
            match = re.match(r"^`([\w.]+)`:(.*)$", stripped)
            if match:
                lines[number] = f"{prefix}{match.group(1)}:{match.group(2)}"
    for number, names, prefix, typed, first, indent in reversed(split_items):
        end = number + 1
        while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
            end += 1
        while end > number + 1 and not lines[end - 1].strip():
            end -= 1
        body = lines[number + 1 : end]
        lines[number:end] = [line for name in names for line in [f"{prefix}{name}{typed}: {first}".rstrip(), *body]]
    return "\n".join(lines)


class HFDocstrings(griffe.Extension):
    """See the module docstring."""

    def __init__(self, package: str = "hf_unlearn") -> None:
        self.package = package

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != self.package:
            return
        objects = list(_walk(pkg))
        by_name: dict[str, set[str]] = {}
        for obj in objects:
            if not obj.name.startswith("_") and (obj.is_class or obj.is_function or obj.is_attribute):
                by_name.setdefault(obj.name, set()).add(obj.path)
        self.short_names = {name: paths.pop() for name, paths in by_name.items() if len(paths) == 1}
        for obj in objects:
            if obj.docstring is not None:
                obj.docstring.value = self.rewrite(obj.docstring.value)

    def resolve(self, path: str) -> str:
        """The identifier the site knows `path` by: a canonical path inside the package, else `path` as written."""
        head, _, tail = path.partition(".")
        if head == self.package:
            return path
        if head in self.short_names:
            return self.short_names[head] + (f".{tail}" if tail else "")
        return path

    def rewrite(self, text: str) -> str:
        text = rewrite_sections(text)

        def link(match: re.Match) -> str:
            path = match.group("path")
            shown = path.rsplit(".", 1)[-1] if match.group("tilde") else path
            return f'<autoref identifier="{self.resolve(path)}" optional><code>{shown}</code></autoref>'

        return _REFERENCE.sub(link, text)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)

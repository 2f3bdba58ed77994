"""Load a dataset from a one-string SPEC, as the command line and YAML configs give it."""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from ..utils import SPEC_HELP


FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}
"""Suffix of a local data file -> the `datasets` builder that reads it."""


def load_dataset_spec(spec: str, option: str = "dataset") -> datasets.Dataset:
    """Load the rows a SPEC names (see `SPEC_HELP`).

    Args:
        spec (`str`):
            A local data file, or `PATH_OR_HUB_ID[:CONFIG[:SPLIT]]`.
        option (`str`, *optional*, defaults to `"dataset"`):
            The parameter it was given as (a field or config key, e.g. `forget_dataset`), named in error messages.

    Raises:
        `ValueError`: naming the option, the spec, why it failed, and the accepted forms; "the forget file is empty"
            (named after the option) for a file or split without rows.
        `FileNotFoundError`: a data file (by its suffix) that does not exist.
        `ValueError`: a malformed local file, naming its line and the parser's reason (never the line's text, which
            may be forget-set data).
    """
    path = Path(spec)
    # "forget_dataset" / "forget" / "eval_datasets.forget" -> "the forget file is empty"
    what = option.removesuffix("_dataset").removeprefix("eval_datasets.")
    empty = ValueError(
        f"{option} {spec!r}: the {what} {'file' if path.is_file() else 'set'} is empty; it needs at least one row."
    )
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ValueError(
                f"{option} {spec!r}: a file ending in {path.suffix!r} cannot be read; accepted: {SPEC_HELP}."
            )
        if path.stat().st_size < 4096 and not path.read_bytes().strip():  # `datasets` fails with a bare StopIteration
            raise empty
        arguments, keywords = (builder,), {"data_files": str(path), "split": "train"}
    elif path.suffix.lower() in FILE_BUILDERS and ":" not in spec:
        raise FileNotFoundError(f"{option} {spec!r}: no such file.")
    else:
        parts = spec.split(":", 2)  # at most three parts: a sliced split such as train[:80] keeps its colon
        if not parts[0] or (len(parts) == 3 and not parts[2]):
            raise ValueError(f"{option} {spec!r} is not a valid dataset spec; accepted: {SPEC_HELP}.")
        name, config, split = (parts + [None, None])[:3]
        arguments, keywords = (name, config or None), {"split": split or "train"}
    try:
        dataset = datasets.load_dataset(*arguments, **keywords)
    except Exception as error:  # noqa: BLE001 - load_dataset raises many types; all mean "this spec does not load"
        if path.is_file() and "corresponds to no data" in str(error):  # e.g. a CSV file with a header and no row
            raise empty from None
        if path.is_file():  # a readable type whose content is broken: say where and why, not which types exist
            raise ValueError(f"{option} {spec!r} {_where_the_file_breaks(path, error)}") from None
        raise ValueError(
            f"{option} {spec!r} could not be loaded ({type(error).__name__}: {error}). Accepted: {SPEC_HELP}."
        ) from error
    if len(dataset) == 0:
        raise empty
    return dataset


def _where_the_file_breaks(path: Path, error: Exception) -> str:
    """The line and the parser's reason why a local data file did not load, e.g. "line 3, column 17: Expecting ','
    delimiter.". Only positions and parser messages, never the row's text: a forget set may be private."""
    # `datasets` wraps the parser's error in a DatasetGenerationError without its position: JSON is re-read here to
    # find the first bad line; for CSV and Parquet the parser's own message already has it (pandas counts the header
    # as line 1, as an editor does).
    reason = error.__cause__ or error
    if path.suffix.lower() in (".json", ".jsonl"):
        text = path.read_bytes().decode("utf-8", errors="replace")  # `datasets` reads stray bytes, too
        lines = text.split("\n")
        numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
        first_bad = None
        for number, line in numbered:
            try:
                json.loads(line)
            except json.JSONDecodeError as bad:
                first_bad = number, bad
                break
        if first_bad is not None:
            try:
                json.loads(text)  # one (pretty-printed) JSON document spread over lines: its syntax is fine
            except json.JSONDecodeError as whole:
                # JSON Lines when the file says so or its first line is a whole value; else one document whose
                # first broken place the whole-text parser names
                if path.suffix.lower() == ".jsonl" or first_bad[0] != numbered[0][0]:
                    number, bad = first_bad
                    return f"line {number}, column {bad.colno}: {bad.msg}; each line must be one JSON object."
                return f"line {whole.lineno}, column {whole.colno}: {whole.msg}."
    message = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return f"could not be read as rows: {message}."

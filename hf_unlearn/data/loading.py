"""Load a dataset from a one-string SPEC, as the command line and YAML configs give it."""

from __future__ import annotations

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
            The option or config key it was given to, named in error messages.

    Raises:
        `ValueError`: naming the option, the spec, why it failed, and the accepted forms; "the forget file is empty"
            (named after the option) for a file or split without rows.
        `FileNotFoundError`: a data file (by its suffix) that does not exist.
    """
    path = Path(spec)
    # "forget_dataset" / "--forget" / "eval_datasets.forget" -> "the forget file is empty"
    what = option.lstrip("-").removesuffix("_dataset").removeprefix("eval_datasets.")
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
        raise ValueError(
            f"{option} {spec!r} could not be loaded ({type(error).__name__}: {error}). Accepted: {SPEC_HELP}."
        ) from error
    if len(dataset) == 0:
        raise empty
    return dataset

"""Small shared helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it: readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so `os.replace` is an atomic rename), process-unique name, permissions from the umask.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """`write_text_atomic` of indented JSON. Non-finite numbers are refused (`allow_nan=False`): undefined values
    must be written as `null`, so that the file is standard JSON."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False))

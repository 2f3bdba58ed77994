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


def resolve_dtype(dtype: Any) -> Any:
    """A `torch.dtype` from its name (`"bfloat16"`, `"float32"`, ...), as configs and command lines give it.

    `"auto"`, `None` and `torch.dtype` objects are returned unchanged (`from_pretrained` accepts them as they are).

    Raises:
        `ValueError`: when the name is not a floating-point torch dtype.
    """
    import torch

    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(
            f"dtype={dtype!r} is not a floating-point torch dtype; accepted: 'auto', 'float32', 'bfloat16', "
            "'float16' (or another torch floating-point dtype name)."
        )
    return resolved

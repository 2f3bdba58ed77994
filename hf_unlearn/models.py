"""Loading a causal LM to score or attack: a model folder or Hub id, a PEFT adapter folder on its base model, or a
base model with an adapter on top; and the tokenizer that goes with it. The one loader of `hf-unlearn eval`,
`hf-unlearn audit`, the audit's [`~hf_unlearn.evaluation.audit.load_model`] and the demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_folder(path: str | os.PathLike | None) -> bool:
    """Whether `path` is a local PEFT adapter folder (it holds `adapter_config.json`)."""
    return path is not None and (Path(path) / ADAPTER_CONFIG).is_file()


def has_tokenizer(path: str | os.PathLike | None) -> bool:
    """Whether `path` is a local folder holding a tokenizer."""
    return path is not None and any(
        (Path(path) / name).is_file() for name in ("tokenizer_config.json", "tokenizer.json")
    )


def adapter_base(path: str | os.PathLike) -> str:
    """The base model an adapter folder names (`base_model_name_or_path` in its `adapter_config.json`)."""
    from peft import PeftConfig

    return PeftConfig.from_pretrained(str(path)).base_model_name_or_path


def tokenizer_source(
    *paths: str | os.PathLike | None, tokenizer: str | None = None, fallback: str | None = None
) -> str:
    """Where the tokenizer of the models `paths` is read from.

    Args:
        *paths (`str` or `os.PathLike`):
            The models, in order of preference (`None` entries are skipped).
        tokenizer (`str`, *optional*):
            A tokenizer given explicitly; it wins.
        fallback (`str`, *optional*):
            Used when no folder of `paths` holds a tokenizer; by default the base model of the first path when it is
            an adapter folder, else the first path itself (a Hub id holds its own tokenizer).
    """
    if tokenizer:
        return tokenizer
    given = [path for path in paths if path]
    found = next((str(path) for path in given if has_tokenizer(path)), None)
    if found:
        return found
    if fallback:
        return fallback
    return adapter_base(given[0]) if is_adapter_folder(given[0]) else str(given[0])


def resolve_device(device: str | None) -> str:
    """`device` as given, else `cuda` when a GPU is present, else `cpu`."""
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_model(path: str | os.PathLike, adapter: str | os.PathLike | None = None, name: str = "model", **kwargs: Any):
    """A causal LM in eval mode: a model folder or Hub id, a PEFT adapter folder on its base model, or the model
    `path` with the adapter folder `adapter` loaded on top.

    Args:
        path (`str` or `os.PathLike`):
            Model folder / Hub id, or adapter folder (it holds `adapter_config.json`).
        adapter (`str` or `os.PathLike`, *optional*):
            An adapter folder to load on the model `path` (which must then not be an adapter folder itself).
        name (`str`, *optional*, defaults to `"model"`):
            The parameter `path` was given as, named in error messages (`original`, `retain_model`, ...); the
            adapter is named `adapter`.
        **kwargs:
            Passed to `from_pretrained` (`dtype`, `trust_remote_code`, ...).

    Raises:
        ValueError: `adapter` is no adapter folder, or `path` is one while `adapter` is given; an adapter folder
            whose base model cannot be loaded (naming the path it tried); a model that cannot be loaded.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from .reference import peft_checkpointing_alias_quiet

    path = str(path)
    if adapter is not None:
        if not is_adapter_folder(adapter):
            raise ValueError(f"adapter {str(adapter)!r} is not a PEFT adapter folder (it has no {ADAPTER_CONFIG}).")
        if is_adapter_folder(path):
            raise ValueError(f"{name} {path!r} is itself an adapter folder; give its base model as {name}.")
        base, adapter_path = path, str(adapter)
    elif is_adapter_folder(path):
        base, adapter_path = adapter_base(path), path
    else:
        base, adapter_path = path, None
    try:
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except (OSError, ValueError) as error:
        if adapter_path is not None and adapter is None:
            raise ValueError(
                f"{name} {path!r} is a PEFT adapter folder whose base model {base!r} (base_model_name_or_path "
                f"in its {ADAPTER_CONFIG}) could not be loaded: {error}"
            ) from error
        raise ValueError(f"{name} {base!r} could not be loaded as a causal LM: {error}") from error
    if adapter_path is not None:
        with peft_checkpointing_alias_quiet():
            model = PeftModel.from_pretrained(model, adapter_path)
    return model.eval()

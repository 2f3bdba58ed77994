"""Reaching a model's decoder layers through the wrappers around it (PEFT, DDP, DeepSpeed, FSDP)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):  # DDP, DeepSpeed engines
        model = model.module
    if hasattr(model, "get_base_model"):  # PEFT
        model = model.get_base_model()
    return model


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's stack of decoder layers (`model.model.layers` for llama-style models, `transformer.h` for GPT-2).

    Raises:
        ValueError: when the model has no recognisable layer stack.
    """
    base = _unwrap(model)
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else base
    for holder in (decoder, base, getattr(base, "transformer", None)):
        for name in ("layers", "h", "blocks"):
            layers = getattr(holder, name, None)
            if isinstance(layers, torch.nn.ModuleList):
                return layers
    raise ValueError(
        f"Could not find the decoder layers of {type(base).__name__} (looked for a ModuleList named layers, h or "
        "blocks under its decoder); objectives that read hidden states need them."
    )


@contextlib.contextmanager
def capture_layer_output(model: torch.nn.Module, layer: int | None, store: dict) -> Iterator[None]:
    """Inside the block, each forward of `model` puts the output of decoder layer `layer` in `store["hidden"]`.

    Does nothing when `layer` is None. The hook is removed on exit, also after an error.
    """
    if layer is None:
        yield
        return

    def keep(module, args, output):
        store["hidden"] = output[0] if isinstance(output, tuple) else output

    handle = decoder_layers(model)[layer].register_forward_hook(keep)
    try:
        yield
    finally:
        handle.remove()

"""Pad forget and retain batches side by side."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..logprobs import IGNORE_INDEX


def pad_sequences(
    tensors: list[torch.Tensor],
    padding_value: int | float = 0,
    padding_side: str = "right",
    pad_to_multiple_of: int | None = None,
) -> torch.Tensor:
    """Stack 1-D tensors of different lengths into one `(batch, length)` tensor.

    Args:
        tensors (`list[torch.Tensor]`):
            One 1-D tensor per example, all of one dtype.
        padding_value (`int` or `float`, *optional*, defaults to `0`):
            Value of the padded positions.
        padding_side (`str`, *optional*, defaults to `"right"`):
            `"right"` (training, scoring) or `"left"` (prompts for generation).
        pad_to_multiple_of (`int`, *optional*):
            Round `length` up to a multiple of this.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
    length = max(tensor.size(0) for tensor in tensors)
    if pad_to_multiple_of:
        length += -length % pad_to_multiple_of
    batch = tensors[0].new_full((len(tensors), length), padding_value)
    for row, tensor in enumerate(tensors):
        if padding_side == "right":
            batch[row, : tensor.size(0)] = tensor
        else:
            batch[row, length - tensor.size(0) :] = tensor
    return batch


@dataclass
class UnlearningCollator:
    """Collate prefixed examples (`forget_input_ids`, `retain_labels`, ...) into padded tensors.

    For every prefix `p` that has `p + "input_ids"`, yields `p + "input_ids"` (right-padded with `pad_token_id`),
    `p + "attention_mask"` and `p + "labels"` (padded with -100), plus `p + "ref_logps"` when the examples carry
    precomputed reference log-probs.

    Args:
        pad_token_id (`int`):
            Id used to pad `input_ids`.
        pad_to_multiple_of (`int`, *optional*):
            Round padded lengths up to a multiple of this (tensor-core friendly shapes).
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        prefixes = [key.removesuffix("input_ids") for key in examples[0] if key.endswith("input_ids")]
        batch = {}
        for prefix in prefixes:
            input_ids = [torch.tensor(example[prefix + "input_ids"]) for example in examples]
            labels = [torch.tensor(example[prefix + "labels"]) for example in examples]
            batch[prefix + "input_ids"] = self._pad(input_ids, self.pad_token_id)
            batch[prefix + "attention_mask"] = self._pad([torch.ones_like(ids) for ids in input_ids], 0)
            batch[prefix + "labels"] = self._pad(labels, IGNORE_INDEX)
            if prefix + "ref_logps" in examples[0]:
                batch[prefix + "ref_logps"] = torch.tensor(
                    [example[prefix + "ref_logps"] for example in examples], dtype=torch.float32
                )
        return batch

    def _pad(self, tensors: list[torch.Tensor], value: int) -> torch.Tensor:
        return pad_sequences(tensors, value, pad_to_multiple_of=self.pad_to_multiple_of)

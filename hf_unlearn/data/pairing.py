"""Pair each forget row with a retain row, cycling through the retain set across epochs."""

from __future__ import annotations

from functools import lru_cache

import datasets
import numpy as np
import torch


class ForgetRetainDataset(torch.utils.data.Dataset):
    """One item per forget row, with a retain row attached.

    An epoch is one pass over the forget set. Retain rows are taken in a seeded random order, continuing across
    epochs, so that every retain row is used once before any is used twice. The retain row of forget row `i` in epoch
    `e` depends only on `(i, e, seed)`: batch size, gradient accumulation, the number of processes and resuming from
    a checkpoint do not change the pairs. The Trainer calls `set_epoch` (through accelerate's data loader).

    Item keys are the prepared columns with a `forget_` / `retain_` prefix, as TRL prefixes `chosen_` / `rejected_`.

    Args:
        forget (`datasets.Dataset`):
            Prepared forget set (`input_ids`, `labels`, optionally `ref_logps`).
        retain (`datasets.Dataset`, *optional*):
            Prepared retain set; `None` when the objective has no retain term.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the retain order.
    """

    def __init__(self, forget: datasets.Dataset, retain: datasets.Dataset | None = None, seed: int = 0):
        self.forget = forget
        self.retain = retain
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.forget)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @lru_cache(maxsize=4)
    def _retain_order(self, cycle: int) -> np.ndarray:
        return np.random.default_rng([self.seed, cycle]).permutation(len(self.retain))

    def retain_index(self, forget_index: int) -> int:
        """Index of the retain row paired with `forget_index` in the current epoch."""
        cycle, offset = divmod(self.epoch * len(self.forget) + forget_index, len(self.retain))
        return int(self._retain_order(cycle)[offset])

    def __getitem__(self, index: int) -> dict:
        item = {f"forget_{key}": value for key, value in self.forget[index].items()}
        if self.retain is not None:
            retain_row = self.retain[self.retain_index(index)]
            item.update({f"retain_{key}": value for key, value in retain_row.items()})
        return item

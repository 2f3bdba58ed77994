"""Pair each forget row with a retain row, cycling through the retain set across epochs."""

from __future__ import annotations

import datasets
import numpy as np
import torch
from transformers import TrainerCallback


class ForgetRetainDataset(torch.utils.data.Dataset):
    """One item per forget row, with a retain row attached.

    An epoch is one pass over the forget set. Retain rows are taken in a seeded random order, continuing across
    epochs, so that every retain row is used once before any is used twice. The retain row of forget row `i` in epoch
    `e` depends only on `(i, e, seed)`: batch size, gradient accumulation, the number of processes and resuming from
    a checkpoint do not change the pairs. [`RetainPairingCallback`] calls `set_epoch` at the start of every epoch.

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
        self._retain_orders: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.forget)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _retain_order(self, cycle: int) -> np.ndarray:
        # One seeded permutation of the retain rows per cycle, drawn once (kept on the instance, not a global cache).
        if cycle not in self._retain_orders:
            self._retain_orders[cycle] = np.random.default_rng([self.seed, cycle]).permutation(len(self.retain))
        return self._retain_orders[cycle]

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


class RetainPairingCallback(TrainerCallback):
    """Move a [`ForgetRetainDataset`] to the epoch the Trainer is about to run, so that retain pairs change per epoch.

    Uses the public callback event rather than the data loader: accelerate forwards `set_epoch` to the dataset only
    when the sampler has no `set_epoch` of its own (multi-process runs and the loader that skips batches on resume
    do have one), and a skipped call would silently pair every epoch like epoch 0.

    At `on_epoch_begin` the state holds the epochs completed so far: `0` at the start, a whole number between
    epochs, and the fraction reached when resuming in the middle of an epoch; its integer part is the epoch to run.

    Args:
        dataset (`ForgetRetainDataset`):
            The trainer's training dataset.
    """

    def __init__(self, dataset: ForgetRetainDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        # `state.epoch` is `epoch + steps / steps_in_epoch`, exact at epoch ends; the margin guards float rounding.
        self.dataset.set_epoch(int((state.epoch or 0.0) + 1e-6))

"""Pair each forget row with a retain row, cycling through the retain set across epochs."""

from __future__ import annotations

import datasets
import numpy as np
import torch


def retain_role(name: str | None) -> str:
    """Role (column prefix) of a retain set: `retain` for the single set, `retain.NAME` for a named one."""
    return "retain" if name is None else f"retain.{name}"


class ForgetRetainDataset(torch.utils.data.Dataset):
    """One item per forget row, with a row of each retain set attached.

    An epoch is one pass over the forget set. Each retain set's rows are taken in its own seeded random order,
    continuing across epochs, so that every row of a set is used once before any is used twice. The retain row of
    forget row `i` in epoch `e` depends only on `(i, e, seed)` and the set: batch size, gradient accumulation, the
    number of processes and resuming from a checkpoint do not change the pairs.
    [`~hf_unlearn.callbacks.RetainPairingCallback`] calls `set_epoch` at the start of every epoch.

    Item keys are the prepared columns with a `forget_` / `retain_` prefix, as TRL prefixes `chosen_` / `rejected_`;
    rows of named retain sets get `retain.NAME_`.

    Args:
        forget (`datasets.Dataset`):
            Prepared forget set (`input_ids`, `labels`, optionally `ref_logps`).
        retain (`datasets.Dataset` or `dict[str, datasets.Dataset]`, *optional*):
            Prepared retain set, or several named ones, each cycled independently; `None` when the objective has no
            retain term.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the retain orders.
    """

    def __init__(
        self,
        forget: datasets.Dataset,
        retain: datasets.Dataset | dict[str, datasets.Dataset] | None = None,
        seed: int = 0,
    ):
        self.forget = forget
        self.retain = retain
        self.seed = seed
        self.epoch = 0
        self._retain_orders: dict[tuple, np.ndarray] = {}

    @property
    def retain_sets(self) -> dict[str, datasets.Dataset]:
        """Role -> prepared retain set (empty without a retain set)."""
        if self.retain is None:
            return {}
        if isinstance(self.retain, dict):
            return {retain_role(name): dataset for name, dataset in self.retain.items()}
        return {retain_role(None): self.retain}

    def __len__(self) -> int:
        return len(self.forget)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _retain_order(self, role: str, cycle: int) -> np.ndarray:
        # One seeded permutation of a set's rows per cycle, drawn once (kept on the instance, not a global cache).
        # The single set keeps the seed sequence it has always had, so its pairs do not change.
        key = (role, cycle)
        if key not in self._retain_orders:
            roles = list(self.retain_sets)
            entropy = [self.seed, cycle] if role == retain_role(None) else [self.seed, roles.index(role) + 1, cycle]
            self._retain_orders[key] = np.random.default_rng(entropy).permutation(len(self.retain_sets[role]))
        return self._retain_orders[key]

    def retain_index(self, forget_index: int, role: str = "retain") -> int:
        """Index of the row of retain set `role` paired with `forget_index` in the current epoch."""
        cycle, offset = divmod(self.epoch * len(self.forget) + forget_index, len(self.retain_sets[role]))
        return int(self._retain_order(role, cycle)[offset])

    def __getitem__(self, index: int) -> dict:
        item = {f"forget_{key}": value for key, value in self.forget[index].items()}
        for role, dataset in self.retain_sets.items():
            retain_row = dataset[self.retain_index(index, role)]
            item.update({f"{role}_{key}": value for key, value in retain_row.items()})
        return item

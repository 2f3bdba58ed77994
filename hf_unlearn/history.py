"""Sequential unlearning: the chain of unlearning requests a model has been through (MUSE's C6, sustainability).

A request is one unlearning run with its own forget set. When the model of a run is loaded from a folder that holds
an `unlearning_record.json` (the output of an earlier run), the run continues that model's history: its record keeps
the earlier requests and adds its own, so that a model card shows every request the model went through, in order.

Each request is kept as numbers only: the forget set's row count and SHA-256 (as in the record), the SHA-256 of each
of its rows (sorted, so row order reveals nothing), the method, the optimizer steps and the scores after the run.
The row digests let a later request tell which rows it shares with earlier ones: a forget set that overlaps an earlier
one is allowed (a user may ask again), and reported as overlap in the record and on the card.

What row digests allow: anyone holding a candidate row can check whether it was in a request, as anyone holding a
whole set can already check it against the set's SHA-256. No text can be read back from them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers.utils import logging

from .data.formatting import as_dataset, row_digests
from .record import RECORD_FILE


logger = logging.get_logger(__name__)


def read_previous_record(model_source: str | os.PathLike | None) -> dict[str, Any] | None:
    """The unlearning record of the folder a model was loaded from, or `None` (a Hub id, or a folder without one).

    Args:
        model_source (`str` or `os.PathLike` or `None`):
            The path the model was loaded from (`model.config._name_or_path`), or a Hub id.

    Raises:
        ValueError: the folder has an `unlearning_record.json` that is not a JSON object with a forget set.
    """
    if model_source is None or not os.path.isdir(model_source):
        return None
    path = Path(model_source) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); remove it or restore it from the earlier run."
        ) from None
    if not isinstance(record, dict) or not isinstance(record.get("forget_set"), dict):
        raise ValueError(
            f"{path} is not an unlearning record (no `forget_set`); remove it or restore it from the earlier run."
        )
    return record


def _entry_from_record(record: dict[str, Any], index: int) -> dict[str, Any]:
    """A request entry for a record written before request chains existed (no row digests)."""
    return {
        "request": index,
        "model_name": record.get("model_name"),
        "forget_set": {key: record["forget_set"].get(key) for key in ("rows", "sha256")},
        "row_sha256": None,
        "method": record.get("method"),
        "global_step": (record.get("training") or {}).get("global_step"),
        "scores": dict((record.get("metrics") or {}).get("after") or {}),
        "overlap": [],
    }


@dataclass
class RequestChain:
    """The earlier requests of the model being unlearned, and how this run's forget set overlaps them.

    Built by [`RequestChain.start`] when the trainer is constructed (overlap is reported then, before any training),
    turned into the record's `requests` list by [`RequestChain.requests`].

    Args:
        previous (`list[dict]`):
            The earlier requests, oldest first (empty for a first request).
        row_sha256 (`list[str]`):
            Sorted SHA-256 of each row of this run's forget set.
        overlap (`list[dict]`):
            Per earlier request that shares rows with this one: `request` (its number), `rows` (shared rows, `None`
            when the earlier record has no row digests) and `same_set` (identical fingerprints).
        base_model (`str`, *optional*):
            The Hub id of the first model of the chain, when an earlier record names one.
    """

    previous: list[dict[str, Any]] = field(default_factory=list)
    row_sha256: list[str] = field(default_factory=list)
    overlap: list[dict[str, Any]] = field(default_factory=list)
    base_model: str | None = None

    @classmethod
    def start(cls, model_source: str | None, forget_data: Any, forget_fingerprint: dict[str, Any]) -> RequestChain:
        """Reads the earlier requests of the model at `model_source`, and compares this forget set with theirs.

        Args:
            model_source (`str`, *optional*):
                The path the model was loaded from (or a Hub id: no earlier requests are read).
            forget_data (`datasets.Dataset`, `list[dict]` or `dict[str, list]`):
                This run's forget set, raw.
            forget_fingerprint (`dict`):
                Its `content_fingerprint` (row count, SHA-256, the hashed columns).
        """
        digests = sorted(row_digests(as_dataset(forget_data, "forget"), forget_fingerprint["columns"]))
        record = read_previous_record(model_source)
        if record is None:
            return cls(row_sha256=digests)
        previous = [dict(entry) for entry in record.get("requests") or [_entry_from_record(record, 1)]]
        mine = set(digests)
        overlap = []
        for entry in previous:
            same_set = entry["forget_set"].get("sha256") == forget_fingerprint["sha256"]
            shared = None if entry.get("row_sha256") is None else len(mine & set(entry["row_sha256"]))
            if same_set or shared:
                overlap.append(
                    {"request": entry["request"], "rows": len(mine) if same_set else shared, "same_set": same_set}
                )
        if overlap:
            described = ", ".join(
                f"request {item['request']} ("
                + ("the same set" if item["same_set"] else f"{item['rows']} of {len(mine)} rows")
                + ")"
                for item in overlap
            )
            logger.warning(
                f"This forget set overlaps earlier unlearning requests of the model at {model_source}: {described}. "
                "Unlearning it again is allowed; the record reports the overlap."
            )
        return cls(previous=previous, row_sha256=digests, overlap=overlap, base_model=record.get("base_model"))

    @classmethod
    def continued(cls, record: dict[str, Any] | None) -> RequestChain:
        """The chain of a step that unlearns no new rows (distillation after unlearning): the earlier requests of
        `record` (the model's unlearning record, or `None` for a model without one), no row digests, no overlap."""
        if record is None:
            return cls()
        previous = [dict(entry) for entry in record.get("requests") or [_entry_from_record(record, 1)]]
        return cls(previous=previous, base_model=record.get("base_model"))

    def requests(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The record's `requests`: the earlier ones, then this run's, built from its `record` (numbers only)."""
        current = {
            "request": len(self.previous) + 1,
            "model_name": record["model_name"],
            "forget_set": {key: record["forget_set"][key] for key in ("rows", "sha256")},
            "row_sha256": list(self.row_sha256),
            "method": record["method"],
            "global_step": record["training"]["global_step"],
            "scores": dict(record["metrics"]["after"]),
            "overlap": [dict(item) for item in self.overlap],
        }
        return [*self.previous, current]

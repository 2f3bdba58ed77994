"""The unlearning record: what a run did, written as `unlearning_record.json` beside the weights and rendered into the
model card. One type, built by one function for every trainer (the unlearning trainers and task-vector negation), so
that the card, the audit, lm-eval and a later request of the chain read the same keys whoever wrote them.

The record says what was forgotten by fingerprint (row count + SHA-256 of the normalised rows), never by content.
"""

from __future__ import annotations

import enum
import importlib.metadata
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from .history import RequestChain


RECORD_FILE = "unlearning_record.json"
LIBRARIES = ("hf_unlearn", "transformers", "trl", "peft", "accelerate", "datasets", "torch")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries an unlearning run depends on."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def peft_hyperparameters(model: Any) -> dict[str, Any]:
    """The active adapter's settings (`peft_type`, `peft_r`, `peft_lora_alpha`, ...) as JSON values (`peft_type` as
    `"LORA"`); `{}` for a plain model."""
    from peft import PeftModel

    if not isinstance(model, PeftModel):
        return {}
    peft_config = model.peft_config[model.active_adapter]
    hyperparameters = {}
    for name in ("peft_type", "r", "lora_alpha", "lora_dropout", "target_modules"):
        value = getattr(peft_config, name, None)
        if isinstance(value, enum.Enum):  # PeftType.LORA -> "LORA", as adapter_config.json writes it
            value = value.value
        if isinstance(value, (set, list, tuple)):
            value = sorted(value)
        elif value is not None and not isinstance(value, (int, float)):
            value = str(value)
        hyperparameters[name if name.startswith("peft_") else f"peft_{name}"] = value
    return hyperparameters


@dataclass
class UnlearningRecord:
    r"""
    What one unlearning run did: the JSON object of `unlearning_record.json`, key for key.

    Parameters:
        model_name (`str`):
            The saved model's name (the output folder's, unless given).
        adapter (`bool`):
            Whether the saved weights are a PEFT adapter.
        method (`dict`):
            `trainer`, `forget_loss`, `retain_loss`, `forget_weight`, `retain_weight`, `reference`; a method that is
            no weighted objective (task-vector negation) adds `objective` and `summary`, the card's sentences.
        hyperparameters (`dict`):
            The run's settings (learning rate, steps, the objective's hyperparameters, adapter settings, ...).
        forget_set (`dict`):
            The forget set's fingerprint: `rows`, `sha256`, `columns`.
        training (`dict`):
            `global_step` and `epoch` at the end of the run.
        metrics (`dict`):
            `{"before": {...}, "after": {...}}`: the scores before and after unlearning.
        library_versions (`dict`):
            Installed versions of the libraries the run used.
        base_model (`str`, *optional*):
            The Hub id of the model the chain of requests started from; `None` for a model from a local folder.
        tags (`list[str]`, *optional*, defaults to `[]`):
            The card's extra tags.
        retain_set (`dict`, *optional*):
            The retain set's fingerprint, or `{name: fingerprint}` for named retain sets; `None` without one.
        requests (`list[dict]`, *optional*):
            Every unlearning request of the model, this one last (see [`~hf_unlearn.history.RequestChain`]);
            `None` in records written before request chains existed.
        extra (`dict`, *optional*, defaults to `{}`):
            Sections added after the run (`robustness` by the audit, `lm_eval` by lm-eval) and any key a newer
            version wrote, kept as they are so that reading and writing a record back loses nothing.
    """

    model_name: str
    adapter: bool
    method: dict[str, Any]
    hyperparameters: dict[str, Any]
    forget_set: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    library_versions: dict[str, str]
    base_model: str | None = None
    tags: list[str] = field(default_factory=list)
    retain_set: dict[str, Any] | None = None
    requests: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    REQUIRED = (
        "model_name",
        "adapter",
        "method",
        "hyperparameters",
        "forget_set",
        "training",
        "metrics",
        "library_versions",
    )
    # The order of the keys in the JSON file (the order records have always been written in).
    KEYS = (
        "model_name",
        "base_model",
        "adapter",
        "tags",
        "method",
        "hyperparameters",
        "forget_set",
        "retain_set",
        "training",
        "metrics",
        "library_versions",
        "requests",
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in the order of `unlearning_record.json`; `requests` left out when `None` (an older
        record read back), then the `extra` sections."""
        data = {key: getattr(self, key) for key in self.KEYS}
        if data["requests"] is None:
            del data["requests"]
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnlearningRecord:
        """A record from its JSON object (as `to_dict` writes it, or an older version did).

        Raises:
            `ValueError`: `data` is not a JSON object, or lacks a key every record has.
        """
        if not isinstance(data, dict):
            raise ValueError(f"An unlearning record is a JSON object, got {type(data).__name__}.")
        names = {f.name for f in fields(cls)} - {"extra"}
        missing = [name for name in cls.REQUIRED if name not in data]
        if missing:
            raise ValueError(f"This unlearning record lacks {missing}; a record has the keys {list(cls.KEYS)}.")
        known = {key: value for key, value in data.items() if key in names}
        return cls(**known, extra={key: value for key, value in data.items() if key not in names})

    @classmethod
    def coerce(cls, record: UnlearningRecord | dict[str, Any]) -> UnlearningRecord:
        """`record` itself, or read from its JSON object."""
        return record if isinstance(record, cls) else cls.from_dict(record)


def score_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The scores among `evaluate()` metrics: no timings, no epoch."""
    return {
        key: value
        for key, value in metrics.items()
        if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second", "_preparation_time"))
    }


def metrics_from_log_history(log_history: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Eval metrics logged at step 0 (before) and at the last evaluated step (after), from `state.log_history`: the
    record's scores when nothing scored the model for the card."""
    by_step: dict[int, dict[str, float]] = {}
    for entry in log_history:
        by_step.setdefault(entry.get("step", 0), {}).update(score_metrics(entry))
    by_step = {step: metrics for step, metrics in by_step.items() if metrics}
    if not by_step:
        return {"before": {}, "after": {}}
    last = max(by_step)
    return {"before": by_step.get(0, {}) if last > 0 else {}, "after": by_step[last]}


def training_hyperparameters(args: Any, num_processes: int) -> dict[str, Any]:
    """The optimisation settings every record starts its hyperparameters with."""
    return {
        "learning_rate": args.learning_rate,
        "num_train_epochs": args.num_train_epochs,
        "max_steps": args.max_steps,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "num_processes": num_processes,
    }


def build_record(
    trainer: Any,
    *,
    method: dict[str, Any],
    hyperparameters: dict[str, Any],
    forget_set: dict[str, Any],
    retain_set: dict[str, Any] | None,
    metrics: dict[str, dict[str, float]],
    request_chain: RequestChain | None,
    model_name: str | None = None,
    tags: list[str] | None = None,
) -> UnlearningRecord:
    """The record of `trainer`'s run: what is the same for every method (name, base model, adapter, training state,
    library versions, the request chain) taken from the trainer, the rest given by the method.

    Args:
        trainer ([`~transformers.Trainer`]):
            The run's trainer (its `args.output_dir`, `model`, `state` and `base_model_id` are read).
        method (`dict`), hyperparameters (`dict`), forget_set (`dict`), retain_set (`dict`, *optional*):
            As in [`UnlearningRecord`]; adapter settings are added to `hyperparameters`.
        metrics (`dict`):
            `{"before": ..., "after": ...}`.
        request_chain ([`~hf_unlearn.history.RequestChain`], *optional*):
            The model's earlier requests; this run becomes the last of them.
        model_name (`str`, *optional*):
            Defaults to the name of `output_dir`.
        tags (`list[str]`, *optional*):
            Extra tags for the card.
    """
    from peft import PeftModel

    base_model = trainer.base_model_id or (request_chain.base_model if request_chain is not None else None)
    record = UnlearningRecord(
        model_name=model_name or os.path.basename(os.path.abspath(trainer.args.output_dir)),
        base_model=base_model,
        adapter=isinstance(trainer.model, PeftModel),
        tags=sorted(set(tags or [])),
        method=method,
        hyperparameters={**hyperparameters, **peft_hyperparameters(trainer.model)},
        forget_set=forget_set,
        retain_set=retain_set,
        training={"global_step": trainer.state.global_step, "epoch": trainer.state.epoch},
        metrics={"before": dict(metrics["before"]), "after": dict(metrics["after"])},
        library_versions=library_versions(),
    )
    if request_chain is not None:
        # Every request this model went through, this one last (fingerprints, methods and scores; no text).
        record.requests = request_chain.requests(record.to_dict())
    return record


def load_record(model_dir: str | os.PathLike, what: str = "a score") -> dict[str, Any]:
    """The unlearning record saved in `model_dir`, as its JSON object (checked to be a record).

    Args:
        model_dir (`str` or `os.PathLike`):
            Folder of an unlearned model saved with its card and `unlearning_record.json`.
        what (`str`, *optional*, defaults to `"a score"`):
            What the caller is about to record, for the error message.

    Raises:
        ValueError: the folder has no `unlearning_record.json` (it was not saved by an unlearning run), or the file
            is not a record.
    """
    record_path = Path(model_dir) / RECORD_FILE
    if not record_path.is_file():
        raise ValueError(
            f"{str(model_dir)!r} has no {RECORD_FILE}: {what} is recorded only in the folder of an unlearned model "
            "saved by hf_unlearn (UnlearningTrainer.save_model, then create_model_card)."
        )
    data = json.loads(record_path.read_text(encoding="utf-8"))
    try:
        return UnlearningRecord.from_dict(data).to_dict()
    except ValueError as error:
        raise ValueError(f"{record_path}: {error}") from None

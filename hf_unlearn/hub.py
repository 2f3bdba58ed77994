"""Model cards with an unlearning record, written by us (TRL's card would drop `library_name: peft` and a local
`base_model`).

The record says what was forgotten by fingerprint (row count + SHA-256 of the normalised rows), never by content:
no forget-set text, no generation on it and no access token ever reaches a card.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from .utils import write_json_atomic, write_text_atomic


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


def _table(rows: dict[str, Any]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return "\n".join(lines)


def _metrics_table(before: dict[str, float], after: dict[str, float]) -> str:
    names = sorted(set(before) | set(after))
    if not names:
        return "No evaluation was recorded for this run."
    lines = ["| metric | before | after |", "|---|---|---|"]
    for name in names:
        cells = [f"{metrics[name]:.4g}" if name in metrics else "-" for metrics in (before, after)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def render_model_card(record: dict[str, Any], repo_id: str | None = None) -> ModelCard:
    """A model card whose metadata and body carry `record` (see `UnlearningTrainer.unlearning_record`).

    Args:
        record (`dict`):
            The unlearning record.
        repo_id (`str`, *optional*):
            Where the model is (or will be) on the Hub, for the loading snippet; defaults to the output folder name.
    """
    is_adapter = record["adapter"]
    method = record["method"]
    card_data = ModelCardData(
        library_name="peft" if is_adapter else "transformers",
        base_model=record.get("base_model"),
        tags=sorted({"unlearning", "hf_unlearn", method["forget_loss"], *record.get("tags", [])}),
        pipeline_tag="text-generation",
    )
    repo_id = repo_id or record["model_name"]
    if is_adapter:
        load = (
            "from peft import AutoPeftModelForCausalLM\n\n"
            f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_id}")  # base model + this adapter'
        )
    else:
        load = f'from transformers import AutoModelForCausalLM\n\nmodel = AutoModelForCausalLM.from_pretrained("{repo_id}")'
    forget, retain = record["forget_set"], record.get("retain_set")
    summary = {
        "trainer": method["trainer"],
        "objective": f"`{method['forget_weight']} * {method['forget_loss']} + {method['retain_weight']} * "
        f"{method['retain_loss']}`",
        "reference": method["reference"] or "none",
        "forget set": f"{forget['rows']} rows, SHA-256 `{forget['sha256']}`",
        "retain set": f"{retain['rows']} rows, SHA-256 `{retain['sha256']}`" if retain else "none",
        "steps": record["training"]["global_step"],
    }
    hyperparameters = {key: value for key, value in record["hyperparameters"].items() if value is not None}
    body = f"""
# {record["model_name"]}

This {"LoRA adapter" if is_adapter else "model"} is `{record.get("base_model") or "the base model"}` after machine
unlearning with `hf_unlearn`: it was trained away from a *forget set* while held on a *retain
set*. The sets are identified below by row count and an order-independent SHA-256 of their normalised rows; their
content is not part of this card.

## Unlearning record

{_table(summary)}

### Hyperparameters

{_table(hyperparameters)}

### Metrics

{_metrics_table(record["metrics"]["before"], record["metrics"]["after"])}

### Library versions

{_table(record["library_versions"])}

The same record is in `{RECORD_FILE}` next to the weights.

## How to load

```python
{load}
```
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


def save_card_and_record(record: dict[str, Any], output_dir: str, repo_id: str | None = None) -> None:
    """Write `README.md` (the card) and `unlearning_record.json` into `output_dir`."""
    write_text_atomic(os.path.join(output_dir, "README.md"), str(render_model_card(record, repo_id)))
    write_json_atomic(os.path.join(output_dir, RECORD_FILE), record)

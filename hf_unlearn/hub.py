"""Model cards with an unlearning record, written by us (TRL's card would drop `library_name: peft` and a local
`base_model`).

The record says what was forgotten by fingerprint (row count + SHA-256 of the normalised rows), never by content:
no forget-set text, no generation on it and no access token ever reaches a card.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers.utils import logging

from .record import (  # noqa: F401 - `load_record`, `library_versions`, `peft_hyperparameters` re-exported here
    RECORD_FILE,
    UnlearningRecord,
    library_versions,
    load_record,
    peft_hyperparameters,
    score_metrics,
)
from .utils import atomic_folder, can_only_be_a_path, write_json_atomic, write_text_atomic


logger = logging.get_logger(__name__)

HEADLINE_METRICS = (
    # (set or None, metric, label, which way is better): the scores a reader of the card looks for first
    ("forget", "rougeL_recall", "Forget set: ROUGE-L recall of greedy answers", "lower"),
    ("forget", "probability", "Forget set: probability of the answer", "lower"),
    ("forget", "nll", "Forget set: NLL per answer token", "higher"),
    (None, "forget_quality", "Forget quality (KS test against a retain model)", "higher"),
    ("retain", "rougeL_recall", "Retain set: ROUGE-L recall of greedy answers", "higher"),
    ("retain", "probability", "Retain set: probability of the answer", "higher"),
    ("retain", "nll", "Retain set: NLL per answer token", "lower"),
    (None, "model_utility", "Model utility (TOFU)", "higher"),
)
"""The card's results table; every metric (with trainer eval losses and per-role statistics) stays in the record."""

REPO_PLACEHOLDER = "<your-username>/<model-name>"
REFERENCES = {
    "adapter": "the starting model (the adapter disabled)",
    "model": "a frozen copy of the starting model",
    None: "none (the objective needs none)",
}


def _table(rows: dict[str, Any]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows.items()]
    return "\n".join(lines)


def _lookup(metrics: dict[str, float], set_name: str | None, metric: str) -> float | None:
    """A headline score under any of the names it is logged with (`eval_forget_nll`, `eval_forget_nll/forget`)."""
    names = (
        [f"eval_{metric}", metric]
        if set_name is None
        else [f"eval_{set_name}_{metric}", f"{set_name}_{metric}", f"eval_{set_name}_{metric}/{set_name}"]
    )
    return next((metrics[name] for name in names if metrics.get(name) is not None), None)


def _results_table(before: dict[str, float], after: dict[str, float]) -> str:
    lines = []
    for set_name, metric, label, better in HEADLINE_METRICS:
        values = [_lookup(metrics, set_name, metric) for metrics in (before, after)]
        if any(value is not None for value in values):
            cells = ["-" if value is None else f"{value:.3g}" for value in values]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | {better} |")
    if not lines:
        return (
            "No forget or retain scores were recorded for this run: to have them here, call "
            '`trainer.evaluate_unlearning()` before and after `trainer.train()` (with `eval_dataset={"forget": ..., '
            '"retain": ...}`), as `hf-unlearn unlearn` does.'
        )
    return "\n".join(["| score | before | after | better when |", "|---|---|---|---|", *lines])


def _recovery(value: float | None, spread: dict | None = None) -> str:
    """A recovery (or share regained) with 2 decimals, and `[lowest, highest]` over the repeats of a repeated
    attack (its value is then their median)."""
    from .evaluation.audit import range_text

    return "undefined" if value is None else f"{value:.2f}{range_text(spread)}"


def _robustness_section(robustness: dict[str, Any] | None) -> str:
    """The card's "Robustness" section, from the record's `robustness` summary of a robustness audit."""
    if not robustness:
        return ""
    from .evaluation.audit import damage_note

    # The three-model recovery needs a retain model; the share regained (audits recorded before it existed have
    # none) needs the original: a column is shown only where it can hold a number.
    models = robustness["models"]
    measures = [key for key, role in (("recovery", "retain"), ("regained", "original")) if role in models]
    measures = [key for key in measures if key in robustness] or ["recovery"]
    rows = ["| attack | " + " | ".join(measures) + " | on |", "|---" * (len(measures) + 2) + "|"]
    for attack in robustness["recovery"]:
        score = {"rougeL_recall": "ROUGE-L recall", "probability": "answer probability"}.get(
            robustness["score"][attack], robustness["score"][attack]
        )
        spread = robustness.get("spread", {}).get(attack, {})
        values = " | ".join(_recovery(robustness[key][attack], spread.get(key)) for key in measures)
        rows.append(f"| `{attack}` | {values} | {score} |")
    worst = robustness.get("worst")
    baselines = [role for role in robustness["models"] if role != "unlearned"]
    compared = f", and its {' and '.join(baselines)} model{'s' if len(baselines) > 1 else ''}," if baselines else ""
    lines = [
        "## Robustness",
        "",
        f"A robustness audit (`hf_unlearn`'s `UnlearningAuditor`) attacked this model{compared} with the same "
        f"attacks and seed ({robustness['seed']}), on the forget set recorded above "
        f"({robustness['forget_set']['rows']} rows, the same SHA-256).",
        "",
        "\n".join(rows) if robustness["recovery"] else "No attack ran.",
        "",
    ]
    repeated = robustness.get("spread") or {}
    if repeated:
        counts = sorted({values["repeats"] for spreads in repeated.values() for values in spreads.values()})
        lines += [
            f"{', '.join(f'`{attack}`' for attack in repeated)} ran {' / '.join(map(str, counts))} times, each "
            "with its own seed (and split of the forget rows): the value is the median over the repeats, in "
            "brackets the lowest and the highest. A difference between two models smaller than these ranges is "
            "not evidence that one resists the attack better.",
            "",
        ]
    if "sentence" in robustness:
        lines.append(f"**Summary**: {robustness['sentence']}")
    else:
        lines.append(
            f"**Worst attack**: `{worst['attack']}`, recovery {worst['recovery']:.2f}."
            if worst
            else "**Worst attack**: none has a defined recovery."
        )
    for key in measures:  # one line per reason, with the attacks it holds for
        grouped: dict[str, list[str]] = {}
        for attack, reason in robustness.get("undefined" if key == "recovery" else "regained_undefined", {}).items():
            grouped.setdefault(reason.removeprefix("undefined: "), []).append(f"`{attack}`")
        if grouped:
            lines += ["", f"Undefined {'recoveries' if key == 'recovery' else 'regained shares'}:", ""]
            lines += [f"- {', '.join(attacks)}: {reason}" for reason, attacks in grouped.items()]
    if robustness.get("damaged"):
        lines += ["", "Attacks that damage the original model itself:", ""]
        lines += [f"- {damage_note(f'`{attack}`', damage)}" for attack, damage in robustness["damaged"].items()]
    if robustness.get("skipped"):
        lines += ["", "Skipped attacks:", ""]
        lines += [f"- `{attack}`: {reason}" for attack, reason in robustness["skipped"].items()]
    lines += [
        "",
        "*How to read recovery*: `(U - R) / (O - R)` on the attacked forget score, where U is this model, O the "
        "model before unlearning and R a model trained without the forget set, all three under the same attack. 0 "
        "means the attack brings back no more than a model that never saw the forget set learns from it; 1 means "
        "it brings back everything the original knew. It is not clipped. Read the worst attack, not the average: an "
        "attacker picks the one that works. *Regained* needs no retain model: `(U_attacked - U_clean) / (O_clean - "
        "U_clean)`, the share of the forget score lost by unlearning that the attack brings back (0 = none, 1 = all). "
        "The budgets of the audit are small; a recovery near 0 is evidence, not "
        f"proof, of forgetting. Per-attack settings and scores are in the audit's `audit.json`; this summary is in "
        f"`{RECORD_FILE}` under `robustness`.",
    ]
    return "\n".join(lines) + "\n\n"


def _overlap_cell(overlap: list[dict[str, Any]]) -> str:
    if not overlap:
        return "none"
    return "; ".join(
        f"request {item['request']}: "
        + ("the same set" if item["same_set"] else "rows unknown" if item["rows"] is None else f"{item['rows']} rows")
        for item in overlap
    )


def objective_formula(method: dict[str, Any], with_retain: bool = True) -> str:
    """The weighted sum a run minimised, e.g. `1.0 * npo + 20.0 * nll` or `0.5 * ga + 1.0 * kl(normal) + ...`.

    `with_retain=False` (the run had no retain set) leaves the retain term out.
    """
    formula = f"{method.get('forget_weight', 1.0)} * {method.get('forget_loss')}"
    retain_loss, retain_weight = method.get("retain_loss"), method.get("retain_weight")
    if not with_retain:
        return formula
    if isinstance(retain_loss, dict):  # one objective per named retain set
        for name, loss in retain_loss.items():
            formula += f" + {retain_weight[name]} * {loss}({name})"
    elif retain_loss not in (None, "none"):
        formula += f" + {retain_weight} * {retain_loss}"
    return formula


def _history_section(requests: list[dict[str, Any]] | None) -> str:
    """The card's "Unlearning history" section: every request of a sequentially unlearned model, oldest first."""
    if not requests or len(requests) < 2:
        return ""
    rows = [
        "| request | forget set | objective | steps | forget ROUGE-L after | overlap with earlier requests |",
        "|---|---|---|---|---|---|",
    ]
    for entry in requests:
        method = entry.get("method") or {}
        objective = f"`{objective_formula(method)}`" if method else "-"
        rouge = _lookup(entry.get("scores") or {}, "forget", "rougeL_recall")
        forget = entry["forget_set"]
        rows.append(
            f"| {entry['request']} | {forget['rows']} rows, `{str(forget['sha256'])[:12]}` | {objective} | "
            f"{entry.get('global_step', '-')} | {'-' if rouge is None else f'{rouge:.3g}'} | "
            f"{_overlap_cell(entry.get('overlap'))} |"
        )
    overlapping = [entry["request"] for entry in requests if entry.get("overlap")]
    lines = [
        "## Unlearning history",
        "",
        f"This model went through {len(requests)} unlearning requests, each starting from the result of the one "
        "before; this card's run is the last. Forget sets by row count and the first characters of their SHA-256; "
        f"full fingerprints, the per-row digests and every score are in `{RECORD_FILE}` under `requests`.",
        "",
        "\n".join(rows),
    ]
    if overlapping:
        lines += [
            "",
            f"Request{'s' if len(overlapping) > 1 else ''} {', '.join(map(str, overlapping))} unlearned rows that an "
            "earlier request had already unlearned (matched by row digest or set fingerprint).",
        ]
    return "\n".join(lines) + "\n\n"


def _lm_eval_section(lm_eval: dict[str, Any] | None) -> str:
    """The card's "Multiple-choice benchmarks" section, from the record's `lm_eval` scores (lm-evaluation-harness)."""
    if not lm_eval:
        return ""

    def cell(metrics: dict, name: str) -> str:
        value, error = metrics.get(name), metrics.get(f"{name}_stderr")
        if value is None:
            return "-"
        return f"{100 * value:.1f}" + (f" ± {100 * error:.1f}" if error is not None else "")

    settings = lm_eval["settings"]
    rows = ["| task | acc (%) | acc_norm (%) | questions | shots |", "|---|---|---|---|---|"]
    for task, metrics in lm_eval["tasks"].items():
        shots = settings.get("num_fewshot", {}).get(task)
        rows.append(
            f"| `{task}` | {cell(metrics, 'acc')} | {cell(metrics, 'acc_norm')} | {metrics.get('samples') or '-'} "
            f"| {'-' if shots is None else shots} |"
        )
    limit = settings.get("limit")
    partial = f" on the first {limit} questions of each task (not comparable to published numbers)" if limit else ""
    return (
        "## Multiple-choice benchmarks\n\n"
        f"Accuracy of this model under EleutherAI's lm-evaluation-harness {settings.get('lm_eval_version', '')}"
        f"{partial}, ± one standard error (`hf_unlearn.evaluation.evaluate_lm_eval`):\n\n"
        + "\n".join(rows)
        + f"\n\nThe settings are in `{RECORD_FILE}` under `lm_eval`.\n\n"
    )


def _load_snippet(is_adapter: bool, repo_id: str | None) -> str:
    target = repo_id or REPO_PLACEHOLDER
    if is_adapter:
        code = (
            "from peft import AutoPeftModelForCausalLM\n\n"
            f'model = AutoPeftModelForCausalLM.from_pretrained("{target}")  # fetches the base model too'
        )
    else:
        code = (
            "from transformers import AutoModelForCausalLM\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{target}")'
        )
    snippet = f"```python\n{code}\n```"
    if repo_id is None:
        snippet += (
            f"\n\nReplace `{REPO_PLACEHOLDER}` with the repository this folder is pushed to, or with the path "
            "of the folder itself."
        )
    return snippet


def render_model_card(record: UnlearningRecord | dict[str, Any], repo_id: str | None = None) -> ModelCard:
    """A model card whose metadata and body carry `record` (see `UnlearningTrainer.unlearning_record`).

    The body has a summary, how to load the model, what was forgotten (by fingerprint), a compact before/after table
    of the headline scores, and the training procedure; the full record is in `unlearning_record.json`. No text of
    any set is written.

    A method that is not a weighted objective (task-vector negation) gives `record["method"]["objective"]` (the
    procedure table's objective cell) and `record["method"]["summary"]` (the sentence after the origin).

    Args:
        record ([`~hf_unlearn.record.UnlearningRecord`] or `dict`):
            The unlearning record, or its JSON object.
        repo_id (`str`, *optional*):
            The Hub repository the model is pushed to, for the loading snippet; without it the snippet shows a
            placeholder and says what to put there.
    """
    record = UnlearningRecord.coerce(record)
    is_adapter, method, base_model = record.adapter, record.method, record.base_model
    card_data = ModelCardData(
        library_name="peft" if is_adapter else "transformers",
        base_model=base_model,
        tags=sorted({"unlearning", "hf_unlearn", method["forget_loss"], *record.tags}),
        pipeline_tag="text-generation",
    )
    kind = "LoRA adapter" if is_adapter else "model"
    if base_model:
        origin = f"This {kind} is [`{base_model}`](https://huggingface.co/{base_model}) after machine unlearning with"
        origin += " `hf_unlearn`."
    else:
        origin = (
            f"This {kind} is the result of machine unlearning with `hf_unlearn`, starting from a model loaded "
            "from a local folder (its Hub id, if it has one, was not recorded)."
        )
    forget, retain = record.forget_set, record.retain_set
    robustness = record.extra.get("robustness")
    # A method that is no weighted objective (task-vector negation) describes itself in `objective` and `summary`.
    objective = method.get("objective") or f"`{objective_formula(method, with_retain=bool(retain))}`"
    summary = method.get("summary") or (
        f"It was trained with the `{method['forget_loss']}` objective to lose what it knew of a *forget set*\n"
        "while keeping what it knows of a *retain set*."
    )
    procedure = {
        "trainer": f"`{method['trainer']}`",
        "objective": objective,
        "reference log-probs": REFERENCES.get(method["reference"], method["reference"]),
        "optimizer steps": record.training["global_step"],
    }
    hyperparameters = {key: value for key, value in record.hyperparameters.items() if value is not None}
    if retain and "sha256" not in retain:  # named retain sets
        retain_line = "\n".join(
            f"- **Retain set `{name}`**, kept: {fp['rows']} rows, SHA-256 `{fp['sha256']}`."
            for name, fp in retain.items()
        )
    elif retain:
        retain_line = f"- **Retain set**, kept: {retain['rows']} rows, SHA-256 `{retain['sha256']}`."
    else:
        retain_line = "- **Retain set**: none (nothing anchored what the model should keep)."
    audited = "; the Robustness section measures some of these attacks, at a small budget" if robustness else ""
    sections = (
        _history_section(record.requests)
        + _lm_eval_section(record.extra.get("lm_eval"))
        + _robustness_section(robustness)
    )
    body = f"""
# {record.model_name}

{origin} {summary}

## How to load

{_load_snippet(is_adapter, repo_id)}

## What was unlearned

The sets are identified by row count and an order-independent SHA-256 of their normalised rows, so that anyone
holding a set can check that it is the one this run forgot. Their content is not part of this card.

- **Forget set**, unlearned: {forget["rows"]} rows, SHA-256 `{forget["sha256"]}`.
{retain_line}

## Results

{_results_table(record.metrics["before"], record.metrics["after"])}

Every recorded score is in `{RECORD_FILE}`, next to the weights.

{sections}## Training procedure

{_table(procedure)}

### Hyperparameters

{_table(hyperparameters)}

### Framework versions

{_table(record.library_versions)}

## Limitations

Unlearning is approximate. The scores above measure the forget set's traces in this {kind}'s outputs; they do not
prove that the information cannot be recovered (by fine-tuning on related data, quantization or rephrased
prompts{audited}).{" The base model, without this adapter, still holds everything it knew." if is_adapter else ""}
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


def save_card_and_record(
    record: UnlearningRecord | dict[str, Any], output_dir: str, repo_id: str | None = None
) -> None:
    """Write `README.md` (the card) and `unlearning_record.json` into `output_dir`, each atomically.

    The card is rendered and the record checked as JSON before either file is written, so that a bad record leaves
    the folder as it was.
    """
    record = UnlearningRecord.coerce(record)
    card = str(render_model_card(record, repo_id))
    record = record.to_dict()
    json.dumps(record, allow_nan=False)  # raises here, not after the card is written
    write_text_atomic(os.path.join(output_dir, "README.md"), card)
    write_json_atomic(os.path.join(output_dir, RECORD_FILE), record)


# ---- Pushing to the Hub ----


class HubPushError(OSError):
    """A push to the Hub that did not happen, in one line: what was wrong and what to do.

    Raised for a missing or refused token, an unreachable Hub, an invalid repository id, and an adapter whose base
    model is known only as a local folder. The local folder is left as it was (or, when the upload itself failed,
    complete as saved for it) and the message says how to push it later. An `OSError`, so that `hf-unlearn` reports
    it as one line.
    """


REPO_ID_FORM = "'name' or 'namespace/name', of letters, digits, '-', '_' and '.', e.g. 'you/npo-lora'"
# The Hub could not be reached: httpx's / httpx2's TransportError (by name: huggingface_hub 1.x uses httpx, 2.x
# httpx2), and the OS errors below them (HF_HUB_OFFLINE's OfflineModeIsEnabled is a ConnectionError).
_NETWORK_ERRORS = (ConnectionError, TimeoutError, socket.gaierror)


def _unreachable(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, _NETWORK_ERRORS) or any(cls.__name__ == "TransportError" for cls in type(error).__mro__):
            return True
        error = error.__cause__ or error.__context__
    return False


def _why_the_push_failed(error: BaseException) -> str | None:
    """The reason in words for an error of a Hub call, or `None` for one that is not about the Hub (a bug, a full
    disk), which is then raised as it is."""
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, HFValidationError):
        return f"not a valid Hub repository id ({first_line}); accepted: {REPO_ID_FORM}"
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            return (
                f"the Hub refused the token (HTTP {status}): log in with `hf auth login` or set HF_TOKEN to a token "
                "with write access to that namespace"
            )
        return f"the Hub answered HTTP {status} ({first_line})"
    if _unreachable(error):
        return f"the Hub is unreachable ({type(error).__name__}: {first_line})"
    return None


@contextlib.contextmanager
def hub_push_errors(repo_id: str, folder: str, token: str | None = None, stage: str = "upload") -> Iterator[None]:
    """Check the repository id and the token, then turn the Hub errors of the calls inside into one `HubPushError`.

    The checks come first and need no network: an invalid id and a missing token fail before anything is sent.
    The token is looked up (`token`, else `HF_TOKEN` or `hf auth login`'s) but never shown.

    Args:
        repo_id (`str`):
            The Hub repository pushed to.
        folder (`str`):
            The local folder being pushed, named in the message with how to push it later.
        token (`str`, *optional*):
            The token given to the push; without it, the one `huggingface_hub` finds.
        stage (`str`, *optional*, defaults to `"upload"`):
            What has happened to `folder`, for the advice: `"create"` (the trainer is being built: nothing is
            trained yet), `"push"` (nothing was written yet) or `"upload"` (the folder was saved for the upload).

    Raises:
        `HubPushError`: with the reason and what to do, in one line.
    """
    upload = f"`hf upload {repo_id} {folder} --exclude 'checkpoint-*'`"
    advice = {
        "create": f"Nothing was trained yet: train without push_to_hub, then push the saved folder with {upload}.",
        "push": f"Nothing was uploaded and {folder} was not changed: call push_to_hub() again once this is fixed.",
        "upload": f"The saved folder {folder} is intact: push it later with {upload}.",
    }[stage]
    action = "create the Hub repository" if stage == "create" else "push to the Hub repository"
    try:
        validate_repo_id(repo_id)
        if not (token or get_token()):
            raise HubPushError(
                f"Cannot {action} {repo_id!r}: no Hugging Face token found; log in with `hf auth login` or set "
                f"HF_TOKEN (a token with write access). {advice}"
            )
        yield
    except HubPushError:
        raise
    except Exception as error:  # noqa: BLE001 - sorted below: what is not about the Hub is raised unchanged
        reason = _why_the_push_failed(error)
        if reason is None:
            raise
        raise HubPushError(f"Cannot {action} {repo_id!r}: {reason}. {advice}") from None


def _is_local_path(name: str | None) -> bool:
    """Whether a model's `name_or_path` is a local folder (or a path), not a Hub id others can load."""
    return bool(name) and (os.path.isdir(name) or can_only_be_a_path(name))


class ModelCardMixin:
    """What the trainers of this package add to `Trainer` for their model card and the Hub (put it before `Trainer`
    among the bases).

    - `evaluate_unlearning()`: scores before and after unlearning, for the card's Results table.
    - `push_to_hub()` / `init_hf_repo()`: a failing Hub call raises one `HubPushError` line instead of the chained
      tracebacks of `huggingface_hub` and `httpx`. An adapter's `adapter_config.json` names its base model by
      `base_model_name_or_path`, which `AutoPeftModelForCausalLM` fetches: a push writes the base model's Hub id
      there (the card's `base_model`), and refuses an adapter whose base is known only as a local folder, saying how
      to name it.
    - `_save`: the model's files (weights, config, tokenizer) are written to a temporary folder beside the target and
      each renamed into place ([`~hf_unlearn.utils.atomic_folder`]), so that a reader never sees a half-written weight
      file; checkpoints go through it too.
    """

    score_metrics = staticmethod(score_metrics)

    def _save(self, output_dir: str | None = None, state_dict=None):
        with atomic_folder(output_dir or self.args.output_dir, merge=True) as temporary:
            super()._save(str(temporary), state_dict)

    def evaluate_unlearning(
        self, eval_sets: dict[str, Any] | None = None, *, retain_logs: dict | str | os.PathLike | None = None
    ) -> dict[str, float]:
        """Score the model for the card: as it is *before* unlearning when no training step was taken yet, else
        *after* it. Call it before and after `train()`:

        ```python
        trainer = NPOTrainer(model, args=args, forget_dataset=forget, retain_dataset=retain,
                             eval_dataset={"forget": forget, "retain": retain})
        trainer.evaluate_unlearning()  # before
        trainer.train()
        trainer.evaluate_unlearning()  # after
        trainer.save_model()
        trainer.create_model_card()  # the Results table: each score before and after
        ```

        The scores are the trainer's eval metrics (`evaluate()` on its `eval_dataset`) and those of an
        [`~hf_unlearn.evaluation.UnlearningEvaluator`] on the sets it knows (`forget`, `retain`, `holdout`,
        `real_authors`, `world_facts`): ROUGE-L recall of greedy answers, answer probability, truth ratio (rows with
        `perturbed_answer`), and forget quality with `retain_logs`. They go to `unlearning_metrics["before"]` or
        `["after"]`, which `create_model_card()` and `unlearning_record.json` report; the evaluator's whole result
        (per-sample TOFU-format logs, `.save(folder)` writes them) to `unlearning_evaluations` under the same key.
        `hf-unlearn unlearn` scores its runs this way. The evaluator is built once and scores both times the same
        rows; under DeepSpeed or FSDP (which shard the weights it needs whole) only the trainer's eval metrics are
        taken.

        Args:
            eval_sets (`dict[str, Dataset | list[dict]]`, *optional*):
                The sets to score, by name. Defaults to the `eval_dataset` dict the trainer was built with.
            retain_logs (`dict` or `str` or `os.PathLike`, *optional*):
                TOFU-format log of a retain model on the same forget set (or its path), for forget quality.

        Returns:
            `dict[str, float]`: the scores recorded, e.g. `eval_forget_rougeL_recall`, `eval_retain_probability`.

        Raises:
            `ValueError`: no named sets to score (neither `eval_sets` nor an `eval_dataset` dict).
        """
        from .evaluation import is_eval_set_name

        eval_sets = eval_sets if eval_sets is not None else getattr(self, "_eval_rows", None)
        if not isinstance(eval_sets, dict) or not eval_sets:
            raise ValueError(
                "evaluate_unlearning() needs named sets: build the trainer with eval_dataset={'forget': ..., "
                "'retain': ...} or pass eval_sets={'forget': ..., 'retain': ...}."
            )
        phase = "after" if self.state.global_step > 0 else "before"
        scores = self.score_metrics(self.evaluate()) if self.eval_dataset is not None else {}
        known = {name: rows for name, rows in eval_sets.items() if is_eval_set_name(name)}
        if known and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            logger.warning(
                "Generation-based scores are skipped under DeepSpeed / FSDP: run `hf-unlearn eval` on the saved "
                "model for them."
            )
        elif known:
            cached = getattr(self, "_card_evaluator", None)
            if cached is None or cached[0] is not eval_sets or cached[1] is not retain_logs:
                evaluator = self._unlearning_evaluator(known, retain_logs)
                self._card_evaluator = cached = (eval_sets, retain_logs, evaluator)
            result = cached[2].evaluate(self.accelerator.unwrap_model(self.model), self.accelerator)
            scores.update(result.metrics())
            self.unlearning_evaluations = {**getattr(self, "unlearning_evaluations", {}), phase: result}
        self.unlearning_metrics[phase] = scores
        return scores

    def _unlearning_evaluator(self, eval_sets: dict[str, Any], retain_logs: dict | str | os.PathLike | None):
        # Rows prepared as in training: the same prompt template and `max_length` (`None` keeps every row whole).
        from .evaluation import UnlearningEvaluator

        return UnlearningEvaluator(
            self.processing_class,
            eval_sets,
            retain_logs=retain_logs,
            batch_size=self.args.per_device_eval_batch_size,
            max_length=self.args.max_length,
            qa_prompt_template=self.args.qa_prompt_template,
        )

    def _hub_base_model_id(self) -> str | None:
        # The card's `base_model` once the trainer is built; while `Trainer.__init__` runs, what the arguments say.
        if hasattr(self, "base_model_id"):
            return self.unlearning_record()["base_model"]
        chain = getattr(self, "request_chain", None)  # a model unlearned from an earlier run's folder
        return getattr(self.args, "base_model_id", None) or (chain.base_model if chain is not None else None)

    def _adapter_config(self):
        from peft import PeftModel

        return self.model.peft_config[self.model.active_adapter] if isinstance(self.model, PeftModel) else None

    def _check_adapter_base(self) -> str | None:
        """The Hub id to write into a pushed adapter's config (`None`: nothing to change); refuses a local base."""
        adapter_config = self._adapter_config()
        if adapter_config is None:
            return None
        named = adapter_config.base_model_name_or_path
        base = self._hub_base_model_id()
        if base is None and (not named or _is_local_path(named)):
            where = f"the local folder {named!r}" if named else "not named (the model was built in memory)"
            raise HubPushError(
                f"Not pushing this adapter: its base model is {where}, which readers of the Hub cannot load. Name "
                "the base model's Hub id with `base_model_id` (UnlearningConfig(base_model_id="
                "'org/base-model'), `base_model_id: org/base-model` in the run's config or on its command line, or "
                "trainer.base_model_id = 'org/base-model'), then push again."
            )
        return base if base not in (None, named) else None

    def _repo_id(self) -> str:
        # `Trainer.init_hf_repo`'s choice: `hub_model_id`, else the output folder's name.
        return self.hub_model_id or self.args.hub_model_id or Path(self.args.output_dir).absolute().name

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """As `Trainer.init_hf_repo` (create the repository `hub_model_id`), raising `HubPushError` in one line."""
        if not self.is_world_process_zero():  # only process zero talks to the Hub
            return super().init_hf_repo(token=token, private=private)
        token = token if token is not None else self.args.hub_token
        stage = "push" if getattr(self, "_pushing", False) else "create"
        if stage == "create":  # `Trainer.__init__` with push_to_hub=True: refuse before anything is trained
            self._check_adapter_base()
        with hub_push_errors(self._repo_id(), self.args.output_dir, token, stage):
            super().init_hf_repo(token=token, private=private)

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        **kwargs,
    ):
        """As `Trainer.push_to_hub`, raising `HubPushError` in one line (no token, Hub unreachable, invalid repository
        id, an adapter whose base model is a local folder). A pushed adapter's `adapter_config.json` names the base
        model by its Hub id (`base_model_id`), as the card's `base_model` does."""
        arguments = dict(commit_message=commit_message, blocking=blocking, token=token, revision=revision, **kwargs)
        if not self.is_world_process_zero():  # saves its part of the model, uploads nothing
            return super().push_to_hub(private=private, **arguments)
        base = self._check_adapter_base()
        adapter_config = self._adapter_config()
        named = None if adapter_config is None else adapter_config.base_model_name_or_path
        token = token if token is not None else self.args.hub_token
        self._pushing = True
        try:
            if self.hub_model_id is None:  # created before anything is saved: a failure leaves the folder as it was
                self.init_hf_repo(token=token, private=private)
            if base is not None:
                adapter_config.base_model_name_or_path = base  # what `save_model` writes into the pushed folder
            with hub_push_errors(self._repo_id(), self.args.output_dir, token):
                return super().push_to_hub(private=private, **arguments)
        finally:
            self._pushing = False
            if base is not None:
                adapter_config.base_model_name_or_path = named

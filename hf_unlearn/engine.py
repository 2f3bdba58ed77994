"""The objective engine: from a batch of forget / retain sequences to the weighted unlearning loss, in plain torch.

[`ObjectiveEngine`] holds the run's objectives (one weighted [`Term`] per role) and its reference, and computes:

- the scores of a model on the answers of a batch ([`score`]: answer-position logits, per-token and per-sequence
  log-probs, token counts, hidden states of one decoder layer);
- the policy's forward for every role, in one concatenated forward when asked ([`ObjectiveEngine.policy_scores`]);
- each objective's [`~hf_unlearn.losses.base.ObjectiveInputs`], built from what its `requires` names, the reference's
  values included (live, or precomputed and read from the batch);
- the precompute pass over a data loader ([`ObjectiveEngine.precompute`]).

Nothing here knows about `transformers.Trainer`: [`~hf_unlearn.UnlearningTrainer`] calls it from `compute_loss`,
and tests drive it with a tiny model and a plain `DataLoader`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .layers import capture_layer_output, decoder_layers
from .logprobs import (
    IGNORE_INDEX,
    answer_logits,
    answer_targets,
    per_sequence_sum,
    predicting_positions,
    selected_logps,
)
from .losses import NLLRetainLoss
from .losses.base import ObjectiveInputs, UnlearningObjective, token_mean_logps
from .reference import AdapterOffReference, ModelReference


ROLES = ("forget", "retain")
PRECOMPUTED_COLUMNS = {"": "ref_logps", "alt_": "alt_ref_logps"}
"""Sequence prefix (`""`, or `"alt_"` for alternative answers) -> the column of its precomputed reference log-probs."""


@dataclass
class Term:
    """One weighted term of the loss: the objective's registered `name`, the objective and its weight."""

    name: str
    objective: UnlearningObjective
    weight: float


def hidden_layer(objective: UnlearningObjective) -> int | None:
    """The decoder layer whose output `objective` reads, or `None` when it reads no hidden states."""
    return objective.hidden_layer if objective.requires & {"hidden_states", "ref_hidden_states"} else None


def check_hidden_layers(terms: dict[str, Term], model: torch.nn.Module) -> None:
    """Refuse an objective that reads the output of a decoder layer the model does not have."""
    for role, term in terms.items():
        objective = term.objective
        if not objective.requires & {"hidden_states", "ref_hidden_states"}:
            continue
        if objective.hidden_layer is None:
            raise ValueError(f"{type(objective).__name__} asks for hidden states but sets no hidden_layer.")
        num_layers = len(decoder_layers(model))
        if not 0 <= objective.hidden_layer < num_layers:
            field_name = getattr(objective, "layer_field", "hidden_layer")
            raise ValueError(
                f"{field_name}={objective.hidden_layer} is beyond the model: {type(objective).__name__} (the "
                f"{role} objective) reads the output of that decoder layer, and the model has {num_layers} "
                f"decoder layers; accepted: 0 to {num_layers - 1}."
            )


def score(
    module: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    prefix: str = "",
    layer: int | None = None,
    slice_in_model: bool = True,
) -> dict[str, torch.Tensor | None]:
    """One forward of `module` over the batch's `prefix` sequences (`""`, or `"alt_"` for alternative answers).

    Args:
        module (`torch.nn.Module`):
            The policy or the reference (possibly wrapped by DDP / FSDP / DeepSpeed).
        batch (`dict[str, torch.Tensor]`):
            `{prefix}input_ids`, `{prefix}attention_mask` and `{prefix}labels` (`-100` off the answer).
        prefix (`str`, *optional*, defaults to `""`):
            Which sequences of the batch to score.
        layer (`int`, *optional*):
            Also return the output of this decoder layer.
        slice_in_model (`bool`, *optional*, defaults to `True`):
            Ask the model for logits at answer positions only (see `hf_unlearn.logprobs.answer_logits`).

    Returns:
        `dict`: answer-position `logits`, the answer `targets`, `token_logps`, per-sequence `logps`, `n_tokens`,
        the boolean `answer_positions` and `hidden_states` (`None` without `layer`).
    """
    labels = batch[prefix + "labels"]
    captured = {}
    with capture_layer_output(module, layer, captured):
        logits = answer_logits(
            module, batch[prefix + "input_ids"], batch[prefix + "attention_mask"], labels, slice_in_model
        )
    positions = predicting_positions(labels)
    targets = answer_targets(labels)
    token_logps = selected_logps(logits, targets)
    return {
        "logits": logits,
        "token_logps": token_logps,
        "targets": targets,
        "logps": per_sequence_sum(token_logps, positions),
        "n_tokens": positions.sum(-1),
        "answer_positions": positions,
        "hidden_states": captured.get("hidden"),
    }


class ObjectiveEngine:
    r"""
    The run's objectives and reference, and the loss of a batch.

    Args:
        terms (`dict[str, Term]`):
            Role -> weighted term: `"forget"`, and `"retain"` (one retain set) or `"retain.NAME"` (named ones).
        reference (`AdapterOffReference` or `ModelReference`, *optional*):
            The live reference; `None` when no term needs one during training (none at all, or precomputed).
        ref_source (`str`, *optional*):
            `"adapter"` or `"model"`: where the reference comes from, kept when a precomputed reference's model is
            freed; `None` when no term needs a reference.
        pad_token_id (`int`, *optional*, defaults to `0`):
            Pads the concatenated forward.
        concatenated_forward (`bool`, *optional*, defaults to `False`):
            Score every role's batch in one forward of the policy.
        slice_in_model (`bool`, *optional*, defaults to `True`):
            Ask the model for logits at answer positions only (check with `logprobs.accepts_logits_to_keep`).
        eval_weight (`float`, *optional*, defaults to `1.0`):
            Weight of the NLL that scores an eval set with no objective of its own.
    """

    def __init__(
        self,
        terms: dict[str, Term],
        reference: AdapterOffReference | ModelReference | None = None,
        *,
        ref_source: str | None = None,
        pad_token_id: int = 0,
        concatenated_forward: bool = False,
        slice_in_model: bool = True,
        eval_weight: float = 1.0,
    ):
        if "forget" not in terms:
            raise ValueError(f"The engine needs a forget term; got the roles {sorted(terms)}.")
        self.terms = terms
        self.reference = reference
        self.ref_source = ref_source if ref_source is not None else getattr(reference, "source", None)
        self.pad_token_id = pad_token_id
        self.concatenated_forward = concatenated_forward
        self.slice_in_model = slice_in_model
        # An eval set with no objective of its own (the retain term is off, or the retain sets are named
        # differently): NLL is all there is to report.
        self.eval_term = Term("nll", NLLRetainLoss(), eval_weight)

    @property
    def forget(self) -> Term:
        return self.terms["forget"]

    @property
    def roles(self) -> list[str]:
        """Every column prefix a batch may carry: forget, the single retain set, named retain sets."""
        return list(dict.fromkeys([*ROLES, *self.terms]))

    @property
    def ref_model(self) -> torch.nn.Module | None:
        """The reference model kept alive (a frozen copy or the user's), or `None`."""
        return self.reference.model if isinstance(self.reference, ModelReference) else None

    def needs_reference(self) -> bool:
        return any(term.objective.needs_reference() for term in self.terms.values())

    def term(self, role: str, mode: str = "train") -> Term | None:
        """The term that scores `role`'s sequences; in evaluation, NLL for a non-forget role without one."""
        if role in self.terms:
            return self.terms[role]
        return self.eval_term if mode == "eval" and role != "forget" else None

    def score(self, module: torch.nn.Module, batch: dict, prefix: str = "", layer: int | None = None) -> dict:
        """[`score`] with this run's `slice_in_model`."""
        return score(module, batch, prefix, layer, self.slice_in_model)

    def policy_scores(self, model, batches: dict[str, dict], objectives: dict[str, UnlearningObjective]) -> dict:
        """`score` of the policy on each role's batch; with `concatenated_forward`, in one forward of all of them.

        One forward of the forget and retain rows together (padded to the longer batch) halves the per-forward
        overhead that dominates small models and small batches; results are split back by rows and answer tokens.
        Roles that need hidden states of different layers run separately.
        """
        layers = {role: hidden_layer(objective) for role, objective in objectives.items()}
        distinct_layers = set(layers.values()) - {None}
        if not self.concatenated_forward or len(batches) < 2 or len(distinct_layers) > 1:
            return {role: self.score(model, batch, "", layers[role]) for role, batch in batches.items()}
        width = max(batch["input_ids"].size(1) for batch in batches.values())
        pad_values = {"input_ids": self.pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX}
        joint = {
            key: torch.cat(
                [F.pad(batch[key], (0, width - batch[key].size(1)), value=value) for batch in batches.values()]
            )
            for key, value in pad_values.items()
        }
        scores = self.score(model, joint, "", next(iter(distinct_layers), None))
        rows = [batch["input_ids"].size(0) for batch in batches.values()]
        positions = [predicting_positions(batch["labels"]) for batch in batches.values()]
        tokens = torch.stack([mask.sum() for mask in positions]).tolist()  # one host sync for all roles
        split = {}
        for index, (role, batch) in enumerate(batches.items()):
            row = slice(sum(rows[:index]), sum(rows[: index + 1]))
            token = slice(sum(tokens[:index]), sum(tokens[: index + 1]))
            hidden = scores["hidden_states"]
            split[role] = {
                **{key: scores[key][token] for key in ("logits", "token_logps", "targets")},
                **{key: scores[key][row] for key in ("logps", "n_tokens")},
                "answer_positions": positions[index],
                "hidden_states": None if hidden is None else hidden[row, : batch["input_ids"].size(1)],
            }
        return split

    def objective_inputs(self, model, batch: dict, objective: UnlearningObjective, policy: dict) -> ObjectiveInputs:
        """Everything `objective` asked for on this batch, each computed once: the policy's scores of the answers
        (`policy`, from `policy_scores`), alternative answers when asked, the reference only when asked (read from
        the batch's precomputed columns when they are there, else computed live)."""
        requires = objective.requires
        values = {**policy, "attention_mask": batch["attention_mask"]}
        if objective.needs_alternatives():
            alternative = self.score(model, batch, "alt_")
            values.update(alt_logps=alternative["logps"], alt_n_tokens=alternative["n_tokens"])
        reference_needs = {name for name in requires if name.startswith("ref_")}
        precomputed = {"ref_logps": batch.get("ref_logps"), "ref_alt_logps": batch.get("alt_ref_logps")}
        if reference_needs and all(precomputed.get(name) is not None for name in reference_needs):
            values.update({name: precomputed[name] for name in reference_needs})
        elif reference_needs:
            if self.reference is None:
                raise ValueError(
                    "This batch has no precomputed reference log-probs and no reference model is kept. With "
                    "precompute_ref_log_probs=True and no ref_model, pass forget eval sets at construction."
                )
            layer = hidden_layer(objective) if "ref_hidden_states" in requires else None
            with self.reference.active(model) as reference:
                ref = self.score(reference, batch, "", layer)
                if "ref_alt_logps" in requires:
                    ref["alt_logps"] = self.score(reference, batch, "alt_")["logps"]
            values.update({name: ref[name.removeprefix("ref_")] for name in reference_needs})
        return ObjectiveInputs(**{name: values.get(name) for name in ObjectiveInputs.__dataclass_fields__})

    def loss(
        self, model, inputs: dict[str, torch.Tensor], mode: str = "train"
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The weighted loss of a collated batch (`{role}_input_ids`, ... columns).

        Returns:
            `tuple`: the loss; each role's mean loss (`parts`); per-sequence statistics named `{statistic}/{role}`
            (`logps`, `nll`, the objective's own, `loss`), detached.
        """
        terms = {}
        for role in self.roles:
            term = self.term(role, mode)
            if f"{role}_input_ids" in inputs and term is not None:
                terms[role] = term
        batches = {
            role: {key.removeprefix(f"{role}_"): value for key, value in inputs.items() if key.startswith(f"{role}_")}
            for role in terms
        }
        policy = self.policy_scores(model, batches, {role: term.objective for role, term in terms.items()})
        parts, stats = {}, {}
        for role, term in terms.items():
            objective_inputs = self.objective_inputs(model, batches[role], term.objective, policy[role])
            per_sequence, role_stats = term.objective(objective_inputs)
            parts[role] = per_sequence.mean()
            logps, n_tokens = objective_inputs.logps.detach(), objective_inputs.n_tokens
            role_stats = {
                "logps": logps,
                "nll": -token_mean_logps(logps, n_tokens),
                **role_stats,
                "loss": per_sequence.detach(),
            }
            stats.update({f"{name}/{role}": value for name, value in role_stats.items()})
        loss = sum(terms[role].weight * part for role, part in parts.items())
        return loss, parts, stats

    # ---- Precomputed reference log-probs ----

    def precomputed_columns(self) -> dict[str, str]:
        """Sequence prefix -> column holding its precomputed reference log-probs (`alt_` when the forget objective
        compares alternative answers with the reference)."""
        prefixes = ["", "alt_"] if "ref_alt_logps" in self.forget.objective.requires else [""]
        return {prefix: PRECOMPUTED_COLUMNS[prefix] for prefix in prefixes}

    @torch.no_grad()
    def precompute(
        self,
        model: torch.nn.Module,
        batches: Iterable[dict[str, torch.Tensor]],
        gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, list[float]]:
        """The reference log-probs of every row of `batches` (collated, unprefixed), in order, one list per column.

        Args:
            model (`torch.nn.Module`):
                The policy (the adapter-off reference runs it with the adapter disabled).
            batches (iterable of `dict`):
                A data loader over the prepared forget rows, in row order.
            gather (`Callable`, *optional*):
                Collects each batch's values from every process (`accelerator.gather_for_metrics`); identity when
                `None`.
        """
        if self.reference is None:
            raise ValueError("No reference to precompute from: no term of this run needs one.")
        was_training = model.training
        model.eval()
        columns = self.precomputed_columns()
        values: dict[str, list[torch.Tensor]] = {column: [] for column in columns.values()}
        try:
            for batch in batches:
                with self.reference.active(model) as reference:
                    for prefix, column in columns.items():
                        logps = self.score(reference, batch, prefix)["logps"]
                        values[column].append((gather(logps) if gather is not None else logps).cpu())
        finally:
            model.train(was_training)
        return {column: torch.cat(parts).tolist() for column, parts in values.items()}


def describe(terms: dict[str, Term]) -> dict[str, Any]:
    """`loss_names` of a run: the forget objective's name, and the retain objective's (`"none"` without one) or
    `{set name: objective name}` for named retain sets."""
    named = {role.removeprefix("retain."): term.name for role, term in terms.items() if role.startswith("retain.")}
    single = terms.get("retain")
    return {"forget": terms["forget"].name, "retain": named or (single.name if single is not None else "none")}

"""What every unlearning objective has in common: the inputs it may ask for, and the shape of what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..logprobs import per_sequence_sum


if TYPE_CHECKING:
    from ..config import UnlearningConfig


LossOutput = tuple[torch.Tensor, dict[str, torch.Tensor]]
"""The loss of each sequence, shape `(batch,)`, and detached statistics to log, one value per sequence.

The trainer back-propagates the mean over sequences. Returning per-sequence values keeps the loss of a batch
independent of how it is split into micro-batches and processes, and lets evaluation average exactly over a set
split across processes.
"""


@dataclass
class ObjectiveInputs:
    """What the trainer computed for one batch of one set, for the objective that scores it.

    The first group is always there (one policy forward gives it); a field of the second group is filled only when
    the objective lists its name in `requires`, and is `None` otherwise. Per-token tensors are flat, one entry per
    answer token, in the row-major order of `answer_positions`.

    Args:
        logps (`torch.Tensor` of shape `(batch,)`):
            Sum of the answer-token log-probs of each sequence under the policy.
        n_tokens (`torch.Tensor` of shape `(batch,)`):
            Number of answer tokens of each sequence.
        token_logps (`torch.Tensor` of shape `(answer tokens,)`, *optional*):
            Log-prob of each answer token under the policy.
        targets (`torch.Tensor` of shape `(answer tokens,)`, *optional*):
            Id of each answer token (the token `logits` predict at that position).
        answer_positions (`torch.Tensor` of shape `(batch, seq)`, *optional*):
            `True` at the positions that predict an answer token.
        logits (`torch.Tensor` of shape `(answer tokens, vocab)`, *optional*):
            Policy logits at those positions.
        attention_mask (`torch.Tensor` of shape `(batch, seq)`, *optional*):
            1 on real tokens, 0 on padding.
        ref_logps, ref_token_logps, ref_logits (`torch.Tensor`, *optional*):
            The same quantities under the reference model (no gradient).
        hidden_states, ref_hidden_states (`torch.Tensor` of shape `(batch, seq, hidden)`, *optional*):
            Output of decoder layer `objective.hidden_layer` of the policy / the reference.
        alt_logps, alt_n_tokens, ref_alt_logps (`torch.Tensor` of shape `(batch,)`, *optional*):
            Sum of log-probs and number of tokens of each row's *alternative* answer (e.g. a refusal) to the same
            prompt, under the policy / the reference.
    """

    logps: torch.Tensor
    n_tokens: torch.Tensor
    token_logps: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    answer_positions: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    ref_logps: torch.Tensor | None = None
    ref_token_logps: torch.Tensor | None = None
    ref_logits: torch.Tensor | None = None
    hidden_states: torch.Tensor | None = None
    ref_hidden_states: torch.Tensor | None = None
    alt_logps: torch.Tensor | None = None
    alt_n_tokens: torch.Tensor | None = None
    ref_alt_logps: torch.Tensor | None = None


OPTIONAL_INPUTS = frozenset(
    {
        "ref_logps",
        "ref_token_logps",
        "ref_logits",
        "hidden_states",
        "ref_hidden_states",
        "alt_logps",
        "ref_alt_logps",
    }
)
"""Names an objective may list in `requires` (fields of `ObjectiveInputs` that cost extra work)."""

PRECOMPUTABLE_INPUTS = frozenset({"ref_logps", "ref_alt_logps"})
"""Reference inputs that are one number per row, so `precompute_ref_log_probs` can compute them before training."""


class UnlearningObjective:
    """Base class of every objective: declare the inputs, return per-sequence losses.

    A subclass sets `requires` (names from `OPTIONAL_INPUTS`), implements `__call__(inputs) -> (loss per sequence,
    statistics)`, takes its hyperparameters as constructor keywords, and is registered under a name with
    [`~hf_unlearn.losses.register_objective`], which declares those hyperparameters (defaults, checks, help). The
    trainer builds it with `from_config`, computes each requested input once per batch, reduces the per-sequence
    losses by their mean, and never looks at the class.

    Naming: the concept is an *objective* (this class, the registry, `register_objective`); the built-in classes
    keep their `<Method>Loss` names, after the `forget_loss` / `retain_loss` fields that choose them.
    """

    requires: ClassVar[frozenset[str]] = frozenset()
    hidden_layer: int | None = None
    """Decoder layer whose output `hidden_states` / `ref_hidden_states` hold (objectives that ask for them)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        unknown = set(cls.requires) - OPTIONAL_INPUTS
        if unknown:
            raise TypeError(
                f"{cls.__name__}.requires names unknown inputs {sorted(unknown)}; known: {sorted(OPTIONAL_INPUTS)}."
            )

    @classmethod
    def from_config(cls, args: UnlearningConfig) -> UnlearningObjective:
        """Build the objective from the run's configuration.

        Each declared hyperparameter comes from `forget_loss_kwargs` / `retain_loss_kwargs` (by the objective's
        role), else from its flat `UnlearningConfig` field (built-ins: `beta`, `wga_beta`, ...), else its default.
        A class that is not registered is built with no arguments.
        """
        from .registry import spec_of

        spec = spec_of(cls)
        if spec is None:
            return cls()
        return cls(**spec.resolve(args, loss_kwargs(args, spec.role)))

    @classmethod
    def needs_reference(cls) -> bool:
        """Whether any requested input comes from the reference model."""
        return any(name.startswith("ref_") for name in cls.requires)

    @classmethod
    def needs_alternatives(cls) -> bool:
        """Whether the objective scores each row's alternative answer (the data must then provide one)."""
        return bool(cls.requires & {"alt_logps", "ref_alt_logps"})

    @classmethod
    def reference_is_precomputable(cls) -> bool:
        """Whether every reference input is one number per row (so it can be computed once, before training)."""
        return cls.needs_reference() and {n for n in cls.requires if n.startswith("ref_")} <= PRECOMPUTABLE_INPUTS

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        raise NotImplementedError


def loss_kwargs(args: Any, role: str) -> dict[str, Any]:
    """`args.forget_loss_kwargs` or `args.retain_loss_kwargs` (by `role`) as a dict, `{}` when unset."""
    value = getattr(args, f"{role}_loss_kwargs", None)
    return dict(value) if isinstance(value, dict) else {}


def token_mean_logps(logps: torch.Tensor, n_tokens: torch.Tensor) -> torch.Tensor:
    """Per-sequence log-prob averaged over its answer tokens, `logp / n`.

    Every sequence that reaches a loss has at least one answer token (the data module refuses rows whose answer is
    truncated away), but the clamp keeps a hand-built batch from dividing by zero.
    """
    return logps / n_tokens.clamp(min=1)


def token_mean(values: torch.Tensor, inputs: ObjectiveInputs) -> torch.Tensor:
    """Mean of flat per-answer-token `values` over each sequence's answer tokens, shape `(batch,)`."""
    return per_sequence_sum(values, inputs.answer_positions) / inputs.n_tokens.clamp(min=1)

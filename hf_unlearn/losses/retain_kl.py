from __future__ import annotations

from ..logprobs import reference_kl
from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean
from .registry import Paper, register_objective


@register_objective(
    "kl",
    role="retain",
    help="KL divergence from the reference's next-token distributions on the retain answers",
    paper=Paper(
        "Maini, Feng, Schwarzschild, Lipton, Kolter 2024, TOFU: A Task of Fictitious Unlearning for LLMs",
        "https://huggingface.co/papers/2401.06121",
    ),
)
class KLRetainLoss(UnlearningObjective):
    r"""KL divergence from the reference model on the retain answers.

    $$\mathcal{L}_{\mathrm{KL}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{n_i}\sum_{t \in \text{answer}_i}
    \mathrm{KL}\big(\pi_{\mathrm{ref}}(\cdot\mid x_i, y_{i,<t}) \,\|\, \pi_\theta(\cdot\mid x_i, y_{i,<t})\big)$$

    over the full vocabulary at every answer position, computed on those positions only (the trainer asks the model for
    no other logits); prompt and padding positions do not count (some reference implementations average over padding
    too, which dilutes the term on short answers).

    Used as the retain term of NPO+KL (Zhang et al. 2024, https://huggingface.co/papers/2404.05868) and of the TOFU
    "KL" baseline (Maini et al. 2024, https://huggingface.co/papers/2401.06121).
    """

    requires = frozenset({"ref_logits"})

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence its mean per-position KL; statistics: `kl`, the same value."""
        per_position = reference_kl(inputs.logits, inputs.ref_logits)
        per_sequence = token_mean(per_position, inputs)
        return per_sequence, {"kl": per_sequence.detach()}

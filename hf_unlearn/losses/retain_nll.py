from __future__ import annotations

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean_logps
from .registry import Paper, register_objective


@register_objective(
    "nll",
    role="retain",
    help="language-modelling loss on the retain answers",
    paper=Paper(
        "Liu, Liu, Stone 2022, Continual Learning and Private Unlearning", "https://huggingface.co/papers/2203.12817"
    ),
)
class NLLRetainLoss(UnlearningObjective):
    r"""Language-modelling loss on the retain set, to hold the model where it should not change.

    $$\mathcal{L}_{\mathrm{ret}} = \frac{1}{B}\sum_{i} -\frac{1}{n_i}\sum_t \log\pi_\theta(y_{i,t}\mid x_i,y_{i,<t})$$

    Added to GA it gives gradient difference (Liu et al. 2022, "Continual Learning and Private Unlearning",
    https://huggingface.co/papers/2203.12817; used as a baseline in TOFU, https://huggingface.co/papers/2401.06121);
    added to NPO it gives NPO+RT (https://huggingface.co/papers/2404.05868).
    """

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence its mean answer-token NLL; no extra statistics (the trainer logs NLL)."""
        return -token_mean_logps(inputs.logps, inputs.n_tokens), {}

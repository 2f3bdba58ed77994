from __future__ import annotations

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean_logps
from .registry import Paper, TrainerAlias, register_objective


@register_objective(
    "ga",
    role="forget",
    help="gradient ascent: raise the forget answers' NLL, unbounded",
    paper=Paper(
        "Jang et al. 2022, Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
        "https://huggingface.co/papers/2210.01504",
    ),
    default_retain_loss="none",
    trainers=(
        TrainerAlias(
            "GradientAscentTrainer",
            doc="Gradient ascent (GA) on the forget set, no retain term. See "
            "[`~hf_unlearn.losses.GradientAscentLoss`].\n\nKnown to collapse a model within an epoch or two; prefer "
            "[`NPOTrainer`] unless GA is what you study.",
        ),
        TrainerAlias(
            "GradientDifferenceTrainer",
            retain_loss="nll",
            method="gd",
            doc="Gradient difference (GD): gradient ascent on the forget set plus the usual language-modelling loss "
            "on retain.",
        ),
    ),
)
class GradientAscentLoss(UnlearningObjective):
    r"""Gradient ascent on the forget set (GA).

    Minimising the negative of the language-modelling loss pushes the probability of the forget answers down:

    $$\mathcal{L}_{\mathrm{GA}} = -\frac{1}{B}\sum_{i=1}^{B} \mathrm{NLL}_i, \qquad
    \mathrm{NLL}_i = -\frac{1}{n_i}\sum_{t} \log \pi_\theta(y_{i,t} \mid x_i, y_{i,<t})$$

    where $n_i$ is the number of answer tokens of sequence $i$. Each sequence's NLL is averaged over its own tokens
    before the batch mean, so the loss of a batch does not depend on how it is split into micro-batches (gradient
    accumulation, data parallelism).

    The loss is unbounded below: GA keeps pushing after the forget answers are gone and is known to collapse a model
    (Zhang et al. 2024, https://huggingface.co/papers/2404.05868).

    Papers: Jang et al. 2022, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
    https://huggingface.co/papers/2210.01504; Yao et al. 2023, "Large Language Model Unlearning",
    https://huggingface.co/papers/2310.10683.
    """

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence `-NLL_i`; no extra statistics (the trainer logs NLL)."""
        return token_mean_logps(inputs.logps, inputs.n_tokens), {}

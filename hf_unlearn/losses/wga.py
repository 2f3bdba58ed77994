from __future__ import annotations

import warnings

import torch

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean
from .registry import Hyperparameter, Paper, TrainerAlias, register_objective


BETA = Hyperparameter(
    "beta",
    1.0,
    help="WGA: exponent of each answer token's probability in its weight (>= 0, 0 is plain GA).",
    field="wga_beta",
    minimum=0,
    meaning="the exponent of the token probability in WGA's weight",
)


class TokenWeightedAscent(UnlearningObjective):
    r"""Gradient ascent with each answer token's log-prob weighted by a function of its own (detached) probability.

    $\mathcal{L} = \frac{1}{B}\sum_i \frac{1}{n_i}\sum_t w(p_{i,t})\,\log p_{i,t}$; a subclass defines $w$ in
    `token_weights`. Statistics: `weight`, each sequence's mean token weight (how much of GA's push is left).
    """

    def token_weights(self, probs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence its mean weighted answer-token log-prob, and its mean token weight."""
        weights = self.token_weights(inputs.token_logps.detach().exp())
        return token_mean(weights * inputs.token_logps, inputs), {"weight": token_mean(weights, inputs)}


@register_objective(
    "wga",
    role="forget",
    help="gradient ascent with each answer token weighted by its probability to the power wga_beta",
    paper=Paper(
        "Wang, Zhou, Zhou, Shin, Han, Weinberger 2025, Rethinking LLM Unlearning Objectives: A Gradient Perspective "
        "and Go Beyond",
        "https://huggingface.co/papers/2502.19301",
    ),
    hyperparameters=(BETA,),
    default_retain_loss="nll",
    trainers=(
        TrainerAlias(
            "WGATrainer",
            doc="Weighted gradient ascent (token weights `p ** wga_beta`) with a retain NLL term. See "
            "[`~hf_unlearn.losses.WGALoss`].",
        ),
    ),
)
class WGALoss(TokenWeightedAscent):
    r"""Weighted gradient ascent (WGA): gradient ascent with each answer token weighted by its own probability.

    $$w_{i,t} = \mathrm{sg}\big[\pi_\theta(y_{i,t}\mid x_i, y_{i,<t})\big]^{\beta}, \qquad
    \mathcal{L}_{\mathrm{WGA}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{n_i}\sum_{t}
    w_{i,t}\,\log\pi_\theta(y_{i,t}\mid x_i, y_{i,<t})$$

    where $\mathrm{sg}$ stops the gradient (the weight is a constant of each step). GA's gradient per token,
    $\nabla\log p = \nabla p / p$, grows without bound as a token is forgotten ($p \to 0$): the paper traces GA's
    excessive unlearning to this inverse-confidence factor. Weighting by $p^\beta$ damps it: at $\beta = 1$ the
    gradient is $\nabla p$, which vanishes as the token's probability does, so forgotten tokens stop pulling the model.
    $\beta = 0$ is plain GA.

    Paper: Wang, Zhou, Zhou, Shin, Han, Weinberger 2025, "Rethinking LLM Unlearning Objectives: A Gradient Perspective
    and Go Beyond", https://huggingface.co/papers/2502.19301.

    Where implementations differ, and what we do:

    - *Reduction.* The authors' code and open-unlearning average the weighted log-probs over all answer tokens of the
      batch, so long answers count more. We average each sequence over its own answer tokens before the batch mean,
      as GA does here, so the loss does not depend on how a batch is split; the two agree when all answers have the
      same length.
    - *The exponent.* open-unlearning's `beta` (default 1.0, the value its notes give for the paper's runs); the
      authors' code falls back to 5 when none is given. We default to 1.
    - *Retain term.* open-unlearning adds retain NLL (its WGA is a gradient-difference variant); the authors' code has
      a plain and a KL-regularised variant. `WGATrainer` defaults to retain NLL.

    Args:
        beta (`float`, *optional*, defaults to `1.0`):
            Exponent $\beta$ of the token probability in the weight (`UnlearningConfig.wga_beta`).
        power (`float`, *optional*):
            Deprecated name of `beta`.
    """

    def __init__(self, beta: float = BETA.default, *, power: float | None = None):
        if power is not None:
            warnings.warn("WGALoss(power=...) is deprecated; use WGALoss(beta=...).", FutureWarning, stacklevel=2)
            beta = power
        self.beta = BETA.check(beta)

    @property
    def power(self) -> float:
        """Deprecated name of `beta`."""
        warnings.warn("WGALoss.power is deprecated; use WGALoss.beta.", FutureWarning, stacklevel=2)
        return self.beta

    def token_weights(self, probs: torch.Tensor) -> torch.Tensor:
        return probs**self.beta

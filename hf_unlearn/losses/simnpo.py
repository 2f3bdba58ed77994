from __future__ import annotations

import torch.nn.functional as F

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean_logps
from .npo import BETA
from .registry import Hyperparameter, Paper, TrainerAlias, register_objective


SIMNPO_BETA = Hyperparameter(**{**vars(BETA), "default": 2.5})
DELTA = Hyperparameter("delta", 0.0, help="SimNPO's reward margin (the paper's gamma).", field="simnpo_delta")


@register_objective(
    "simnpo",
    role="forget",
    help="reference-free NPO on length-normalised log-probs",
    paper=Paper(
        "Fan et al. 2024, Simplicity Prevails: Rethinking Negative Preference Optimization for LLM Unlearning",
        "https://huggingface.co/papers/2410.07163",
    ),
    hyperparameters=(SIMNPO_BETA, DELTA),
    default_retain_loss="nll",
    trainers=(
        TrainerAlias(
            "SimNPOTrainer",
            doc="SimNPO (reference-free, length-normalised NPO) with a retain NLL term. See "
            "[`~hf_unlearn.losses.SimNPOLoss`].",
        ),
    ),
)
class SimNPOLoss(UnlearningObjective):
    r"""Simple NPO (SimNPO): NPO without a reference model, on length-normalised log-probs.

    $$\mathcal{L}_{\mathrm{SimNPO}} = -\frac{2}{\beta}\,\frac{1}{B}\sum_{i=1}^{B}
    \log\sigma\!\Big(-\frac{\beta}{n_i}\log\pi_\theta(y_i\mid x_i) - \delta\Big)$$

    We follow the paper's equation: the margin $\delta$ (the paper's $\gamma$) is *not* multiplied by $\beta$ (the
    open-unlearning implementation multiplies it; with `delta=0`, the default, the two agree).

    The margin is named `delta` here and `simnpo_delta` in [`UnlearningConfig`], not the paper's `gamma`, because
    `gamma` names another quantity in this library (UNDIAL's `undial_gamma`) and open-unlearning's SimNPO calls it
    `delta` too, so configurations carry over.

    Paper: Fan, Liu, Lin, Jia, Zhang, Mei, Liu 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization
    for LLM Unlearning", https://huggingface.co/papers/2410.07163.

    Args:
        beta (`float`, *optional*, defaults to `2.5`):
            Inverse temperature on the length-normalised log-prob. The paper tunes it per benchmark (values of a few
            units, far above NPO's 0.1, because the log-prob is per token here).
        delta (`float`, *optional*, defaults to `0.0`):
            Reward margin.
    """

    def __init__(self, beta: float = SIMNPO_BETA.default, delta: float = DELTA.default):
        self.beta = SIMNPO_BETA.check(beta)
        self.delta = DELTA.check(delta)

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence the SimNPO loss; no extra statistics (the trainer logs NLL)."""
        mean_logps = token_mean_logps(inputs.logps, inputs.n_tokens)
        return -(2.0 / self.beta) * F.logsigmoid(-self.beta * mean_logps - self.delta), {}

from __future__ import annotations

import torch.nn.functional as F

from .base import LossOutput, ObjectiveInputs, UnlearningObjective
from .registry import Hyperparameter, Paper, Recipe, TrainerAlias, register_objective


BETA = Hyperparameter(
    "beta",
    0.1,
    help="Inverse temperature of NPO / SimNPO / DPO. Defaults to 0.1 for NPO (Zhang et al. 2024) and DPO (TOFU), "
    "2.5 for SimNPO.",
    field="beta",
    minimum=0,
    strict=True,
    meaning="the inverse temperature of NPO / SimNPO",
)


@register_objective(
    "npo",
    role="forget",
    help="negative preference optimization: push the forget answers below the reference, bounded",
    paper=Paper(
        "Zhang, Lin, Bai, Mei 2024, Negative Preference Optimization: From Catastrophic Collapse to Effective "
        "Unlearning",
        "https://huggingface.co/papers/2404.05868",
    ),
    hyperparameters=(BETA,),
    default_retain_loss="nll",
    trainers=(
        TrainerAlias(
            "NPOTrainer",
            doc="Negative preference optimization with a retain NLL term (NPO+RT); set `retain_weight=0` for plain "
            "NPO.\n\nSee [`~hf_unlearn.losses.NPOLoss`].",
        ),
    ),
    recipes=(
        Recipe(
            "a model fine-tuned on the forget data (TOFU)",
            "beta 0.1",
            retain_loss="nll",
            config="examples/configs/tofu_npo.yaml",
        ),
    ),
)
class NPOLoss(UnlearningObjective):
    r"""Negative preference optimization (NPO) on the forget set.

    DPO with only a dispreferred answer: the forget answers are pushed below the reference model's probability, with a
    bounded loss whose gradient vanishes as they are forgotten, so it does not collapse the model as GA does:

    $$\mathcal{L}_{\mathrm{NPO}} = -\frac{2}{\beta}\,\frac{1}{B}\sum_{i=1}^{B}
    \log\sigma\!\Big(-\beta\big(\log\pi_\theta(y_i\mid x_i) - \log\pi_{\mathrm{ref}}(y_i\mid x_i)\big)\Big)$$

    with $\log\pi(y\mid x)$ the *sum* of the answer-token log-probs. At $\theta = \mathrm{ref}$ the loss is
    $\frac{2}{\beta}\ln 2$ (13.86 for $\beta = 0.1$); as $\beta \to 0$ it becomes GA.

    Paper: Zhang, Lin, Bai, Mei 2024, "Negative Preference Optimization: From Catastrophic Collapse to Effective
    Unlearning", https://huggingface.co/papers/2404.05868.

    Args:
        beta (`float`, *optional*, defaults to `0.1`):
            Inverse temperature; the paper's default.
    """

    requires = frozenset({"ref_logps"})

    def __init__(self, beta: float = BETA.default):
        self.beta = BETA.check(beta)

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence the NPO loss; statistics: the reference log-prob and the log-ratio."""
        log_ratio = inputs.logps - inputs.ref_logps
        loss = -(2.0 / self.beta) * F.logsigmoid(-self.beta * log_ratio)
        return loss, {"ref_logps": inputs.ref_logps.detach(), "log_ratio": log_ratio.detach()}

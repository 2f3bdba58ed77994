from __future__ import annotations

import torch

from .registry import Hyperparameter, Paper, TrainerAlias, register_objective
from .wga import TokenWeightedAscent


BETA1 = Hyperparameter(
    "beta1",
    5.0,
    help="SatImp: saturation exponent, on the token probability p (>= 0).",
    field="satimp_beta1",
    minimum=0,
    meaning="the saturation exponent of SatImp, on p",
)
BETA2 = Hyperparameter(
    "beta2",
    1.0,
    help="SatImp: importance exponent, on 1 - p (>= 0).",
    field="satimp_beta2",
    minimum=0,
    meaning="the importance exponent of SatImp, on 1 - p",
)


@register_objective(
    "satimp",
    role="forget",
    help="gradient ascent with token weights p^beta1 (1 - p)^beta2 (saturation and importance)",
    paper=Paper(
        "Yang, Wang, Huang, Liu, Zhang, Han 2025, Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning",
        "https://huggingface.co/papers/2505.11953",
    ),
    hyperparameters=(BETA1, BETA2),
    default_retain_loss="nll",
    trainers=(
        TrainerAlias(
            "SatImpTrainer",
            doc="SatImp token-reweighted gradient ascent with a retain NLL term. See "
            "[`~hf_unlearn.losses.SatImpLoss`].",
        ),
    ),
)
class SatImpLoss(TokenWeightedAscent):
    r"""SatImp: gradient ascent with answer tokens reweighted for saturation and importance.

    $$p_{i,t} = \mathrm{sg}\big[\pi_\theta(y_{i,t}\mid x_i, y_{i,<t})\big], \qquad
    w_{i,t} = p_{i,t}^{\beta_1}\,(1 - p_{i,t})^{\beta_2}, \qquad
    \mathcal{L}_{\mathrm{SatImp}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{n_i}\sum_{t}
    w_{i,t}\,\log\pi_\theta(y_{i,t}\mid x_i, y_{i,<t})$$

    where $\mathrm{sg}$ stops the gradient. The paper separates two goals of loss reweighting: *saturation* (stop
    spending effort on tokens already unlikely, the factor $p^{\beta_1}$, as in WGA) and *importance* (emphasise the
    tokens that carry the knowledge, which it finds are the less likely ones: the factor $(1-p)^{\beta_2}$). With the
    defaults the weight peaks at $p = \beta_1 / (\beta_1 + \beta_2) = 5/6$ and falls to 0 at both ends, smoothly.
    $\beta_1 = \beta_2 = 0$ is plain GA; $\beta_2 = 0$ is WGA.

    Paper: Yang, Wang, Huang, Liu, Zhang, Han 2025, "Exploring Criteria of Loss Reweighting to Enhance LLM
    Unlearning", https://huggingface.co/papers/2505.11953 (code: https://github.com/tmlr-group/SatImp).

    Where implementations differ, and what we do:

    - *Reduction.* The authors' code and open-unlearning average the weighted log-probs over all answer tokens of the
      batch. We average each sequence over its own answer tokens before the batch mean, as GA does here; the two agree
      when all answers have the same length.
    - *Defaults.* open-unlearning uses $\beta_1 = 5$, $\beta_2 = 1$ (its trainer, its config and its notes on the
      paper's setup); the authors' README recommends $\beta_1 = 5$, $\beta_2 = 0.1$. We follow open-unlearning.
    - *Retain term.* Both implementations offer retain NLL (the authors' `satimp_gd`, weight 0.1 against the forget
      term; open-unlearning's SatImp is a gradient-difference variant). `SatImpTrainer` defaults to
      retain NLL.

    Args:
        beta1 (`float`, *optional*, defaults to `5.0`):
            Saturation exponent, on the token probability (`UnlearningConfig.satimp_beta1`).
        beta2 (`float`, *optional*, defaults to `1.0`):
            Importance exponent, on one minus the token probability (`UnlearningConfig.satimp_beta2`).
    """

    def __init__(self, beta1: float = BETA1.default, beta2: float = BETA2.default):
        self.beta1 = BETA1.check(beta1)
        self.beta2 = BETA2.check(beta2)

    def token_weights(self, probs: torch.Tensor) -> torch.Tensor:
        return probs**self.beta1 * (1 - probs) ** self.beta2

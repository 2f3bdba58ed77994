from __future__ import annotations

import torch.nn.functional as F

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean_logps
from .npo import BETA
from .registry import Paper, TrainerAlias, register_objective


@register_objective(
    "dpo",
    role="forget",
    help="DPO with the forget answer dispreferred to an alternative one, e.g. a refusal (IdkDPO)",
    paper=Paper(
        "Rafailov et al. 2023, Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
        "https://huggingface.co/papers/2305.18290",
    ),
    hyperparameters=(BETA,),
    default_retain_loss="nll",
    trainers=(
        TrainerAlias(
            "IdkDPOTrainer",
            method="idkdpo",
            doc="IdkDPO: DPO with the forget answer dispreferred to a refusal (or the row's `alternative` answer), "
            "plus a retain NLL term as open-unlearning trains it (TOFU's original code has no retain term: set "
            '`retain_loss="none"`). See [`~hf_unlearn.losses.DPOLoss`].\n\nThe alternative answers come from '
            '`UnlearningConfig.alternative_source` (`"auto"`: the forget set\'s `alternative` column when it has one, '
            "else a seeded refusal per row).",
        ),
    ),
)
class DPOLoss(UnlearningObjective):
    r"""DPO on the forget set: each forget answer is the dispreferred answer, an alternative one (a refusal by
    default, as in TOFU's IdkDPO baseline) the preferred answer, to the same prompt.

    $$\mathcal{L}_{\mathrm{DPO}} = -\frac{2}{\beta}\,\frac{1}{B}\sum_{i=1}^{B}
    \log\sigma\Big(\beta\big(r(a_i) - r(y_i)\big)\Big), \qquad
    r(y) = \log\pi_\theta(y\mid x_i) - \log\pi_{\mathrm{ref}}(y\mid x_i)$$

    with $y_i$ the forget answer, $a_i$ the alternative answer, and $\log\pi(y\mid x)$ the *sum* of the answer-token
    log-probs. At $\theta = \mathrm{ref}$ the loss is $\frac{2}{\beta}\ln 2$ (13.86 for $\beta = 0.1$), as for NPO;
    without its preferred term it is NPO ([`~hf_unlearn.losses.NPOLoss`]).

    Scaling: we follow open-unlearning (`compute_dpo_loss`, `beta` 0.1 in its DPO config), which multiplies DPO's
    loss by $2/\beta$ as NPO does, so that learning rates and retain weights tuned for NPO carry over. The DPO paper
    and TOFU's original code minimise $-\log\sigma(\cdot)$ with $\beta = 0.1$, which is this loss times $\beta/2$:
    set `forget_weight=beta/2` to train exactly that (with Adam, a constant factor on the whole loss changes little;
    against a retain term it changes the balance).

    Papers: Rafailov, Sharma, Mitchell, Ermon, Manning, Finn 2023, "Direct Preference Optimization: Your Language
    Model is Secretly a Reward Model", https://huggingface.co/papers/2305.18290; Maini, Feng, Schwarzschild, Lipton,
    Kolter 2024, "TOFU: A Task of Fictitious Unlearning for LLMs", https://huggingface.co/papers/2401.06121.

    Args:
        beta (`float`, *optional*, defaults to `0.1`):
            Inverse temperature; TOFU's and open-unlearning's value.
    """

    requires = frozenset({"ref_logps", "alt_logps", "ref_alt_logps"})

    def __init__(self, beta: float = BETA.default):
        self.beta = BETA.check(beta)

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence the DPO loss; statistics: both log-ratios and the alternative answer's per-token NLL."""
        log_ratio = inputs.logps - inputs.ref_logps
        alt_log_ratio = inputs.alt_logps - inputs.ref_alt_logps
        loss = -(2.0 / self.beta) * F.logsigmoid(self.beta * (alt_log_ratio - log_ratio))
        return loss, {
            "log_ratio": log_ratio.detach(),
            "alt_log_ratio": alt_log_ratio.detach(),
            "alt_nll": -token_mean_logps(inputs.alt_logps.detach(), inputs.alt_n_tokens),
        }

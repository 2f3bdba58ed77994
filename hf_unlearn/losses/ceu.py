from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean
from .registry import Paper, TrainerAlias, register_objective


@register_objective(
    "ceu",
    role="forget",
    help="cross-entropy toward the model's own next-token distribution with the answer token removed",
    paper=Paper("Yang 2025, CE-U: Cross Entropy Unlearning", "https://huggingface.co/papers/2503.01224"),
    default_retain_loss="none",
    trainers=(
        TrainerAlias(
            "CEUTrainer",
            doc="CE-U: cross-entropy toward the model's own next-token distribution with the answer token removed. "
            "No retain term by default, as in the paper (set `retain_loss`). See [`~hf_unlearn.losses.CEULoss`].",
        ),
    ),
)
class CEULoss(UnlearningObjective):
    r"""Cross Entropy Unlearning (CE-U): at each forget answer position, distil the policy toward its own current
    next-token distribution with the answer token taken out.

    $$q_{i,t} = \mathrm{softmax}\big(\mathrm{sg}[z_{i,t}] - \infty\, e_{y_{i,t}}\big), \qquad
    \mathcal{L}_{\mathrm{CE\text{-}U}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{n_i}\sum_{t}
    -\sum_{v} q_{i,t,v}\,\log\pi_\theta(v\mid x_i, y_{i,<t})$$

    with $z_{i,t}$ the policy's logits at the position that predicts answer token $y_{i,t}$, $\mathrm{sg}$ a stopped
    gradient and $e_y$ the one-hot vector of $y$: the target gives the answer token probability 0 and every other
    token its current probability, renormalised. The gradient with respect to the logits is
    $\pi_\theta - q$: the answer token's logit is lowered by its own probability, a push that fades as the token is
    forgotten instead of growing as gradient ascent's does, and the freed mass goes to the tokens the model already
    finds plausible. It needs no reference model and no retain data (the paper uses neither); the loss is bounded
    below by the target's entropy. UNDIAL ([`UNDIALLoss`]) is the same construction on a frozen reference's logits,
    with the answer token's logit lowered by a finite amount.

    Paper: Yang 2025, "CE-U: Cross Entropy Unlearning", https://huggingface.co/papers/2503.01224.

    Where implementations differ, and what we do:

    - *Which positions.* open-unlearning's CE-U skips the first answer token of each sequence by default
      (`ignore_first_n_answer_tokens=1`) and averages over all scored tokens of the batch. We score every answer
      token, as every objective here does, and average each sequence over its own tokens before the batch mean, so
      the loss does not depend on how a batch is split.
    - *Cross-entropy.* We report the cross-entropy, the paper's loss. Its gradient equals that of the KL divergence
      from the target, which differs by the target's entropy (a constant of each step).

    Statistics: `answer_prob`, each sequence's mean probability of its answer tokens (what the target sets to 0).
    """

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence its mean per-position cross-entropy from the target; statistics: `answer_prob`."""
        logits = inputs.logits.float()
        log_probs = F.log_softmax(logits, dim=-1)
        answer = inputs.targets[:, None]
        target = F.softmax(logits.detach().scatter(-1, answer, float("-inf")), dim=-1)
        # 0 * log p is 0 where the target is 0 (the answer token; any token the model rules out entirely).
        per_position = -torch.where(target > 0, target * log_probs, 0.0).sum(dim=-1)
        answer_prob = log_probs.detach().gather(-1, answer).squeeze(-1).exp()
        return token_mean(per_position, inputs), {"answer_prob": token_mean(answer_prob, inputs)}

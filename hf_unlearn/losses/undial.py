from __future__ import annotations

import torch

from ..logprobs import reference_kl
from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean
from .registry import Hyperparameter, Paper, Recipe, TrainerAlias, register_objective


GAMMA = Hyperparameter(
    "gamma",
    10.0,
    help="UNDIAL: how much the answer token's reference logit is lowered in the target (>= 0).",
    field="undial_gamma",
    minimum=0,
    meaning="the logit adjustment of UNDIAL",
)


@register_objective(
    "undial",
    role="forget",
    help="self-distillation toward the reference with the answer token's logit lowered",
    paper=Paper(
        "Dong, Lin, Belkin, Huerta, Vulic 2024, UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning "
        "in Large Language Models",
        "https://huggingface.co/papers/2402.10052",
    ),
    hyperparameters=(GAMMA,),
    default_retain_loss="none",
    trainers=(
        TrainerAlias(
            "UNDIALTrainer",
            doc="UNDIAL: self-distillation toward the reference with the answer token's logit lowered. No retain "
            "term by default, as in the paper (set `retain_loss`). See [`~hf_unlearn.losses.UNDIALLoss`].",
        ),
    ),
    recipes=(
        Recipe(
            "a pretrained chat model, its own knowledge",
            "learning rate 3e-5 (SmolLM2-135M-Instruct; sweep it on yours)",
            retain_loss="nll",
            config="examples/configs/chat_knowledge_undial.yaml",
            evidence="docs/benchmarks.md#real-model-real-knowledge",
        ),
    ),
)
class UNDIALLoss(UnlearningObjective):
    r"""UNDIAL: self-distillation toward the reference model with the answer token's logit lowered.

    At each forget answer position the target distribution is the reference model's, with the logit of the token
    that the answer actually continues with lowered by $\gamma$; the policy is distilled toward it:

    $$\tilde z_{i,t} = z^{\mathrm{ref}}_{i,t} - \gamma\, e_{y_{i,t}}, \qquad
    \mathcal{L}_{\mathrm{UNDIAL}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{n_i}\sum_{t}
    \mathrm{KL}\big(\mathrm{softmax}(\tilde z_{i,t}) \,\|\, \pi_\theta(\cdot\mid x_i, y_{i,<t})\big)$$

    with $z^{\mathrm{ref}}_{i,t}$ the reference logits and $e_{y}$ the one-hot vector of token $y$. The target is
    fixed (it depends on the reference only), so the loss is bounded below by 0 and training converges instead of
    ascending without end as GA does; the answer token loses probability mass to the tokens the reference already
    found plausible, in proportion to their reference probabilities.

    Paper: Dong, Lin, Belkin, Huerta, Vulić 2024, "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning
    in Large Language Models", https://huggingface.co/papers/2402.10052.

    Where implementations differ, and what we do:

    - *Cross-entropy or KL.* The paper and open-unlearning minimise the cross-entropy from the adjusted distribution;
      we compute the KL divergence, which is that cross-entropy minus the target's entropy (a constant in $\theta$):
      the gradients are identical (`softmax(policy) - softmax(target)` per position), and the logged value is 0 when
      the policy matches its target.
    - *Which positions.* open-unlearning averages over every position of the batch, prompt and padding included (where
      the `-100` label also lowers a fixed vocabulary entry, counted from the end). We score the forget answer
      positions only and average each sequence over its own answer tokens before the batch mean, as every objective
      here does, so the loss does not depend on padding or on how a batch is split.
    - *The strength.* The paper's $\gamma$ is open-unlearning's `beta`; its default config uses 10 and its notes
      suggest searching 3, 10 and 30. We default to 10.

    Args:
        gamma (`float`, *optional*, defaults to `10.0`):
            How much the answer token's reference logit is lowered. `0` distils toward the reference unchanged
            (nothing is forgotten); larger values move more probability away from the answer token.
    """

    requires = frozenset({"ref_logits"})

    def __init__(self, gamma: float = GAMMA.default):
        self.gamma = GAMMA.check(gamma)

    def adjusted_logits(self, ref_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The reference logits with each position's target token lowered by `gamma` (a copy, in their dtype)."""
        lowered = ref_logits.gather(-1, targets[:, None]).float() - self.gamma
        return ref_logits.scatter(-1, targets[:, None], lowered.to(ref_logits.dtype))

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence its mean per-position KL from the adjusted target; no extra statistics (`loss` is the KL)."""
        target = self.adjusted_logits(inputs.ref_logits, inputs.targets)
        per_position = reference_kl(inputs.logits, target)
        return token_mean(per_position, inputs), {}

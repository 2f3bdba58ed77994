from __future__ import annotations

import torch

from .base import LossOutput, token_mean_logps


class GradientAscentLoss:
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

    needs_reference = False

    def __call__(
        self, logps: torch.Tensor, n_tokens: torch.Tensor, ref_logps: torch.Tensor | None = None
    ) -> LossOutput:
        """
        Args:
            logps (`torch.Tensor` of shape `(batch,)`):
                Sum of the answer-token log-probs of each forget sequence under the policy.
            n_tokens (`torch.Tensor` of shape `(batch,)`):
                Number of answer tokens of each sequence.
            ref_logps (`torch.Tensor`, *optional*):
                Ignored; GA uses no reference.

        Returns:
            `tuple[torch.Tensor, dict[str, torch.Tensor]]`: the loss and no extra statistics (the trainer logs NLL).
        """
        nll = -token_mean_logps(logps, n_tokens)
        return -nll.mean(), {}

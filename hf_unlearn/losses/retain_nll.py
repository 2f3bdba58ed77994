from __future__ import annotations

import torch

from .base import LossOutput, token_mean_logps


class NLLRetainLoss:
    r"""Language-modelling loss on the retain set, to hold the model where it should not change.

    $$\mathcal{L}_{\mathrm{ret}} = \frac{1}{B}\sum_{i} -\frac{1}{n_i}\sum_t \log\pi_\theta(y_{i,t}\mid x_i,y_{i,<t})$$

    Added to GA it gives gradient difference (Liu et al. 2022, "Continual Learning and Private Unlearning",
    https://huggingface.co/papers/2203.12817; used as a baseline in TOFU, https://huggingface.co/papers/2401.06121);
    added to NPO it gives NPO+RT (https://huggingface.co/papers/2404.05868).
    """

    needs_reference = False
    token_level = False

    def __call__(self, logps: torch.Tensor, n_tokens: torch.Tensor) -> LossOutput:
        """
        Args:
            logps (`torch.Tensor` of shape `(batch,)`):
                Sum of the answer-token log-probs of each retain sequence under the policy.
            n_tokens (`torch.Tensor` of shape `(batch,)`):
                Number of answer tokens of each sequence.

        Returns:
            `tuple[torch.Tensor, dict[str, torch.Tensor]]`: the loss and no extra statistics (the trainer logs NLL).
        """
        nll = -token_mean_logps(logps, n_tokens).mean()
        return nll, {}

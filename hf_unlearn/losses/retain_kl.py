from __future__ import annotations

import torch

from .base import LossOutput


class KLRetainLoss:
    r"""KL divergence from the reference model on the retain answers.

    $$\mathcal{L}_{\mathrm{KL}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{n_i}\sum_{t \in \text{answer}_i}
    \mathrm{KL}\big(\pi_{\mathrm{ref}}(\cdot\mid x_i, y_{i,<t}) \,\|\, \pi_\theta(\cdot\mid x_i, y_{i,<t})\big)$$

    over the full vocabulary at every answer position; prompt and padding positions are masked out (some reference
    implementations average over padding too, which dilutes the term on short answers).

    Used as the retain term of NPO+KL (Zhang et al. 2024, https://huggingface.co/papers/2404.05868) and of the TOFU
    "KL" baseline (Maini et al. 2024, https://huggingface.co/papers/2401.06121).
    """

    needs_reference = True
    token_level = True

    def __call__(
        self, token_logprobs: torch.Tensor, ref_token_logprobs: torch.Tensor, answer_mask: torch.Tensor
    ) -> LossOutput:
        """
        Args:
            token_logprobs (`torch.Tensor` of shape `(batch, positions, vocab)`):
                Policy log-softmax at the positions that predict answer tokens (already shifted).
            ref_token_logprobs (`torch.Tensor` of shape `(batch, positions, vocab)`):
                Reference log-softmax at the same positions.
            answer_mask (`torch.Tensor` of shape `(batch, positions)`):
                1 where the position predicts an answer token, 0 elsewhere.

        Returns:
            `tuple[torch.Tensor, dict[str, torch.Tensor]]`: the loss and `{"kl": the KL of each sequence}`.
        """
        per_position = (ref_token_logprobs.exp() * (ref_token_logprobs - token_logprobs)).sum(-1)
        mask = answer_mask.to(per_position.dtype)
        per_sequence = (per_position * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        return per_sequence.mean(), {"kl": per_sequence.detach()}

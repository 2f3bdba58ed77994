from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LossOutput, check_beta


class NPOLoss:
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

    needs_reference = True

    def __init__(self, beta: float = 0.1):
        self.beta = check_beta(beta)

    def __call__(
        self, logps: torch.Tensor, n_tokens: torch.Tensor, ref_logps: torch.Tensor | None = None
    ) -> LossOutput:
        """
        Args:
            logps (`torch.Tensor` of shape `(batch,)`):
                Sum of the answer-token log-probs of each forget sequence under the policy.
            n_tokens (`torch.Tensor` of shape `(batch,)`):
                Number of answer tokens of each sequence (unused by the formula, kept for a uniform signature).
            ref_logps (`torch.Tensor` of shape `(batch,)`):
                The same sums under the reference model.

        Returns:
            `tuple[torch.Tensor, dict[str, torch.Tensor]]`: the loss, and per sequence the reference log-prob and the
            log-ratio.
        """
        if ref_logps is None:
            raise ValueError("NPOLoss needs `ref_logps`, the reference model's log-probs of the forget answers.")
        log_ratio = logps - ref_logps
        loss = -(2.0 / self.beta) * F.logsigmoid(-self.beta * log_ratio).mean()
        return loss, {"ref_logps": ref_logps.detach(), "log_ratio": log_ratio.detach()}

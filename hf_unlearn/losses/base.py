"""What every unlearning objective has in common."""

from __future__ import annotations

import torch


LossOutput = tuple[torch.Tensor, dict[str, torch.Tensor]]
"""A scalar loss to back-propagate and a dict of detached statistics to log."""


def token_mean_logps(logps: torch.Tensor, n_tokens: torch.Tensor) -> torch.Tensor:
    """Per-sequence log-prob averaged over its answer tokens, `logp / n`.

    Every sequence that reaches a loss has at least one answer token (the data module refuses rows whose answer is
    truncated away), but the clamp keeps a hand-built batch from dividing by zero.
    """
    return logps / n_tokens.clamp(min=1)

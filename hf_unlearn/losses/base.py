"""What every unlearning objective has in common."""

from __future__ import annotations

import torch


LossOutput = tuple[torch.Tensor, dict[str, torch.Tensor]]
"""A scalar loss to back-propagate, and detached statistics to log, one value per sequence.

Every objective is a mean over the sequences of a batch, so the loss of one sequence is the loss of a batch of one:
the trainer relies on this to average statistics exactly over an evaluation set split across processes.
"""


def token_mean_logps(logps: torch.Tensor, n_tokens: torch.Tensor) -> torch.Tensor:
    """Per-sequence log-prob averaged over its answer tokens, `logp / n`.

    Every sequence that reaches a loss has at least one answer token (the data module refuses rows whose answer is
    truncated away), but the clamp keeps a hand-built batch from dividing by zero.
    """
    return logps / n_tokens.clamp(min=1)


def check_beta(beta: float) -> float:
    """Refuse an inverse temperature that is not positive (NPO and SimNPO divide by it and scale log-ratios by it)."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (the inverse temperature of NPO / SimNPO), got beta={beta}.")
    return beta

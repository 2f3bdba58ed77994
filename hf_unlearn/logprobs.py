"""The one place where logits become answer log-probs."""

from __future__ import annotations

import torch
from trl.trainer.utils import selective_log_softmax


IGNORE_INDEX = -100


def next_token_view(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align logits with the tokens they predict.

    Args:
        logits (`torch.Tensor` of shape `(batch, seq, vocab)`):
            Model output. Extra leading positions (e.g. virtual tokens of prompt-tuning adapters) are dropped.
        labels (`torch.Tensor` of shape `(batch, seq)`):
            Token ids, `-100` where a token is not an answer token (prompt, padding).

    Returns:
        `tuple`: logits at positions `0..seq-2`, the labels they predict (`1..seq-1`, `-100` replaced by 0 so they can
        index), and the boolean answer mask.
    """
    logits = logits[:, -labels.size(1) :][:, :-1]
    targets = labels[:, 1:]
    answer_mask = targets != IGNORE_INDEX
    return logits, targets.masked_fill(~answer_mask, 0), answer_mask


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of answer-token log-probs and number of answer tokens of each sequence.

    Args:
        logits (`torch.Tensor` of shape `(batch, seq, vocab)`):
            Model output for `input_ids`.
        labels (`torch.Tensor` of shape `(batch, seq)`):
            `input_ids` with `-100` on every non-answer token.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `logps` (float32, shape `(batch,)`) and `n_tokens` (shape `(batch,)`).
    """
    logits, targets, answer_mask = next_token_view(logits, labels)
    # Upcast so that bf16/fp16 models do not lose the small differences NPO's log-ratio is made of.
    token_logps = selective_log_softmax(logits.float(), targets)
    return token_logps.masked_fill(~answer_mask, 0.0).sum(-1), answer_mask.sum(-1)


def answer_token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Full next-token log-distributions at answer-predicting positions, for token-level objectives (KL).

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: float32 log-softmax of shape `(batch, seq-1, vocab)` and the answer mask
        of shape `(batch, seq-1)`.
    """
    logits, _, answer_mask = next_token_view(logits, labels)
    return logits.float().log_softmax(-1), answer_mask

"""The one place where logits become answer log-probs."""

from __future__ import annotations

import torch


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


def gathered_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`log_softmax(logits)` read at `index` only, without materialising the full log-distribution.

    `log p(i) = logit_i - logsumexp(logits)`, computed one sequence at a time so that the extra memory is one
    `(seq, vocab)` slice rather than a second `(batch, seq, vocab)` tensor.

    Args:
        logits (`torch.Tensor` of shape `(batch, seq, vocab)`):
            Scores; use float32 or wider (the trainer upcasts before calling).
        index (`torch.Tensor` of shape `(batch, seq)`):
            Token id to read at each position.

    Returns:
        `torch.Tensor` of shape `(batch, seq)`: the log-probability of each indexed token.
    """
    picked = logits.gather(-1, index.unsqueeze(-1)).squeeze(-1)
    normalisers = torch.stack([torch.logsumexp(row, dim=-1) for row in logits])
    return picked - normalisers


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
    token_logps = gathered_log_softmax(logits.float(), targets)
    return token_logps.masked_fill(~answer_mask, 0.0).sum(-1), answer_mask.sum(-1)


def answer_token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Full next-token log-distributions at answer-predicting positions, for token-level objectives (KL).

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: float32 log-softmax of shape `(batch, seq-1, vocab)` and the answer mask
        of shape `(batch, seq-1)`.
    """
    logits, _, answer_mask = next_token_view(logits, labels)
    return logits.float().log_softmax(-1), answer_mask

"""The one place where logits become answer log-probs.

Only positions that predict an answer token are ever scored, so the trainer asks the model for logits at those
positions only (transformers' `logits_to_keep` with a boolean mask): a `(answer tokens, vocabulary)` tensor instead
of `(batch, length, vocabulary)`. The two reductions every objective needs from such logits, the log-prob of the
target token and the KL divergence from a reference, are computed in float32 chunks of positions with hand-written
gradients, so that neither materialises a second full-size float32 tensor: at a vocabulary of 128k or more, those
tensors, not the model, set the memory of a step.
"""

from __future__ import annotations

import inspect

import torch


IGNORE_INDEX = -100

# Elements per float32 chunk: 64 MiB per scratch tensor whatever the vocabulary (130 positions at a vocabulary of
# 128k; all positions of a batch at once below a vocabulary of a few thousand). Above glibc's largest mmap threshold
# (32 MiB), so each scratch tensor goes back to the system when freed instead of staying in the heap as resident
# memory (16 MiB chunks measured a higher peak RSS at 128k).
CHUNK_ELEMENTS = 2**24


def next_token_view(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align full `(batch, seq, vocab)` logits with the tokens they predict.

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


def predicting_positions(labels: torch.Tensor) -> torch.Tensor:
    """Boolean `(batch, seq)` mask of the positions whose next token is an answer token (what `logits_to_keep` takes).

    Row-major order of its `True` entries is the order of every flat per-token tensor of this module.
    """
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return mask


def answer_targets(labels: torch.Tensor) -> torch.Tensor:
    """The answer tokens of a batch, flat `(answer tokens,)`, in the order of `predicting_positions`."""
    targets = labels[:, 1:]
    return targets[targets != IGNORE_INDEX]


def per_sequence_sum(values: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Sum flat per-token `values` back into one value per sequence.

    Args:
        values (`torch.Tensor` of shape `(answer tokens,)`):
            One value per `True` entry of `positions`, in row-major order.
        positions (`torch.Tensor` of shape `(batch, seq)`):
            The boolean mask the values were taken at.
    """
    rows = positions.nonzero()[:, 0]
    return values.new_zeros(positions.size(0)).index_add(0, rows, values)


def _chunks(logits: torch.Tensor):
    size = max(1, CHUNK_ELEMENTS // max(1, logits.size(-1)))
    return [slice(start, start + size) for start in range(0, logits.size(0), size)]


class _SelectedLogProbs(torch.autograd.Function):
    """`log_softmax(logits)[i, targets[i]]`, chunked; gradient `onehot - softmax` recomputed from saved normalisers."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        normalisers = torch.cat([torch.logsumexp(logits[chunk].float(), dim=-1) for chunk in _chunks(logits)])
        picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1).float()
        ctx.save_for_backward(logits, targets, normalisers)
        return picked - normalisers

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        logits, targets, normalisers = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for chunk in _chunks(logits):
            probs = (logits[chunk].float() - normalisers[chunk, None]).exp()
            grad_chunk = -probs * grad_output[chunk, None]
            grad_chunk.scatter_add_(-1, targets[chunk, None], grad_output[chunk, None])
            grad[chunk] = grad_chunk.to(logits.dtype)
        return grad, None


class _ReferenceKL(torch.autograd.Function):
    """`KL(softmax(ref_logits) || softmax(logits))` per row, chunked; gradient `softmax(logits) - softmax(ref)`."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
        kl = []
        for chunk in _chunks(logits):
            log_p = logits[chunk].float().log_softmax(-1)
            log_q = ref_logits[chunk].float().log_softmax(-1)
            kl.append((log_q.exp() * (log_q - log_p)).sum(-1))
        ctx.save_for_backward(logits, ref_logits)
        return torch.cat(kl) if kl else logits.new_zeros(0, dtype=torch.float32)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        logits, ref_logits = ctx.saved_tensors
        grad = torch.empty_like(logits)
        for chunk in _chunks(logits):
            p = logits[chunk].float().softmax(-1)
            q = ref_logits[chunk].float().softmax(-1)
            grad[chunk] = ((p - q) * grad_output[chunk, None]).to(logits.dtype)
        return grad, None


def selected_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Float32 log-probability of each target token, `log_softmax(logits)[i, targets[i]]`.

    Args:
        logits (`torch.Tensor` of shape `(positions, vocab)`):
            Scores in any float dtype; upcast to float32 one chunk at a time, so bf16 / fp16 models do not lose the
            small differences NPO's log-ratio is made of.
        targets (`torch.Tensor` of shape `(positions,)`):
            Token id to read at each position.
    """
    return _SelectedLogProbs.apply(logits, targets)


def reference_kl(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    r"""Float32 $\mathrm{KL}(\pi_{\mathrm{ref}} \| \pi_\theta)$ of each position, over the full vocabulary.

    Args:
        logits (`torch.Tensor` of shape `(positions, vocab)`):
            Policy scores (gradients flow to them).
        ref_logits (`torch.Tensor` of shape `(positions, vocab)`):
            Scores of the target distribution (a reference model's, or adjusted ones); no gradient.
    """
    return _ReferenceKL.apply(logits, ref_logits.detach())


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of answer-token log-probs and number of answer tokens of each sequence, from full logits.

    Args:
        logits (`torch.Tensor` of shape `(batch, seq, vocab)`):
            Model output for `input_ids`.
        labels (`torch.Tensor` of shape `(batch, seq)`):
            `input_ids` with `-100` on every non-answer token.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `logps` (float32, shape `(batch,)`) and `n_tokens` (shape `(batch,)`).
    """
    logits, targets, answer_mask = next_token_view(logits, labels)
    token_logps = selected_logps(logits[answer_mask], targets[answer_mask])
    return per_sequence_sum(token_logps, answer_mask), answer_mask.sum(-1)


def accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    """Whether `model(..., logits_to_keep=mask)` slices hidden states by a boolean mask before the LM head.

    True for transformers' causal LMs (directly or under a LoRA-style adapter); False for prompt-learning adapters,
    whose virtual tokens shift every position, and for models whose `forward` has no such argument.
    """
    prompt_learning = getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False)
    if prompt_learning:
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def answer_logits(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    slice_in_model: bool = True,
) -> torch.Tensor:
    """Logits at the positions that predict answer tokens only, `(answer tokens, vocab)`, in row-major order.

    Args:
        model (`torch.nn.Module`):
            The model to run, possibly wrapped (DDP, FSDP, DeepSpeed): the forward always goes through the wrapper.
        slice_in_model (`bool`, *optional*, defaults to `True`):
            Pass `logits_to_keep=predicting_positions(labels)`, so the LM head runs on answer positions only (check
            once with `accepts_logits_to_keep`); otherwise full logits are computed and sliced here.
    """
    kwargs = {"logits_to_keep": predicting_positions(labels)} if slice_in_model else {}
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs).logits
    if logits.dim() == 2:  # sliced by logits_to_keep
        return logits
    logits, _, answer_mask = next_token_view(logits, labels)
    return logits[answer_mask]

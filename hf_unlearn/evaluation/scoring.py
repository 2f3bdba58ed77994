"""Batched model passes of the evaluator: teacher-forced scoring and greedy generation.

Both sort their inputs by length before batching, so that a batch holds sequences of similar length (little
padding) and the number of model calls is about `number of sequences / batch size`, whatever the rows they
come from. Results are returned in input order.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from transformers import GenerationConfig
from transformers.utils import logging

from ..data.collator import pad_sequences
from ..logprobs import (
    IGNORE_INDEX,
    accepts_logits_to_keep,
    answer_logits,
    answer_targets,
    per_sequence_sum,
    predicting_positions,
    selected_logps,
)
from ..metrics.mia import token_log_prob_moments


logger = logging.get_logger(__name__)


# Upper bound on the floats of one `(tokens, vocab)` temporary of the token statistics (256 MiB in float32):
# answer positions are processed in chunks of this many values, whatever the vocabulary size.
_TOKEN_CHUNK_VALUES = 2**26


@dataclass
class TokenStats:
    """Per answer token of one sequence: what membership-inference and memorization metrics need.

    Args:
        log_probs (`np.ndarray`):
            Log-probability of each answer token.
        predictions (`np.ndarray`):
            Teacher-forced argmax token id at each answer position.
        labels (`np.ndarray`):
            The answer token ids.
        mean (`np.ndarray` or `None`):
            Mean of the log-probability under the model's next-token distribution (Min-K%++), when asked for.
        variance (`np.ndarray` or `None`):
            Its variance, when asked for.
    """

    log_probs: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray
    mean: np.ndarray | None = None
    variance: np.ndarray | None = None


@dataclass
class SequenceScores:
    """Teacher-forced results of [`score_sequences`], in input order.

    Args:
        nll (`np.ndarray`):
            Sum of the answer-token NLLs of each sequence.
        num_tokens (`np.ndarray`):
            Number of answer tokens of each sequence.
        token_stats (`dict[int, TokenStats]`):
            Token-level statistics of the sequences they were asked for, by input position.
        forward_passes (`int`):
            Number of model calls made.
    """

    nll: np.ndarray
    num_tokens: np.ndarray
    token_stats: dict[int, TokenStats]
    forward_passes: int


def model_device(model: torch.nn.Module) -> torch.device:
    """Device of the model's inputs (its first parameter's, for models spread over devices)."""
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else next(model.parameters()).device


def _token_statistics(
    logits: torch.Tensor, targets: torch.Tensor, with_moments: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Token log-probs, argmax and (optionally) log-probability moments of `(tokens, vocab)` logits, in chunks."""
    chunk = max(1, _TOKEN_CHUNK_VALUES // logits.size(-1))
    log_probs, predictions, means, variances = [], [], [], []
    for start in range(0, logits.size(0), chunk):
        vocab_log_probs = logits[start : start + chunk].float().log_softmax(-1)
        log_probs.append(vocab_log_probs.gather(-1, targets[start : start + chunk, None]).squeeze(-1))
        predictions.append(vocab_log_probs.argmax(-1))
        if with_moments:
            mean, variance = token_log_prob_moments(vocab_log_probs)  # Min-K%++'s mu_t and sigma_t^2
            means.append(mean)
            variances.append(variance)
    if not with_moments:
        return torch.cat(log_probs), torch.cat(predictions), None, None
    return torch.cat(log_probs), torch.cat(predictions), torch.cat(means), torch.cat(variances)


@torch.no_grad()
def score_sequences(
    model: torch.nn.Module,
    sequences: list[tuple[list[int], list[int]]],
    *,
    batch_size: int,
    pad_token_id: int,
    token_stats: set[int] | frozenset[int] = frozenset(),
    moments: set[int] | frozenset[int] = frozenset(),
    progress: str | None = None,
) -> SequenceScores:
    """Teacher-forced answer NLL of every sequence, in batches of similar length.

    The LM head runs on the positions that predict answer tokens only ([`~hf_unlearn.logprobs.answer_logits`], the
    helper the trainer's losses use), not on the prompt: a chat template's prompt (system turn included) is most of
    a short answer's sequence, and a large vocabulary makes the head a fifth of a small model's compute. For the
    sequences in `token_stats`, the per-token log-probs, argmax predictions and (for those in `moments`) the mean
    and variance of the log-probability under the model's next-token distribution are computed from the logits of
    the same forward pass.

    Args:
        model (`torch.nn.Module`):
            Causal LM, already in eval mode.
        sequences (`list[tuple[list[int], list[int]]]`):
            `input_ids` and `labels` (`-100` on non-answer tokens) of each sequence.
        batch_size (`int`):
            Sequences per forward pass.
        pad_token_id (`int`):
            Id used to right-pad `input_ids` (masked out by the attention mask and the labels).
        token_stats (`set[int]`, *optional*, defaults to `frozenset()`):
            Positions in `sequences` to compute token-level statistics for.
        moments (`set[int]`, *optional*, defaults to `frozenset()`):
            Positions (a subset of `token_stats`) that also need the log-probability moments (Min-K%++).
        progress (`str`, *optional*):
            Description of a progress bar over the batches; no bar without it.

    Returns:
        [`SequenceScores`]: results in input order.
    """
    device = model_device(model)
    slice_in_model = accepts_logits_to_keep(model)
    nll = np.zeros(len(sequences))
    num_tokens = np.zeros(len(sequences), dtype=np.int64)
    stats: dict[int, TokenStats] = {}
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index][0]), reverse=True)
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    for batch in progress_bar(batches, progress):
        input_ids = pad_sequences([torch.tensor(sequences[i][0]) for i in batch], pad_token_id).to(device)
        labels = pad_sequences([torch.tensor(sequences[i][1]) for i in batch], IGNORE_INDEX).to(device)
        attention_mask = pad_sequences([torch.ones(len(sequences[i][0]), dtype=torch.long) for i in batch]).to(device)
        # (answer tokens, vocab), row after row, with the answer tokens they predict.
        logits = answer_logits(model, input_ids, attention_mask, labels, slice_in_model)
        positions, targets = predicting_positions(labels), answer_targets(labels)
        counts = positions.sum(-1)
        nll[batch] = (-per_sequence_sum(selected_logps(logits, targets), positions)).cpu().numpy()
        num_tokens[batch] = counts.cpu().numpy()

        wanted = [row for row, index in enumerate(batch) if index in token_stats]
        if not wanted:
            continue
        counts = counts.tolist()
        starts = np.cumsum([0, *counts[:-1]]).tolist()
        kept = [slice(starts[row], starts[row] + counts[row]) for row in wanted]
        with_moments = any(batch[row] in moments for row in wanted)
        # Answer positions of the wanted rows, row after row: (tokens, vocab), split back per row below.
        wanted_targets = torch.cat([targets[part] for part in kept])
        results = _token_statistics(torch.cat([logits[part] for part in kept]), wanted_targets, with_moments)
        lengths = [counts[row] for row in wanted]
        per_row = [None if r is None else r.cpu().numpy() for r in results]
        splits = [None if r is None else np.split(r, np.cumsum(lengths)[:-1]) for r in per_row]
        label_splits = np.split(wanted_targets.cpu().numpy(), np.cumsum(lengths)[:-1])
        for position, row in enumerate(wanted):
            index = batch[row]
            keep_moments = index in moments
            stats[index] = TokenStats(
                log_probs=splits[0][position],
                predictions=splits[1][position],
                labels=label_splits[position],
                mean=splits[2][position] if keep_moments else None,
                variance=splits[3][position] if keep_moments else None,
            )
    return SequenceScores(nll=nll, num_tokens=num_tokens, token_stats=stats, forward_passes=len(batches))


def _eos_token_ids(model: torch.nn.Module, eos_token_id: int | list[int]) -> list[int]:
    """The given stop ids and any EOS the model's generation config declares (chat models often have several)."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    configured = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    given = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    return sorted({*given, *configured})


@torch.no_grad()
def greedy_generate(
    model: torch.nn.Module,
    prompts: list[list[int]],
    *,
    batch_size: int,
    max_new_tokens: int,
    eos_token_id: int | list[int],
    pad_token_id: int,
    progress: str | None = None,
) -> tuple[list[list[int]], int]:
    """Greedy continuation of every prompt, in left-padded batches of similar length.

    Prompts are left-padded here from their token ids, so the tokenizer's `padding_side` is never touched.
    Each continuation is cut at its first stop token (EOS, or a chat template's turn end; the stop token itself
    dropped).

    Generation stays within the model's context (`config.max_position_embeddings`): positions past it were never
    trained (and transformers warns when a call passes it). A prompt that leaves less room than `max_new_tokens` is
    generated on alone, up to the end of the context, so that neither its result nor its batch's depends on the
    batch size; a prompt that fills the context loses its first tokens (its end, where the question is, is kept),
    leaving room for `max_new_tokens` (at most half the context) new tokens. Prompts that fit with
    `max_new_tokens` to spare are not changed.

    Args:
        model (`torch.nn.Module`):
            Causal LM (or PEFT model), already in eval mode.
        prompts (`list[list[int]]`):
            Prompt token ids, each non-empty.
        batch_size (`int`):
            Prompts per `generate` call.
        max_new_tokens (`int`):
            Most tokens generated per prompt.
        eos_token_id (`int` or `list[int]`):
            The tokenizer's EOS id, or the stop ids (EOS and, for chat prompts, the template's turn end); generation
            also stops at the EOS ids of the model's generation config.
        pad_token_id (`int`):
            Id used for left padding (masked out).
        progress (`str`, *optional*):
            Description of a progress bar over the `generate` calls; no bar without it.

    Returns:
        `tuple[list[list[int]], int]`: the generated token ids of each prompt (input order), and the number of
        `generate` calls.
    """
    device = model_device(model)
    eos_ids = _eos_token_ids(model, eos_token_id)
    # A fresh config, so that a sampling setup saved with the model (temperature, top_p, ...) cannot leak in.
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=eos_ids,
        pad_token_id=pad_token_id,
        use_cache=True,
    )
    prompts, context = _fit_in_context(model, prompts, max_new_tokens)
    outputs: list[list[int]] = [[] for _ in prompts]
    order = sorted(range(len(prompts)), key=lambda index: len(prompts[index]), reverse=True)
    # Prompts without room for the whole budget come first (the longest), one per call, each with its own budget.
    alone = [index for index in order if len(prompts[index]) + max_new_tokens > context]
    rest = order[len(alone) :]
    batches = [[index] for index in alone]
    batches += [rest[start : start + batch_size] for start in range(0, len(rest), batch_size)]
    for batch in progress_bar(batches, progress):
        input_ids = pad_sequences([torch.tensor(prompts[i]) for i in batch], pad_token_id, padding_side="left")
        attention_mask = pad_sequences(
            [torch.ones(len(prompts[i]), dtype=torch.long) for i in batch], padding_side="left"
        )
        budget = min(max_new_tokens, context - input_ids.size(1))
        generated = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            generation_config=config if budget == max_new_tokens else _with_budget(config, budget),
        )
        for index, tokens in zip(batch, generated[:, input_ids.size(1) :].tolist()):
            stop = next((position for position, token in enumerate(tokens) if token in eos_ids), len(tokens))
            outputs[index] = tokens[:stop]
    return outputs, len(batches)


def progress_bar(items: list, description: str | None) -> Iterable:
    """`items`, iterated under a transient progress bar labelled `description` (none when it is `None`).

    transformers' `tqdm`: `transformers.utils.logging.disable_progress_bar()` turns every bar of this library off.
    """
    if description is None:
        return items
    return logging.tqdm(items, desc=description, leave=False, dynamic_ncols=True)


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """transformers' progress bars (and so this library's, see [`progress_bar`]) on or off within the block, and as
    they were after it."""
    was_enabled = logging.is_progress_bar_enabled()
    logging.enable_progress_bar() if enabled else logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.enable_progress_bar() if was_enabled else logging.disable_progress_bar()


def _with_budget(config: GenerationConfig, max_new_tokens: int) -> GenerationConfig:
    shorter = copy.deepcopy(config)
    shorter.max_new_tokens = max_new_tokens
    return shorter


def _fit_in_context(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int):
    """The prompts, those that fill the model's context cut from the left, and the context (`inf` when unknown)."""
    context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not context:
        return prompts, math.inf
    keep = context - min(max_new_tokens, context // 2)
    cut = sum(len(prompt) >= context for prompt in prompts)
    if cut:
        logger.warning_once(
            f"{cut} of {len(prompts)} prompts are as long as the model's context ({context} positions) or longer: "
            f"their first tokens are cut for generation, keeping the last {keep}."
        )
    return [prompt[-keep:] if len(prompt) >= context else prompt for prompt in prompts], context

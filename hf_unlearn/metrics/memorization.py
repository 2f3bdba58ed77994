"""Token-level memorization of answers: exact memorization and extraction strength.

Exact memorization: Tirumala et al., "Memorization Without Overfitting", 2022, https://arxiv.org/abs/2205.10770 .
Extraction strength: Wang et al., "Towards Effective Evaluations and Comparisons for LLM Unlearning
Methods", 2024, https://arxiv.org/abs/2406.09179 , building on the prefix-extraction view of Carlini
et al., "Extracting Training Data from Large Language Models", 2021, https://arxiv.org/abs/2012.07805 .
"""

import logging

import numpy as np

from ._validation import as_ragged, check_same_length, log_undefined


logger = logging.getLogger(__name__)


def _token_hits(predictions, labels, ignore_index: int) -> list[np.ndarray]:
    """Per sample, a boolean array: did the teacher-forced argmax equal the label at each answer token?"""
    predictions = as_ragged(predictions, "predictions", dtype=np.int64)
    labels = as_ragged(labels, "labels", dtype=np.int64)
    check_same_length(predictions=predictions, labels=labels)
    hits = []
    for index, (predicted, label) in enumerate(zip(predictions, labels, strict=True)):
        if predicted.size != label.size:
            raise ValueError(
                f"sample {index}: predictions has {predicted.size} tokens but labels has {label.size}; "
                "give one predicted token id per label position"
            )
        keep = label != ignore_index
        hits.append(predicted[keep] == label[keep])
    return hits


def exact_memorization(predictions, labels, ignore_index: int = -100) -> np.ndarray:
    r"""Fraction of answer tokens the model predicts exactly under teacher forcing.

    $$\mathrm{EM}(x, y) = \frac{1}{|y|} \sum_{t=1}^{|y|} \mathbb{1}\left[\arg\max_v p(v \mid x, y_{<t}) = y_t\right]$$

    (Tirumala et al., [arXiv 2205.10770](https://arxiv.org/abs/2205.10770)).

    Args:
        predictions (`Sequence[Sequence[int]]` or `np.ndarray`):
            Per sample, the teacher-forced argmax token id at each label position (already shifted, so
            `predictions[i][t]` is the model's guess for `labels[i][t]`).
        labels (`Sequence[Sequence[int]]` or `np.ndarray`):
            Per sample, the answer token ids, same length as the predictions; positions equal to
            `ignore_index` (prompt, padding) are left out.
        ignore_index (`int`, *optional*, defaults to `-100`):
            Label value marking positions that are not answer tokens.

    Returns:
        `np.ndarray`: per-sample score in `[0, 1]`; `nan` (count logged) for a sample without answer tokens.

    Raises:
        ValueError: if the number of samples, or of tokens within a sample, differ.
    """
    hits = _token_hits(predictions, labels, ignore_index)
    log_undefined(logger, "exact memorization", sum(h.size == 0 for h in hits), len(hits), "no answer tokens")
    return np.array([h.mean() if h.size else np.nan for h in hits])


def extraction_strength(predictions, labels, ignore_index: int = -100) -> np.ndarray:
    r"""One minus the smallest fraction of the answer that must be given for the rest to be reproduced.

    $$\mathrm{ES}(x, y) = 1 - \frac{1}{|y|} \min\left\{k \in \{0, \dots, |y|\} :
        \arg\max_v p(v \mid x, y_{<t}) = y_t \ \ \forall t > k\right\}$$

    (Wang et al., [arXiv 2406.09179](https://arxiv.org/abs/2406.09179)). When every teacher-forced argmax
    after a prefix is correct, greedy decoding from that prefix reproduces the rest of the answer
    exactly, so the minimal prefix length $k$ is $|y|$ minus the length of the trailing run of correct
    predictions. ES is 1 when the question alone elicits the whole answer, and 0 when even the last
    token is not reproduced (the empty suffix, $k = |y|$, always qualifies).

    Args:
        predictions (`Sequence[Sequence[int]]` or `np.ndarray`):
            Per sample, the teacher-forced argmax token id at each label position (see
            [`exact_memorization`]).
        labels (`Sequence[Sequence[int]]` or `np.ndarray`):
            Per sample, the answer token ids; positions equal to `ignore_index` are left out.
        ignore_index (`int`, *optional*, defaults to `-100`):
            Label value marking positions that are not answer tokens.

    Returns:
        `np.ndarray`: per-sample score in `[0, 1]`; `nan` (count logged) for a sample without answer tokens.

    Raises:
        ValueError: if the number of samples, or of tokens within a sample, differ.
    """
    hits = _token_hits(predictions, labels, ignore_index)
    log_undefined(logger, "extraction strength", sum(h.size == 0 for h in hits), len(hits), "no answer tokens")
    scores = np.full(len(hits), np.nan)
    for index, hit in enumerate(hits):
        if hit.size:
            misses = np.flatnonzero(~hit)
            trailing_correct = hit.size - (misses[-1] + 1) if misses.size else hit.size
            scores[index] = trailing_correct / hit.size
    return scores

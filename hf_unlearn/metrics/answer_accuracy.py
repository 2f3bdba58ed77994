"""Answer accuracy: whether a generated answer contains one of the accepted answers (aliases) of its question.

The knowledge-probing rule of RWKU (Jin et al. 2024, https://arxiv.org/abs/2406.10890) and of open-domain QA's
"answer match": a question counts as answered when any accepted alias appears in the model's answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from ._validation import check_same_length


_NOT_WORD = re.compile(r"[\W_]+")


def normalize_answer(text: str) -> str:
    """`text` as [`answer_accuracy`] compares it: accents removed (NFKD, combining marks dropped), case folded,
    every run of characters that are not letters or digits (punctuation, underscores, whitespace) made one space,
    with one space at each end, so that a match is always of whole words."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    words = _NOT_WORD.sub(" ", letters.casefold()).strip()
    return f" {words} " if words else ""


def answer_accuracy(predictions: Sequence[str], aliases: Sequence[Sequence[str]]) -> np.ndarray:
    r"""Per-sample answer accuracy: 1.0 when any accepted alias appears in the generated answer, else 0.0.

    Both sides go through [`normalize_answer`] (case, accents, punctuation and whitespace do not count), and an
    alias must appear as whole words: `"Au"` matches "The symbol of gold is Au." but not "because"; `"7"` matches
    "3 plus 4 is 7." but not "17"; `"F. Scott Fitzgerald"` matches "f scott fitzgerald". An empty answer scores 0.

    Args:
        predictions (`Sequence[str]`):
            Generated answers, one per sample.
        aliases (`Sequence[Sequence[str]]`):
            Accepted answers of each sample: a non-empty list of non-empty strings.

    Returns:
        `np.ndarray`: per-sample accuracy, 0.0 or 1.0.

    Raises:
        ValueError: if the lengths differ, a prediction is not a string, or a sample's aliases are not a non-empty
            list of strings with letters or digits.
    """
    if isinstance(predictions, str):
        raise ValueError("predictions must be a sequence of strings (one per sample), not a single string")
    check_same_length(predictions=predictions, aliases=aliases)
    scores = np.zeros(len(predictions))
    for index, (prediction, accepted) in enumerate(zip(predictions, aliases)):
        if not isinstance(prediction, str):
            raise ValueError(f"predictions[{index}] must be a string; got {type(prediction).__name__}")
        normalized = normalize_aliases(accepted, f"aliases[{index}]")
        answer = normalize_answer(prediction)
        scores[index] = float(any(alias in answer for alias in normalized))
    return scores


def normalize_aliases(accepted, where: str = "aliases") -> list[str]:
    """The normalised forms ([`normalize_answer`]) of one sample's accepted answers, checked.

    Raises:
        ValueError: `accepted` is not a non-empty list of strings, or an alias has no letter or digit.
    """
    if isinstance(accepted, str) or not isinstance(accepted, Sequence) or not accepted:
        raise ValueError(
            f"{where} must be a non-empty list of accepted answers (strings); got "
            + (
                "an empty list"
                if isinstance(accepted, Sequence) and not isinstance(accepted, str)
                else type(accepted).__name__
            )
        )
    normalized = []
    for alias in accepted:
        if not isinstance(alias, str) or not normalize_answer(alias):
            raise ValueError(
                f"{where} must hold strings with at least one letter or digit; got "
                + (type(alias).__name__ if not isinstance(alias, str) else "an empty or punctuation-only string")
            )
        normalized.append(normalize_answer(alias))
    return normalized

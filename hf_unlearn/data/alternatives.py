"""Alternative answers to the forget prompts (a refusal, or a row's own `alternative`), for DPO / IdkDPO and IdkNLL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .formatting import as_dataset


ALTERNATIVE_COLUMN = "alternative"
"""Column of a forget set that holds each row's alternative answer (text, in the format's answer slot)."""

ALTERNATIVE_SOURCES = ("auto", "column", "refusals")
"""Accepted values of `UnlearningConfig.alternative_source`."""

REFUSALS: tuple[str, ...] = (
    "I'm not sure about that.",
    "I don't have that information.",
    "I can't say for certain.",
    "That is not something I know.",
    "I have no reliable information about that.",
    "I'm afraid I can't answer that.",
    "I don't know the answer to that question.",
    "I'm unable to tell you that.",
    "That's beyond what I know.",
    "I have no idea, sorry.",
    "I couldn't tell you.",
    "I don't have any details on that.",
    "Unfortunately, I don't know.",
    "I'm not able to answer that with any confidence.",
    "That's a question I can't answer.",
    "I lack the information needed to answer that.",
    "Sorry, that is outside what I know.",
    "I don't have an answer for you on that.",
    "I'm uncertain, so I'd rather not guess.",
    "I wish I could help, but I don't know.",
    "Nothing I know answers that.",
    "I'm not familiar with that.",
    "I cannot recall anything about that.",
    "I haven't got that information.",
    "I really don't know.",
    "That isn't something I can speak to.",
    "I'd only be guessing, and I don't want to guess.",
    "I have nothing reliable to say about that.",
    "My knowledge doesn't cover that.",
    "I'm drawing a blank on that one.",
    "I can't provide an answer to that.",
    "I don't know enough to answer.",
    "That's not something I have information on.",
    "I'm sorry, I don't know about that.",
    "I can't help with that question; I don't know.",
    "I'm not in a position to answer that.",
    "I have no knowledge of that.",
    "No idea, I'm afraid.",
    "I don't know, and I won't make something up.",
    "That falls outside my knowledge.",
    "I'm not aware of the answer.",
    "I don't have facts about that to share.",
    "I can't answer that reliably.",
    "The answer to that is unknown to me.",
)
"""Refusal answers of our own wording: the default alternatives of IdkDPO / IdkNLL, one drawn per forget row."""


def check_alternative_source(source: str) -> str:
    """Refuse an `alternative_source` that is not one of `ALTERNATIVE_SOURCES`."""
    if source not in ALTERNATIVE_SOURCES:
        raise ValueError(f"alternative_source={source!r} is not known; accepted: {list(ALTERNATIVE_SOURCES)}.")
    return source


def check_refusals(refusals: Sequence[str] | None) -> tuple[str, ...] | None:
    """Refuse a refusal list that is empty, not a list of strings, or holds a blank answer; `None` stays `None`."""
    if refusals is None:
        return None
    if isinstance(refusals, str) or not all(isinstance(answer, str) for answer in refusals):
        raise ValueError("refusal_answers must be a list of strings (or None for the shipped refusals).")
    if len(refusals) == 0:
        raise ValueError(
            f"refusal_answers is empty; give at least one answer, or None for the {len(REFUSALS)} shipped refusals."
        )
    blank = [index for index, answer in enumerate(refusals) if not answer.strip()]
    if blank:
        raise ValueError(f"refusal_answers has blank answers at positions {blank}; every answer needs some text.")
    return tuple(refusals)


@dataclass(frozen=True)
class AlternativeAnswers:
    """Where the alternative answer of each forget row comes from, and how refusals are drawn.

    A row's refusal depends only on `(seed, row index)`: every process, and a resumed run, draws the same one, so the
    alternatives of a set are fixed for the run (which also lets their reference log-probs be precomputed). TOFU and
    open-unlearning draw a new refusal at every access instead; a fixed draw per row covers as many phrasings over a
    forget set of more rows than phrasings.

    Args:
        source (`str`, *optional*, defaults to `"auto"`):
            `"column"`: the set's `alternative` column (an error when it has none); `"refusals"`: a refusal drawn per
            row from `refusals`; `"auto"`: the column when the set has one, else refusals.
        refusals (`Sequence[str]`, *optional*):
            Refusal answers to draw from. Defaults to `REFUSALS`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the draw.
    """

    source: str = "auto"
    refusals: Sequence[str] | None = None
    seed: int = 0

    def __post_init__(self):
        check_alternative_source(self.source)
        object.__setattr__(self, "refusals", check_refusals(self.refusals) or REFUSALS)

    def resolved_source(self, column_names: Sequence[str]) -> str:
        """`"column"` or `"refusals"`: what `source` means for a set with these columns."""
        if self.source == "auto":
            return "column" if ALTERNATIVE_COLUMN in column_names else "refusals"
        return self.source

    def answers(self, data, name: str) -> list[str]:
        """The alternative answer of every row of `data`, in row order.

        Raises:
            `ValueError`: `source="column"` and the set has no `alternative` column, or a row whose alternative is
                not a non-blank string (named by index, never quoted).
        """
        dataset = as_dataset(data, name)
        if self.resolved_source(dataset.column_names) == "refusals":
            picks = np.random.default_rng(self.seed).integers(len(self.refusals), size=len(dataset))
            return [self.refusals[pick] for pick in picks]
        if ALTERNATIVE_COLUMN not in dataset.column_names:
            raise ValueError(
                f"alternative_source='column' but the {name} dataset has no {ALTERNATIVE_COLUMN!r} column (columns: "
                f"{sorted(dataset.column_names)}). Add one, or set alternative_source to one of "
                f"{list(ALTERNATIVE_SOURCES)} ('refusals' or 'auto' draw refusal answers)."
            )
        answers = dataset[ALTERNATIVE_COLUMN]
        bad = [index for index, answer in enumerate(answers) if not isinstance(answer, str) or not answer.strip()]
        if bad:
            raise ValueError(
                f"The {name} dataset's {ALTERNATIVE_COLUMN!r} column is empty or not text in rows {bad[:10]}"
                f"{' ...' if len(bad) > 10 else ''}; every row needs an alternative answer."
            )
        return list(answers)

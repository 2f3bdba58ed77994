"""Data for unlearning: formatting and tokenization, forget/retain pairing, collation."""

from .alternatives import ALTERNATIVE_SOURCES, REFUSALS, AlternativeAnswers
from .collator import UnlearningCollator
from .formatting import (
    DEFAULT_QA_PROMPT_TEMPLATE,
    SUPPORTED_FORMATS,
    content_fingerprint,
    detect_format,
    ensure_pad_token,
    fingerprint,
    prepare_dataset,
    tokenize_example,
)
from .pairing import ForgetRetainDataset


__all__ = [
    "ALTERNATIVE_SOURCES",
    "DEFAULT_QA_PROMPT_TEMPLATE",
    "REFUSALS",
    "SUPPORTED_FORMATS",
    "AlternativeAnswers",
    "ForgetRetainDataset",
    "UnlearningCollator",
    "content_fingerprint",
    "detect_format",
    "ensure_pad_token",
    "fingerprint",
    "prepare_dataset",
    "tokenize_example",
]

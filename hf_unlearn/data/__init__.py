"""Data for unlearning: formatting and tokenization, forget/retain pairing, collation."""

from .collator import UnlearningCollator
from .formatting import (
    SUPPORTED_FORMATS,
    content_fingerprint,
    detect_format,
    ensure_pad_token,
    fingerprint,
    prepare_dataset,
    tokenize_example,
)
from .pairing import ForgetRetainDataset
from .synthetic import (
    MAX_PEOPLE,
    MAX_PERTURBED,
    MAX_QUESTIONS_PER_PERSON,
    SYNTHETIC_VERSION,
    SyntheticConfig,
    generate_synthetic_splits,
    make_people,
)


__all__ = [
    "MAX_PEOPLE",
    "MAX_PERTURBED",
    "MAX_QUESTIONS_PER_PERSON",
    "SYNTHETIC_VERSION",
    "SyntheticConfig",
    "generate_synthetic_splits",
    "make_people",
    "SUPPORTED_FORMATS",
    "ForgetRetainDataset",
    "UnlearningCollator",
    "content_fingerprint",
    "detect_format",
    "ensure_pad_token",
    "fingerprint",
    "prepare_dataset",
    "tokenize_example",
]

"""Unlearning metrics: pure functions on per-sample numbers, and `evaluate` modules wrapping them.

Two doors, one implementation: call the functions below directly, or load a packaged `evaluate`
module by name with [`load`] (e.g. `load("forget_quality")`).
"""

from .answer_accuracy import answer_accuracy, normalize_answer
from .forget_quality import forget_quality
from .loading import available_modules, load
from .memorization import exact_memorization, extraction_strength
from .mia import loss_score, mia_auc, min_k_plus_plus_score, min_k_score, privleak, token_log_prob_moments, zlib_score
from .model_utility import model_utility
from .probability import answer_probability, normalized_answer_probability
from .rouge import rouge_scores
from .tofu import load_tofu_log, tofu_aggregate, tofu_forget_truth_ratios, tofu_set_scores
from .truth_ratio import truth_ratio, truth_ratio_score


__all__ = [
    "answer_accuracy",
    "answer_probability",
    "available_modules",
    "exact_memorization",
    "extraction_strength",
    "forget_quality",
    "load",
    "load_tofu_log",
    "loss_score",
    "mia_auc",
    "min_k_plus_plus_score",
    "min_k_score",
    "model_utility",
    "normalize_answer",
    "normalized_answer_probability",
    "privleak",
    "rouge_scores",
    "tofu_aggregate",
    "tofu_forget_truth_ratios",
    "tofu_set_scores",
    "token_log_prob_moments",
    "truth_ratio",
    "truth_ratio_score",
    "zlib_score",
]

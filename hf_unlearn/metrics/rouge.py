"""ROUGE recall and F1 of generated answers against reference answers.

Lin, "ROUGE: A Package for Automatic Evaluation of Summaries", 2004, https://aclanthology.org/W04-1013/ ;
used on generated answers by TOFU, https://arxiv.org/abs/2401.06121 (ROUGE-L recall).
"""

from functools import lru_cache

import numpy as np
from rouge_score import rouge_scorer, tokenizers

from ._validation import check_same_length


ROUGE_TYPES = ("rouge1", "rougeL")


@lru_cache(maxsize=2)
def _scorer(use_stemmer: bool) -> rouge_scorer.RougeScorer:
    # The scorer's own default tokenizer, given explicitly: without one, `RougeScorer` logs "Using default
    # tokenizer." through absl, whose first log call runs `logging.basicConfig()` when the root logger has no
    # handler, and from then on every warning of every library is printed a second time, "WARNING:name:" prefixed.
    tokenizer = tokenizers.DefaultTokenizer(use_stemmer)
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=use_stemmer, tokenizer=tokenizer)


def rouge_scores(predictions, references, *, use_stemmer: bool = True) -> dict[str, np.ndarray]:
    r"""Per-sample ROUGE-1 and ROUGE-L recall and F1 of each generation against its reference.

    With $\mathrm{LCS}$ the longest common token subsequence of generation $g$ and reference $r$
    (tokenised and, by default, Porter-stemmed by `rouge_score`):

    $$R_L = \frac{\mathrm{LCS}(g, r)}{|r|}, \quad P_L = \frac{\mathrm{LCS}(g, r)}{|g|}, \quad
    F_L = \frac{2 P_L R_L}{P_L + R_L}$$

    and the same with unigram overlap for ROUGE-1. TOFU ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121))
    reports the ROUGE-L recall with the stemmer on; the keys match its eval logs (`rouge1_recall`,
    `rougeL_recall`). An empty generation (or reference) scores 0.

    Args:
        predictions (`Sequence[str]`):
            Generated answers, one per sample.
        references (`Sequence[str]`):
            Reference answers, one per sample.
        use_stemmer (`bool`, *optional*, defaults to `True`):
            Whether `rouge_score` applies the Porter stemmer before matching.

    Returns:
        `dict[str, np.ndarray]`: per-sample scores under the keys `rouge1_recall`, `rouge1_f1`,
        `rougeL_recall` and `rougeL_f1`.

    Raises:
        ValueError: if the lengths differ or an entry is not a string (a missing generation must be
            given as `""`, which scores 0, not as `None`).
    """
    if isinstance(predictions, str) or isinstance(references, str):
        raise ValueError(
            "predictions and references must be sequences of strings (one per sample), not a single string"
        )
    check_same_length(predictions=predictions, references=references)
    scores = {
        f"{rouge_type}_{kind}": np.zeros(len(predictions)) for rouge_type in ROUGE_TYPES for kind in ("recall", "f1")
    }
    scorer = _scorer(use_stemmer)
    for index, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        for name, text in (("predictions", prediction), ("references", reference)):
            if not isinstance(text, str):
                raise ValueError(f"{name}[{index}] must be a string; got {type(text).__name__}")
        result = scorer.score(target=reference, prediction=prediction)
        for rouge_type in ROUGE_TYPES:
            scores[f"{rouge_type}_recall"][index] = result[rouge_type].recall
            scores[f"{rouge_type}_f1"][index] = result[rouge_type].fmeasure
    return scores

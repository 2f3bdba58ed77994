"""Answer probability, plain and normalised against alternative options (TOFU).

Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024, https://arxiv.org/abs/2401.06121
(section 2.2.1, "Probability").
"""

import logging

import numpy as np
from scipy.special import logsumexp

from ._validation import as_float_array, as_ragged, check_same_length, log_undefined


logger = logging.getLogger(__name__)


def answer_probability(nll, num_tokens=None) -> np.ndarray:
    r"""Length-normalised probability of each answer given its question.

    $$p(a \mid q) = \exp\left(-\frac{\mathrm{NLL}(a \mid q)}{|a|}\right)$$

    i.e. `exp(-mean per-token NLL)`, the geometric mean of the answer's token probabilities, as in TOFU
    ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121)), whose logs store the mean per-token NLL as
    `avg_gt_loss`.

    Args:
        nll (`Sequence[float]` or `np.ndarray`):
            Per-sample negative log-likelihood of the answer tokens: the mean over answer tokens, or the
            sum when `num_tokens` is given.
        num_tokens (`Sequence[int]` or `np.ndarray`, *optional*, defaults to `None`):
            Per-sample number of answer tokens. When given, `nll` is read as a sum and divided by it. A
            sample with 0 answer tokens has no probability: it gives `nan` and the count is logged.

    Returns:
        `np.ndarray`: per-sample probability in `[0, 1]`.

    Raises:
        ValueError: if the inputs are not one number per sample, or their lengths differ.
    """
    nll = as_float_array(nll, "nll")
    if num_tokens is None:
        return np.exp(-nll)
    num_tokens = as_float_array(num_tokens, "num_tokens")
    check_same_length(nll=nll, num_tokens=num_tokens)
    if np.any(num_tokens < 0):
        raise ValueError("num_tokens must be >= 0 for every sample")
    empty = num_tokens == 0
    log_undefined(logger, "answer probability", int(empty.sum()), len(nll), "no answer tokens")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(empty, np.nan, np.exp(-nll / np.where(empty, 1.0, num_tokens)))


def normalized_answer_probability(correct_nll, option_nll) -> np.ndarray:
    r"""Probability of the correct answer relative to the alternative (wrong) options.

    $$p_\text{norm} = \frac{p(a \mid q)}{p(a \mid q) + \sum_j p(\hat a_j \mid q)},
    \qquad p(x \mid q) = \exp(-\text{mean per-token NLL of } x)$$

    TOFU ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121)) scores the Real Authors and World Facts
    sets this way, with the perturbed answers as the wrong options. Computed in log space
    (`scipy.special.logsumexp`), so very unlikely answers do not underflow.

    Args:
        correct_nll (`Sequence[float]` or `np.ndarray`):
            Per-sample mean per-token NLL of the correct answer.
        option_nll (`Sequence[Sequence[float]]` or `np.ndarray`):
            Per sample, the mean per-token NLLs of its wrong options (any number, may differ per
            sample). A sample with no options is undefined: it gives `nan` and the count is logged.

    Returns:
        `np.ndarray`: per-sample normalised probability in `[0, 1]`.

    Raises:
        ValueError: if the inputs are malformed or their lengths differ.
    """
    correct_nll = as_float_array(correct_nll, "correct_nll")
    options = as_ragged(option_nll, "option_nll")
    check_same_length(correct_nll=correct_nll, option_nll=options)
    result = np.full(len(correct_nll), np.nan)
    for index, (correct, wrong) in enumerate(zip(correct_nll, options, strict=True)):
        if wrong.size:
            log_probs = -np.concatenate(([correct], wrong))
            result[index] = np.exp(log_probs[0] - logsumexp(log_probs))
    log_undefined(
        logger, "normalized answer probability", sum(o.size == 0 for o in options), len(options), "no wrong options"
    )
    return result

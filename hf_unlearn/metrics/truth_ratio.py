"""Truth ratio: how much more likely a correct (paraphrased) answer is than wrong (perturbed) ones.

Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024, https://arxiv.org/abs/2401.06121
(section 2.2.1, "Truth Ratio"), with the aggregation of TOFU's released `aggregate_eval_stat.py`.
"""

import logging
from typing import Literal

import numpy as np

from ._validation import as_float_array, as_ragged, check_not_empty, check_same_length, log_undefined


logger = logging.getLogger(__name__)

AGGREGATIONS = ("forget", "retain")


def truth_ratio(paraphrased_nll, perturbed_nll) -> np.ndarray:
    r"""Per-sample truth ratio of perturbed (wrong) answers over the paraphrased (correct) answer.

    $$R = \frac{\left(\prod_{j=1}^{m} p(\hat a_j \mid q)\right)^{1/m}}{p(\tilde a \mid q)}
        = \exp\left(\ell(\tilde a) - \frac{1}{m}\sum_{j=1}^{m} \ell(\hat a_j)\right)$$

    where $\ell$ is the mean per-token NLL and $p = \exp(-\ell)$ the length-normalised probability.
    $R < 1$: the model prefers the correct answer; $R \approx 1$: it cannot tell them apart.

    This is the definition TOFU ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121)) actually computes:
    its eval logs' `truth_ratio` field is `exp(avg_paraphrased_loss - mean(average_perturb_loss))`, and
    its released aggregation averages the perturbed answers in log space (a geometric mean of their
    probabilities), although the paper writes an arithmetic mean.

    Args:
        paraphrased_nll (`Sequence[float]` or `np.ndarray`):
            Per-sample mean per-token NLL of the paraphrased correct answer (TOFU's
            `avg_paraphrased_loss`; for sets without paraphrases, the original answer's).
        perturbed_nll (`Sequence[Sequence[float]]` or `np.ndarray`):
            Per sample, the mean per-token NLLs of its perturbed answers (TOFU's
            `average_perturb_loss`; any number per sample). A sample with none has no truth ratio: it
            gives `nan`, the count is logged, and the aggregates skip it.

    Returns:
        `np.ndarray`: per-sample truth ratio `R > 0` (`nan` where undefined).

    Raises:
        ValueError: if the inputs are malformed or their lengths differ.
    """
    paraphrased = as_float_array(paraphrased_nll, "paraphrased_nll")
    perturbed = as_ragged(perturbed_nll, "perturbed_nll")
    check_same_length(paraphrased_nll=paraphrased, perturbed_nll=perturbed)
    mean_perturbed = np.array([row.mean() if row.size else np.nan for row in perturbed])
    log_undefined(
        logger, "truth ratio", sum(row.size == 0 for row in perturbed), len(perturbed), "no perturbed answers"
    )
    return np.exp(paraphrased - mean_perturbed)


def truth_ratio_score(ratios, aggregation: Literal["forget", "retain"]) -> float:
    r"""Aggregates per-sample truth ratios into a score in `[0, 1]`, higher is better, as TOFU does.

    - `"forget"` (forget set): $\frac{1}{N}\sum_i \min(R_i, 1/R_i)$. A model that never learned the
      forget set cannot tell correct from perturbed answers ($R \approx 1$, score near 1).
    - `"retain"` (retain, real-authors and world-facts sets): $\frac{1}{N}\sum_i \max(0, 1 - R_i)$. A
      useful model prefers the correct answer ($R \ll 1$, score near 1).

    Both as in TOFU's `aggregate_eval_stat.py` ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121)),
    whose ratio is $1/R$; the forget score is symmetric in $R \leftrightarrow 1/R$ and
    $\max(0, 1 - R)$ is its retain score written in terms of $R$.

    Args:
        ratios (`Sequence[float]` or `np.ndarray`):
            Per-sample truth ratios from [`truth_ratio`]. `nan` entries (undefined samples) are skipped
            and their count is logged.
        aggregation (`str`):
            `"forget"` or `"retain"`, see above.

    Returns:
        `float`: the score; `nan` (with a logged warning) when no sample has a defined ratio.

    Raises:
        ValueError: if `ratios` is empty or `aggregation` is unknown.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}; got {aggregation!r}")
    ratios = as_float_array(ratios, "ratios")
    check_not_empty(ratios, "ratios")
    defined = ratios[~np.isnan(ratios)]
    if defined.size == 0:
        logger.warning("truth ratio undefined for all %d samples; the %s score is nan", ratios.size, aggregation)
        return float("nan")
    if defined.size < ratios.size:
        logger.warning(
            "truth ratio score skips %d of %d samples with an undefined ratio", ratios.size - defined.size, ratios.size
        )
    if aggregation == "forget":
        return float(np.mean(np.minimum(defined, 1.0 / defined)))
    return float(np.mean(np.maximum(0.0, 1.0 - defined)))

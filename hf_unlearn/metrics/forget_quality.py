"""Forget quality: is the unlearned model's forget-set behaviour indistinguishable from a retain model's?

Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024, https://arxiv.org/abs/2401.06121
(section 2.2.2, "Forget Quality").
"""

import logging
import warnings

import numpy as np
from scipy.stats import ks_2samp

from ._validation import as_float_array


logger = logging.getLogger(__name__)


def forget_quality(unlearned_truth_ratios, retain_truth_ratios) -> float:
    r"""p-value of the two-sample Kolmogorov-Smirnov test between two models' forget-set truth ratios.

    $$\mathrm{FQ} = p\text{-value of } \mathrm{KS}\left(\{R_i^\text{unlearned}\}, \{R_i^\text{retain}\}\right)$$

    computed by `scipy.stats.ks_2samp` (two-sided, default method), as in TOFU
    ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121)). The retain model is one trained without the
    forget set; a high p-value (near 1) means the two distributions cannot be told apart, i.e. good
    forgetting. The KS test only compares the ranks of the values, so it gives the same p-value for
    the ratios $R$ of [`truth_ratio`] and for TOFU's $1/R$.

    Args:
        unlearned_truth_ratios (`Sequence[float]` or `np.ndarray`):
            Per-sample truth ratios of the unlearned model on the forget set. `nan` entries (samples
            without perturbed answers) are dropped and their count logged.
        retain_truth_ratios (`Sequence[float]` or `np.ndarray`):
            Per-sample truth ratios of the retain model on the same forget set; `nan` handled alike.

    Returns:
        `float`: the p-value in `[0, 1]`.

    Raises:
        ValueError: if either sample has no defined truth ratio.

    Warns:
        UserWarning: if the two samples have different sizes. The test still runs (KS is defined
            for unequal sizes), but the usual reason is that the logs come from different forget
            sets, which makes the comparison meaningless.
    """
    samples = {}
    for name, values in (
        ("unlearned_truth_ratios", unlearned_truth_ratios),
        ("retain_truth_ratios", retain_truth_ratios),
    ):
        values = as_float_array(values, name)
        defined = values[~np.isnan(values)]
        if defined.size == 0:
            raise ValueError(
                f"{name} has no defined truth ratio ({values.size} samples given); forget quality needs at least one"
            )
        if defined.size < values.size:
            logger.warning(
                "forget quality: dropped %d of %d undefined (nan) values from %s",
                values.size - defined.size,
                values.size,
                name,
            )
        samples[name] = defined
    unlearned, retain = samples["unlearned_truth_ratios"], samples["retain_truth_ratios"]
    if unlearned.size != retain.size:
        warnings.warn(
            f"forget quality: the unlearned model has {unlearned.size} forget-set truth ratios but the retain model "
            f"has {retain.size}; the KS test still runs, but check that both were evaluated on the same forget set",
            UserWarning,
            stacklevel=2,
        )
    return float(ks_2samp(unlearned, retain).pvalue)

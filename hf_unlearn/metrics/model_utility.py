"""Model utility: one number for how much of the model's non-forget ability survived unlearning.

Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024, https://arxiv.org/abs/2401.06121
(section 2.2.1, "Model Utility").
"""

from collections.abc import Mapping

import numpy as np
from scipy.stats import hmean


def model_utility(scores) -> float:
    r"""Harmonic mean of the utility component scores.

    $$\mathrm{MU} = \frac{K}{\sum_{k=1}^{K} 1/s_k}$$

    computed by `scipy.stats.hmean`. TOFU ([arXiv 2401.06121](https://arxiv.org/abs/2401.06121)) takes
    the probability, ROUGE-L recall and truth-ratio scores on the retain, real-authors and world-facts
    sets (nine numbers); the harmonic mean lets any one near-zero component pull the utility down.
    A zero component gives a utility of 0.

    Args:
        scores (`Mapping[str, float]` or `Sequence[float]`):
            The component scores, each in `[0, 1]`, by name (the names appear in error messages) or
            as a plain sequence.

    Returns:
        `float`: the model utility in `[0, 1]`.

    Raises:
        ValueError: if there are no scores, or one is missing (`nan`), infinite or negative.
    """
    names, values = (
        (list(scores.keys()), list(scores.values())) if isinstance(scores, Mapping) else (None, list(scores))
    )
    if not values:
        raise ValueError("model utility needs at least one component score; got none")
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError("model utility component scores must be numbers") from error
    if array.ndim != 1:
        raise ValueError(f"model utility takes one number per component; got an array of shape {array.shape}")
    for index, value in enumerate(array):
        if not np.isfinite(value) or value < 0:
            label = repr(names[index]) if names else f"at position {index}"
            raise ValueError(
                f"model utility component {label} is {value}; every component must be a finite score >= 0"
            )
    return float(hmean(array))

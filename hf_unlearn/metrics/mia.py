"""Membership-inference scores, their ROC-AUC between forget (members) and holdout (non-members), and PrivLeak.

All per-sample scores here are oriented like a loss: **lower means "more likely a training member"**.
Sources:

- LOSS: Yeom et al., "Privacy Risk in Machine Learning", 2018, https://arxiv.org/abs/1709.01604
- zlib: Carlini et al., "Extracting Training Data from Large Language Models", 2021, https://arxiv.org/abs/2012.07805
- Min-K%: Shi et al., "Detecting Pretraining Data from Large Language Models", 2023, https://arxiv.org/abs/2310.16789
- Min-K%++: Zhang et al., "Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large
  Language Models", 2024, https://arxiv.org/abs/2404.02936
- PrivLeak: Shi et al., "MUSE: Machine Unlearning Six-Way Evaluation for Language Models", 2024,
  https://arxiv.org/abs/2407.06460
"""

import logging
import math
import zlib

import numpy as np
from scipy.stats import rankdata

from ._validation import as_float_array, as_ragged, check_fraction, check_same_length, log_undefined


logger = logging.getLogger(__name__)


def loss_score(nll) -> np.ndarray:
    r"""LOSS attack score: the sample's mean per-token NLL (Yeom et al., [arXiv 1709.01604](https://arxiv.org/abs/1709.01604)).

    $$s_\text{LOSS}(x) = -\frac{1}{|x|}\sum_t \log p(x_t \mid x_{<t})$$

    Args:
        nll (`Sequence[float]` or `np.ndarray`):
            Per-sample mean per-token NLL of the scored text (for QA data, of the answer tokens).

    Returns:
        `np.ndarray`: per-sample score; lower means more likely a member.
    """
    return as_float_array(nll, "nll")


def zlib_score(nll, texts) -> np.ndarray:
    r"""zlib attack score: the LOSS score divided by the text's zlib-compressed size.

    $$s_\text{zlib}(x) = \frac{s_\text{LOSS}(x)}{\left|\mathrm{zlib}(x)\right|}$$

    (Carlini et al., [arXiv 2012.07805](https://arxiv.org/abs/2012.07805)): text that is generically
    easy to predict is also easy to compress, so the ratio singles out text the model finds easier than
    its compressibility explains. The size is in bytes of `zlib.compress(text.encode("utf-8"))` (always
    > 0, even for an empty text); bytes or bits only rescale all scores alike, so the AUC is unchanged.

    Args:
        nll (`Sequence[float]` or `np.ndarray`):
            Per-sample mean per-token NLL of the scored text.
        texts (`Sequence[str]`):
            The scored texts, one per sample (used only for their compressed size, never logged).

    Returns:
        `np.ndarray`: per-sample score; lower means more likely a member.

    Raises:
        ValueError: if the lengths differ or an entry of `texts` is not a string.
    """
    nll = as_float_array(nll, "nll")
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings (one per sample), not a single string")
    check_same_length(nll=nll, texts=texts)
    sizes = np.empty(len(texts))
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{index}] must be a string; got {type(text).__name__}")
        sizes[index] = len(zlib.compress(text.encode("utf-8")))
    return nll / sizes


def _mean_of_lowest(values: np.ndarray, k: float) -> float:
    """Mean of the `max(1, floor(k * n))` smallest values (Min-K% selection)."""
    count = max(1, math.floor(k * values.size))
    return float(np.mean(np.sort(values)[:count]))


def min_k_score(token_log_probs, k: float = 0.2) -> np.ndarray:
    r"""Min-K% attack score: minus the mean of the k% lowest token log-probabilities.

    $$s_\text{Min-K\%}(x) = -\frac{1}{|\mathcal{K}|}\sum_{t \in \mathcal{K}} \log p(x_t \mid x_{<t})$$

    where $\mathcal{K}$ holds the $\max(1, \lfloor k\,|x| \rfloor)$ tokens with the lowest log-probability
    (Shi et al., [arXiv 2310.16789](https://arxiv.org/abs/2310.16789)): unseen text tends to contain a few
    very unlikely tokens. The paper scores $-s$ (higher = member); the sign is flipped here so that all
    scores in this module read like a loss.

    Args:
        token_log_probs (`Sequence[Sequence[float]]` or `np.ndarray`):
            Per sample, the log-probability of each scored token under the model.
        k (`float`, *optional*, defaults to `0.2`):
            Fraction of tokens kept, in `(0, 1]`. The paper's default is 0.2; MUSE's PrivLeak uses 0.4.

    Returns:
        `np.ndarray`: per-sample score; lower means more likely a member. `nan` (count logged) for a
        sample without tokens.

    Raises:
        ValueError: if `k` is not in `(0, 1]` or the input is malformed.
    """
    check_fraction(k, "k")
    rows = as_ragged(token_log_probs, "token_log_probs")
    log_undefined(logger, "Min-K% score", sum(r.size == 0 for r in rows), len(rows), "no tokens")
    return np.array([-_mean_of_lowest(r, k) if r.size else np.nan for r in rows])


def token_log_prob_moments(vocab_log_probs):
    r"""Mean and variance of the log-probability under the model's own next-token distribution.

    $$\mu_t = \sum_v p_t(v) \log p_t(v), \qquad \sigma_t^2 = \sum_v p_t(v) \left(\log p_t(v) - \mu_t\right)^2$$

    with $p_t = p(\cdot \mid x_{<t})$: the per-position statistics Min-K%++ normalises by (Zhang et al.,
    [arXiv 2404.02936](https://arxiv.org/abs/2404.02936): $\sigma$ is the standard deviation of
    $\log p(z \mid x_{<t})$ for $z$ drawn from the model). The variance is the population variance under $p_t$,
    computed in its centred form: equal to $\sum_v p_t(v) \log^2 p_t(v) - \mu_t^2$ in exact arithmetic, but
    without that form's cancellation in float32 when the distribution is sharp.

    The one definition for every caller: a torch tensor (the evaluator passes its logits' log-softmax, on their
    device) gives torch tensors of its dtype; anything else (arrays, nested lists) is computed in float64 numpy.
    Vocabulary entries with probability 0 contribute 0.

    Args:
        vocab_log_probs (`np.ndarray`, `torch.Tensor` or nested lists, of shape `(..., vocab_size)`):
            Log-softmax of the model's logits at each scored position.

    Returns:
        `tuple`: `(mean, variance)`, each of shape `vocab_log_probs.shape[:-1]`.
    """
    is_array = not hasattr(vocab_log_probs, "exp")  # torch tensors have methods for these; numpy has functions
    if is_array:
        vocab_log_probs = np.asarray(vocab_log_probs, dtype=np.float64)
    probs = np.exp(vocab_log_probs) if is_array else vocab_log_probs.exp()
    # -inf log-probs (masked vocabulary entries) have probability 0: keep 0 * inf from turning into nan.
    finite_log_probs = np.where(probs > 0, vocab_log_probs, 0.0) if is_array else vocab_log_probs.where(probs > 0, 0.0)
    mean = (probs * finite_log_probs).sum(-1)
    variance = (probs * (finite_log_probs - mean[..., None]) ** 2).sum(-1)
    return mean, variance


def min_k_plus_plus_score(
    token_log_probs, token_mean, token_variance, k: float = 0.2, min_variance: float = 1e-6
) -> np.ndarray:
    r"""Min-K%++ attack score: Min-K% on log-probabilities standardised by the model's own distribution.

    $$z_t = \frac{\log p(x_t \mid x_{<t}) - \mu_t}{\sigma_t}, \qquad
      s_\text{Min-K\%++}(x) = -\frac{1}{|\mathcal{K}|}\sum_{t \in \mathcal{K}} z_t$$

    with $\mu_t, \sigma_t^2$ from [`token_log_prob_moments`] and $\mathcal{K}$ the
    $\max(1, \lfloor k\,|x| \rfloor)$ lowest $z_t$ (Zhang et al., [arXiv 2404.02936](https://arxiv.org/abs/2404.02936)).
    Training tokens tend to sit at local maxima of the likelihood, i.e. well above the mean of the
    model's distribution. Sign flipped as in [`min_k_score`] (lower = member).

    Args:
        token_log_probs (`Sequence[Sequence[float]]` or `np.ndarray`):
            Per sample, the log-probability of each scored token.
        token_mean (`Sequence[Sequence[float]]` or `np.ndarray`):
            Per sample and token, $\mu_t$ (same shape as `token_log_probs`).
        token_variance (`Sequence[Sequence[float]]` or `np.ndarray`):
            Per sample and token, $\sigma_t^2$ (same shape as `token_log_probs`).
        k (`float`, *optional*, defaults to `0.2`):
            Fraction of tokens kept, in `(0, 1]`.
        min_variance (`float`, *optional*, defaults to `1e-6`):
            Floor on $\sigma_t^2$, so a (near) one-hot distribution does not divide by zero.

    Returns:
        `np.ndarray`: per-sample score; lower means more likely a member. `nan` (count logged) for a
        sample without tokens.

    Raises:
        ValueError: if `k` is not in `(0, 1]`, a variance is negative, or the shapes disagree.
    """
    check_fraction(k, "k")
    log_probs = as_ragged(token_log_probs, "token_log_probs")
    means = as_ragged(token_mean, "token_mean")
    variances = as_ragged(token_variance, "token_variance")
    check_same_length(token_log_probs=log_probs, token_mean=means, token_variance=variances)
    scores = np.full(len(log_probs), np.nan)
    for index, (lp, mu, var) in enumerate(zip(log_probs, means, variances, strict=True)):
        if not lp.size == mu.size == var.size:
            raise ValueError(
                f"sample {index}: token_log_probs has {lp.size} tokens, token_mean {mu.size} and token_variance "
                f"{var.size}; give one of each per token"
            )
        if np.any(var < 0):
            raise ValueError(f"sample {index}: token_variance must be >= 0")
        if lp.size:
            scores[index] = -_mean_of_lowest((lp - mu) / np.sqrt(np.maximum(var, min_variance)), k)
    log_undefined(logger, "Min-K%++ score", sum(r.size == 0 for r in log_probs), len(log_probs), "no tokens")
    return scores


def mia_auc(member_scores, nonmember_scores) -> float:
    r"""ROC-AUC of a membership-inference score separating members (forget set) from non-members (holdout).

    $$\mathrm{AUC} = P(s_\text{non-member} > s_\text{member}) + \tfrac{1}{2} P(s_\text{non-member} = s_\text{member})$$

    for loss-oriented scores (lower = member), computed exactly from average ranks
    (`scipy.stats.rankdata`, the Mann-Whitney U statistic). 1: the attack recognises every forget
    sample as a member; 0.5: chance, as for a model that never saw the forget set.

    Args:
        member_scores (`Sequence[float]` or `np.ndarray`):
            Per-sample scores of the members (forget set). `nan` entries are dropped, count logged.
        nonmember_scores (`Sequence[float]` or `np.ndarray`):
            Per-sample scores of the non-members (holdout set); `nan` handled alike. The two sets may
            differ in size.

    Returns:
        `float`: the AUC in `[0, 1]`.

    Raises:
        ValueError: if either set has no defined score.
    """
    groups = []
    for name, values in (("member_scores", member_scores), ("nonmember_scores", nonmember_scores)):
        values = as_float_array(values, name)
        defined = values[~np.isnan(values)]
        if defined.size == 0:
            raise ValueError(f"{name} has no defined score ({values.size} samples given); the AUC needs at least one")
        if defined.size < values.size:
            logger.warning(
                "MIA AUC: dropped %d of %d undefined (nan) values from %s",
                values.size - defined.size,
                values.size,
                name,
            )
        groups.append(defined)
    members, nonmembers = groups
    ranks = rankdata(np.concatenate([members, nonmembers]))
    nonmember_rank_sum = ranks[members.size :].sum()
    u_statistic = nonmember_rank_sum - nonmembers.size * (nonmembers.size + 1) / 2
    return float(u_statistic / (members.size * nonmembers.size))


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    r"""PrivLeak: relative gap between the unlearned and the retain model's MIA AUC, in percent (MUSE).

    MUSE ([arXiv 2407.06460](https://arxiv.org/abs/2407.06460)) defines it as
    $(\mathrm{AUC}'_u - \mathrm{AUC}'_r) / \mathrm{AUC}'_r$ (u: unlearned, r: retain) with its own AUC, which
    orients the ROC curve towards non-members: $\mathrm{AUC}' = 1 - \mathrm{AUC}$ in terms of the AUC of
    [`mia_auc`]. So, from our AUCs,

    $$\mathrm{PrivLeak} = 100 \cdot \frac{(1 - \mathrm{AUC}_u) - (1 - \mathrm{AUC}_r)}{1 - \mathrm{AUC}_r}$$

    which reproduces the sign and scale of MUSE's published tables (and open-unlearning): about 0 when
    the unlearned model is as private as the retain model; strongly **negative** (towards -100) when the
    forget set is still recognisable (under-unlearning, e.g. the original model); positive when the
    forget set looks *less* familiar than unseen data (over-unlearning, itself a signal). MUSE computes it
    with the Min-K% score ([`min_k_score`], k = 0.4).

    Args:
        auc_unlearned (`float`):
            [`mia_auc`] of the unlearned model, forget vs holdout.
        auc_retain (`float`):
            [`mia_auc`] of the retain model (never trained on the forget set), same sets and score.

    Returns:
        `float`: PrivLeak in percent.

    Raises:
        ValueError: if an AUC is outside `[0, 1]`, or `auc_retain` is 1 (the reference gap is zero).
    """
    for name, value in (("auc_unlearned", auc_unlearned), ("auc_retain", auc_retain)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be an AUC in [0, 1]; got {value}")
    if auc_retain == 1.0:
        raise ValueError("auc_retain is 1, so PrivLeak's reference (1 - auc_retain) is zero; it is undefined")
    return 100.0 * (auc_retain - auc_unlearned) / (1.0 - auc_retain)

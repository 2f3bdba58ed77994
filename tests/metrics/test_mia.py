import logging
import math
import zlib

import numpy as np
import pytest

from hf_unlearn.metrics import (
    loss_score,
    mia_auc,
    min_k_plus_plus_score,
    min_k_score,
    privleak,
    token_log_prob_moments,
    zlib_score,
)


def test_loss_score_is_the_mean_nll():
    np.testing.assert_allclose(loss_score([0.5, 2.0]), [0.5, 2.0])


def test_zlib_score_divides_by_compressed_size():
    texts = ["aaaa", ""]
    expected = [2.0 / len(zlib.compress(b"aaaa")), 1.0 / len(zlib.compress(b""))]
    np.testing.assert_allclose(zlib_score([2.0, 1.0], texts), expected)


def test_zlib_score_mismatched_lengths():
    with pytest.raises(ValueError, match="nll has 1 values but texts has 2"):
        zlib_score([1.0], ["a", "b"])


def test_min_k_by_hand():
    log_probs = [[-1.0, -2.0, -3.0, -4.0, -5.0]]
    assert min_k_score(log_probs, k=0.4)[0] == pytest.approx(4.5)  # mean of the 2 lowest, negated
    assert min_k_score(log_probs, k=0.1)[0] == pytest.approx(5.0)  # at least one token


def test_min_k_without_tokens_is_nan_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        scores = min_k_score([[-1.0], []])
    assert math.isnan(scores[1])
    assert "1 of 2" in caplog.text


def test_min_k_rejects_bad_k():
    with pytest.raises(ValueError, match=r"k must be a fraction in \(0, 1\]"):
        min_k_score([[-1.0]], k=0.0)


def test_log_prob_moments_by_hand():
    # p = (1/4, 3/4): mean = 1/4 ln 1/4 + 3/4 ln 3/4, variance of log p under p
    mean, variance = token_log_prob_moments(np.log([[0.25, 0.75], [0.5, 0.5]]))
    np.testing.assert_allclose(mean, [-0.5623351446, math.log(0.5)], rtol=1e-9)
    np.testing.assert_allclose(variance, [0.2263029302, 0.0], rtol=1e-8, atol=1e-12)


def test_log_prob_moments_one_definition_for_numpy_and_torch():
    """Min-K%++'s sigma_t^2 = E_p[(log p - mu_t)^2]: the evaluator's float32 torch pass matches the float64 reference.

    The uncentred form E_p[log^2 p] - mu_t^2 loses about 5e-5 (relative) of this variance to cancellation in float32.
    """
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50_000, generator=generator)
    logits[:, 0] += 5.0  # one likely token over a long tail, as in a language model's next-token distribution
    log_probs = logits.log_softmax(-1)
    mean32, variance32 = token_log_prob_moments(log_probs)
    mean64, variance64 = token_log_prob_moments(log_probs.double().numpy())
    assert isinstance(variance32, torch.Tensor) and variance32.dtype == torch.float32
    np.testing.assert_allclose(mean32.numpy(), mean64, rtol=1e-6)
    np.testing.assert_allclose(variance32.numpy(), variance64, rtol=1e-6)
    uncentred = (log_probs.exp() * log_probs.square()).sum(-1) - mean32.square()
    assert np.max(np.abs(uncentred.double().numpy() / variance64 - 1)) > 1e-5


def test_log_prob_moments_ignore_tokens_of_probability_zero():
    with np.errstate(divide="ignore"):
        mean, variance = token_log_prob_moments(np.log([[0.25, 0.75, 0.0]]))
    np.testing.assert_allclose(mean, [-0.5623351446], rtol=1e-9)
    np.testing.assert_allclose(variance, [0.2263029302], rtol=1e-8)


def test_min_k_plus_plus_by_hand():
    # z = (logp - mu) / sigma = ((-1 + 2) / 1, (-3 + 2) / 2) = (1, -0.5); k = 0.5 keeps the lowest: -0.5
    score = min_k_plus_plus_score([[-1.0, -3.0]], [[-2.0, -2.0]], [[1.0, 4.0]], k=0.5)
    assert score[0] == pytest.approx(0.5)


def test_min_k_plus_plus_floors_zero_variance():
    score = min_k_plus_plus_score([[-1.0]], [[-1.0]], [[0.0]], k=1.0)
    assert score[0] == pytest.approx(0.0)


def test_min_k_plus_plus_shape_mismatch():
    with pytest.raises(ValueError, match="sample 0: token_log_probs has 2 tokens, token_mean 1"):
        min_k_plus_plus_score([[-1.0, -2.0]], [[-1.0]], [[1.0, 1.0]])


def test_auc_by_hand():
    assert mia_auc([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1.0)  # members all have lower loss
    assert mia_auc([3.0, 4.0], [1.0, 2.0]) == pytest.approx(0.0)
    assert mia_auc([1.0, 3.0], [2.0, 4.0]) == pytest.approx(0.75)  # 3 of 4 pairs ordered
    assert mia_auc([1.0], [1.0]) == pytest.approx(0.5)  # ties count half
    assert mia_auc([1.0, 2.0, 2.0], [2.0]) == pytest.approx((1 + 0.5 + 0.5) / 3)


def test_auc_drops_nan_and_rejects_empty(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        assert mia_auc([1.0, float("nan")], [2.0]) == pytest.approx(1.0)
    assert "dropped 1 of 2" in caplog.text
    with pytest.raises(ValueError, match="nonmember_scores has no defined score"):
        mia_auc([1.0], [])


def test_privleak_muse_convention():
    assert privleak(0.5, 0.5) == pytest.approx(0.0)
    assert privleak(1.0, 0.5) == pytest.approx(-100.0)  # forget set fully recognised: under-unlearning
    assert privleak(0.25, 0.5) == pytest.approx(50.0)  # forget set looks less familiar than unseen data


def test_privleak_bad_input():
    with pytest.raises(ValueError, match="auc_unlearned must be an AUC"):
        privleak(1.5, 0.5)
    with pytest.raises(ValueError, match="undefined"):
        privleak(0.5, 1.0)

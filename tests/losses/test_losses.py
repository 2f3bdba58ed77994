"""Every objective against values computed by hand from its formula."""

import math

import pytest
import torch

from hf_unlearn.losses import (
    FORGET_LOSSES,
    RETAIN_LOSSES,
    GradientAscentLoss,
    KLRetainLoss,
    NLLRetainLoss,
    NPOLoss,
    SimNPOLoss,
)


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


LOGPS = torch.tensor([-4.0, -9.0])  # sums of answer-token log-probs
N_TOKENS = torch.tensor([2, 3])  # so the per-token NLLs are 2 and 3


def test_gradient_ascent_is_minus_the_mean_per_token_nll():
    loss, stats = GradientAscentLoss()(LOGPS, N_TOKENS)
    assert loss.item() == pytest.approx(-(2.0 + 3.0) / 2)
    assert stats == {}


def test_gradient_ascent_lowers_the_answer_probability():
    logps = LOGPS.clone().requires_grad_()
    GradientAscentLoss()(logps, N_TOKENS)[0].backward()
    # Descending this loss moves logps down: its gradient is positive.
    assert torch.all(logps.grad > 0)


def test_npo_matches_its_formula():
    ref_logps = torch.tensor([-2.0, -14.0])  # log-ratios -2 and 5
    loss, stats = NPOLoss(beta=0.5)(LOGPS, N_TOKENS, ref_logps)
    expected = -(2 / 0.5) * (log_sigmoid(0.5 * 2.0) + log_sigmoid(-0.5 * 5.0)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats["log_ratio"].tolist() == pytest.approx([-2.0, 5.0])
    assert stats["ref_logps"].tolist() == pytest.approx([-2.0, -14.0])


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_npo_at_the_reference_is_two_over_beta_ln2(beta):
    loss, stats = NPOLoss(beta=beta)(LOGPS, N_TOKENS, LOGPS.clone())
    assert loss.item() == pytest.approx(2 / beta * math.log(2), rel=1e-6)
    assert stats["log_ratio"].tolist() == [0.0, 0.0]


def test_npo_default_beta_is_the_papers():
    assert NPOLoss().beta == 0.1
    assert NPOLoss()(LOGPS, N_TOKENS, LOGPS)[0].item() == pytest.approx(13.8629, abs=1e-4)


def test_npo_needs_reference_log_probs():
    with pytest.raises(ValueError, match="ref_logps"):
        NPOLoss()(LOGPS, N_TOKENS)


@pytest.mark.parametrize("loss_class", [NPOLoss, SimNPOLoss])
def test_beta_must_be_positive(loss_class):
    with pytest.raises(ValueError, match="beta must be > 0"):
        loss_class(beta=0.0)


def test_simnpo_matches_the_papers_equation_with_unscaled_margin():
    loss, _ = SimNPOLoss(beta=2.0, delta=0.5)(LOGPS, N_TOKENS)
    # per-token log-probs are -2 and -3: sigmoid arguments -2*(-2) - 0.5 and -2*(-3) - 0.5
    expected = -(2 / 2.0) * (log_sigmoid(3.5) + log_sigmoid(5.5)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_simnpo_ignores_sequence_length():
    short = SimNPOLoss()(torch.tensor([-2.0]), torch.tensor([1]))[0]
    long = SimNPOLoss()(torch.tensor([-20.0]), torch.tensor([10]))[0]
    assert short.item() == pytest.approx(long.item())


def test_nll_retain_is_the_mean_per_token_nll():
    loss, stats = NLLRetainLoss()(LOGPS, N_TOKENS)
    assert loss.item() == pytest.approx(2.5)
    assert stats == {}


def test_kl_retain_averages_answer_positions_only():
    policy = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]]).log()
    reference = torch.tensor([[[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]]).log()
    mask = torch.tensor([[1, 0]])  # the second position is padding
    loss, stats = KLRetainLoss()(policy, reference, mask)
    expected = 0.2 * math.log(0.2 / 0.5) + 0.3 * math.log(0.3 / 0.3) + 0.5 * math.log(0.5 / 0.2)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert stats["kl"].tolist() == pytest.approx([expected], rel=1e-5)


def test_kl_is_zero_at_the_reference():
    logprobs = torch.randn(2, 5, 7).log_softmax(-1)
    loss, _ = KLRetainLoss()(logprobs, logprobs.clone(), torch.ones(2, 5))
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_registries_name_every_objective():
    assert set(FORGET_LOSSES) == {"ga", "npo", "simnpo"}
    assert set(RETAIN_LOSSES) == {"nll", "kl"}
    assert [name for name, cls in FORGET_LOSSES.items() if cls.needs_reference] == ["npo"]
    assert [name for name, cls in RETAIN_LOSSES.items() if cls.needs_reference] == ["kl"]

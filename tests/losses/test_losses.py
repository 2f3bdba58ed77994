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
from hf_unlearn.losses.base import ObjectiveInputs, UnlearningObjective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


LOGPS = torch.tensor([-4.0, -9.0])  # sums of answer-token log-probs
N_TOKENS = torch.tensor([2, 3])  # so the per-token NLLs are 2 and 3


def sequences(logps=LOGPS, n_tokens=N_TOKENS, **extra) -> ObjectiveInputs:
    return ObjectiveInputs(logps=logps, n_tokens=n_tokens, **extra)


def test_objectives_return_one_loss_per_sequence():
    ref_logps = torch.tensor([-2.0, -14.0])
    for objective in (GradientAscentLoss(), NPOLoss(), SimNPOLoss(), NLLRetainLoss()):
        loss, stats = objective(sequences(ref_logps=ref_logps))
        assert loss.shape == (2,)
        assert all(value.shape == (2,) for value in stats.values())


def test_the_loss_of_a_batch_is_the_mean_of_its_sequences_losses():
    objective = NPOLoss(beta=0.5)
    ref_logps = torch.tensor([-2.0, -14.0])
    whole, _ = objective(sequences(ref_logps=ref_logps))
    singles = [
        objective(sequences(LOGPS[i : i + 1], N_TOKENS[i : i + 1], ref_logps=ref_logps[i : i + 1]))[0]
        for i in range(2)
    ]
    assert whole.tolist() == pytest.approx(torch.cat(singles).tolist())


def test_gradient_ascent_is_minus_the_per_token_nll():
    loss, stats = GradientAscentLoss()(sequences())
    assert loss.tolist() == pytest.approx([-2.0, -3.0])
    assert stats == {}


def test_gradient_ascent_lowers_the_answer_probability():
    logps = LOGPS.clone().requires_grad_()
    GradientAscentLoss()(sequences(logps))[0].mean().backward()
    # Descending this loss moves logps down: its gradient is positive.
    assert torch.all(logps.grad > 0)


def test_npo_matches_its_formula():
    ref_logps = torch.tensor([-2.0, -14.0])  # log-ratios -2 and 5
    loss, stats = NPOLoss(beta=0.5)(sequences(ref_logps=ref_logps))
    expected = [-(2 / 0.5) * log_sigmoid(0.5 * 2.0), -(2 / 0.5) * log_sigmoid(-0.5 * 5.0)]
    assert loss.tolist() == pytest.approx(expected, rel=1e-6)
    assert stats["log_ratio"].tolist() == pytest.approx([-2.0, 5.0])
    assert stats["ref_logps"].tolist() == pytest.approx([-2.0, -14.0])


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_npo_at_the_reference_is_two_over_beta_ln2(beta):
    loss, stats = NPOLoss(beta=beta)(sequences(ref_logps=LOGPS.clone()))
    assert loss.tolist() == pytest.approx([2 / beta * math.log(2)] * 2, rel=1e-6)
    assert stats["log_ratio"].tolist() == [0.0, 0.0]


def test_npo_default_beta_is_the_papers():
    assert NPOLoss().beta == 0.1
    assert NPOLoss()(sequences(ref_logps=LOGPS))[0].mean().item() == pytest.approx(13.8629, abs=1e-4)


@pytest.mark.parametrize("loss_class", [NPOLoss, SimNPOLoss])
def test_beta_must_be_positive(loss_class):
    with pytest.raises(ValueError, match="beta must be > 0"):
        loss_class(beta=0.0)


def test_simnpo_matches_the_papers_equation_with_unscaled_margin():
    loss, _ = SimNPOLoss(beta=2.0, delta=0.5)(sequences())
    # per-token log-probs are -2 and -3: sigmoid arguments -2*(-2) - 0.5 and -2*(-3) - 0.5
    assert loss.tolist() == pytest.approx([-log_sigmoid(3.5), -log_sigmoid(5.5)], rel=1e-6)


def test_simnpo_ignores_sequence_length():
    short = SimNPOLoss()(sequences(torch.tensor([-2.0]), torch.tensor([1])))[0]
    long = SimNPOLoss()(sequences(torch.tensor([-20.0]), torch.tensor([10])))[0]
    assert short.item() == pytest.approx(long.item())


def test_nll_retain_is_the_per_token_nll():
    loss, stats = NLLRetainLoss()(sequences())
    assert loss.tolist() == pytest.approx([2.0, 3.0])
    assert stats == {}


def test_kl_retain_averages_answer_positions_only():
    # Sequence 0 has one answer position, sequence 1 two; the flat logits follow that order.
    policy = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]).log()
    reference = torch.tensor([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05], [0.3, 0.3, 0.4]]).log()
    positions = torch.tensor([[True, False, False], [True, True, False]])

    def kl(q, p):
        return sum(qi * math.log(qi / pi) for qi, pi in zip(q, p))

    inputs = sequences(
        torch.zeros(2), torch.tensor([1, 2]), logits=policy, ref_logits=reference, answer_positions=positions
    )
    loss, stats = KLRetainLoss()(inputs)
    expected = [kl([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]), kl([0.9, 0.05, 0.05], [0.1, 0.1, 0.8]) / 2]
    assert loss.tolist() == pytest.approx(expected, rel=1e-5)
    assert stats["kl"].tolist() == pytest.approx(expected, rel=1e-5)


def test_kl_is_zero_at_the_reference():
    logits = torch.randn(6, 7)
    positions = torch.tensor([[True, True, True], [True, True, True]])
    inputs = sequences(
        torch.zeros(2), torch.tensor([3, 3]), logits=logits, ref_logits=logits.clone(), answer_positions=positions
    )
    loss, _ = KLRetainLoss()(inputs)
    assert loss.abs().max().item() == pytest.approx(0.0, abs=1e-6)


def test_every_objective_takes_the_one_interface():
    for objective in [*FORGET_LOSSES.values(), *RETAIN_LOSSES.values()]:
        assert issubclass(objective, UnlearningObjective)


def test_an_objective_cannot_ask_for_an_input_the_trainer_does_not_compute():
    with pytest.raises(TypeError, match="unknown inputs \\['ref_attention'\\]"):

        class Broken(UnlearningObjective):
            requires = frozenset({"ref_attention"})

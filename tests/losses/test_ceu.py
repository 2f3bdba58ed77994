"""CE-U: cross-entropy toward the policy's own next-token distribution with the answer token removed."""

import math

import pytest
import torch

from hf_unlearn import CEUTrainer
from hf_unlearn.losses import CEULoss
from hf_unlearn.losses.base import ObjectiveInputs

from .test_wga import two_steps_on_the_memorized_model


# Sequence 0 has one answer position, sequence 1 two; the flat rows follow that order.
POSITIONS = torch.tensor([[True, False, False], [True, True, False]])
N_TOKENS = torch.tensor([1, 2])
TARGETS = torch.tensor([0, 2, 1])
LOGITS = [[2.0, 1.0, 0.0], [0.5, -1.0, 3.0], [0.0, 0.0, 1.0]]


def batch(logits) -> ObjectiveInputs:
    return ObjectiveInputs(
        logps=torch.zeros(2), n_tokens=N_TOKENS, logits=logits, targets=TARGETS, answer_positions=POSITIONS
    )


def expected_cross_entropy(logits: list[float], answer: int) -> float:
    """By hand: the target renormalises the softmax over every token but the answer; CE = -sum q log p."""
    exps = [math.exp(z) for z in logits]
    log_p = [math.log(e / sum(exps)) for e in exps]
    others = sum(e for v, e in enumerate(exps) if v != answer)
    return -sum((e / others) * log_p[v] for v, e in enumerate(exps) if v != answer)


def test_ceu_is_the_cross_entropy_to_the_target_without_the_answer_token_per_sequence_mean():
    loss, stats = CEULoss()(batch(torch.tensor(LOGITS)))
    per_position = [expected_cross_entropy(row, int(answer)) for row, answer in zip(LOGITS, TARGETS)]
    assert loss.tolist() == pytest.approx([per_position[0], (per_position[1] + per_position[2]) / 2], rel=1e-6)
    answer_probs = [math.exp(row[a]) / sum(math.exp(z) for z in row) for row, a in zip(LOGITS, TARGETS.tolist())]
    assert stats["answer_prob"].tolist() == pytest.approx(
        [answer_probs[0], (answer_probs[1] + answer_probs[2]) / 2], rel=1e-6
    )


def test_the_gradient_on_the_logits_is_policy_minus_target():
    logits = torch.tensor(LOGITS, requires_grad=True)
    loss, _ = CEULoss()(batch(logits))
    loss.sum().backward()
    probs = torch.tensor(LOGITS).softmax(-1)
    target = probs.clone()
    target[torch.arange(3), TARGETS] = 0
    target = target / target.sum(-1, keepdim=True)
    weights = torch.tensor([1.0, 0.5, 0.5])[:, None]  # each sequence's token mean
    torch.testing.assert_close(logits.grad, weights * (probs - target))
    # The answer token's logit is pushed down by exactly its own probability (times the mean's weight).
    torch.testing.assert_close(logits.grad[torch.arange(3), TARGETS], weights[:, 0] * probs[torch.arange(3), TARGETS])


def test_ceu_reaches_its_floor_when_the_answer_token_has_no_probability_left():
    logits = torch.tensor([[-30.0, 1.0, 0.0], [0.5, -1.0, -30.0], [0.0, -30.0, 1.0]])
    loss, stats = CEULoss()(batch(logits))
    others = logits.clone()
    others[torch.arange(3), TARGETS] = float("-inf")
    q = others.softmax(-1)
    entropy = -(q * q.clamp(min=1e-30).log()).sum(-1)
    assert loss.tolist() == pytest.approx([entropy[0].item(), entropy[1:].mean().item()], abs=1e-5)
    assert stats["answer_prob"].max().item() < 1e-12


def test_ceu_trainer_trains_without_a_retain_set_and_forgets(tmp_path, tokenizer, memorized_model_dir):
    trainer, before, after = two_steps_on_the_memorized_model(
        CEUTrainer, tmp_path, tokenizer, memorized_model_dir, retain=None
    )
    assert trainer.loss_names == {"forget": "ceu", "retain": "none"}
    logged = trainer.state.log_history[0]
    assert logged["loss/forget"] > 0 and 0 < logged["answer_prob/forget"] <= 1 and "loss/retain" not in logged
    assert after > before

"""UNDIAL: distillation toward the reference with the answer token's logit lowered, on answer positions only."""

import math

import pytest
import torch

from hf_unlearn import UNDIALTrainer, UnlearningConfig
from hf_unlearn.losses import UNDIALLoss
from hf_unlearn.losses.base import ObjectiveInputs

from ..conftest import FORGET_ROWS, make_config
from .test_wga import two_steps_on_the_memorized_model


# Sequence 0 has one answer position, sequence 1 two; the flat rows follow that order.
POSITIONS = torch.tensor([[True, False, False], [True, True, False]])
N_TOKENS = torch.tensor([1, 2])
TARGETS = torch.tensor([0, 2, 1])
POLICY = [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]
REFERENCE = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.3, 0.5, 0.2]]


def inputs(policy_logits, ref_logits) -> ObjectiveInputs:
    return ObjectiveInputs(
        logps=torch.zeros(2),
        n_tokens=N_TOKENS,
        logits=policy_logits,
        ref_logits=ref_logits,
        targets=TARGETS,
        answer_positions=POSITIONS,
    )


def adjusted(q: list[float], target: int, gamma: float) -> list[float]:
    """softmax(log q - gamma * onehot(target)), by hand: the target's mass scaled by e^-gamma, then renormalised."""
    scaled = [qj * (math.exp(-gamma) if j == target else 1.0) for j, qj in enumerate(q)]
    return [s / sum(scaled) for s in scaled]


def kl(q: list[float], p: list[float]) -> float:
    return sum(qi * math.log(qi / pi) for qi, pi in zip(q, p))


def test_undial_is_the_kl_from_the_adjusted_reference_averaged_per_sequence():
    gamma = 2.0
    loss, stats = UNDIALLoss(gamma=gamma)(inputs(torch.tensor(POLICY).log(), torch.tensor(REFERENCE).log()))
    per_position = [kl(adjusted(q, int(y), gamma), p) for q, y, p in zip(REFERENCE, TARGETS, POLICY)]
    expected = [per_position[0], (per_position[1] + per_position[2]) / 2]
    assert loss.tolist() == pytest.approx(expected, rel=1e-5)
    assert stats == {}


def test_undial_has_the_gradient_of_the_papers_soft_cross_entropy():
    """KL and cross-entropy from the fixed target differ by the target's entropy: same gradient, value shifted."""
    gamma = 3.0
    torch.manual_seed(0)
    policy, reference = torch.randn(3, 5, requires_grad=True), torch.randn(3, 5)
    loss, _ = UNDIALLoss(gamma=gamma)(inputs(policy, reference))
    (ours,) = torch.autograd.grad(loss.sum(), policy)

    target = reference.clone()
    target[torch.arange(3), TARGETS] -= gamma
    soft = target.softmax(-1)
    per_position_ce = -(soft * policy.log_softmax(-1)).sum(-1)
    entropy = -(soft * soft.log()).sum(-1)
    weights = torch.tensor([1.0, 0.5, 0.5])  # each sequence averaged over its own answer positions
    (theirs,) = torch.autograd.grad((weights * per_position_ce).sum(), policy)
    torch.testing.assert_close(ours, theirs)
    assert loss.sum().item() == pytest.approx((weights * (per_position_ce - entropy)).sum().item(), rel=1e-5)


def test_undial_lowers_the_answer_token_and_nothing_is_forgotten_at_gamma_zero():
    reference = torch.tensor(REFERENCE).log()
    policy = reference.clone().requires_grad_()
    loss, _ = UNDIALLoss(gamma=5.0)(inputs(policy, reference))
    assert torch.all(loss > 0)  # at the reference the policy is not yet at its target
    loss.mean().backward()
    # Descending the loss moves each answer token's logit down and every other logit up.
    answer_grad = policy.grad[torch.arange(3), TARGETS]
    assert torch.all(answer_grad > 0)
    assert torch.all(policy.grad.sum(-1).abs() < 1e-6)
    stepped = (policy - 0.5 * policy.grad).log_softmax(-1)[torch.arange(3), TARGETS]
    assert torch.all(stepped < reference.log_softmax(-1)[torch.arange(3), TARGETS])

    at_reference, _ = UNDIALLoss(gamma=0.0)(inputs(reference, reference))
    assert at_reference.abs().max().item() < 1e-6


def test_undial_does_not_modify_the_reference_logits_and_keeps_their_dtype():
    reference = torch.tensor(REFERENCE).log().to(torch.bfloat16)
    before = reference.clone()
    target = UNDIALLoss(gamma=4.0).adjusted_logits(reference, TARGETS)
    assert torch.equal(reference, before)
    assert target.dtype == torch.bfloat16
    lowered = (before.float() - target.float())[torch.arange(3), TARGETS]
    assert lowered.tolist() == pytest.approx([4.0] * 3, abs=0.02)  # bf16 keeps 3 significant digits
    assert (before != target).sum().item() == 3


def test_undial_needs_the_reference_logits_and_they_cannot_be_precomputed():
    assert UNDIALLoss.requires == frozenset({"ref_logits"})
    assert UNDIALLoss.needs_reference() and not UNDIALLoss.reference_is_precomputable()


def test_undial_gamma_comes_from_the_config_and_must_not_be_negative(tmp_path):
    args = UnlearningConfig(output_dir=str(tmp_path), report_to="none", undial_gamma=3.0)
    assert UNDIALLoss.from_config(args).gamma == 3.0
    assert UNDIALLoss().gamma == UnlearningConfig.undial_gamma == 10.0  # one default, open-unlearning's
    with pytest.raises(ValueError, match="undial_gamma must be >= 0.*got undial_gamma=-1.0"):
        UnlearningConfig(output_dir=str(tmp_path), report_to="none", undial_gamma=-1.0)
    with pytest.raises(ValueError, match="undial_gamma must be >= 0"):
        UNDIALLoss(gamma=float("nan"))


def test_the_trainer_gives_the_answer_tokens_the_logits_predict(tmp_path, tokenizer, llama):
    trainer = UNDIALTrainer(
        llama, args=make_config(tmp_path), processing_class=tokenizer, forget_dataset=FORGET_ROWS[:4]
    )
    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
    forget = {key.removeprefix("forget_"): value for key, value in batch.items() if key.startswith("forget_")}
    policy = trainer.engine.policy_scores(trainer.model, {"forget": forget}, {"forget": trainer.forget_loss})["forget"]
    seen = trainer.engine.objective_inputs(trainer.model, forget, trainer.forget_loss, policy)
    assert seen.targets.shape == seen.token_logps.shape == (seen.n_tokens.sum().item(),)
    picked = seen.logits.float().log_softmax(-1).gather(-1, seen.targets[:, None]).squeeze(-1)
    torch.testing.assert_close(picked, seen.token_logps)
    assert seen.ref_logits.shape == seen.logits.shape and not seen.ref_logits.requires_grad


def test_undial_trainer_trains_without_a_retain_set_and_forgets(tmp_path, tokenizer, memorized_model_dir):
    trainer, before, after = two_steps_on_the_memorized_model(
        UNDIALTrainer, tmp_path, tokenizer, memorized_model_dir, retain=None
    )
    assert trainer.loss_names == {"forget": "undial", "retain": "none"}
    logged = trainer.state.log_history[0]
    assert logged["loss/forget"] > 0 and "loss/retain" not in logged
    assert after > before

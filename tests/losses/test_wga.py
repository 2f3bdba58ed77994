"""WGA: gradient ascent with each answer token weighted by its detached probability to the power wga_beta."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from hf_unlearn import UnlearningConfig, WGATrainer
from hf_unlearn.losses import GradientAscentLoss, WGALoss
from hf_unlearn.losses.base import ObjectiveInputs

from ..conftest import FORGET_ROWS, RETAIN_ROWS, answer_nll, make_config


# Sequence 0 has one answer token (probability 0.5), sequence 1 two (0.25 and 0.8).
PROBS = [0.5, 0.25, 0.8]
POSITIONS = torch.tensor([[True, False, False], [True, True, False]])
N_TOKENS = torch.tensor([1, 2])


def tokens(token_logps=None) -> ObjectiveInputs:
    token_logps = torch.tensor(PROBS).log() if token_logps is None else token_logps
    logps = torch.stack([token_logps[:1].sum(), token_logps[1:].sum()])
    return ObjectiveInputs(logps=logps, n_tokens=N_TOKENS, token_logps=token_logps, answer_positions=POSITIONS)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_wga_weights_each_token_log_prob_by_its_probability_to_the_power(power):
    loss, stats = WGALoss(beta=power)(tokens())
    terms = [p**power * math.log(p) for p in PROBS]
    assert loss.tolist() == pytest.approx([terms[0], (terms[1] + terms[2]) / 2], rel=1e-6)
    weights = [p**power for p in PROBS]
    assert stats["weight"].tolist() == pytest.approx([weights[0], (weights[1] + weights[2]) / 2], rel=1e-6)


def test_wga_at_power_zero_is_gradient_ascent():
    loss, stats = WGALoss(beta=0.0)(tokens())
    assert loss.tolist() == pytest.approx(GradientAscentLoss()(tokens())[0].tolist())
    assert stats["weight"].tolist() == [1.0, 1.0]


def test_wga_weight_is_a_constant_of_the_step_and_the_answer_probability_goes_down():
    token_logps = torch.tensor(PROBS).log().requires_grad_()
    WGALoss(beta=2.0)(tokens(token_logps))[0].sum().backward()
    # d loss / d log p = p^beta / n: the weight is detached (not (1 + beta) p^beta), and positive, so descending
    # the loss lowers every answer token's log-prob.
    expected = [PROBS[0] ** 2, PROBS[1] ** 2 / 2, PROBS[2] ** 2 / 2]
    assert token_logps.grad.tolist() == pytest.approx(expected, rel=1e-6)


def test_wga_beta_comes_from_the_config_and_must_not_be_negative(tmp_path):
    args = UnlearningConfig(output_dir=str(tmp_path), report_to="none", wga_beta=2.5)
    assert WGALoss.from_config(args).beta == 2.5
    assert WGALoss().beta == UnlearningConfig.wga_beta == 1.0
    assert not WGALoss.needs_reference()
    with pytest.raises(ValueError, match="wga_beta must be >= 0.*got wga_beta=-0.5"):
        UnlearningConfig(output_dir=str(tmp_path), report_to="none", wga_beta=-0.5)
    with pytest.warns(UserWarning, match="wga_beta=2.0 has no effect: forget_loss='npo'"):
        UnlearningConfig(
            output_dir=str(tmp_path), report_to="none", forget_loss="npo", retain_loss="nll", wga_beta=2.0
        )


def two_steps_on_the_memorized_model(trainer_class, tmp_path, tokenizer, model_dir, retain=RETAIN_ROWS):
    """Two steps of `trainer_class` on a model that knows the forget rows; returns the trainer and the forget answer
    NLL before and after."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    before = answer_nll(model, tokenizer, FORGET_ROWS)
    trainer = trainer_class(
        model,
        args=make_config(tmp_path, max_steps=2, learning_rate=1e-3),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=retain,
    )
    trainer.train()
    return trainer, before, answer_nll(model, tokenizer, FORGET_ROWS)


def test_wga_trainer_trains_with_retain_nll_and_forgets(tmp_path, tokenizer, memorized_model_dir):
    trainer, before, after = two_steps_on_the_memorized_model(WGATrainer, tmp_path, tokenizer, memorized_model_dir)
    assert trainer.loss_names == {"forget": "wga", "retain": "nll"}
    logged = trainer.state.log_history[0]
    assert 0 < logged["weight/forget"] <= 1 and "loss/retain" in logged
    assert after > before
    assert trainer.unlearning_record()["hyperparameters"]["wga_beta"] == 1.0  # the model card records it


def test_the_old_name_of_the_exponent_still_works_and_warns():
    with pytest.warns(FutureWarning, match=r"WGALoss\(power=...\) is deprecated; use WGALoss\(beta=...\)"):
        loss = WGALoss(power=2.0)
    assert loss.beta == 2.0
    with pytest.warns(FutureWarning, match="WGALoss.power is deprecated"):
        assert loss.power == 2.0

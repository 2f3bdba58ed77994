"""SatImp: gradient ascent with token weights p^beta1 (1 - p)^beta2 (saturation times importance), p detached."""

import pytest
import torch

from hf_unlearn import SatImpTrainer, UnlearningConfig
from hf_unlearn.losses import GradientAscentLoss, SatImpLoss, WGALoss

from .test_wga import PROBS, tokens, two_steps_on_the_memorized_model


def test_satimp_weights_at_known_probabilities():
    loss, stats = SatImpLoss(beta1=5.0, beta2=1.0)(tokens())
    # p = 0.5: 0.5^5 * 0.5 = 1/64; p = 0.25: 0.25^5 * 0.75; p = 0.8: 0.8^5 * 0.2
    weights = [1 / 64, 0.75 / 1024, 0.065536]
    terms = [w * torch.tensor(p).log().item() for w, p in zip(weights, PROBS)]
    assert loss.tolist() == pytest.approx([terms[0], (terms[1] + terms[2]) / 2], rel=1e-5)
    assert stats["weight"].tolist() == pytest.approx([weights[0], (weights[1] + weights[2]) / 2], rel=1e-5)


def test_satimp_weight_peaks_at_beta1_over_beta1_plus_beta2_and_vanishes_at_both_ends():
    probs = torch.tensor([1e-6, 0.5, 5 / 6, 0.95, 1.0])
    weights = SatImpLoss().token_weights(probs)
    assert weights.argmax().item() == 2
    assert weights[0].item() < 1e-20 and weights[-1].item() == 0.0


def test_satimp_reduces_to_wga_and_to_gradient_ascent():
    wga, _ = WGALoss(beta=3.0)(tokens())
    assert SatImpLoss(beta1=3.0, beta2=0.0)(tokens())[0].tolist() == pytest.approx(wga.tolist())
    ga, _ = GradientAscentLoss()(tokens())
    assert SatImpLoss(beta1=0.0, beta2=0.0)(tokens())[0].tolist() == pytest.approx(ga.tolist())


def test_satimp_lowers_the_answer_probability_with_a_detached_weight():
    token_logps = torch.tensor(PROBS).log().requires_grad_()
    SatImpLoss(beta1=2.0, beta2=1.0)(tokens(token_logps))[0].sum().backward()
    weights = [p**2 * (1 - p) for p in PROBS]
    assert token_logps.grad.tolist() == pytest.approx([weights[0], weights[1] / 2, weights[2] / 2], rel=1e-5)


def test_satimp_betas_come_from_the_config_and_must_not_be_negative(tmp_path):
    args = UnlearningConfig(output_dir=str(tmp_path), report_to="none", satimp_beta1=4.0, satimp_beta2=0.1)
    objective = SatImpLoss.from_config(args)
    assert (objective.beta1, objective.beta2) == (4.0, 0.1)
    default = SatImpLoss()
    assert (default.beta1, default.beta2) == (UnlearningConfig.satimp_beta1, UnlearningConfig.satimp_beta2) == (5, 1)
    for field in ("satimp_beta1", "satimp_beta2"):
        with pytest.raises(ValueError, match=f"{field} must be >= 0.*got {field}=-1.0"):
            UnlearningConfig(output_dir=str(tmp_path), report_to="none", **{field: -1.0})


def test_satimp_trainer_trains_with_retain_nll_and_forgets(tmp_path, tokenizer, memorized_model_dir):
    trainer, before, after = two_steps_on_the_memorized_model(SatImpTrainer, tmp_path, tokenizer, memorized_model_dir)
    assert trainer.loss_names == {"forget": "satimp", "retain": "nll"}
    logged = trainer.state.log_history[0]
    assert 0 < logged["weight/forget"] < 0.07 and "loss/retain" in logged
    assert after > before

"""DPO / IdkDPO on the forget set against values computed by hand from its formula."""

import math

import pytest
import torch

from hf_unlearn import UnlearningConfig
from hf_unlearn.losses import DPOLoss, NPOLoss
from hf_unlearn.losses.base import ObjectiveInputs


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


LOGPS = torch.tensor([-4.0, -9.0])  # forget answers (dispreferred), sums of answer-token log-probs
REF_LOGPS = torch.tensor([-2.0, -14.0])  # log-ratios -2 and 5
ALT_LOGPS = torch.tensor([-6.0, -3.0])  # alternative answers (preferred)
REF_ALT_LOGPS = torch.tensor([-5.0, -4.0])  # log-ratios -1 and 1
ALT_N_TOKENS = torch.tensor([3, 1])


def inputs(logps=LOGPS, alt_logps=ALT_LOGPS, ref_logps=REF_LOGPS, ref_alt_logps=REF_ALT_LOGPS) -> ObjectiveInputs:
    return ObjectiveInputs(
        logps=logps,
        n_tokens=torch.tensor([2, 3]),
        ref_logps=ref_logps,
        alt_logps=alt_logps,
        alt_n_tokens=ALT_N_TOKENS,
        ref_alt_logps=ref_alt_logps,
    )


def test_dpo_matches_its_formula_with_open_unlearnings_two_over_beta_scale():
    loss, stats = DPOLoss(beta=0.5)(inputs())
    # margins: (-1) - (-2) = 1 and 1 - 5 = -4; loss = -(2 / 0.5) * log sigmoid(0.5 * margin)
    assert loss.tolist() == pytest.approx([-4 * log_sigmoid(0.5), -4 * log_sigmoid(-2.0)])
    assert loss.tolist() == pytest.approx([1.896308, 8.507713], abs=1e-6)
    assert stats["log_ratio"].tolist() == [-2.0, 5.0]
    assert stats["alt_log_ratio"].tolist() == [-1.0, 1.0]
    assert stats["alt_nll"].tolist() == pytest.approx([2.0, 3.0])  # per-token NLL of the alternatives


def test_dpo_is_plain_dpo_times_two_over_beta():
    beta = 0.1
    margin = torch.tensor([1.0, -4.0])
    plain = -torch.nn.functional.logsigmoid(beta * margin)  # Rafailov et al. / TOFU's code
    loss, _ = DPOLoss(beta=beta)(inputs())
    torch.testing.assert_close(loss, (2 / beta) * plain)


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_dpo_at_the_reference_is_two_over_beta_ln2(beta):
    loss, stats = DPOLoss(beta=beta)(inputs(ref_logps=LOGPS, ref_alt_logps=ALT_LOGPS))
    assert loss.tolist() == pytest.approx([2 / beta * math.log(2)] * 2)
    assert stats["log_ratio"].abs().max().item() == 0.0


def test_dpo_with_the_alternative_at_its_reference_is_npo():
    dpo, _ = DPOLoss(beta=0.5)(inputs(alt_logps=REF_ALT_LOGPS))
    npo, _ = NPOLoss(beta=0.5)(inputs())
    torch.testing.assert_close(dpo, npo)


def test_dpo_pushes_the_forget_answer_down_and_the_alternative_up():
    logps, alt_logps = LOGPS.clone().requires_grad_(), ALT_LOGPS.clone().requires_grad_()
    loss, _ = DPOLoss()(inputs(logps=logps, alt_logps=alt_logps))
    loss.mean().backward()
    # Descending the loss moves logps down (positive gradient) and alt_logps up (negative gradient), equally.
    assert (logps.grad > 0).all() and (alt_logps.grad < 0).all()
    torch.testing.assert_close(logps.grad, -alt_logps.grad)


def test_dpo_declares_policy_and_reference_alternatives_and_can_be_precomputed():
    assert DPOLoss.requires == {"ref_logps", "alt_logps", "ref_alt_logps"}
    assert DPOLoss.needs_reference() and DPOLoss.needs_alternatives() and DPOLoss.reference_is_precomputable()


def test_dpo_reads_beta_from_the_config(tmp_path):
    assert DPOLoss.from_config(UnlearningConfig(output_dir=str(tmp_path), beta=0.3)).beta == 0.3
    default = UnlearningConfig(output_dir=str(tmp_path))
    assert DPOLoss.from_config(default).beta == 0.1 == default.method_hyperparameters("dpo")["beta"]


def test_dpo_beta_must_be_positive():
    with pytest.raises(ValueError, match="beta must be > 0"):
        DPOLoss(beta=0.0)

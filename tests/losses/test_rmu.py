"""RMU's two objectives against values computed by hand, and its control vector."""

import pytest
import torch

from hf_unlearn import UnlearningConfig
from hf_unlearn.losses import FORGET_LOSSES, RETAIN_LOSSES, RMUForgetLoss, RMURetainLoss
from hf_unlearn.losses.base import ObjectiveInputs
from hf_unlearn.losses.rmu import control_vector


# Two sequences, three positions, hidden size 2; the second sequence has one padding position.
HIDDEN = torch.tensor(
    [
        [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]],
        [[2.0, 2.0], [0.0, 0.0], [100.0, -100.0]],
    ]
)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def inputs(hidden=HIDDEN, **extra) -> ObjectiveInputs:
    return ObjectiveInputs(
        logps=torch.zeros(2), n_tokens=torch.tensor([2, 2]), hidden_states=hidden, attention_mask=MASK, **extra
    )


def test_control_vector_is_a_unit_vector_of_nonnegative_draws_scaled_by_c():
    vector = control_vector(64, seed=3, steering_coeff=6.5)
    assert vector.shape == (64,) and vector.dtype == torch.float32
    assert vector.norm().item() == pytest.approx(6.5, rel=1e-6)
    assert (vector >= 0).all()  # uniform [0, 1) draws, as in the authors' code: not a Gaussian direction
    assert torch.equal(vector, control_vector(64, seed=3, steering_coeff=6.5))
    assert not torch.equal(vector, control_vector(64, seed=4, steering_coeff=6.5))
    # The same direction for every c: c only scales it.
    assert torch.allclose(control_vector(64, seed=3, steering_coeff=1.0) * 6.5, vector)


def test_control_vector_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    control_vector(16, seed=1, steering_coeff=1.0)
    assert torch.equal(torch.rand(3), expected)


def test_forget_loss_is_the_token_mean_mse_to_c_times_u_over_real_tokens_only(monkeypatch):
    objective = RMUForgetLoss(layer=0, steering_coeff=2.0, seed=0)
    # Fix u by hand so the expected values are plain arithmetic: target c * u = (2, 0).
    monkeypatch.setattr(objective, "target", lambda hidden_size: torch.tensor([2.0, 0.0]))
    loss, stats = objective(inputs())
    # Sequence 1: squared errors per token (mean over the 2 dims): (1+0)/2, (4+4)/2, (1+1)/2 -> mean 5.5/3.
    # Sequence 2: (0+4)/2, (4+0)/2, padding ignored -> mean 2.
    assert loss.tolist() == pytest.approx([5.5 / 3, 2.0])
    # Mean activation norms over real tokens: (1 + 2 + sqrt(10)) / 3 and (sqrt(8) + 0) / 2.
    assert stats["hidden_norm"].tolist() == pytest.approx([(3 + 10**0.5) / 3, 8**0.5 / 2])


def test_forget_loss_at_zero_activations_is_c_squared_over_the_hidden_size():
    objective = RMUForgetLoss(layer=0, steering_coeff=6.5, seed=0)
    loss, _ = objective(inputs(torch.zeros(2, 3, 64)))
    assert loss.tolist() == pytest.approx([6.5**2 / 64] * 2, rel=1e-5)


def test_forget_loss_gradient_points_the_activations_toward_the_target():
    objective = RMUForgetLoss(layer=0, steering_coeff=5.0, seed=1)
    hidden = torch.zeros(2, 3, 8, requires_grad=True)
    objective(inputs(hidden))[0].mean().backward()
    step = -hidden.grad[0, 0]  # a descent step on a real token
    assert torch.cosine_similarity(step, objective.target(8), dim=0).item() == pytest.approx(1.0, abs=1e-6)
    assert hidden.grad[1, 2].abs().max().item() == 0.0  # padding gets no gradient


def test_retain_loss_is_alpha_times_the_token_mean_mse_to_the_reference():
    reference = HIDDEN.clone()
    reference[0, 0] = torch.tensor([0.0, 0.0])  # squared error (1 + 0) / 2 on token 0 of sequence 1
    reference[1, 1] = torch.tensor([2.0, 2.0])  # (4 + 4) / 2 on token 1 of sequence 2
    reference[1, 2] = torch.tensor([0.0, 0.0])  # padding: ignored
    loss, stats = RMURetainLoss(layer=0, alpha=10.0)(inputs(ref_hidden_states=reference))
    assert stats["activation_mse"].tolist() == pytest.approx([0.5 / 3, 4.0 / 2])
    assert loss.tolist() == pytest.approx([10 * 0.5 / 3, 10 * 4.0 / 2])


def test_retain_loss_is_zero_when_the_activations_equal_the_reference():
    loss, stats = RMURetainLoss(layer=0, alpha=1200.0)(inputs(ref_hidden_states=HIDDEN.clone()))
    assert loss.tolist() == [0.0, 0.0]


def test_the_objectives_declare_what_they_read():
    assert RMUForgetLoss.requires == {"hidden_states"} and not RMUForgetLoss.needs_reference()
    assert RMURetainLoss.requires == {"hidden_states", "ref_hidden_states"} and RMURetainLoss.needs_reference()
    assert not RMURetainLoss.reference_is_precomputable()  # activations are not one number per row
    assert FORGET_LOSSES["rmu"] is RMUForgetLoss and RETAIN_LOSSES["rmu"] is RMURetainLoss


def test_from_config_reads_the_rmu_fields_and_both_objectives_use_the_same_layer(tmp_path):
    args = UnlearningConfig(
        output_dir=str(tmp_path), rmu_layer=3, rmu_steering_coeff=12.0, rmu_alpha=50.0, rmu_seed=9, seed=1
    )
    forget, retain = RMUForgetLoss.from_config(args), RMURetainLoss.from_config(args)
    assert forget.hidden_layer == retain.hidden_layer == 3
    assert (forget.steering_coeff, forget.seed, retain.alpha) == (12.0, 9, 50.0)
    # Without rmu_seed, the run's seed draws the direction.
    assert RMUForgetLoss.from_config(UnlearningConfig(output_dir=str(tmp_path), seed=5)).seed == 5


def test_config_defaults_are_the_papers_zephyr_settings(tmp_path):
    args = UnlearningConfig(output_dir=str(tmp_path))
    assert (args.rmu_layer, args.rmu_steering_coeff, args.rmu_alpha) == (7, 6.5, 1200.0)
    assert args.rmu_trainable_params is None and args.rmu_seed is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rmu_layer", -1, "rmu_layer must be a decoder layer index >= 0"),
        ("rmu_steering_coeff", 0.0, "rmu_steering_coeff must be > 0"),
        ("rmu_alpha", -1.0, "rmu_alpha must be >= 0"),
        ("rmu_trainable_params", [], "rmu_trainable_params is empty"),
        ("rmu_trainable_params", ["mlp("], "rmu_trainable_params has 'mlp\\(', which is not a regular expression"),
    ],
)
def test_bad_rmu_fields_are_refused_naming_the_field(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        UnlearningConfig(output_dir=str(tmp_path), **{field: value})

import pytest

from hf_unlearn.metrics import model_utility


def test_harmonic_mean_by_hand():
    assert model_utility([0.5, 1.0]) == pytest.approx(2 / (1 / 0.5 + 1 / 1.0))
    assert model_utility({"a": 0.25, "b": 0.5, "c": 1.0}) == pytest.approx(3 / (4 + 2 + 1))


def test_a_zero_component_gives_zero():
    assert model_utility([0.0, 0.9, 0.9]) == 0.0


def test_missing_component_is_named():
    with pytest.raises(ValueError, match="'truth_ratio/retain' is nan"):
        model_utility({"probability/retain": 0.9, "truth_ratio/retain": float("nan")})


def test_negative_component_is_an_error():
    with pytest.raises(ValueError, match="at position 1 is -0.1"):
        model_utility([0.5, -0.1])


def test_no_components_is_an_error():
    with pytest.raises(ValueError, match="at least one component"):
        model_utility([])

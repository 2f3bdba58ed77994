import logging

import pytest

from hf_unlearn.metrics import forget_quality


def test_identical_distributions_give_one():
    assert forget_quality([0.1, 0.5, 0.9], [0.9, 0.1, 0.5]) == pytest.approx(1.0)


def test_fully_separated_samples_exact_p_value():
    # D = 1 with 3 vs 3 samples: exact two-sided p = 2 / C(6, 3) = 0.1
    assert forget_quality([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)


def test_invariant_to_ratio_direction():
    # TOFU feeds 1/R to the test; the KS p-value only depends on the ordering
    unlearned, retain = [0.2, 0.4, 0.9, 1.3], [0.5, 0.7, 1.1, 2.0]
    inverse = forget_quality([1 / r for r in unlearned], [1 / r for r in retain])
    assert forget_quality(unlearned, retain) == pytest.approx(inverse)


def test_different_sizes_still_computed_with_a_warning():
    with pytest.warns(UserWarning, match="3 forget-set truth ratios but the retain model has 4"):
        p_value = forget_quality([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0])
    assert p_value == pytest.approx(2 / 35)  # exact: 2 / C(7, 3)


def test_nan_values_are_dropped_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        p_value = forget_quality([1.0, float("nan"), 2.0, 3.0], [1.0, 2.0, 3.0])
    assert p_value == pytest.approx(1.0)
    assert "dropped 1 of 4" in caplog.text


def test_no_defined_values_is_an_error():
    with pytest.raises(ValueError, match="retain_truth_ratios has no defined truth ratio"):
        forget_quality([1.0], [float("nan")])

import logging
import math

import numpy as np
import pytest

from hf_unlearn.metrics import truth_ratio, truth_ratio_score


def test_truth_ratio_by_hand():
    # exp(1 - mean(2, 3)) = exp(-1.5)
    assert truth_ratio([1.0], [[2.0, 3.0]])[0] == pytest.approx(math.exp(-1.5))


def test_truth_ratio_averages_perturbed_answers_in_log_space():
    # perturbed probabilities 1 and 1/4: geometric mean 1/2 (TOFU's code), arithmetic mean would be 5/8
    assert truth_ratio([0.0], [[0.0, math.log(4)]])[0] == pytest.approx(0.5)


def test_truth_ratio_direction():
    # the model prefers the correct (paraphrased) answer: lower loss -> R < 1
    assert truth_ratio([0.5], [[3.0, 3.0]])[0] < 1.0


def test_rows_without_perturbed_answers_are_nan_skipped_and_counted(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        ratios = truth_ratio([1.0, 2.0, 0.0], [[2.0], [], [0.0]])
        score = truth_ratio_score(ratios, "retain")
    assert math.isnan(ratios[1])
    assert score == pytest.approx(((1 - math.exp(-1.0)) + 0.0) / 2)
    assert "1 of 3" in caplog.text


def test_forget_aggregation_by_hand():
    # mean(min(R, 1/R)) = (0.5 + 0.5 + 1) / 3
    assert truth_ratio_score([0.5, 2.0, 1.0], "forget") == pytest.approx(2 / 3)


def test_retain_aggregation_by_hand():
    # mean(max(0, 1 - R)) = (0.5 + 0 + 0) / 3
    assert truth_ratio_score([0.5, 2.0, 1.0], "retain") == pytest.approx(1 / 6)


def test_all_rows_undefined_gives_nan_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        assert math.isnan(truth_ratio_score([np.nan, np.nan], "forget"))
    assert "all 2 samples" in caplog.text


def test_empty_ratios_are_an_error():
    with pytest.raises(ValueError, match="empty"):
        truth_ratio_score([], "forget")


def test_unknown_aggregation():
    with pytest.raises(ValueError, match="aggregation must be one of"):
        truth_ratio_score([1.0], "mean")


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="paraphrased_nll has 2 values but perturbed_nll has 1"):
        truth_ratio([1.0, 2.0], [[1.0]])

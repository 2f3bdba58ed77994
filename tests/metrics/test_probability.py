import logging
import math

import numpy as np
import pytest

from hf_unlearn.metrics import answer_probability, normalized_answer_probability


def test_answer_probability_from_mean_nll():
    np.testing.assert_allclose(answer_probability([0.0, math.log(2)]), [1.0, 0.5])


def test_answer_probability_from_summed_nll_and_token_counts():
    # 2 tokens with total NLL 2 ln 2 -> mean ln 2 -> p = 0.5; 4 tokens, total 4 ln 4 -> p = 0.25
    np.testing.assert_allclose(answer_probability([2 * math.log(2), 4 * math.log(4)], num_tokens=[2, 4]), [0.5, 0.25])


def test_answer_probability_without_answer_tokens_is_nan_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        result = answer_probability([1.0, 3.0], num_tokens=[1, 0])
    assert result[0] == pytest.approx(math.exp(-1.0))
    assert math.isnan(result[1])
    assert "1 of 2" in caplog.text


def test_answer_probability_mismatched_lengths_names_both():
    with pytest.raises(ValueError, match="nll has 2 values but num_tokens has 3"):
        answer_probability([1.0, 2.0], num_tokens=[1, 2, 3])


def test_answer_probability_rejects_nested_input():
    with pytest.raises(ValueError, match="one-dimensional"):
        answer_probability([[1.0, 2.0]])


def test_normalized_probability_against_options():
    # p_correct = 0.5 against two options at 0.25 each -> 0.5 / (0.5 + 0.5) = 0.5
    # p_correct = 1 against one option at 1/3 -> 1 / (1 + 1/3) = 0.75
    result = normalized_answer_probability([math.log(2), 0.0], [[math.log(4), math.log(4)], [math.log(3)]])
    np.testing.assert_allclose(result, [0.5, 0.75])


def test_normalized_probability_does_not_underflow():
    # exp(-1000) underflows to 0 in float64; the ratio of two equal ones is still 1/2
    assert normalized_answer_probability([1000.0], [[1000.0]])[0] == pytest.approx(0.5)


def test_normalized_probability_without_options_is_nan_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        result = normalized_answer_probability([0.0, 0.0], [[0.0], []])
    assert result[0] == pytest.approx(0.5)
    assert math.isnan(result[1])
    assert "1 of 2" in caplog.text


def test_normalized_probability_mismatched_lengths():
    with pytest.raises(ValueError, match="correct_nll has 1 values but option_nll has 2"):
        normalized_answer_probability([0.0], [[1.0], [1.0]])

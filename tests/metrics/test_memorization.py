import logging
import math

import numpy as np
import pytest

from hf_unlearn.metrics import exact_memorization, extraction_strength


def test_exact_memorization_by_hand():
    np.testing.assert_allclose(exact_memorization([[1, 2, 3, 4], [5, 6]], [[1, 2, 9, 4], [7, 8]]), [0.75, 0.0])


def test_extraction_strength_by_hand():
    predictions = [[1, 2, 3, 4], [1, 2, 3, 4], [9, 2, 3, 4], [1, 2, 3, 9], [9, 9, 9, 9]]
    labels = [[1, 2, 3, 4]] * 5
    # trailing run of correct predictions / length: 4/4, 4/4 ... wrong first token -> 3/4; wrong last -> 0; none -> 0
    expected = [1.0, 1.0, 0.75, 0.0, 0.0]
    np.testing.assert_allclose(extraction_strength(predictions, labels), expected)


def test_extraction_strength_needs_the_whole_suffix():
    # a correct token before a miss does not count: only the last token is reproducible
    assert extraction_strength([[1, 2, 9, 4]], [[1, 2, 3, 4]])[0] == pytest.approx(0.25)


def test_ignore_index_positions_are_left_out():
    predictions = np.array([[7, 8, 5, 6]])
    labels = np.array([[-100, -100, 5, 6]])
    assert exact_memorization(predictions, labels)[0] == pytest.approx(1.0)
    assert extraction_strength(predictions, labels)[0] == pytest.approx(1.0)


def test_no_answer_tokens_is_nan_and_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        scores = exact_memorization([[1], [2]], [[-100], [2]])
    assert math.isnan(scores[0]) and scores[1] == 1.0
    assert "1 of 2" in caplog.text


def test_token_count_mismatch_names_the_sample():
    with pytest.raises(ValueError, match="sample 1: predictions has 2 tokens but labels has 3"):
        extraction_strength([[1], [1, 2]], [[1], [1, 2, 3]])


def test_sample_count_mismatch():
    with pytest.raises(ValueError, match="predictions has 1 values but labels has 2"):
        exact_memorization([[1]], [[1], [2]])

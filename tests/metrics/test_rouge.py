import subprocess
import sys

import numpy as np
import pytest

from hf_unlearn.metrics import rouge_scores


def test_rouge_l_recall_and_f1_by_hand():
    scores = rouge_scores(["the cat sat"], ["the cat sat down"])
    # LCS = 3 tokens; recall 3/4, precision 3/3, F1 = 2 * 0.75 / 1.75
    assert scores["rougeL_recall"][0] == pytest.approx(0.75)
    assert scores["rougeL_f1"][0] == pytest.approx(2 * 0.75 / 1.75)
    assert scores["rouge1_recall"][0] == pytest.approx(0.75)


def test_rouge_l_recall_uses_order():
    # unigrams all match, but the longest common subsequence is 2 of 3 tokens
    scores = rouge_scores(["c a b"], ["a b c"])
    assert scores["rouge1_recall"][0] == pytest.approx(1.0)
    assert scores["rougeL_recall"][0] == pytest.approx(2 / 3)


def test_stemmer_on_by_default():
    assert rouge_scores(["cats running"], ["cat runs"])["rougeL_recall"][0] == pytest.approx(1.0)
    assert rouge_scores(["cats running"], ["cat runs"], use_stemmer=False)["rougeL_recall"][0] == pytest.approx(0.0)


def test_empty_generation_scores_zero():
    scores = rouge_scores(["", "the answer"], ["the answer", "the answer"])
    np.testing.assert_allclose(scores["rougeL_recall"], [0.0, 1.0])
    np.testing.assert_allclose(scores["rougeL_f1"], [0.0, 1.0])


def test_missing_generation_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match=r"predictions\[0\] must be a string; got NoneType"):
        rouge_scores([None], ["the answer"])


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="predictions has 2 values but references has 1"):
        rouge_scores(["a", "b"], ["a"])


def test_single_string_is_rejected():
    with pytest.raises(ValueError, match="not a single string"):
        rouge_scores("the cat", "the cat")


def test_scoring_leaves_the_logging_setup_alone():
    """rouge_score's default tokenizer is logged through absl, whose first log configures the root logger; then
    every warning of every library printed twice. A fresh process, since pytest gives the root logger handlers."""
    code = (
        "import logging; from hf_unlearn.metrics import rouge_scores; rouge_scores(['a b'], ['a c']); "
        "print(len(logging.getLogger().handlers))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "0"

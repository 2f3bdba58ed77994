"""answer_accuracy: an accepted alias, as whole words, in the generated answer, after normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from hf_unlearn.metrics import answer_accuracy, normalize_answer


def test_an_alias_counts_as_whole_words_whatever_the_case_accents_and_punctuation():
    predictions = [
        "The chemical symbol of gold is AU.",  # case
        "It was because of the war.",  # "au" inside a word: no
        "3 plus 4 is 7!",  # a number, punctuation around it
        "3 plus 14 is 17.",  # "7" inside "17": no
        "Written by F Scott  Fitzgerald",  # punctuation and spaces inside the alias
        "The capital is Brasília.",  # accents
        "",  # nothing generated
        "I think it is Paris, or maybe Lyon.",  # any alias of the list
    ]
    aliases = [["Au"], ["Au"], ["seven", "7"], ["7"], ["F. Scott Fitzgerald"], ["Brasilia"], ["Paris"], ["Lyon"]]
    np.testing.assert_array_equal(answer_accuracy(predictions, aliases), [1, 0, 1, 0, 1, 1, 0, 1])


def test_normalize_answer_keeps_letters_and_digits_only():
    assert normalize_answer("  Mexico-City, (MX)! ") == " mexico city mx "
    assert normalize_answer("?!") == ""


@pytest.mark.parametrize(
    "predictions, aliases, message",
    [
        (["a"], [[]], r"aliases\[0\] must be a non-empty list of accepted answers \(strings\); got an empty list"),
        (["a"], ["Paris"], r"aliases\[0\] must be a non-empty list .* got str"),
        (["a"], [["..."]], r"aliases\[0\] must hold strings with at least one letter or digit"),
        (["a", "b"], [["a"]], "predictions has 2 values but aliases has 1"),
        ([None], [["a"]], r"predictions\[0\] must be a string; got NoneType"),
        ("a", [["a"]], "not a single string"),
    ],
    ids=["empty-list", "bare-string", "punctuation-only", "lengths", "none-prediction", "single-string"],
)
def test_bad_input_says_what_is_wrong(predictions, aliases, message):
    with pytest.raises(ValueError, match=message):
        answer_accuracy(predictions, aliases)

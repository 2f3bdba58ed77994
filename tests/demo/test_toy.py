"""hf_unlearn.demo.toy: the tiny builders stay importable under the demo's module (tested in test_testing_utils)."""

from hf_unlearn import testing_utils
from hf_unlearn.demo import toy


def test_the_demo_keeps_the_builders_importable_under_their_old_names():
    assert toy.tiny_causal_lm is testing_utils.tiny_causal_lm
    assert toy.train_bpe_tokenizer is testing_utils.train_bpe_tokenizer

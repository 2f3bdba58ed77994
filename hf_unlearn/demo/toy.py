"""The tiny tokenizer and model builders, kept importable here for code written against the demo.

They live in [`hf_unlearn.testing_utils`] (with the other builders for tests and examples), which is where new code
imports them from; these names stay as plain re-exports, with no warning, because they are the same objects, not
an older behaviour a user should move away from.
"""

from ..testing_utils import tiny_causal_lm, train_bpe_tokenizer


__all__ = ["tiny_causal_lm", "train_bpe_tokenizer"]

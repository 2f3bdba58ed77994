"""Local building blocks: a tokenizer trained on the spot and tiny models from configs."""

import pytest

from hf_unlearn.demo.toy import tiny_causal_lm, train_bpe_tokenizer


def test_trained_tokenizer_round_trips_and_has_eos_and_pad():
    tokenizer = train_bpe_tokenizer(["Mira Okonkwo was born in Lagos."] * 3, vocab_size=300)
    ids = tokenizer("Mira was born in Lagos.")["input_ids"]
    assert tokenizer.decode(ids) == "Mira was born in Lagos."
    assert tokenizer.eos_token == "<eos>" and tokenizer.pad_token == "<pad>"
    assert train_bpe_tokenizer(["a b"], pad_token=None).pad_token is None


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_tiny_models_are_seeded_and_sized(architecture):
    first = tiny_causal_lm(100, architecture, hidden_size=16, num_layers=1, seed=4)
    second = tiny_causal_lm(100, architecture, hidden_size=16, num_layers=1, seed=4)
    assert first.config.vocab_size == 100
    assert all((a == b).all() for a, b in zip(first.parameters(), second.parameters()))


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="accepted: 'llama', 'gpt2'"):
        tiny_causal_lm(100, "mamba")

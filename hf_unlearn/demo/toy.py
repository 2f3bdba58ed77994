"""Small local building blocks for examples and tests: a tokenizer trained on your text, a tiny model from a config.

Nothing here downloads anything; both are built on the spot, in seconds on a CPU.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)


def train_bpe_tokenizer(
    texts: list[str], vocab_size: int = 512, pad_token: str | None = "<pad>"
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on `texts`, with EOS `<eos>` and, unless `pad_token=None`, a pad token.

    Args:
        texts (`list[str]`):
            Training text; byte-level, so any other text still tokenizes.
        vocab_size (`int`, *optional*, defaults to `512`):
            Target vocabulary size (the 256 byte symbols and the special tokens included).
        pad_token (`str` or `None`, *optional*, defaults to `"<pad>"`):
            Pad token to add; `None` leaves the tokenizer without one.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special_tokens = ["<eos>"] + ([pad_token] if pad_token else [])
    bpe_trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,  # it prints bare newlines when stderr is not a terminal
    )
    tokenizer.train_from_iterator(texts, bpe_trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>", pad_token=pad_token)


def tiny_causal_lm(
    vocab_size: int,
    architecture: str = "llama",
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_positions: int = 256,
    seed: int = 0,
) -> PreTrainedModel:
    """A randomly initialised causal LM built from a config.

    Args:
        vocab_size (`int`):
            Vocabulary size, e.g. `len(tokenizer)`.
        architecture (`str`, *optional*, defaults to `"llama"`):
            `"llama"` (rotary, RMSNorm, gated MLP) or `"gpt2"` (learned positions, LayerNorm).
        hidden_size, num_layers, num_heads (`int`, *optional*):
            Width, depth and attention heads.
        intermediate_size (`int`, *optional*):
            MLP width; defaults to `2 * hidden_size` for llama (gpt2 uses its own `4 * hidden_size`).
        max_positions (`int`, *optional*, defaults to `256`):
            Longest sequence.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the initial weights.
    """
    torch.manual_seed(seed)
    if architecture == "llama":
        config = LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=intermediate_size or 2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_heads,
            max_position_embeddings=max_positions,
        )
        return LlamaForCausalLM(config)
    if architecture == "gpt2":
        config = GPT2Config(
            vocab_size=vocab_size, n_embd=hidden_size, n_layer=num_layers, n_head=num_heads, n_positions=max_positions
        )
        return GPT2LMHeadModel(config)
    raise ValueError(f"architecture={architecture!r} is not known; accepted: 'llama', 'gpt2'.")

"""Small local building blocks for tests, examples and benchmarks: a tokenizer trained on your text, a tiny model
from a config, a ChatML variant of the tokenizer, chat rows from question / answer rows, and a short fine-tune that
makes a tiny model know its rows.

Nothing here downloads anything; everything is built on the spot, in seconds on a CPU. The module is public, as
`transformers.testing_utils` is, so that code outside the package (the test suite, `examples/`, `benchmarks/`) and
the demo build their tiny models the same way; it never imports `hf_unlearn.demo`.
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


CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML as SmolLM2 and Qwen2 write it: `<|im_end|>\\n` after each turn."""

SYSTEM_TURN = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
)
"""What SmolLM2's template puts before a conversation that has no system turn (`chatml_tokenizer(system=True)`)."""


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


def chatml_tokenizer(
    texts: list[str], vocab_size: int = 512, *, turn_end_is_eos: bool = True, system: bool = False
) -> PreTrainedTokenizerFast:
    """A [`train_bpe_tokenizer`] tokenizer with ChatML's turn markers as special tokens and a ChatML chat template.

    Args:
        texts (`list[str]`):
            Training text of the tokenizer.
        vocab_size (`int`, *optional*, defaults to `512`):
            Target vocabulary size before the two turn markers are added.
        turn_end_is_eos (`bool`, *optional*, defaults to `True`):
            EOS = `<|im_end|>`, as SmolLM2 and Qwen2 have; `False` keeps the tokenizer's own EOS, so that the turn
            end is a token of its own.
        system (`bool`, *optional*, defaults to `False`):
            Write a default system turn before conversations without one, as SmolLM2's template does.
    """
    tokenizer = train_bpe_tokenizer(texts, vocab_size=vocab_size)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    if turn_end_is_eos:
        tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = (SYSTEM_TURN if system else "") + CHATML_TEMPLATE
    return tokenizer


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


def as_messages(rows: list[dict], fmt: str = "messages") -> list[dict]:
    """Question / answer rows as one user and one assistant turn each.

    Args:
        rows (`list[dict]`):
            Rows with `question` and `answer`; a `paraphrased_question` column is kept as it is.
        fmt (`str`, *optional*, defaults to `"messages"`):
            `"messages"` (a `messages` column) or `"prompt_completion"` (conversational `prompt` / `completion`).
    """
    if fmt not in ("messages", "prompt_completion"):
        raise ValueError(f"fmt={fmt!r} is not known; accepted: 'messages', 'prompt_completion'.")
    made = []
    for row in rows:
        user = {"role": "user", "content": row["question"]}
        assistant = {"role": "assistant", "content": row["answer"]}
        chat = {"messages": [user, assistant]} if fmt == "messages" else {"prompt": [user], "completion": [assistant]}
        if "paraphrased_question" in row:
            chat["paraphrased_question"] = row["paraphrased_question"]
        made.append(chat)
    return made


def memorize(model: PreTrainedModel, rows, pad_token_id: int, output_dir, epochs: int = 40) -> PreTrainedModel:
    """Fine-tune `model` on prepared rows until it knows them, on the CPU; returns it.

    Args:
        model ([`~transformers.PreTrainedModel`]):
            The model, trained in place.
        rows (`datasets.Dataset` or `list[dict]`):
            Tokenized rows, e.g. from [`~hf_unlearn.data.prepare_dataset`].
        pad_token_id (`int`):
            The tokenizer's pad token, for the collator.
        output_dir (`str` or `os.PathLike`):
            The `Trainer`'s output folder (nothing is saved there).
        epochs (`int`, *optional*, defaults to `40`):
            Passes over the rows, at a constant learning rate of 5e-3 with batches of 6.
    """
    from transformers import Trainer, TrainingArguments

    from .data import UnlearningCollator

    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=6,
        learning_rate=5e-3,
        num_train_epochs=epochs,
        lr_scheduler_type="constant",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=0,
    )
    Trainer(model=model, args=args, train_dataset=rows, data_collator=UnlearningCollator(pad_token_id)).train()
    return model

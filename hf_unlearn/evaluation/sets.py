"""Eval sets: named sets of rows turned into the token sequences the evaluator scores.

Each row gives its answer, and for question/answer rows (TOFU's `*_perturbed` configs) its paraphrased and
perturbed answers, as `input_ids` + `labels` built by the same `tokenize_example` as training, so that a loss
measured here is the loss the trainer sees. The prompt (the leading unlabelled tokens) is what greedy
generation starts from.

Row text (the ROUGE reference, the answer for zlib) stays in memory only: nothing here writes it anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from ..data.formatting import (
    DEFAULT_QA_PROMPT_TEMPLATE,
    as_dataset,
    detect_format,
    is_conversational,
    special_token_ids,
    tokenize_example,
)
from ..logprobs import IGNORE_INDEX
from ..metrics.answer_accuracy import normalize_aliases
from . import eval_log_key


logger = logging.get_logger(__name__)

ANSWER_AS_PARAPHRASE_SETS = ("real_authors", "world_facts")
"""Sets for which TOFU scores the original answer as the "paraphrase" of the truth ratio."""

TokenSequence = tuple[list[int], list[int]]
"""One scored sequence: `input_ids` and `labels` (`-100` on prompt tokens)."""


@dataclass
class EvalRow:
    """Everything the evaluator needs from one row.

    Args:
        answer (`tuple[list[int], list[int]]`):
            `input_ids` and `labels` of prompt + answer + EOS.
        paraphrase (`tuple[list[int], list[int]]` or `None`):
            Same for the paraphrased answer; `None` when the answer stands in for it.
        perturbed (`list[tuple[list[int], list[int]]]`):
            Same for each perturbed (wrong) answer; empty when the row has none.
        prompt_ids (`list[int]`):
            Prompt tokens that greedy generation starts from; empty for rows without a prompt (`text`, `tokenized`).
        reference (`str` or `None`):
            ROUGE reference (the answer text); `None` when the format has no answer text.
        answer_text (`str`):
            Decoded answer tokens, used only for their zlib-compressed size (MIA zlib score).
        reference_tokens (`int`, *optional*, defaults to `0`):
            Tokens of the reference alone (no template, no special token): what sizes the generation budget.
        aliases (`list[str]` or `None`, *optional*):
            Accepted answers of the row (its `aliases` column), for answer accuracy; `None` without that column.
    """

    answer: TokenSequence
    paraphrase: TokenSequence | None
    perturbed: list[TokenSequence]
    prompt_ids: list[int]
    reference: str | None
    answer_text: str
    reference_tokens: int = 0
    aliases: list[str] | None = None


@dataclass
class EvalSet:
    """A prepared eval set.

    Args:
        name (`str`):
            Its name (see [`~hf_unlearn.evaluation.eval_log_key`]).
        fmt (`str`):
            The rows' format, one of `SUPPORTED_FORMATS`.
        rows (`list[EvalRow]`):
            The prepared rows.
        generates (`bool`):
            Whether greedy generation (and so ROUGE) applies: every row has a prompt and an answer text.
        chat (`bool`, *optional*, defaults to `False`):
            Whether the rows are conversational (`messages`, or prompt/completion as lists of messages): their
            prompts end with the chat template's generation prompt, and their answers end at its turn end.
        has_aliases (`bool`, *optional*, defaults to `False`):
            Whether the rows have accepted answers (an `aliases` column), so that answer accuracy applies.
    """

    name: str
    fmt: str
    rows: list[EvalRow] = field(repr=False)
    generates: bool
    chat: bool = False
    has_aliases: bool = False

    @property
    def longest_reference(self) -> int:
        """Tokens of the longest reference answer of the set (0 without references)."""
        return max((row.reference_tokens for row in self.rows), default=0)


def _last_message_content(messages: Any) -> str | None:
    messages = list(messages)
    content = messages[-1].get("content") if messages else None
    return content if isinstance(content, str) else None


def _reference(example: Mapping[str, Any], fmt: str) -> str | None:
    """The answer text a generation is compared with (ROUGE), or `None` when the format has none."""
    if fmt == "question_answer":
        return example["answer"]
    if fmt == "prompt_completion":
        completion = example["completion"]
        return completion if isinstance(completion, str) else _last_message_content(completion)
    if fmt == "messages":
        return _last_message_content(example["messages"])
    return None  # `text` / `tokenized`: no prompt to generate from


def _alternative_answers(example: Mapping[str, Any], name: str, index: int) -> tuple[str | None, list[str]]:
    """The row's paraphrased answer (or `None`) and its perturbed answers, checked for type."""
    paraphrase = example.get("paraphrased_answer")
    if paraphrase is not None and not isinstance(paraphrase, str):
        raise ValueError(
            f"{name} eval set, row {index}: `paraphrased_answer` must be a string; got {type(paraphrase).__name__}"
        )
    perturbed = example.get("perturbed_answer")
    if perturbed is None:
        perturbed = []
    if isinstance(perturbed, str) or not all(isinstance(answer, str) for answer in perturbed):
        raise ValueError(
            f"{name} eval set, row {index}: `perturbed_answer` must be a list of strings (TOFU's format); got "
            f"{type(perturbed).__name__}"
        )
    return (paraphrase or None), list(perturbed)


def prepare_eval_set(
    data: Any,
    name: str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int | None,
    qa_prompt_template: str = DEFAULT_QA_PROMPT_TEMPLATE,
) -> EvalSet:
    """Tokenizes one named eval set.

    Rows may be in any of the `SUPPORTED_FORMATS`. `question`/`answer` rows may also carry `paraphrased_answer`
    (string) and `perturbed_answer` (list of strings), as TOFU's `*_perturbed` configs do; they are scored
    with the row's question. Without a paraphrase, the answer stands in for it, as TOFU does for real authors
    and world facts (for other sets a warning says so, since TOFU uses a paraphrase there). Rows of any format with
    a prompt may carry `aliases`, a non-empty list of accepted answers, for answer accuracy.

    Args:
        data (`datasets.Dataset`, `list[dict]` or `dict[str, list]`):
            The rows.
        name (`str`):
            Its name: one of `EVAL_SET_NAMES` or another (see [`~hf_unlearn.evaluation.eval_log_key`]).
        tokenizer ([`~transformers.PreTrainedTokenizerBase`]):
            Tokenizer of the model; needs an EOS token.
        max_length (`int` or `None`):
            Truncation length of every sequence (prompt + answer + EOS).
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\\nAnswer:"`):
            Prompt of `question`/`answer` rows.

    Returns:
        [`EvalSet`]: the prepared set.

    Raises:
        ValueError: a name that cannot be a log key, empty set, columns that match no supported format, a malformed
            paraphrased / perturbed answer or `aliases` entry, or a row whose answer is truncated away (named by row
            index).
    """
    eval_log_key(name)  # refuses a name that cannot be a log key
    dataset = as_dataset(data, f"{name} eval")
    if len(dataset) == 0:
        raise ValueError(f"The {name} eval set is empty; it needs at least one row.")
    fmt = detect_format(dataset.column_names, f"{name} eval")
    columns = set(dataset.column_names)
    if fmt != "question_answer" and columns & {"paraphrased_answer", "perturbed_answer"}:
        logger.warning(
            f"The {name} eval set is in the {fmt!r} format; its paraphrased / perturbed answers are used only with "
            "question/answer rows, so its truth ratio is undefined."
        )
    if (
        fmt == "question_answer"
        and "perturbed_answer" in columns
        and "paraphrased_answer" not in columns
        and name not in ANSWER_AS_PARAPHRASE_SETS
    ):
        logger.warning(
            f"The {name} eval set has no `paraphrased_answer` column: its truth ratio uses the answer itself, which "
            "TOFU does only for real authors / world facts (its forget and retain sets have paraphrases)."
        )

    def tokenize(example: Mapping[str, Any], index: int, answer: str | None = None) -> TokenSequence:
        if answer is not None:
            example = {"question": example["question"], "answer": answer}
        try:
            tokens = tokenize_example(example, tokenizer, fmt, max_length, qa_prompt_template)
        except ValueError as error:
            raise ValueError(f"{name} eval set, row {index}: {error}") from None
        return tokens["input_ids"], tokens["labels"]

    has_aliases = "aliases" in columns
    if has_aliases and fmt in ("text", "tokenized"):
        raise ValueError(
            f"The {name} eval set has an `aliases` column but its rows are in the {fmt!r} format, which has no prompt "
            "to generate an answer from; answer accuracy needs question/answer, prompt/completion or messages rows."
        )
    references = [_reference(example, fmt) for example in dataset]
    # One batched call: the reference alone (no template, no EOS) is what a generation is compared with.
    reference_tokens = tokenizer([reference or "" for reference in references], add_special_tokens=False)["input_ids"]
    rows = []
    for index, example in enumerate(dataset):
        aliases = None
        if has_aliases:
            aliases = list(example["aliases"]) if isinstance(example["aliases"], (list, tuple)) else example["aliases"]
            try:
                normalize_aliases(aliases, "`aliases`")
            except ValueError as error:
                raise ValueError(f"{name} eval set, row {index}: {error}") from None
        input_ids, labels = answer = tokenize(example, index)
        paraphrase, perturbed = None, []
        if fmt == "question_answer":
            paraphrase_text, perturbed_texts = _alternative_answers(example, name, index)
            paraphrase = tokenize(example, index, paraphrase_text) if paraphrase_text is not None else None
            perturbed = [tokenize(example, index, text) for text in perturbed_texts]
        prompt_length = next(position for position, label in enumerate(labels) if label != IGNORE_INDEX)
        answer_ids = [token for token, label in zip(input_ids, labels) if label != IGNORE_INDEX]
        rows.append(
            EvalRow(
                answer=answer,
                paraphrase=paraphrase,
                perturbed=perturbed,
                prompt_ids=input_ids[:prompt_length],
                reference=references[index],
                answer_text=tokenizer.decode(answer_ids, skip_special_tokens=True),
                reference_tokens=len(reference_tokens[index]),
                aliases=aliases,
            )
        )
    generates = all(row.prompt_ids and row.reference is not None for row in rows)
    chat = is_conversational(dataset[0], fmt)
    return EvalSet(name=name, fmt=fmt, rows=rows, generates=generates, chat=chat, has_aliases=has_aliases)


_PROBE = "\u2063hf-unlearn-probe\u2063"
"""Assistant text that no template writes by itself, rendered to find what the template writes after it."""


def turn_end_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The token the tokenizer's chat template writes right after an assistant message (its turn end, e.g.
    `<|im_end|>` for ChatML, `<|eot_id|>` for Llama 3, `<end_of_turn>` for Gemma), found by rendering a one-turn
    conversation; empty without a chat template or when the template writes no special token there.

    A chat model's greedy answer ends there: it is a stop token of chat-row generation, next to EOS.

    Args:
        tokenizer ([`~transformers.PreTrainedTokenizerBase`]):
            The tokenizer.

    Returns:
        `list[int]`: the turn-end token id (one at most), or `[]`.
    """
    if getattr(tokenizer, "chat_template", None) is None:
        return []
    conversation = [{"role": "user", "content": "?"}, {"role": "assistant", "content": _PROBE}]
    try:
        text = tokenizer.apply_chat_template(conversation, tokenize=False)
    except Exception:  # noqa: BLE001 - a template that refuses this conversation has no turn end to learn from it
        return []
    position = text.rfind(_PROBE)
    if position < 0:
        return []
    after = tokenizer(text[position + len(_PROBE) :], add_special_tokens=False)["input_ids"]
    special = special_token_ids(tokenizer)
    # The first special token written after the message: templates may put whitespace before it (Llama 2's " </s>").
    return next(([token] for token in after if token in special), [])

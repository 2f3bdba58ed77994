"""Turn forget / retain rows of any supported format into `input_ids` + `labels` with the prompt masked."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import datasets
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from ..logprobs import IGNORE_INDEX
from ..utils import DEFAULT_QA_PROMPT_TEMPLATE


if TYPE_CHECKING:
    from .alternatives import AlternativeAnswers

logger = logging.get_logger(__name__)

# Column sets we accept, in the order they are tried. The first whose columns are all present wins.
SUPPORTED_FORMATS: dict[str, tuple[str, ...]] = {
    "prompt_completion": ("prompt", "completion"),  # TRL's format, plain or conversational
    "question_answer": ("question", "answer"),  # TOFU
    "messages": ("messages",),  # chat, through the tokenizer's chat template
    "text": ("text",),  # verbatim text: every token is an answer token
    "tokenized": ("input_ids",),  # already tokenized; `labels` optional (defaults to all tokens)
}


# What a forget objective does with the tokens that end an answer (the chat template's turn end, EOS): "include"
# labels them like the answer's other tokens, "exclude" leaves them out of the forget labels, "auto" excludes them
# for conversational rows and includes them for plain ones. See `UnlearningConfig.forget_end_tokens`.
END_TOKEN_CHOICES = ("auto", "exclude", "include")


def check_end_tokens(value: str, name: str = "forget_end_tokens") -> None:
    """Raises `ValueError` naming `value` and the accepted values when it is none of `END_TOKEN_CHOICES`."""
    if value not in END_TOKEN_CHOICES:
        raise ValueError(f"{name}={value!r} is not known; accepted: {list(END_TOKEN_CHOICES)}.")


def is_conversational(example: Mapping[str, Any], fmt: str) -> bool:
    """Whether a row goes through the tokenizer's chat template (`messages`, or conversational prompt/completion)."""
    return fmt == "messages" or (fmt == "prompt_completion" and isinstance(example["prompt"], list))


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """Ids of the tokenizer's special tokens: its named ones (EOS, pad, ...) and the added tokens marked special,
    which is where chat templates' turn ends (`<|im_end|>`, `<end_of_turn>`, `<|eot_id|>`) live."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {index for index, token in added.items() if token.special}


def end_token_count(completion_ids: Sequence[int], special_ids: set[int]) -> int:
    """How many of the answer's last tokens are special tokens: its turn end and EOS."""
    count = 0
    while count < len(completion_ids) and completion_ids[-1 - count] in special_ids:
        count += 1
    return count


def detect_format(column_names: Sequence[str], name: str = "dataset") -> str:
    """Name of the first supported format whose columns are all in `column_names`.

    Raises:
        `ValueError`: when none matches; the message lists the columns found and the accepted sets.
    """
    for fmt, columns in SUPPORTED_FORMATS.items():
        if all(column in column_names for column in columns):
            return fmt
    accepted = "; ".join(" + ".join(columns) for columns in SUPPORTED_FORMATS.values())
    raise ValueError(
        f"The {name} dataset has columns {sorted(column_names)}, which match no supported format. Accepted column "
        f"sets: {accepted}."
    )


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    """Use EOS for padding when the tokenizer has no pad token (warns once). Padding is always masked out."""
    if tokenizer.eos_token_id is None:
        raise ValueError(
            f"The tokenizer ({type(tokenizer).__name__}) has no EOS token; unlearning appends EOS to every answer. "
            "Set `tokenizer.eos_token` first."
        )
    if tokenizer.pad_token_id is None:
        logger.warning_once("The tokenizer has no pad token; using its EOS token for padding (padding is masked).")
        tokenizer.pad_token = tokenizer.eos_token


def _chat_ids(
    tokenizer: PreTrainedTokenizerBase, prompt_messages: list, completion_messages: list
) -> tuple[list, list]:
    if tokenizer.chat_template is None:
        raise ValueError(
            "Conversational rows need a tokenizer with a chat template, and this tokenizer has none. Set "
            "`tokenizer.chat_template` or give the data as prompt/completion strings."
        )
    prompt_text = tokenizer.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(prompt_messages + completion_messages, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise ValueError(
            "The chat template renders the conversation without its generation prompt as a prefix, so prompt and "
            "answer tokens cannot be told apart. Give the data as prompt/completion strings instead."
        )
    # Chat templates write their own special tokens (BOS included), so none are added here. What the template writes
    # after the turn end (ChatML's "\n" before the next turn) is never generated: it is not part of the answer.
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(full_text[len(prompt_text) :].rstrip(), add_special_tokens=False)["input_ids"]
    return prompt_ids, completion_ids


def _prompt_completion_ids(
    tokenizer: PreTrainedTokenizerBase, fmt: str, example: Mapping[str, Any], qa_prompt_template: str
) -> tuple[list[int], list[int]]:
    """Token ids of the prompt (not trained on) and of the answer, before EOS and truncation."""
    if fmt == "messages":
        messages = list(example["messages"])
        if not messages or messages[-1].get("role") != "assistant":
            raise ValueError("A `messages` row must end with an assistant message: that message is the answer.")
        return _chat_ids(tokenizer, messages[:-1], messages[-1:])
    if fmt == "text":
        return [], tokenizer(example["text"])["input_ids"]
    if fmt == "question_answer":
        prompt, completion = qa_prompt_template.format(question=example["question"]), " " + example["answer"]
    else:
        prompt, completion = example["prompt"], example["completion"]
        if isinstance(prompt, list):  # conversational prompt/completion, as TRL accepts
            return _chat_ids(tokenizer, prompt, list(completion))
    return tokenizer(prompt)["input_ids"], tokenizer(completion, add_special_tokens=False)["input_ids"]


def tokenize_example(
    example: Mapping[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    fmt: str,
    max_length: int | None,
    qa_prompt_template: str = DEFAULT_QA_PROMPT_TEMPLATE,
    end_tokens: str = "include",
) -> dict[str, list[int]]:
    """`input_ids` and `labels` of one row: prompt tokens are labelled `-100`, the answer ends with exactly one end
    token, then truncation.

    A plain answer gets EOS appended (unless it already ends with it). A conversational answer ends with the chat
    template's turn end (e.g. `<|im_end|>`), without what the template writes after it; EOS is appended only when the
    template writes no special token after the answer.

    Args:
        end_tokens (`str`, *optional*, defaults to `"include"`):
            `"include"` labels the answer's end tokens (its trailing special tokens: turn end, EOS), `"exclude"` masks
            them with `-100` (they stay in `input_ids`), `"auto"` excludes them from conversational rows only. Forget
            objectives use `UnlearningConfig.forget_end_tokens` here; everything else includes them.

    Raises:
        `ValueError`: when no answer token survives truncation (the caller adds the row index).
    """
    tokens, _ = _tokenize_and_truncate(example, tokenizer, fmt, max_length, qa_prompt_template, end_tokens)
    return tokens


def _tokenize_and_truncate(
    example: Mapping[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    fmt: str,
    max_length: int | None,
    qa_prompt_template: str,
    end_tokens: str = "include",
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """`tokenize_example`, plus what truncation did to the row: its untruncated length, its answer tokens before
    truncation and how many of them were cut."""
    if fmt == "tokenized":
        input_ids = list(example["input_ids"])
        labels = list(example["labels"]) if example.get("labels") is not None else list(input_ids)
        if len(labels) != len(input_ids):
            raise ValueError(f"`labels` has {len(labels)} tokens but `input_ids` has {len(input_ids)}.")
    else:
        prompt_ids, completion_ids = _prompt_completion_ids(tokenizer, fmt, example, qa_prompt_template)
        conversational = is_conversational(example, fmt)
        special_ids = special_token_ids(tokenizer) if conversational or end_tokens != "include" else set()
        # One end token per answer: a chat answer already ends with its turn end (EOS for ChatML models).
        ends_turn = conversational and completion_ids and completion_ids[-1] in special_ids
        if not ends_turn and (not completion_ids or completion_ids[-1] != tokenizer.eos_token_id):
            completion_ids = completion_ids + [tokenizer.eos_token_id]
        input_ids = prompt_ids + completion_ids
        labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
        if end_tokens == "exclude" or (end_tokens == "auto" and conversational):
            count = end_token_count(completion_ids, special_ids)
            if count == len(completion_ids):
                raise ValueError(
                    f"the answer has no token besides its end tokens, which forget_end_tokens={end_tokens!r} leaves "
                    "out of the forget objective. Give the row a non-empty answer."
                )
            labels[len(labels) - count :] = [IGNORE_INDEX] * count
    answer_tokens, full_length = sum(label != IGNORE_INDEX for label in labels), len(input_ids)
    if max_length is not None:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    answer_cut = answer_tokens - sum(label != IGNORE_INDEX for label in labels)
    # The first token is never predicted, so an answer needs a labelled token after position 0.
    if all(label == IGNORE_INDEX for label in labels[1:]):
        raise ValueError(
            f"no answer token is left after truncation to max_length={max_length} "
            f"({len(input_ids)} tokens kept, all prompt). Raise `max_length` or shorten the prompt."
        )
    report = {"full_length": full_length, "answer_tokens": answer_tokens, "answer_cut": answer_cut}
    return {"input_ids": input_ids, "labels": labels}, report


def with_answer(example: Mapping[str, Any], fmt: str, answer: str) -> dict[str, Any]:
    """The row with its answer replaced by `answer` (same prompt), for the formats that separate the two.

    Raises:
        `ValueError`: for `text` and `tokenized` rows, which have no prompt of their own to answer.
    """
    if fmt == "question_answer":
        return {**example, "answer": answer}
    if fmt == "prompt_completion":
        conversational = isinstance(example["prompt"], list)
        return {**example, "completion": [{"role": "assistant", "content": answer}] if conversational else answer}
    if fmt == "messages":
        return {**example, "messages": [*example["messages"][:-1], {"role": "assistant", "content": answer}]}
    raise ValueError(
        f"rows in the {fmt!r} format have no prompt to give an alternative answer to; alternative answers need "
        "prompt/completion, question/answer or messages rows."
    )


def _warn_truncated_answers(
    name: str, max_length: int | None, full_length: list[int], answer_tokens: list[int], answer_cut: list[int]
) -> None:
    """One warning per dataset: how many answers truncation cut, and by how much (counts only, never text)."""
    cut_rows = [(total, cut) for total, cut in zip(answer_tokens, answer_cut) if cut > 0]
    if not cut_rows:
        return
    totals, cuts = [total for total, _ in cut_rows], [cut for _, cut in cut_rows]
    kept = [total - cut for total, cut in cut_rows]
    logger.warning(
        f"max_length={max_length} cut the answer of {len(cut_rows)} of {len(answer_tokens)} rows of the {name} "
        f"dataset: they keep {_span(kept)} of their {_span(totals)} answer tokens (EOS included; "
        f"{sum(cuts) / len(cuts):.1f} cut on average). The cut tokens take no part in training or evaluation. "
        f"max_length={max(full_length)} keeps every row whole, as does max_length=None."
    )


def _span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def as_dataset(data: Any, name: str) -> datasets.Dataset:
    """Accept a `datasets.Dataset`, a list of dicts or a dict of lists; refuse what cannot be indexed."""
    if isinstance(data, datasets.Dataset):
        return data
    if isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        raise TypeError(
            f"The {name} dataset is a {type(data).__name__} with splits {list(data)}; pass one split, e.g. "
            f"`dataset['train']`."
        )
    if isinstance(data, datasets.IterableDataset):
        raise TypeError(
            f"The {name} dataset is an IterableDataset; unlearning pairs rows by index, so it needs a map-style "
            "`datasets.Dataset` (e.g. load without `streaming=True`)."
        )
    if isinstance(data, list):
        return datasets.Dataset.from_list(data)
    if isinstance(data, dict):
        return datasets.Dataset.from_dict(data)
    raise TypeError(
        f"The {name} dataset is a {type(data).__name__}; "
        "accepted: datasets.Dataset, a list of dicts or a dict of lists."
    )


def prepare_dataset(
    data: Any,
    tokenizer: PreTrainedTokenizerBase,
    *,
    name: str,
    max_length: int | None,
    qa_prompt_template: str = DEFAULT_QA_PROMPT_TEMPLATE,
    alternatives: AlternativeAnswers | None = None,
    end_tokens: str = "include",
) -> datasets.Dataset:
    """Tokenize a forget / retain / eval dataset into `input_ids` and `labels` columns only (plus `alt_input_ids` and
    `alt_labels` with `alternatives`).

    Source columns are dropped, so no text of the set travels further than this function.

    Args:
        data (`datasets.Dataset`, `list[dict]` or `dict[str, list]`):
            Rows in one of the `SUPPORTED_FORMATS`.
        tokenizer (`PreTrainedTokenizerBase`):
            Tokenizer of the model; needs an EOS token.
        name (`str`):
            Used in error messages ("forget", "retain", ...).
        max_length (`int` or `None`):
            Truncation length; `None` keeps every row whole.
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\\nAnswer:"`):
            Prompt for `question`/`answer` rows.
        alternatives (`AlternativeAnswers`, *optional*):
            Also tokenize each row's alternative answer (see [`~hf_unlearn.data.AlternativeAnswers`]) after the same
            prompt, into `alt_input_ids` / `alt_labels`, truncated alike.
        end_tokens (`str`, *optional*, defaults to `"include"`):
            Whether the answers' end tokens (turn end, EOS) are labelled: `"include"`, `"exclude"`, or `"auto"`
            (excluded from conversational rows); see [`tokenize_example`]. Alternative answers always include them.

    Raises:
        `ValueError`: empty dataset, unsupported columns, or a row whose answer (or alternative answer) is truncated
            away (named by index).
    """
    check_end_tokens(end_tokens, "end_tokens")
    dataset = as_dataset(data, name)
    if len(dataset) == 0:
        raise ValueError(f"The {name} dataset is empty; it needs at least one row.")
    fmt = detect_format(dataset.column_names, name)
    alternative_answers = alternatives.answers(dataset, name) if alternatives is not None else None
    if alternative_answers is not None:
        try:  # refuse a format without a prompt before tokenizing anything
            with_answer(dataset[0], fmt, alternative_answers[0])
        except ValueError as error:
            raise ValueError(f"The {name} dataset: {error}") from None

    def tokenize(example, index):
        kinds = {"": example}
        if alternative_answers is not None:
            kinds["alt_"] = with_answer(example, fmt, alternative_answers[index])
        row = {}
        for prefix, source in kinds.items():
            try:
                # An alternative answer is learnt (IdkNLL) or preferred (DPO): its end tokens stay labelled.
                ends = "include" if prefix else end_tokens
                tokens, report = _tokenize_and_truncate(source, tokenizer, fmt, max_length, qa_prompt_template, ends)
            except ValueError as error:
                which = " (alternative answer)" if prefix else ""
                raise ValueError(f"{name} dataset, row {index}{which}: {error}") from None
            row.update({prefix + key: value for key, value in tokens.items()})
            row.update({f"_{prefix}{key}": value for key, value in report.items()})
        return row

    dataset = dataset.map(
        tokenize, with_indices=True, remove_columns=dataset.column_names, desc=f"Tokenizing {name} dataset"
    )
    report = ["_full_length", "_answer_tokens", "_answer_cut"]
    _warn_truncated_answers(name, max_length, *(dataset[column] for column in report))
    if alternative_answers is not None:
        report += [f"_alt_{column[1:]}" for column in report]
        _warn_truncated_answers(f"{name} (alternative answers)", max_length, *(dataset[c] for c in report[3:]))
    return dataset.remove_columns(report)


def _normalize(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip()
    if isinstance(value, Mapping):
        return {key: _normalize(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(item) for item in value]
    return value


def fingerprint(dataset: datasets.Dataset, columns: Sequence[str] | None = None, ordered: bool = True) -> str:
    """SHA-256 that identifies a set of rows without revealing them.

    Each row is hashed as canonical JSON of `columns` (strings NFC-normalised and stripped), then the row digests
    are hashed together, in row order when `ordered`, else sorted (the same rows in another order give the same
    fingerprint).

    Args:
        dataset (`datasets.Dataset`):
            The rows.
        columns (`Sequence[str]`, *optional*):
            Columns to include; defaults to all.
        ordered (`bool`, *optional*, defaults to `True`):
            Whether row order is part of the identity.
    """
    digests = row_digests(dataset, columns)
    if not ordered:
        digests.sort()
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def row_digests(dataset: datasets.Dataset, columns: Sequence[str] | None = None) -> list[str]:
    """SHA-256 of each row, in row order: canonical JSON of `columns` (strings NFC-normalised and stripped).

    What [`fingerprint`] hashes together; on its own it tells which rows two sets share (sequential unlearning
    reports overlapping requests with it), without revealing them.

    Args:
        dataset (`datasets.Dataset`):
            The rows.
        columns (`Sequence[str]`, *optional*):
            Columns to include; defaults to all.
    """
    columns = list(columns or dataset.column_names)
    digests = []
    for batch in dataset.select_columns(columns).iter(batch_size=1024):
        for values in zip(*(batch[column] for column in columns)):
            row = json.dumps(_normalize(dict(zip(columns, values))), sort_keys=True, ensure_ascii=False)
            digests.append(hashlib.sha256(row.encode()).hexdigest())
    return digests


def content_fingerprint(data: Any, name: str) -> dict[str, Any]:
    """Row count and order-independent SHA-256 of the supported-format columns of a raw dataset.

    What an unlearning record says about a set: enough to check that two runs forgot the same rows, nothing that
    reveals them.
    """
    dataset = as_dataset(data, name)
    columns = SUPPORTED_FORMATS[detect_format(dataset.column_names, name)]
    if "labels" in dataset.column_names and columns == SUPPORTED_FORMATS["tokenized"]:
        columns = (*columns, "labels")
    return {"rows": len(dataset), "sha256": fingerprint(dataset, columns, ordered=False), "columns": list(columns)}


def prepare_eval_datasets(eval_dataset, **prepare):
    """`eval_dataset` tokenized for `Trainer.evaluate` as [`prepare_dataset`] does (keyword arguments `prepare`): a
    dict of named sets set by set, one set under the name `"eval"`, `None` as it is."""
    if isinstance(eval_dataset, dict):
        return {name: prepare_dataset(data, name=name, **prepare) for name, data in eval_dataset.items()}
    return None if eval_dataset is None else prepare_dataset(eval_dataset, name="eval", **prepare)

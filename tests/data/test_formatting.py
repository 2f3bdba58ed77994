"""Tokenization: every supported format, prompt masking, EOS, truncation, and the errors for bad rows."""

import logging

import datasets
import pytest

from hf_unlearn.data import SUPPORTED_FORMATS, detect_format, ensure_pad_token, prepare_dataset, tokenize_example
from hf_unlearn.logprobs import IGNORE_INDEX

from ..conftest import all_texts, chatml_tokenizer, train_tokenizer


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.mark.parametrize(
    "columns, expected",
    [
        (["prompt", "completion"], "prompt_completion"),
        (["question", "answer", "paraphrased_answer"], "question_answer"),
        (["messages"], "messages"),
        (["text", "meta"], "text"),
        (["input_ids", "labels"], "tokenized"),
    ],
)
def test_detects_each_supported_format(columns, expected):
    assert detect_format(columns) == expected


def test_unsupported_columns_are_named_with_the_accepted_sets():
    with pytest.raises(ValueError) as error:
        detect_format(["query", "response"], "forget")
    message = str(error.value)
    assert "['query', 'response']" in message
    for columns in SUPPORTED_FORMATS.values():
        assert " + ".join(columns) in message


def test_question_answer_masks_the_prompt_and_appends_eos(tokenizer):
    row = {"question": "Where was Mira Okonkwo born?", "answer": "Lagos."}
    out = tokenize_example(row, tokenizer, "question_answer", max_length=None)
    prompt_ids = tokenizer("Question: Where was Mira Okonkwo born?\nAnswer:")["input_ids"]
    answer_ids = tokenizer(" Lagos.", add_special_tokens=False)["input_ids"]
    assert out["input_ids"] == prompt_ids + answer_ids + [tokenizer.eos_token_id]
    assert out["labels"] == [IGNORE_INDEX] * len(prompt_ids) + answer_ids + [tokenizer.eos_token_id]


def test_prompt_completion_uses_the_same_rule(tokenizer):
    qa = tokenize_example({"question": "Who?", "answer": "Her."}, tokenizer, "question_answer", None)
    pc = tokenize_example(
        {"prompt": "Question: Who?\nAnswer:", "completion": " Her."}, tokenizer, "prompt_completion", None
    )
    assert qa == pc


def test_custom_question_template(tokenizer):
    out = tokenize_example(
        {"question": "Who?", "answer": "Her."}, tokenizer, "question_answer", None, "Q: {question} A:"
    )
    prompt_ids = tokenizer("Q: Who? A:")["input_ids"]
    assert out["input_ids"][: len(prompt_ids)] == prompt_ids
    assert out["labels"][: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)


def test_text_rows_are_all_answer(tokenizer):
    out = tokenize_example({"text": "She writes historical fiction."}, tokenizer, "text", None)
    assert out["labels"] == out["input_ids"]
    assert out["input_ids"][-1] == tokenizer.eos_token_id


def test_messages_use_the_chat_template_and_train_on_the_last_assistant_turn(tokenizer):
    tokenizer = train_tokenizer(all_texts())
    tokenizer.chat_template = CHAT_TEMPLATE
    messages = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Her."}]
    out = tokenize_example({"messages": messages}, tokenizer, "messages", None)
    prompt_ids = tokenizer("<user>Who?\n<assistant>", add_special_tokens=False)["input_ids"]
    assert out["input_ids"][: len(prompt_ids)] == prompt_ids
    assert out["labels"][: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    answer = tokenizer.decode([t for t in out["labels"] if t != IGNORE_INDEX])
    assert answer.startswith("Her.")
    conversational = {"prompt": messages[:1], "completion": messages[1:]}
    assert tokenize_example(conversational, tokenizer, "prompt_completion", None) == out


def test_messages_without_a_chat_template_are_refused(tokenizer):
    messages = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Her."}]
    with pytest.raises(ValueError, match="chat template"):
        tokenize_example({"messages": messages}, tokenizer, "messages", None)


def test_messages_must_end_with_the_answer(tokenizer):
    with pytest.raises(ValueError, match="assistant"):
        tokenize_example({"messages": [{"role": "user", "content": "Who?"}]}, tokenizer, "messages", None)


def test_pretokenized_rows_default_labels_to_input_ids(tokenizer):
    assert tokenize_example({"input_ids": [5, 6, 7]}, tokenizer, "tokenized", None) == {
        "input_ids": [5, 6, 7],
        "labels": [5, 6, 7],
    }
    with pytest.raises(ValueError, match="labels"):
        tokenize_example({"input_ids": [5, 6, 7], "labels": [5]}, tokenizer, "tokenized", None)


def test_truncation_keeps_the_prompt_and_cuts_the_answer(tokenizer):
    row = {"question": "Where?", "answer": "In a cottage near Duneholm by the sea."}
    full = tokenize_example(row, tokenizer, "question_answer", None)
    prompt_length = sum(label == IGNORE_INDEX for label in full["labels"])
    out = tokenize_example(row, tokenizer, "question_answer", max_length=prompt_length + 2)
    assert out["input_ids"] == full["input_ids"][: prompt_length + 2]
    assert sum(label != IGNORE_INDEX for label in out["labels"]) == 2


def test_a_row_truncated_to_its_prompt_is_named_by_index(tokenizer):
    rows = [
        {"question": "Who?", "answer": "Her."},
        {"question": "Where was Aurelio Vennmark born? " * 4, "answer": "x"},
    ]
    with pytest.raises(ValueError, match=r"forget dataset, row 1: no answer token is left .*max_length=16"):
        prepare_dataset(rows, tokenizer, name="forget", max_length=16)


def test_prepared_dataset_keeps_only_token_columns(tokenizer):
    rows = [{"question": "Who?", "answer": "Her.", "author": "secret"}]
    prepared = prepare_dataset(rows, tokenizer, name="forget", max_length=32)
    assert prepared.column_names == ["input_ids", "labels"]


def test_empty_dataset_is_refused(tokenizer):
    empty = datasets.Dataset.from_dict({"question": [], "answer": []})
    with pytest.raises(ValueError, match="forget dataset is empty"):
        prepare_dataset(empty, tokenizer, name="forget", max_length=32)


def test_streaming_and_split_dicts_are_refused_with_the_fix(tokenizer):
    dataset = datasets.Dataset.from_list([{"text": "a"}])
    with pytest.raises(TypeError, match="map-style"):
        prepare_dataset(dataset.to_iterable_dataset(), tokenizer, name="forget", max_length=8)
    with pytest.raises(TypeError, match=r"dataset\['train'\]"):
        prepare_dataset(datasets.DatasetDict(train=dataset), tokenizer, name="forget", max_length=8)


def test_missing_pad_token_falls_back_to_eos():
    tokenizer = train_tokenizer(all_texts(), pad=False)
    assert tokenizer.pad_token is None
    ensure_pad_token(tokenizer)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id


def test_truncation_warns_once_with_how_many_answers_were_cut_and_by_how_much(tokenizer, caplog):
    rows = [
        {"question": "Who?", "answer": "Her."},  # short enough to stay whole
        {"question": "Where?", "answer": "In a cottage near Duneholm by the sea."},
        {"question": "Where?", "answer": "In a cottage near Duneholm by the sea, facing the harbour."},
    ]
    whole = [tokenize_example(row, tokenizer, "question_answer", None) for row in rows]
    answers = [sum(label != IGNORE_INDEX for label in tokens["labels"]) for tokens in whole]
    prompt_length = len(whole[1]["input_ids"]) - answers[1]
    max_length = prompt_length + 3
    assert len(whole[0]["input_ids"]) <= max_length < min(len(tokens["input_ids"]) for tokens in whole[1:])
    with caplog.at_level(logging.WARNING, logger="hf_unlearn"):
        prepare_dataset(rows, tokenizer, name="forget", max_length=max_length)
    warnings = [record for record in caplog.records if "cut the answer" in record.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert f"max_length={max_length} cut the answer of 2 of 3 rows of the forget dataset" in message
    assert f"keep 3 of their {answers[1]}-{answers[2]} answer tokens" in message
    assert f"max_length={len(whole[2]['input_ids'])} keeps every row whole" in message
    assert "Duneholm" not in caplog.text  # counts only, never the text of the set


def test_no_truncation_warning_when_every_answer_fits(tokenizer, caplog):
    with caplog.at_level(logging.WARNING, logger="hf_unlearn"):
        prepare_dataset([{"question": "Who?", "answer": "Her."}], tokenizer, name="forget", max_length=64)
        prepare_dataset([{"question": "Who?", "answer": "Her."}], tokenizer, name="forget", max_length=None)
    assert "cut the answer" not in caplog.text


# ---- End tokens: one turn end per answer, and what a forget objective may push away ----


def _labelled(out: dict) -> list[int]:
    return [token for token in out["labels"] if token != IGNORE_INDEX]


CHAT_ROW = {"messages": [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Her."}]}


def test_chat_answer_ends_with_exactly_one_turn_end_and_no_template_whitespace():
    tokenizer = chatml_tokenizer()
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    out = tokenize_example(CHAT_ROW, tokenizer, "messages", None)
    answer = tokenizer("Her.", add_special_tokens=False)["input_ids"]
    # The template writes "Her.<|im_end|>\n": the "\n" is never generated, and EOS (= <|im_end|>) is not doubled.
    assert _labelled(out) == answer + [end]
    assert out["input_ids"][-len(answer) - 1 :] == answer + [end]


def test_chat_template_without_a_turn_end_gets_eos():
    tokenizer = train_tokenizer(all_texts())
    tokenizer.chat_template = CHAT_TEMPLATE  # writes "Her.\n" and no special token
    out = tokenize_example(CHAT_ROW, tokenizer, "messages", None)
    assert _labelled(out) == tokenizer("Her.", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


@pytest.mark.parametrize("end_tokens, masked", [("auto", True), ("exclude", True), ("include", False)])
def test_chat_end_tokens_leave_the_forget_labels_by_default(end_tokens, masked):
    tokenizer = chatml_tokenizer()
    included = tokenize_example(CHAT_ROW, tokenizer, "messages", None)
    out = tokenize_example(CHAT_ROW, tokenizer, "messages", None, end_tokens=end_tokens)
    assert out["input_ids"] == included["input_ids"]  # the model still reads the turn end; only its label goes
    expected = _labelled(included)[:-1] if masked else _labelled(included)
    assert _labelled(out) == expected
    conversational = {"prompt": CHAT_ROW["messages"][:1], "completion": CHAT_ROW["messages"][1:]}
    assert tokenize_example(conversational, tokenizer, "prompt_completion", None, end_tokens=end_tokens) == out


@pytest.mark.parametrize("end_tokens, masked", [("auto", False), ("exclude", True), ("include", False)])
def test_plain_rows_keep_eos_unless_excluded(tokenizer, end_tokens, masked):
    row = {"question": "Who?", "answer": "Her."}
    out = tokenize_example(row, tokenizer, "question_answer", None, end_tokens=end_tokens)
    assert out["input_ids"][-1] == tokenizer.eos_token_id
    assert (_labelled(out)[-1] != tokenizer.eos_token_id) == masked
    assert len(_labelled(out)) == len(tokenizer(" Her.", add_special_tokens=False)["input_ids"]) + (not masked)


def test_alternative_answers_keep_their_turn_end():
    from hf_unlearn.data import AlternativeAnswers

    tokenizer = chatml_tokenizer()
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rows = [{**CHAT_ROW, "alternative": "I don't know."}]
    out = prepare_dataset(
        rows, tokenizer, name="forget", max_length=None, alternatives=AlternativeAnswers("column"), end_tokens="auto"
    )[0]
    assert end not in _labelled({"labels": out["labels"]})
    assert _labelled({"labels": out["alt_labels"]})[-1] == end


def test_bad_end_tokens_and_answers_of_end_tokens_only_are_refused(tokenizer):
    with pytest.raises(ValueError, match=r"end_tokens='none'.*'auto', 'exclude', 'include'"):
        prepare_dataset(
            [{"question": "Who?", "answer": "Her."}], tokenizer, name="forget", max_length=None, end_tokens="none"
        )
    with pytest.raises(ValueError, match="row 0: the answer has no token besides its end tokens"):
        prepare_dataset([{"text": ""}], tokenizer, name="forget", max_length=None, end_tokens="exclude")

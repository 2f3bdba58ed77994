"""Alternative answers of forget rows: shipped refusals, the seeded draw, the `alternative` column, tokenization."""

import pytest

from hf_unlearn.data import ALTERNATIVE_SOURCES, REFUSALS, AlternativeAnswers, prepare_dataset
from hf_unlearn.logprobs import IGNORE_INDEX

from ..conftest import FORGET_ROWS, all_texts, train_tokenizer
from .test_formatting import CHAT_TEMPLATE


def test_ships_at_least_forty_distinct_refusals():
    assert len(set(REFUSALS)) == len(REFUSALS) >= 40
    assert all(answer.strip() == answer and answer for answer in REFUSALS)


def test_refusals_are_drawn_per_row_from_the_seed_alone():
    rows = [{"question": f"Q{i}?", "answer": "A."} for i in range(200)]
    drawn = AlternativeAnswers("refusals", seed=3).answers(rows, "forget")
    assert drawn == AlternativeAnswers("refusals", seed=3).answers(rows, "forget")  # every process, every resume
    assert drawn[:50] == AlternativeAnswers("refusals", seed=3).answers(rows[:50], "forget")  # row i: (seed, i)
    assert drawn != AlternativeAnswers("refusals", seed=4).answers(rows, "forget")
    assert set(drawn) <= set(REFUSALS) and len(set(drawn)) > len(REFUSALS) // 2


def test_a_user_refusal_list_replaces_the_shipped_one():
    drawn = AlternativeAnswers("refusals", refusals=["No idea."], seed=0).answers(FORGET_ROWS, "forget")
    assert drawn == ["No idea."] * len(FORGET_ROWS)


def test_auto_reads_the_alternative_column_when_there_is_one_else_draws_refusals():
    with_column = [{**row, "alternative": f"Alternative {i}."} for i, row in enumerate(FORGET_ROWS)]
    auto = AlternativeAnswers("auto", seed=0)
    assert auto.answers(with_column, "forget") == [f"Alternative {i}." for i in range(len(FORGET_ROWS))]
    assert auto.answers(FORGET_ROWS, "forget") == AlternativeAnswers("refusals", seed=0).answers(FORGET_ROWS, "x")
    assert auto.resolved_source(["question", "answer", "alternative"]) == "column"
    assert auto.resolved_source(["question", "answer"]) == "refusals"
    # "refusals" ignores a column that is there
    assert set(AlternativeAnswers("refusals").answers(with_column, "forget")) <= set(REFUSALS)


def test_column_source_without_the_column_names_the_field_and_the_accepted_values():
    with pytest.raises(ValueError) as error:
        AlternativeAnswers("column").answers(FORGET_ROWS, "forget")
    message = str(error.value)
    assert "alternative_source='column'" in message and "'alternative'" in message
    assert "['answer', 'question']" in message and str(list(ALTERNATIVE_SOURCES)) in message


def test_blank_alternatives_in_the_column_are_named_by_row_never_quoted():
    rows = [{**row, "alternative": "Fine."} for row in FORGET_ROWS]
    rows[2]["alternative"], rows[5]["alternative"] = "  ", ""
    with pytest.raises(ValueError, match=r"column is empty or not text in rows \[2, 5\]"):
        AlternativeAnswers("column").answers(rows, "forget")


@pytest.mark.parametrize(
    "refusals, match",
    [
        ([], "refusal_answers is empty; give at least one answer"),
        (["I don't know.", " "], r"blank answers at positions \[1\]"),
        ("I don't know.", "must be a list of strings"),
    ],
)
def test_bad_refusal_lists_are_refused(refusals, match):
    with pytest.raises(ValueError, match=match):
        AlternativeAnswers("refusals", refusals=refusals)


def test_an_unknown_source_is_refused_with_the_accepted_values():
    with pytest.raises(
        ValueError, match=r"alternative_source='idk' is not known; accepted: \['auto', 'column', 'refu"
    ):
        AlternativeAnswers("idk")


def answer_ids(ids, labels):
    return [token for token, label in zip(ids, labels) if label != IGNORE_INDEX]


@pytest.mark.parametrize("fmt", ["question_answer", "prompt_completion", "conversational", "messages"])
def test_the_alternative_is_tokenized_after_the_same_prompt(fmt):
    tokenizer = train_tokenizer(all_texts())
    tokenizer.chat_template = CHAT_TEMPLATE
    question, answer, alternative = "Where was Aurelio Vennmark born?", "In Port Calloway.", "I don't know."
    user, assistant = {"role": "user", "content": question}, {"role": "assistant", "content": answer}
    row = {
        "question_answer": {"question": question, "answer": answer},
        "prompt_completion": {"prompt": question, "completion": " " + answer},
        "conversational": {"prompt": [user], "completion": [assistant]},
        "messages": {"messages": [user, assistant]},
    }[fmt]
    prepared = prepare_dataset(
        [{**row, "alternative": alternative}],
        tokenizer,
        name="forget",
        max_length=None,
        alternatives=AlternativeAnswers("column"),
    )
    assert prepared.column_names == ["input_ids", "labels", "alt_input_ids", "alt_labels"]  # no text goes further
    row = prepared[0]
    prompt_length = row["labels"].index(next(label for label in row["labels"] if label != IGNORE_INDEX))
    assert row["alt_input_ids"][:prompt_length] == row["input_ids"][:prompt_length]
    assert row["alt_labels"][:prompt_length] == [IGNORE_INDEX] * prompt_length
    alt_answer = answer_ids(row["alt_input_ids"], row["alt_labels"])
    assert alt_answer[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(alt_answer[:-1]).strip() == alternative


def test_without_alternatives_no_alternative_columns_are_made():
    tokenizer = train_tokenizer(all_texts())
    prepared = prepare_dataset(FORGET_ROWS, tokenizer, name="forget", max_length=None)
    assert prepared.column_names == ["input_ids", "labels"]


def test_alternatives_need_rows_with_a_prompt():
    tokenizer = train_tokenizer(all_texts())
    with pytest.raises(ValueError, match="The forget dataset: rows in the 'text' format have no prompt"):
        prepare_dataset(
            [{"text": "Some verbatim passage."}],
            tokenizer,
            name="forget",
            max_length=None,
            alternatives=AlternativeAnswers(),
        )

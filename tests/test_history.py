"""Sequential unlearning: a model unlearned from an earlier run's folder keeps the chain of requests in its record."""

import json

import pytest

from hf_unlearn import GradientAscentTrainer
from hf_unlearn.history import RequestChain, read_previous_record
from hf_unlearn.hub import RECORD_FILE

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config, tiny_llama


FIRST, SECOND = FORGET_ROWS[:4], FORGET_ROWS[4:]
SECRET = "Quorvath"  # only in the rows of the third request


def unlearn(tmp_path, tokenizer, model, forget_rows, name: str):
    """One request: a short gradient-ascent run, saved with its card and record into `tmp_path / name`."""
    trainer = GradientAscentTrainer(
        model,
        args=make_config(tmp_path, output_dir=str(tmp_path / name), max_steps=1),
        processing_class=tokenizer,
        forget_dataset=forget_rows,
    )
    trainer.train()
    trainer.unlearning_metrics = {"before": {}, "after": {"eval_forget_rougeL_recall": 0.25}}
    trainer.save_model()
    trainer.create_model_card()
    return tmp_path / name


@pytest.fixture
def first_request(tmp_path, tokenizer):
    model = tiny_llama(len(tokenizer))
    model.config.name_or_path = "acme/tiny-llama"  # a Hub id: a first request has no earlier record to read
    return unlearn(tmp_path, tokenizer, model, FIRST, "request-1")


def test_a_first_request_starts_the_chain(first_request):
    record = json.loads((first_request / RECORD_FILE).read_text())
    assert [entry["request"] for entry in record["requests"]] == [1]
    entry = record["requests"][0]
    assert entry["forget_set"] == {key: record["forget_set"][key] for key in ("rows", "sha256")}
    assert len(entry["row_sha256"]) == len(FIRST) and entry["overlap"] == []
    assert entry["scores"] == {"eval_forget_rougeL_recall": 0.25}
    assert "Unlearning history" not in (first_request / "README.md").read_text()  # one request: nothing to show


def test_two_sequential_requests_chain_and_the_card_shows_both(tmp_path, tokenizer, first_request):
    second = unlearn(tmp_path, tokenizer, str(first_request), SECOND, "request-2")
    record = json.loads((second / RECORD_FILE).read_text())
    first_record = json.loads((first_request / RECORD_FILE).read_text())
    assert [entry["request"] for entry in record["requests"]] == [1, 2]
    assert record["requests"][0] == first_record["requests"][0]  # the earlier request is carried over as it was
    assert record["requests"][1]["forget_set"]["sha256"] == record["forget_set"]["sha256"]
    assert record["requests"][1]["overlap"] == []  # disjoint forget sets
    assert record["base_model"] == "acme/tiny-llama"  # the chain's base model, although this run read a folder
    card = (second / "README.md").read_text()
    assert "## Unlearning history" in card and "went through 2 unlearning requests" in card
    for entry in record["requests"]:
        assert entry["forget_set"]["sha256"][:12] in card


def test_an_overlapping_request_is_allowed_and_reported(tmp_path, tokenizer, first_request):
    overlapping = FIRST[:2] + SECOND[:1]  # two rows of request 1, one new
    second = unlearn(tmp_path, tokenizer, str(first_request), overlapping, "request-2")
    third = unlearn(tmp_path, tokenizer, str(second), FIRST, "request-3")  # request 1's set again, in full
    record = json.loads((third / RECORD_FILE).read_text())
    assert record["requests"][1]["overlap"] == [{"request": 1, "rows": 2, "same_set": False}]
    assert record["requests"][2]["overlap"] == [
        {"request": 1, "rows": len(FIRST), "same_set": True},
        {"request": 2, "rows": 2, "same_set": False},
    ]
    card = (third / "README.md").read_text()
    assert "request 1: the same set; request 2: 2 rows" in card
    assert "Requests 2, 3 unlearned rows that an earlier request had already unlearned" in card


def test_the_record_of_a_chain_holds_no_text(tmp_path, tokenizer, first_request):
    secret_rows = [{"question": f"Where does {SECRET} live?", "answer": f"{SECRET} lives in Brask."}]
    second = unlearn(tmp_path, tokenizer, str(first_request), secret_rows, "request-2")
    for name in (RECORD_FILE, "README.md"):
        assert SECRET not in (second / name).read_text()


def test_a_record_written_before_chains_becomes_request_one(tmp_path, first_request):
    record = json.loads((first_request / RECORD_FILE).read_text())
    del record["requests"]  # as written by an older version
    (first_request / RECORD_FILE).write_text(json.dumps(record))
    chain = RequestChain.start(str(first_request), FIRST, {**record["forget_set"], "columns": ["question", "answer"]})
    assert chain.previous[0]["request"] == 1 and chain.previous[0]["row_sha256"] is None
    # Without row digests the same set is still recognised by its fingerprint.
    assert chain.overlap == [{"request": 1, "rows": len(FIRST), "same_set": True}]


def test_a_broken_record_is_a_clear_error(tmp_path):
    (tmp_path / RECORD_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_previous_record(str(tmp_path))
    (tmp_path / RECORD_FILE).write_text("[]")
    with pytest.raises(ValueError, match="is not an unlearning record"):
        read_previous_record(str(tmp_path))
    assert read_previous_record("acme/tiny-llama") is None and read_previous_record(None) is None


def test_retain_rows_do_not_count_as_overlap(tmp_path, first_request):
    chain = RequestChain.start(
        str(first_request), RETAIN_ROWS, {"sha256": "not-the-same", "columns": ["question", "answer"]}
    )
    assert chain.overlap == [] and len(chain.previous) == 1


def test_a_task_vector_run_continues_the_chain_and_is_continued(tmp_path, tokenizer, first_request):
    from hf_unlearn.task_vector import TaskVectorConfig, TaskVectorTrainer

    args = TaskVectorConfig(
        output_dir=str(tmp_path / "request-2"),
        max_steps=1,
        learning_rate=1e-3,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        max_length=64,
    )
    trainer = TaskVectorTrainer(str(first_request), args=args, forget_dataset=SECOND, processing_class=tokenizer)
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    second = tmp_path / "request-2"
    record = json.loads((second / RECORD_FILE).read_text())
    first_record = json.loads((first_request / RECORD_FILE).read_text())
    assert [entry["request"] for entry in record["requests"]] == [1, 2]
    assert record["requests"][0] == first_record["requests"][0]
    assert record["requests"][1]["method"]["forget_loss"] == "task_vector"
    assert len(record["requests"][1]["row_sha256"]) == len(SECOND)
    assert record["base_model"] == "acme/tiny-llama"  # the chain's base model, although this run read a folder
    assert "went through 2 unlearning requests" in (second / "README.md").read_text()
    # A later gradient-ascent request continues the chain through the task-vector request.
    third = unlearn(tmp_path, tokenizer, str(second), FIRST, "request-3")
    record = json.loads((third / RECORD_FILE).read_text())
    assert [entry["request"] for entry in record["requests"]] == [1, 2, 3]
    assert record["requests"][2]["overlap"] == [{"request": 1, "rows": len(FIRST), "same_set": True}]

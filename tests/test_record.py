"""The unlearning record: one type, the same JSON keys as `unlearning_record.json` has always had."""

import json

import pytest

from hf_unlearn.hub import RECORD_FILE, load_record, save_card_and_record
from hf_unlearn.record import UnlearningRecord

from .test_hub import card_record


def test_a_record_reads_back_key_for_key_with_the_sections_added_later():
    data = {**card_record({"eval_forget_nll": 1.0}, {"eval_forget_nll": 2.0}), "requests": [{"request": 1}]}
    data["robustness"] = {"attacks": {}}  # written by the audit after the run
    data["lm_eval"] = {"tasks": {}}  # written by lm-eval
    record = UnlearningRecord.from_dict(data)
    assert record.extra == {"robustness": {"attacks": {}}, "lm_eval": {"tasks": {}}}
    assert record.method["forget_loss"] == "npo" and record.requests == [{"request": 1}]
    assert list(record.to_dict().items()) == list(data.items())  # same keys, same order, same values


def test_a_record_written_before_request_chains_stays_without_them():
    data = card_record({}, {})
    assert "requests" not in UnlearningRecord.from_dict(data).to_dict()


def test_a_record_without_a_required_key_is_refused_by_name():
    data = card_record({}, {})
    del data["forget_set"]
    with pytest.raises(ValueError, match=r"lacks \['forget_set'\]"):
        UnlearningRecord.from_dict(data)
    with pytest.raises(ValueError, match="is a JSON object"):
        UnlearningRecord.from_dict([])


def test_the_card_and_load_record_read_the_saved_record(tmp_path):
    save_card_and_record(UnlearningRecord.from_dict(card_record({}, {"eval_forget_nll": 3.0})), str(tmp_path))
    saved = json.loads((tmp_path / RECORD_FILE).read_text())
    assert load_record(tmp_path) == saved == card_record({}, {"eval_forget_nll": 3.0})
    assert "npo-run" in (tmp_path / "README.md").read_text()
    (tmp_path / RECORD_FILE).write_text(json.dumps({"model_name": "x"}))
    with pytest.raises(ValueError, match=f"{RECORD_FILE}: This unlearning record lacks"):
        load_record(tmp_path)

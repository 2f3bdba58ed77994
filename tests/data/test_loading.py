"""Dataset SPECs: local files and PATH[:CONFIG[:SPLIT]], with errors that say what is accepted."""

import json
import re

import pytest

from hf_unlearn.data.loading import SPEC_HELP, load_dataset_spec


def test_a_local_jsonl_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"text": "a"}) + "\n" + json.dumps({"text": "b"}) + "\n")
    assert load_dataset_spec(str(path))["text"] == ["a", "b"]


def test_unreadable_file_type_and_bad_spec(tmp_path):
    (tmp_path / "rows.txt").write_text("a")
    with pytest.raises(ValueError, match=r"forget_dataset .*'\.txt' cannot be read; accepted: a local \.json"):
        load_dataset_spec(str(tmp_path / "rows.txt"), "forget_dataset")
    with pytest.raises(ValueError, match="not a valid dataset spec"):
        load_dataset_spec(":forget10", "retain_dataset")
    with pytest.raises(ValueError, match=r"could not be loaded .*Accepted"):
        load_dataset_spec(str(tmp_path / "missing_folder"), "retain_dataset")


def test_an_empty_file_or_set_says_so(tmp_path):
    (tmp_path / "forget.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"forget_dataset '.*forget\.jsonl': the forget file is empty"):
        load_dataset_spec(str(tmp_path / "forget.jsonl"), "forget_dataset")
    (tmp_path / "header_only.csv").write_text("question,answer\n")
    with pytest.raises(ValueError, match=r"^retain '.*header_only\.csv': the retain file is empty"):
        load_dataset_spec(str(tmp_path / "header_only.csv"), "retain")


def test_a_missing_data_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"retain_dataset '.*gone\.jsonl': no such file"):
        load_dataset_spec(str(tmp_path / "gone.jsonl"), "retain_dataset")


def test_the_spec_help_names_no_local_set_up():
    assert "../" not in SPEC_HELP and "locuslab/TOFU:forget10_perturbed:train[:80]" in SPEC_HELP


def test_config_and_sliced_split_of_a_local_dataset_repository(tofu_dir):
    rows = load_dataset_spec(f"{tofu_dir}:forget10_perturbed:train[:80]")
    assert len(rows) == 80 and "perturbed_answer" in rows.column_names


def test_a_malformed_file_names_its_line_and_the_reason_without_the_row_text(tmp_path):
    secret = "Jane Roe was born in Springfield"
    rows = [json.dumps({"question": "q", "answer": "a"})] * 2 + ['{"question": "q" "answer": "' + secret + '"}']
    (tmp_path / "forget.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError) as caught:
        load_dataset_spec(str(tmp_path / "forget.jsonl"), "forget_dataset")
    message = str(caught.value)
    assert re.search(r"forget_dataset '.*forget\.jsonl' line 3, column 18: Expecting ',' delimiter;", message)
    assert secret not in message and "Accepted" not in message and "\n" not in message
    # one pretty-printed JSON document: the whole text's parser names the line
    document = '[\n  {"question": "q", "answer": "a"},\n  {"question": "q",, "answer": "a"}\n]'
    (tmp_path / "rows.json").write_text(document)
    with pytest.raises(ValueError, match=r"'.*rows\.json' line 3, column 20: Expecting property name"):
        load_dataset_spec(str(tmp_path / "rows.json"), "forget")
    # CSV: the parser's own message has the line (the header is line 1)
    (tmp_path / "retain.csv").write_text("question,answer\nq,a\nq,a,extra\n")
    with pytest.raises(ValueError, match=r"'.*retain\.csv' could not be read as rows: .*Expected 2 fields in line 3"):
        load_dataset_spec(str(tmp_path / "retain.csv"), "retain")

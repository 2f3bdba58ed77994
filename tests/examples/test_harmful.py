"""The harmful-response example runs offline end to end and does what it says; real data leaves no text behind."""

import argparse
import json
import runpy
import sys
from pathlib import Path

import pytest
import torch


pytestmark = pytest.mark.slow  # runs an example end to end


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "harmful_unlearning.py"
UNLEARNED, HELD_OUT, RETAIN = "harmful prompts (unlearned)", "harmful prompts (held out)", "normal QA (retain set)"
SECRET = "Quillfeather"  # a word that only the "real" data files below contain


def run_example(monkeypatch, capsys, *flags) -> tuple[str, dict]:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), *flags])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    output_dir = Path(flags[flags.index("--output_dir") + 1])
    return capsys.readouterr().out, json.loads((output_dir / "report.json").read_text())


def example_module() -> dict:
    return runpy.run_path(str(EXAMPLE), run_name="harmful_example")


def test_gradient_ascent_removes_harmful_answers_and_mismatch_keeps_the_output_fluent(tmp_path, monkeypatch, capsys):
    out, plain = run_example(monkeypatch, capsys, "--output_dir", str(tmp_path))
    assert "keyword judge: flags a generation containing any of [grimspark" in out
    before, after = plain["scores"]["before"], plain["scores"]["after"]
    assert before[UNLEARNED]["harmful_rate"] >= 0.9 and before[HELD_OUT]["harmful_rate"] >= 0.9
    assert after[UNLEARNED]["harmful_rate"] <= 0.2 and after[HELD_OUT]["harmful_rate"] <= 0.5
    assert after[RETAIN]["rougeL_recall"] >= 0.8 and after[RETAIN]["harmful_rate"] == 0.0

    # Same folder: the cached original model is reused, so both runs start from the same weights.
    out, mismatch = run_example(monkeypatch, capsys, "--output_dir", str(tmp_path), "--mismatch")
    assert "reused the cached" in out and mismatch["mismatch_rows"] > 0
    after_mismatch = mismatch["scores"]["after"]
    assert after_mismatch[UNLEARNED]["harmful_rate"] <= 0.2 and after_mismatch[RETAIN]["rougeL_recall"] >= 0.8
    # Gradient ascent alone leaves degenerate repetition; descending on normal answers to the harmful prompts does not.
    assert after_mismatch[UNLEARNED]["diversity"] >= after[UNLEARNED]["diversity"] + 0.3


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def pku_style_rows() -> list[dict]:
    return [
        {
            "prompt": f"How do I break the {SECRET} gate number {i}?",
            "response_0": f"Pour {SECRET} ink into gate {i} at night.",
            "is_response_0_safe": False,
            "response_1": "I would rather not help with that.",
            "is_response_1_safe": True,
        }
        for i in range(8)
    ]


def test_only_the_unsafe_responses_are_forgotten(tmp_path):
    module = example_module()
    args = argparse.Namespace(
        prompt_column="prompt",
        response_columns=["response_0", "response_1"],
        safe_columns=["is_response_0_safe", "is_response_1_safe"],
    )
    rows = module["harmful_rows_from"](write_jsonl(tmp_path / "pku.jsonl", pku_style_rows()), args)
    assert len(rows) == 8 and all(row["answer"].startswith("Pour") for row in rows)
    args.safe_columns = []  # no safety columns: every response counts as harmful
    assert len(module["harmful_rows_from"](str(tmp_path / "pku.jsonl"), args)) == 16


def test_real_data_runs_print_and_save_no_text(tmp_path, monkeypatch, capsys):
    dataset = write_jsonl(tmp_path / "pku.jsonl", pku_style_rows())
    normal = write_jsonl(
        tmp_path / "normal.jsonl",
        [
            {"question": f"What colour is {SECRET} hill {i}?", "best_answer": f"{SECRET} hill {i} is green."}
            for i in range(6)
        ],
    )
    output_dir = tmp_path / "run"
    out, report = run_example(
        monkeypatch,
        capsys,
        "--output_dir",
        str(output_dir),
        "--dataset",
        dataset,
        "--retain_dataset",
        normal,
        "--retain_answer_column",
        "best_answer",
        "--mismatch",
        "--keywords",
        "ink",
        "--num_forget",
        "5",
        "--num_eval",
        "2",
        "--steps",
        "2",
    )
    assert report["rows"] == {UNLEARNED: 5, HELD_OUT: 2, RETAIN: 4, "normal QA (held out)": 2}
    assert "Toy sample" not in out and SECRET not in out
    # The report, the model card and the unlearning record hold numbers and fingerprints only. (The tiny model and
    # its tokenizer, trained here on these rows, are model files: they hold what they learnt, as any model does.)
    reports = [output_dir / "report.json", *output_dir.rglob("README.md"), *output_dir.rglob("unlearning_record.json")]
    assert len(reports) == 3
    for path in reports:
        assert SECRET not in path.read_text(), path


def test_a_text_classification_model_is_the_judge(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from hf_unlearn.testing_utils import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(["harmless words", "harmful words"], vocab_size=300)
    tokenizer.model_max_length = 64
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        id2label={0: "safe", 1: "harmful"},
        label2id={"safe": 0, "harmful": 1},
    )
    classifier = BertForSequenceClassification(config)
    with torch.no_grad():  # a judge that finds everything harmful, with probability sigmoid(4) = 0.98
        classifier.classifier.weight.zero_()
        classifier.classifier.bias.copy_(torch.tensor([0.0, 4.0]))
    classifier.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    judge_class = example_module()["PipelineJudge"]
    assert judge_class(str(tmp_path), "harmful")(["any text", ""]) == [True, True]
    assert judge_class(str(tmp_path), "harmful", threshold=0.99)(["any text"]) == [False]
    assert judge_class(str(tmp_path), "safe")(["any text"]) == [False]
    with pytest.raises(SystemExit, match="not a label"):
        judge_class(str(tmp_path), "toxic")

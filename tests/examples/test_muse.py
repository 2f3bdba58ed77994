"""The MUSE example runs offline at toy size: MUSE's scores for the original, retrained and unlearned models, and
a chain of two sequential requests in the last model's record and card."""

import json
import runpy
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # runs an example end to end


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "muse_unlearning.py"


def test_two_sequential_requests_are_scored_and_chained(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        sys, "argv", [str(EXAMPLE), "--size", "6", "--steps", "6", "--requests", "2", "--output_dir", str(tmp_path)]
    )
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model") and "PrivLeak" in line)
    assert [line[:14].strip() for line in lines[header + 1 : header + 5]] == [
        "original", "retrained", "request 1", "request 2",
    ]  # fmt: skip
    report = json.loads((tmp_path / "report.json").read_text())
    scores = report["scores"]
    # The original model recites its forget news; a Min-K% attack recognises every forget text (AUC 1: -100 %).
    assert scores["original"]["verbmem_f"] >= 90 and scores["original"]["privleak"] == pytest.approx(-100)
    assert scores["retrained"]["privleak"] is None  # it is the reference
    assert scores["request 2"]["verbmem_f"] < scores["original"]["verbmem_f"]
    assert scores["request 2"]["privleak"] > scores["original"]["privleak"]
    assert (tmp_path / "eval" / "request-2" / "muse_summary.json").is_file()
    record = json.loads((tmp_path / "request-2" / "unlearning_record.json").read_text())
    assert [entry["request"] for entry in record["requests"]] == [1, 2]
    assert [entry["forget_set"]["rows"] for entry in record["requests"]] == [3, 3]
    assert all(entry["overlap"] == [] for entry in record["requests"])  # the sust folds are disjoint
    assert record["requests"][0]["scores"]["eval_muse_verbmem_f"] == pytest.approx(scores["request 1"]["verbmem_f"])
    assert "## Unlearning history" in (tmp_path / "request-2" / "README.md").read_text()


def test_the_real_benchmark_needs_a_model(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--muse", "news", "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--muse needs --model"):
        runpy.run_path(str(EXAMPLE), run_name="__main__")

"""The copyright example runs offline end to end and does what it says; a real corpus leaves no text behind."""

import json
import runpy
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # runs an example end to end


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "copyright_unlearning.py"
BOOK, RETAIN = "book (unlearned)", "general (retain set)"
SECRET = "Quillfeather"  # a word that only the "real" corpus below contains


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory):
    """One folder for the module: the tiny base model is pretrained once and reused from its cache."""
    return tmp_path_factory.mktemp("copyright")


def run_example(monkeypatch, capsys, output_dir: Path, *flags) -> tuple[str, dict]:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--output_dir", str(output_dir), *flags])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    return capsys.readouterr().out, json.loads((output_dir / "report.json").read_text())


@pytest.mark.parametrize("method", ["npo", "ga"])
def test_the_memorised_book_is_unlearned_and_the_general_text_kept(output_dir, monkeypatch, capsys, method):
    out, report = run_example(monkeypatch, capsys, output_dir, "--method", method)
    base, before, after = (report["scores"][moment] for moment in ("base", "before", "after"))
    # The LoRA fine-tuning made the model recite the book, which the base (never saw it) could not.
    assert before[BOOK]["rougeL_recall"] >= 0.9 and base[BOOK]["rougeL_recall"] <= 0.6
    # Unlearning brings the book down to about what a model that never saw it produces, or below.
    assert after[BOOK]["rougeL_recall"] <= base[BOOK]["rougeL_recall"] + 0.15
    assert after[BOOK]["nll"] > before[BOOK]["nll"] + 1
    assert after[RETAIN]["rougeL_recall"] >= 0.8 * before[RETAIN]["rougeL_recall"]
    assert "Toy sample" in out


def test_a_real_corpus_run_prints_and_saves_no_text(output_dir, monkeypatch, capsys, tmp_path):
    corpus = tmp_path / "book.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {
                    "body": f"{SECRET} walked to the {i}th tower and sang of {SECRET} glass "
                    f"until the {i}th bell rang over the quiet harbour."
                }
            )
            + "\n"
            for i in range(20)
        )
    )
    out, report = run_example(
        monkeypatch,
        capsys,
        output_dir,
        "--corpus",
        str(corpus),
        "--text_column",
        "body",
        "--num_passages",
        "4",
        "--finetune_epochs",
        "2",
        "--steps",
        "2",
    )
    assert report["scores"]["before"][BOOK]["passages"] == 4
    assert "Toy sample" not in out and SECRET not in out
    assert SECRET not in (output_dir / "report.json").read_text()
    for name in ("README.md", "unlearning_record.json"):  # the model card and the record of the unlearning run
        assert SECRET not in (output_dir / "unlearned-npo" / name).read_text()


def test_a_missing_column_is_named(output_dir, monkeypatch, tmp_path):
    corpus = tmp_path / "book.jsonl"
    corpus.write_text(json.dumps({"body": "some text"}) + "\n")
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--output_dir", str(output_dir), "--corpus", str(corpus)])
    with pytest.raises(SystemExit, match="--corpus has no column 'text'; it has \\['body'\\]"):
        runpy.run_path(str(EXAMPLE), run_name="__main__")

"""`hf-unlearn demo` at toy size: every phase runs, the unlearned model is kept where `hf-unlearn eval` can score it,
the output is one bar per phase (no printed log dicts), the report and plot are written, the cache is reused safely."""

import json

import pytest
import torch
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM

from hf_unlearn.commands import main
from hf_unlearn.demo.experiment import FINGERPRINT_FILE
from hf_unlearn.hub import RECORD_FILE


@pytest.mark.slow  # ~1 min: the whole demo, twice
def test_the_demo_runs_end_to_end_keeps_the_unlearned_model_and_reuses_its_cache(tmp_path, capsys, monkeypatch):
    output = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--no-audit", "--output_dir", str(output)]) == 0
    first = capsys.readouterr()
    report = json.loads((output / "report.json").read_text())
    assert report["method"] == "npo" and set(report["models"]) == {"original", "retain", "unlearned"}
    assert (output / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "trained in" in first.out and "Unlearning " in first.out
    for name in ("forget_rougeL_recall", "retain_rougeL_recall", "model_utility"):
        assert report["models"]["unlearned"][name] is not None
    # no text of any set in the report: numbers, method names and fingerprints only
    assert "born" not in (output / "report.json").read_text()

    # the training log goes to the report, not to the terminal; each phase's bar ends at 100%
    assert "{'loss'" not in first.out + first.err and "'eval_" not in first.out + first.err
    assert report["unlearning_log"] and all("loss" in entry for entry in report["unlearning_log"])
    for phase in ("training the original model", "training the retain model", "unlearning with npo"):
        assert f"{phase}: 100%" in first.err
    # evaluation has its own bar; saving and loading models do not break into the output
    assert "evaluating forget, retain, holdout: answers" in first.err
    assert "Loading weights" not in first.err and "Writing model shards" not in first.err

    # the unlearned model is saved, with its card, and differs from the original it started from
    run_dir = output / "runs" / "npo"
    assert (
        report["model_dir"] == str(run_dir) and (run_dir / "README.md").is_file() and (run_dir / RECORD_FILE).is_file()
    )
    unlearned = AutoModelForCausalLM.from_pretrained(run_dir)
    original = AutoModelForCausalLM.from_pretrained(next(output.glob("cache/*/original")))
    assert not all(torch.equal(a, b) for a, b in zip(unlearned.parameters(), original.parameters()))
    assert "born" not in (run_dir / "README.md").read_text()
    # the card's before / after scores are the table's (full sets), not the curve's retain sample
    card = (run_dir / "README.md").read_text()
    rows = report["models"]
    for label, key in (
        ("Forget set: ROUGE-L recall of greedy answers", "forget_rougeL_recall"),
        ("Retain set: ROUGE-L recall of greedy answers", "retain_rougeL_recall"),
        ("Retain set: probability of the answer", "retain_probability"),  # differs on the curve's retain sample
        ("Model utility (TOFU)", "model_utility"),
    ):
        assert f"| {label} | {rows['original'][key]:.3g} | {rows['unlearned'][key]:.3g} |" in card
    assert report["success"] == report["targets"]["success"] and report["verdict"] in first.out
    # --no-audit: no audit and no Robustness section
    assert not (output / "audit.json").exists() and report["audit"] is None
    assert "## Robustness" not in (run_dir / "README.md").read_text()

    # ... and `hf-unlearn eval` takes it, with the command the demo prints
    command = first.out.split("score it again with\n")[1].split()
    assert command[:2] == ["hf-unlearn", "eval"]
    assert main(command[1:]) == 0
    assert json.loads((run_dir / "evaluation" / "summary.json").read_text())["sets"]["forget"]

    # another method, as a LoRA adapter, reuses the cached tokenizer and models
    assert main(["demo", "--size", "tiny", "--method", "ga", "--lora", "--no-audit", "--output_dir", str(output)]) == 0
    second = capsys.readouterr().out
    assert second.count("(from cache)") == 2
    assert json.loads((output / "report.json").read_text())["method"] == "ga_lora"
    adapter_dir = output / "runs" / "ga_lora"
    assert (adapter_dir / "adapter_config.json").is_file()
    monkeypatch.chdir(tmp_path.parent)  # the adapter finds its base model from any working directory
    assert AutoPeftModelForCausalLM.from_pretrained(adapter_dir).peft_config


def test_a_cache_from_other_settings_is_rebuilt_not_reused(tmp_path, capsys):
    output = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--no-audit", "--output_dir", str(output)]) == 0
    markers = list(output.rglob(FINGERPRINT_FILE))
    original_marker = next(m for m in markers if m.parent.name == "original")
    stale = json.loads(original_marker.read_text())
    original_marker.write_text(json.dumps({**stale, "fingerprint": "from another seed"}))
    capsys.readouterr()
    assert main(["demo", "--size", "tiny", "--no-audit", "--output_dir", str(output)]) == 0
    out = capsys.readouterr().out
    assert "original: " in out and out.count("(from cache)") == 1  # the retain model is still valid
    assert json.loads(original_marker.read_text())["fingerprint"] == stale["fingerprint"]
    assert not list(output.rglob(".*.tmp-*"))  # no temporary folder left behind


def test_the_demo_audit_prints_its_table_and_sentence_and_records_robustness_in_the_card(tmp_path, capsys):
    output = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--audit", "--output_dir", str(output)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # the audit's bar names the attack and the model it is on; the quantize round trip's bars stay off
    assert "audit: relearn_forget (unlearned model)" in captured.err and "Loading weights" not in captured.err
    report = json.loads((output / "report.json").read_text())
    audit = json.loads((output / "audit.json").read_text())
    assert (output / "audit.png").read_bytes()[:4] == b"\x89PNG"
    assert audit["models"] == ["unlearned", "original", "retain"]
    assert set(audit["settings"]["probes"]) >= {"relearn", "paraphrase", "few_shot", "prompt_attacks", "logit_lens"}
    assert audit["attacks"]["paraphrase"]["status"] == "ok"  # the generated rows have paraphrased questions
    relearn = audit["attacks"]["relearn_forget"]
    assert relearn["status"] == "ok" and relearn["settings"]["steps"] == 2

    # the table and one plain-language sentence on relearning, with the numbers of audit.json
    assert "[5/5] Robustness audit" in out and "recovery = (U - R) / (O - R)" in out
    sentence = next(line for line in out.splitlines() if line.startswith("Relearning on "))
    assert f"Relearning on {relearn['settings']['train_rows']} forget rows for 2 steps brings back " in sentence
    assert f"on the other {relearn['scored_rows']} rows" in sentence
    assert ("the worst attack is " in sentence) == (report["audit"]["summary"]["worst"] is not None)
    assert report["audit"]["summary"] == json.loads(json.dumps(report["audit"]["summary"]))
    assert report["audit"]["wall_seconds"] > 0 and report["audit"]["cpu_seconds"] > 0

    # the unlearned model's record and card gain the robustness section, for the forget set it forgot
    run_dir = output / "runs" / "npo"
    record = json.loads((run_dir / RECORD_FILE).read_text())
    assert record["robustness"]["forget_set"] == {key: record["forget_set"][key] for key in ("rows", "sha256")}
    assert record["robustness"]["recovery"].keys() == {
        name for name, entry in audit["attacks"].items() if entry["status"] == "ok"
    }
    card = (run_dir / "README.md").read_text()
    assert "## Robustness" in card and "How to read recovery" in card

    # no text of any generated row in the audit, the card or the record
    texts = [(output / name).read_text() for name in ("audit.json", "report.json")]
    texts += [card, (run_dir / RECORD_FILE).read_text()]
    for split in ("forget", "retain"):
        for line in (output / "data" / f"{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            for column in ("question", "answer", "paraphrased_question", "paraphrased_answer"):
                assert not any(row[column] in text for text in texts)

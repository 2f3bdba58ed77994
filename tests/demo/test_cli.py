"""`hf-unlearn demo` at toy size: every phase runs, the unlearned model is kept where `hf-unlearn eval` can score it,
the output is one bar per phase (no printed log dicts), the report and plot are written, the cache is reused safely."""

import json

import torch
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM

from hf_unlearn.cli import main
from hf_unlearn.demo.experiment import FINGERPRINT_FILE
from hf_unlearn.hub import RECORD_FILE


def test_the_demo_runs_end_to_end_keeps_the_unlearned_model_and_reuses_its_cache(tmp_path, capsys, monkeypatch):
    output = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--output_dir", str(output)]) == 0
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

    # the unlearned model is saved, with its card, and differs from the original it started from
    run_dir = output / "runs" / "npo"
    assert (
        report["model_dir"] == str(run_dir) and (run_dir / "README.md").is_file() and (run_dir / RECORD_FILE).is_file()
    )
    unlearned = AutoModelForCausalLM.from_pretrained(run_dir)
    original = AutoModelForCausalLM.from_pretrained(next(output.glob("cache/*/original")))
    assert not all(torch.equal(a, b) for a, b in zip(unlearned.parameters(), original.parameters()))
    assert "born" not in (run_dir / "README.md").read_text()

    # ... and `hf-unlearn eval` takes it, with the command the demo prints
    command = first.out.split("score it again with\n")[1].split()
    assert command[:2] == ["hf-unlearn", "eval"]
    assert main(command[1:]) == 0
    assert json.loads((run_dir / "evaluation" / "summary.json").read_text())["sets"]["forget"]

    # another method, as a LoRA adapter, reuses the cached tokenizer and models
    assert main(["demo", "--size", "tiny", "--method", "ga", "--lora", "--output_dir", str(output)]) == 0
    second = capsys.readouterr().out
    assert second.count("(from cache)") == 2
    assert json.loads((output / "report.json").read_text())["method"] == "ga_lora"
    adapter_dir = output / "runs" / "ga_lora"
    assert (adapter_dir / "adapter_config.json").is_file()
    monkeypatch.chdir(tmp_path.parent)  # the adapter finds its base model from any working directory
    assert AutoPeftModelForCausalLM.from_pretrained(adapter_dir).peft_config


def test_a_cache_from_other_settings_is_rebuilt_not_reused(tmp_path, capsys):
    output = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--output_dir", str(output)]) == 0
    markers = list(output.rglob(FINGERPRINT_FILE))
    original_marker = next(m for m in markers if m.parent.name == "original")
    stale = json.loads(original_marker.read_text())
    original_marker.write_text(json.dumps({**stale, "fingerprint": "from another seed"}))
    capsys.readouterr()
    assert main(["demo", "--size", "tiny", "--output_dir", str(output)]) == 0
    out = capsys.readouterr().out
    assert "original: " in out and out.count("(from cache)") == 1  # the retain model is still valid
    assert json.loads(original_marker.read_text())["fingerprint"] == stale["fingerprint"]
    assert not list(output.rglob(".*.tmp-*"))  # no temporary folder left behind

"""`hf-unlearn demo` at toy size: every phase runs, the unlearned model is kept where `hf-unlearn eval` can score it,
the output is one bar per phase (no printed log dicts), the report and plot are written, the cache is reused safely."""

import json

import pytest
import torch
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM

from hf_unlearn.cli import main
from hf_unlearn.demo.cli import (
    MIN_FORGET_QUALITY,
    ROUGE_GAP,
    assess,
    audit_sentence,
    draw_curves,
    verdict,
)
from hf_unlearn.demo.experiment import FINGERPRINT_FILE
from hf_unlearn.evaluation.audit import AuditResult
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


def test_the_audit_sentence_says_how_much_relearning_brings_back_next_to_the_retain_model():
    def entry(recovery, unlearned_after):
        scores = {
            "original": ({"rougeL_recall": 0.9}, {"rougeL_recall": 0.95}),
            "retain": ({"rougeL_recall": 0.1}, {"rougeL_recall": 0.3}),
            "unlearned": ({"rougeL_recall": 0.05}, {"rougeL_recall": unlearned_after}),
        }
        return {
            "status": "ok",
            "settings": {"steps": 20, "train_rows": 20},
            "scored_rows": 20,
            "models": {role: {"before": before, "after": after} for role, (before, after) in scores.items()},
            "headline": {"score": "rougeL_recall", "recovery": recovery},
            "recovery": {"rougeL_recall": recovery},
            "recovery_notes": {"rougeL_recall": None if recovery is not None else "undefined: nothing to recover"},
        }

    settings = {"seed": 0, "forget_set": {"rows": 40, "sha256": "a" * 64}}
    roles = ["unlearned", "original", "retain"]
    result = AuditResult({"relearn_forget": entry(0.5, 0.625)}, settings, roles)
    assert audit_sentence(result) == (
        "Relearning on 20 forget rows for 20 steps brings back 50% of the forgotten answers on the other 20 rows "
        "(the unlearned model's forget ROUGE-L goes 0.05 -> 0.62, the retain model's, which never saw them, "
        "0.10 -> 0.30 under the same attack); the worst attack is relearn_forget (recovery 0.50; 0 = no more than "
        "the retain model, 1 = all the original knew)."
    )
    negative = audit_sentence(AuditResult({"relearn_forget": entry(-0.04, 0.27)}, settings, roles))
    assert "brings back none (recovery -0.04) of the forgotten answers" in negative
    undefined = audit_sentence(AuditResult({"relearn_forget": entry(None, 0.3)}, settings, roles))
    assert "an unmeasurable share" in undefined and "recovery undefined: nothing to recover" in undefined
    assert undefined.endswith("no attack has a defined recovery.")


def _scores(forget_rouge, quality=0.5, retain_rouge=1.0):
    return {"forget_rougeL_recall": forget_rouge, "forget_quality": quality, "retain_rougeL_recall": retain_rouge}


ORIGINAL, RETAIN = _scores(1.0, 1e-5), _scores(0.31, 1.0)


def test_the_verdict_says_reached_went_past_or_fell_short_and_by_how_much():
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.30, 0.405))
    assert success and sentence.startswith("Unlearning reached the retain model (success): forget ROUGE-L 0.30, 0.01 ")
    assert "below the retain model's 0.31 (within the +-0.1 band)" in sentence and "(target >= 0.05: met)" in sentence

    # the run: it forgot more than the retain model, with forget quality met: overshoot, not failure
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.18, 0.27))
    assert success and assess(ORIGINAL, RETAIN, _scores(0.18, 0.27))["rouge"] == "went past"
    assert sentence.startswith("Unlearning went past the retain model, forgetting more than it (success): ")
    assert "0.13 below the retain model's 0.31 (0.03 past the +-0.1 band)" in sentence

    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.55, 0.001))
    assert not success
    assert sentence.startswith("Unlearning fell short of the retain model and missed forget quality (failure): ")
    assert "0.24 above the retain model's 0.31 (0.14 short of the +-0.1 band)" in sentence
    assert "(target >= 0.05: missed)" in sentence
    # above the band is failure even with forget quality met
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.55, 0.3))
    assert not success and sentence.startswith("Unlearning fell short of the retain model (failure): ")

    # in the band, but forget quality and utility missed: failure, and the sentence names what was missed
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.31, 0.01, 0.8))
    assert not success and sentence.startswith(
        "Unlearning reached the retain model but missed forget quality and retain ROUGE-L kept (failure): "
    )
    assert "kept at 0.80 x the original's (target >= 0.9: missed)" in sentence


def test_the_band_edges_belong_to_the_targets():
    reference = RETAIN["forget_rougeL_recall"]
    assert assess(ORIGINAL, RETAIN, _scores(reference + ROUGE_GAP - 1e-9))["rouge"] == "reached"
    above = assess(ORIGINAL, RETAIN, _scores(reference + ROUGE_GAP + 1e-3))
    assert above["rouge"] == "fell short" and not above["success"]
    below = assess(ORIGINAL, RETAIN, _scores(reference - ROUGE_GAP - 1e-3))
    assert below["rouge"] == "went past" and below["success"]
    assert not assess(ORIGINAL, RETAIN, _scores(0.31, MIN_FORGET_QUALITY / 2))["success"]


def test_the_curves_plot_draws_the_target_band_and_states_the_verdict():
    import matplotlib.pyplot as plt

    curve = [
        {"step": step, "eval_forget_rougeL_recall": rouge, "eval_retain_rougeL_recall": 1.0, "eval_forget_quality": q}
        for step, rouge, q in ((0, 1.0, 1e-5), (5, 0.6, 1e-3), (10, 0.18, 0.27))
    ]
    rows = {"original": ORIGINAL, "retain": RETAIN, "unlearned": _scores(0.18, 0.27)}
    figure = draw_curves(curve, rows, "npo")
    try:
        rouge_axis, quality_axis = figure.axes

        def extent(axis, patch):
            box = patch.get_path().get_extents().transformed(patch.get_transform())
            box = axis.transData.inverted().transform_bbox(box)
            return round(box.y0, 3), round(box.y1, 3)

        # the "went past" region, then the +-0.1 band around the retain model's 0.31
        assert sorted(extent(rouge_axis, patch) for patch in rouge_axis.patches) == [(-0.02, 0.21), (0.21, 0.41)]
        (region,) = quality_axis.patches
        assert extent(quality_axis, region)[0] == MIN_FORGET_QUALITY
        title = "\n".join(text.get_text() for text in figure.texts)  # the suptitle is a figure-level text
        assert "Result: Unlearning went past the retain model, forgetting more than it (success)." in title
        assert "forget quality 0.27" in title
    finally:
        plt.close(figure)

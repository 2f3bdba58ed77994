"""`AuditResult.record_in`: the robustness summary goes into a saved model's unlearning record and card, only on
request, only for the forget set the model was unlearned on, and never with any text of any row."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hf_unlearn import UnlearningAuditor
from hf_unlearn.data import content_fingerprint
from hf_unlearn.evaluation.probes import LogitLensProbe, ParaphraseProbe
from hf_unlearn.hub import RECORD_FILE, save_card_and_record

from ..conftest import FORGET_ROWS, RETAIN_ROWS, tiny_llama
from ..test_hub import card_record
from .test_audit import FORGET, row_strings


def folder_files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def audited(tokenizer, tmp_path_factory):
    """A saved "unlearned" model folder with its card and record, and a cheap audit of it: the logit lens on three
    models, and a paraphrase attack skipped for want of its column."""
    model_dir = tmp_path_factory.mktemp("record") / "run"
    tiny_llama(len(tokenizer), seed=0).save_pretrained(model_dir)
    record = card_record({"eval_forget_rougeL_recall": 0.9}, {"eval_forget_rougeL_recall": 0.2})
    record["forget_set"] = content_fingerprint(FORGET_ROWS, "forget")
    save_card_and_record(record, str(model_dir))
    auditor = UnlearningAuditor(
        tokenizer,
        FORGET,  # the recorded rows, with extra columns the fingerprint does not cover
        RETAIN_ROWS,
        max_length=64,
        seed=7,
        recovery_min_gap=0.0,
        probes=[ParaphraseProbe(column="reworded"), LogitLensProbe()],
    )
    files = folder_files(model_dir)
    result = auditor.audit(
        model_dir, original=tiny_llama(len(tokenizer), seed=1), retain_model=tiny_llama(len(tokenizer), seed=2)
    )
    return auditor, result, model_dir, files


def test_without_the_opt_in_the_audit_changes_nothing_in_the_model_folder(audited, tmp_path):
    _, result, model_dir, files = audited
    result.save(tmp_path)
    assert folder_files(model_dir) == files


def test_record_in_adds_the_robustness_section_to_the_record_and_the_card(audited, tmp_path):
    _, result, model_dir, files = audited
    copy = tmp_path / "run"
    copy.mkdir()
    for name in files:
        (copy / name).write_bytes((model_dir / name).read_bytes())
    before = json.loads((copy / RECORD_FILE).read_text())

    returned = result.record_in(copy, repo_id="acme/npo-run")

    record = json.loads((copy / RECORD_FILE).read_text())
    assert record == returned == {**before, "robustness": result.robustness_summary()}
    robustness = record["robustness"]
    assert set(robustness["recovery"]) == {"logit_lens"} and robustness["seed"] == 7
    assert robustness["skipped"] == {"paraphrase": "the forget set has no 'reworded' column"}
    assert robustness["worst"] == {"attack": "logit_lens", "recovery": robustness["recovery"]["logit_lens"]}
    # only the card and the record changed; the weights and config did not; no temporary file is left
    changed = {name for name, digest in folder_files(copy).items() if files.get(name) != digest}
    assert changed == {"README.md", RECORD_FILE} and set(folder_files(copy)) == set(files)

    card = (copy / "README.md").read_text()
    section = card.split("## Robustness")[1].split("\n## ")[0]
    recovered, regained = (robustness[key]["logit_lens"] for key in ("recovery", "regained"))
    regained = "undefined" if regained is None else f"{regained:.2f}"
    assert f"| `logit_lens` | {recovered:.2f} | {regained} | answer probability |" in section
    assert f"**Summary**: {robustness['sentence']}" in section and "Worst attack: logit_lens" in section
    assert "- `paraphrase`: the forget set has no 'reworded' column" in section
    assert "seed (7)" in section and "How to read recovery" in section and "(U - R) / (O - R)" in section
    assert 'from_pretrained("acme/npo-run")' in card and "## Training procedure" in card  # still a whole card
    for string in row_strings(FORGET + RETAIN_ROWS):
        assert string not in card and string not in (copy / RECORD_FILE).read_text()

    # a second audit replaces the section, it does not add another
    result.record_in(copy)
    assert (copy / "README.md").read_text().count("## Robustness") == 1


def test_a_forget_set_that_is_not_the_recorded_one_is_refused_and_nothing_is_written(audited, tmp_path, tokenizer):
    _, result, model_dir, files = audited
    record = json.loads((model_dir / RECORD_FILE).read_text())
    other = tmp_path / "other"
    other.mkdir()
    save_card_and_record({**record, "forget_set": content_fingerprint(FORGET_ROWS[:-1], "forget")}, str(other))
    other_files = folder_files(other)
    with pytest.raises(ValueError, match=r"not the one .* says the model forgot \(7 rows"):
        result.record_in(other)
    assert folder_files(other) == other_files

    with pytest.raises(ValueError, match=r"has no unlearning_record.json"):
        result.record_in(tmp_path)


def test_the_card_shows_a_repeated_attacks_median_and_range(tmp_path):
    """A relearning attack run 3 times: the card's table gives its median recovery with the lowest and highest repeat,
    says how the repeats were drawn, and the summary sentence gives the range."""
    from hf_unlearn.evaluation.audit import AuditResult, add_recoveries

    def run(seed: int, unlearned: float) -> dict:
        scores = {"original": 0.9, "retain": 0.1, "unlearned": unlearned}
        return {
            "seed": seed,
            "scored_rows": 4,
            "models": {
                role: {"before": {"rougeL_recall": 0.5}, "after": {"rougeL_recall": value}}
                for role, value in scores.items()
            },
        }

    # recoveries (U - 0.1) / 0.8: 0.25, 0.75, 0.5
    entry = {"probe": "relearn", "status": "ok", "repeats": [run(0, 0.3), run(1000, 0.7), run(2000, 0.5)]}
    add_recoveries(entry)
    assert entry["headline"]["recovery"] == pytest.approx(0.5)
    assert entry["models"]["unlearned"]["after"]["rougeL_recall"] == 0.5
    settings = {"seed": 0, "forget_set": content_fingerprint(FORGET_ROWS, "forget")}
    result = AuditResult({"relearn_forget": entry}, settings, ["unlearned", "original", "retain"])
    record = {**card_record({}, {}), "forget_set": settings["forget_set"], "robustness": result.robustness_summary()}
    save_card_and_record(record, str(tmp_path))
    section = (tmp_path / "README.md").read_text().split("## Robustness")[1].split("\n## ")[0]
    assert "| `relearn_forget` | 0.50 [0.25, 0.75] | undefined | ROUGE-L recall |" in section
    assert "`relearn_forget` ran 3 times, each with its own seed (and split of the forget rows)" in section
    assert "recovery 0.50 (median of 3 repeats, range 0.25 to 0.75) on forget ROUGE-L" in section
    assert "0.50 [0.25, 0.75]" in result.table()

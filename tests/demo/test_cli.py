"""`hf-unlearn demo` at toy size: every phase runs, the report and plot are written, the cache is reused safely."""

import json

from hf_unlearn.cli import main
from hf_unlearn.demo.experiment import FINGERPRINT_FILE


def test_the_demo_runs_end_to_end_and_reuses_its_cache(tmp_path, capsys):
    output = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--output_dir", str(output)]) == 0
    first = capsys.readouterr().out
    report = json.loads((output / "report.json").read_text())
    assert report["method"] == "npo" and set(report["models"]) == {"original", "retain", "unlearned"}
    assert (output / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "trained in" in first and "Unlearning " in first
    for name in ("forget_rougeL_recall", "retain_rougeL_recall", "model_utility"):
        assert report["models"]["unlearned"][name] is not None
    # no text of any set in the report: numbers, method names and fingerprints only
    assert "born" not in (output / "report.json").read_text()

    # another method reuses the cached tokenizer and models
    assert main(["demo", "--size", "tiny", "--method", "ga", "--output_dir", str(output)]) == 0
    second = capsys.readouterr().out
    assert second.count("(from cache)") == 2
    assert json.loads((output / "report.json").read_text())["method"] == "ga"


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

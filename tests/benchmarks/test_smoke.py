"""The benchmark scripts run end to end at toy size (their figures come from full runs, see docs/benchmarks.md)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # runs the benchmarks' smoke versions


ROOT = Path(__file__).resolve().parents[2]


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_step_cost_smoke(tmp_path, synthetic_tofu_dir):
    result = run(
        "benchmarks/step_cost.py", "--data", synthetic_tofu_dir, "--smoke", "--output", tmp_path / "step_cost.json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "step_cost.json").read_text())["summary"]
    assert set(summary["methods"]) >= {"GA", "GD", "NPO (frozen copy)", "NPO (precomputed)", "LoRA NPO (adapter off)"}
    assert all(m["step_ms_median"] > 0 and m["peak_rss_mib_median"] > 0 for m in summary["methods"].values())


def test_step_cost_smoothing_rows_are_valid_configs(tmp_path):
    """`step_cost.py --smoothing` runs the protocol's worker (smoke-tested above) with these rows' settings: each is
    a configuration the trainer accepts, with the option it names on."""
    from hf_unlearn import UnlearningConfig

    step_cost = load_benchmark("step_cost")
    for name, (forget_loss, retain_loss, _, precompute) in step_cost.SMOOTHING_METHODS.items():
        fields = step_cost.METHOD_FIELDS[name]
        config = UnlearningConfig(
            output_dir=str(tmp_path),
            forget_loss=forget_loss,
            retain_loss=retain_loss,
            precompute_ref_log_probs=precompute,
            report_to="none",
            **fields,
        )
        assert all(getattr(config, key) == value for key, value in fields.items()), name
        assert any(key.startswith(("sam_", "randomized_", "weight_averaging_")) for key in fields), name


def test_tofu_tiny_smoke(tmp_path, synthetic_tofu_dir):
    result = run(
        "benchmarks/tofu_tiny.py",
        "--data",
        synthetic_tofu_dir,
        "--smoke",
        "--protocols",
        "tofu-tiny-01",
        "--methods",
        "npo,ga_lora",
        "--cache_dir",
        tmp_path / "cache",
        "--output",
        tmp_path / "tofu.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "tofu.json").read_text())
    (protocol,) = report["protocols"]
    assert [m["method"] for m in protocol["methods"]] == ["npo", "ga_lora"]
    assert "| npo |" in (tmp_path / "tofu.md").read_text()


def test_audit_tiny_smoke(tmp_path, synthetic_tofu_dir):
    result = run(
        "benchmarks/audit_tiny.py",
        "--data",
        synthetic_tofu_dir,
        "--smoke",
        "--methods",
        "npo_lora",
        "--cache_dir",
        tmp_path / "cache",
        "--output",
        tmp_path / "audit.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "audit.json").read_text())
    (seed,) = report["seeds"]
    (method,) = seed["methods"]
    assert method["method"] == "npo_lora"
    attacks = method["audit"]["attacks"]
    assert {"relearn_forget", "relearn_unrelated", "quantize_8bit", "quantize_4bit", "paraphrase", "few_shot"} <= set(
        attacks
    )
    assert "logit_lens" in attacks
    # O and R come from the baseline audits, reused: every ran attack has the three models' scores.
    for entry in attacks.values():
        if entry["status"] == "ok":
            assert set(entry["models"]) == {"original", "retain", "unlearned"}
            assert "recovery" in entry["headline"]
    assert set(report["summary"]) == {"npo_lora"}
    assert "| relearn_forget |" in (tmp_path / "audit.md").read_text()


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_side_by_side_summary_pairs_runs_of_one_repetition():
    side_by_side = load_benchmark("step_cost_vs_open_unlearning")
    ours, theirs = side_by_side.OURS, side_by_side.THEIRS
    runs = [
        {"library": library, "method": method, "step_seconds": seconds, "peak_rss_mib": memory}
        for library, method, seconds, memory in [
            # repetition 1, then 2: ours is faster in 1, slower in 2
            (ours, "GD", 0.10, 200.0),
            (theirs, "GD", 0.20, 300.0),
            (ours, "NPO-precomputed", 0.12, 210.0),
            (theirs, "NPO", 0.30, 330.0),
            (ours, "GD", 0.40, 200.0),
            (theirs, "GD", 0.20, 300.0),
            (ours, "NPO-precomputed", 0.44, 210.0),
            (theirs, "NPO", 0.30, 330.0),
        ]
    ]
    table = side_by_side.summarize(runs, ["GD", "NPO-precomputed"])
    gd = table["GD"]
    # Ratios pair the runs of one repetition (0.5 and 2.0), not the medians (0.25 / 0.2).
    assert gd["step_ratio_ours_to_theirs"] == {"median": 1.25, "min": 0.5, "max": 2.0}
    assert gd["ours_step_ms"] == {"median": 250.0, "min": 100.0, "max": 400.0}
    assert gd["ours_step_vs_own_GD"] == 1.0
    npo = table["NPO-precomputed"]
    assert npo["theirs_method"] == "NPO"  # compared with open-unlearning's NPO, which has no precomputed path
    assert npo["ours_step_vs_own_GD"] == pytest.approx((1.2 + 1.1) / 2)
    assert npo["theirs_step_vs_own_GD"] == pytest.approx(1.5)
    assert npo["memory_ratio_ours_to_theirs"]["median"] == pytest.approx(210 / 330, abs=1e-4)
    markdown = side_by_side.markdown_table(table, "test")
    assert "| NPO, precomputed reference | 280 [120-440] | (its NPO) 300 [300-300] |" in markdown


def test_side_by_side_smoke_runs_our_side_alone(tmp_path, synthetic_tofu_dir):
    result = run(
        "benchmarks/step_cost_vs_open_unlearning.py",
        "--data",
        synthetic_tofu_dir,
        "--smoke",
        "--methods",
        "GD,GD-KL",
        "--vocab_size",
        "3100",
        "--output",
        tmp_path / "side.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "side.json").read_text())
    assert report["summary"]["vocab_size"] == 3100
    assert [run["method"] for run in report["runs"]] == ["GD", "GD-KL"]
    assert {run["library"] for run in report["runs"]} == {"hf_unlearn"}
    rows = [row for row in (tmp_path / "side.md").read_text().splitlines() if row.startswith("|")]
    assert [row.split("|")[1].strip() for row in rows[2:]] == ["GD", "GD-KL"]
    assert all(row.split("|")[3].strip() == "-" for row in rows[2:])  # no open-unlearning column without its checkout


def table_in_docs(marker: str) -> list[str]:
    """The lines of docs/benchmarks.md between `<!-- marker -->` and `<!-- /marker -->`."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    return text.split(f"<!-- {marker} -->\n", 1)[1].split(f"<!-- /{marker} -->", 1)[0].strip().splitlines()


ROBUST_TINY_RUNS = ["npo_seed0", "npo_seeds12", "others", "wga", "more"]


def test_the_docs_resistance_table_is_that_of_the_committed_audit_tiny_runs():
    """docs/benchmarks.md's audit-tiny resistance table is `audit_tiny.py --combine` of the committed outputs."""
    audit_tiny = load_benchmark("audit_tiny")
    reports = [
        json.loads((ROOT / "docs" / "benchmarks" / f"robust_tiny_{name}.json").read_text())
        for name in ROBUST_TINY_RUNS
    ]
    assert table_in_docs("robust-tiny table") == audit_tiny.median_table(audit_tiny.combine(reports))


def test_the_docs_real_model_resistance_table_is_that_of_the_committed_runs():
    real_knowledge = load_benchmark("real_knowledge")
    runs = real_knowledge.read_runs([ROOT / "docs" / "benchmarks" / "real_knowledge_robust.jsonl"])
    assert table_in_docs("real-knowledge robust table") == real_knowledge.robust_table(runs).strip().splitlines()

"""The benchmark scripts run end to end at toy size (their figures come from full runs, see docs/benchmarks.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
TOFU = ROOT.parent / "shared" / "data" / "tofu"
needs_tofu = pytest.mark.skipif(not TOFU.is_dir(), reason="../shared/data/tofu is not here")


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600)


@needs_tofu
def test_step_cost_smoke(tmp_path):
    result = run("benchmarks/step_cost.py", "--data", TOFU, "--smoke", "--output", tmp_path / "step_cost.json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "step_cost.json").read_text())["summary"]
    assert set(summary["methods"]) >= {"GA", "GD", "NPO (frozen copy)", "NPO (precomputed)", "LoRA NPO (adapter off)"}
    assert all(m["step_ms_median"] > 0 and m["peak_rss_mib_median"] > 0 for m in summary["methods"].values())


@needs_tofu
def test_tofu_tiny_smoke(tmp_path):
    result = run(
        "benchmarks/tofu_tiny.py",
        "--data",
        TOFU,
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


@needs_tofu
def test_audit_tiny_smoke(tmp_path):
    result = run(
        "benchmarks/audit_tiny.py",
        "--data",
        TOFU,
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

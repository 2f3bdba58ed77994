"""benchmarks/method_comparison.py: its selection rule, its plan (what runs next, what resumes) and its tables.

The driver's end-to-end pass runs many worker processes (baselines of two protocols, three sweep runs and the seeds
per method); even at tofu_tiny.py's --smoke sizes that takes minutes, so these tests check its logic on records
instead of running it.
"""

import importlib.util
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # runs a benchmark


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mc():
    spec = importlib.util.spec_from_file_location("method_comparison", ROOT / "benchmarks" / "method_comparison.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline(protocol, original_mu=0.8):
    scores = {"forget_quality": 1e-4, "model_utility": original_mu, "forget_rougeL_recall": 0.99}
    scores["retain_rougeL_recall"] = 0.98
    return {
        "kind": "baseline",
        "key": f"{protocol}|baselines",
        "protocol": protocol,
        "status": "ok",
        "baselines": {"original": scores, "retain": {**scores, "forget_quality": 1.0}},
    }


def run(mc, protocol, method, factor, seed, fq, mu, lr=None, status="ok"):
    record = {
        "kind": "run",
        "key": mc.run_key(protocol, method, factor, seed),
        "protocol": protocol,
        "method": method,
        "phase": "sweep" if (protocol, seed) == (mc.SWEEP_PROTOCOL, 0) else "seeds",
        "lr_factor": factor,
        "learning_rate": lr if lr is not None else mc.LR_FACTORS[factor] * 1e-4,
        "seed": seed,
        "status": status,
        "steps": 50,
        "unlearning_seconds": 10.0,
        "peak_rss_mib": 900,
        "preset": {"learning_rate": 1e-4},
    }
    if status == "ok":
        record["scores"] = {
            "forget_quality": fq,
            "model_utility": mu,
            "forget_rougeL_recall": 0.1,
            "retain_rougeL_recall": 0.9,
        }
    else:
        record["error"] = "RuntimeError: boom"
    return record


def records_of(*items):
    return {record["key"]: record for record in items}


def test_select_prefers_forget_quality_among_runs_that_keep_utility(mc):
    sweep = [
        run(mc, "tofu-tiny-01", "ga", "1/3", 0, fq=0.01, mu=0.79),
        run(mc, "tofu-tiny-01", "ga", "1", 0, fq=0.2, mu=0.75),
        run(mc, "tofu-tiny-01", "ga", "3", 0, fq=0.9, mu=0.1),  # best forget quality, but utility collapsed
    ]
    assert mc.select(sweep, original_utility=0.8)["lr_factor"] == "1"


def test_select_breaks_ties_on_utility_and_falls_back_to_utility(mc):
    tied = [
        run(mc, "tofu-tiny-01", "ga", "1/3", 0, fq=0.2, mu=0.75),
        run(mc, "tofu-tiny-01", "ga", "1", 0, fq=0.2, mu=0.78),
        run(mc, "tofu-tiny-01", "ga", "3", 0, fq=0, mu=0, status="error"),
    ]
    assert mc.select(tied, original_utility=0.8)["lr_factor"] == "1"
    none_qualify = [
        run(mc, "tofu-tiny-01", "ga", "1/3", 0, fq=0.9, mu=0.3),
        run(mc, "tofu-tiny-01", "ga", "1", 0, fq=0.1, mu=0.5),
    ]
    assert mc.select(none_qualify, original_utility=0.8)["lr_factor"] == "1"
    assert mc.select([tied[2]], original_utility=0.8) is None


def test_plan_runs_baselines_then_every_preset_rate_first(mc):
    presets = {"ga": {"learning_rate": 1e-4}, "npo": {"learning_rate": 3e-4}}
    (first,) = mc.plan(["ga", "npo"], presets, {}, smoke=False)
    assert first["kind"] == "baseline" and first["protocol"] == "tofu-tiny-01"

    jobs = mc.plan(["ga", "npo"], presets, records_of(baseline("tofu-tiny-01")), smoke=False)
    assert [(j["method"], j["lr_factor"]) for j in jobs[:2]] == [("ga", "1"), ("npo", "1")]
    assert len(jobs) == 2 * len(mc.LR_FACTORS)
    assert {j["phase"] for j in jobs} == {"sweep"} and {j["seed"] for j in jobs} == {0}
    assert jobs[2]["learning_rate"] == pytest.approx(1e-4 / 3)


def test_plan_resumes_and_runs_seeds_at_the_chosen_rate(mc):
    presets = {"ga": {"learning_rate": 1e-4}, "npo": {"learning_rate": 1e-4}}
    done = records_of(
        baseline("tofu-tiny-01"),
        run(mc, "tofu-tiny-01", "ga", "1/3", 0, fq=0.01, mu=0.79),
        run(mc, "tofu-tiny-01", "ga", "1", 0, fq=0.2, mu=0.75),
        run(mc, "tofu-tiny-01", "ga", "3", 0, fq=0.9, mu=0.1),
        run(mc, "tofu-tiny-01", "npo", "1", 0, fq=0.2, mu=0.75),
    )
    jobs = mc.plan(["ga", "npo"], presets, done, smoke=False)
    keys = [j["key"] for j in jobs]
    assert not set(keys) & set(done)  # nothing that finished runs again
    # npo's sweep is unfinished: no seeds for it yet; ga's seeds 1, 2 at its chosen rate, and tofu-tiny-10's baselines
    assert [k for k in keys if "npo" in k] == [mc.run_key("tofu-tiny-01", "npo", f, 0) for f in ("1/3", "3")]
    assert mc.run_key("tofu-tiny-01", "ga", "1", 1) in keys and mc.run_key("tofu-tiny-01", "ga", "1", 2) in keys
    assert "tofu-tiny-10|baselines" in keys
    assert not any(k.startswith("tofu-tiny-10|ga") for k in keys)  # waits for the protocol's baselines

    done.update(records_of(baseline("tofu-tiny-10")))
    keys = [j["key"] for j in mc.plan(["ga", "npo"], presets, done, smoke=False)]
    assert [k for k in keys if k.startswith("tofu-tiny-10|ga")] == [
        mc.run_key("tofu-tiny-10", "ga", "1", seed) for seed in mc.SEEDS
    ]


def test_plan_records_a_method_without_a_learning_rate_as_unsweepable(mc, tmp_path):
    jobs = mc.plan(["task_vector"], {"task_vector": {}}, records_of(baseline("tofu-tiny-01")), smoke=False)
    record = mc.run_job(jobs[0], args=None)
    assert record["status"] == "error" and "learning_rate" in record["error"]


def test_report_gives_median_and_range_over_seeds(mc):
    records = records_of(
        baseline("tofu-tiny-01", original_mu=0.8),
        run(mc, "tofu-tiny-01", "ga", "1/3", 0, fq=0.01, mu=0.79),
        run(mc, "tofu-tiny-01", "ga", "1", 0, fq=0.2, mu=0.75),
        run(mc, "tofu-tiny-01", "ga", "3", 0, fq=0.9, mu=0.1),
        run(mc, "tofu-tiny-01", "ga", "1", 1, fq=0.05, mu=0.76),
        run(mc, "tofu-tiny-01", "ga", "1", 2, fq=0, mu=0, status="error"),
    )
    text = mc.report(records)
    (row,) = [line for line in text.splitlines() if line.startswith("| ga | 0.0001 |")]
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[3] == "2 (1 failed)"
    assert cells[4] == "0.125 [0.05-0.2]"  # median of two is their mean
    assert cells[5] == "0.755 [0.750-0.760]"
    assert "**0.0001 (x 1)**" in text  # the chosen sweep row
    assert "tofu-tiny-01|ga|lr x 1|seed 2: RuntimeError: boom" in text


def test_plan_runs_again_what_an_older_preset_made(mc):
    """The presets may change while the comparison runs (a method's defaults re-tuned): those runs are redone."""
    old = {"ga": {"forget_loss": "ga", "learning_rate": 1e-4, "forget_weight": 1.0}}
    new = {"ga": {"forget_loss": "ga", "learning_rate": 1e-4, "forget_weight": 2.0}}
    record = run(mc, "tofu-tiny-01", "ga", "1", 0, fq=0.2, mu=0.75)
    record["preset"] = old["ga"]
    done = records_of(baseline("tofu-tiny-01"), record)
    assert record["key"] not in [j["key"] for j in mc.plan(["ga"], old, done, smoke=False)]
    assert record["key"] in [j["key"] for j in mc.plan(["ga"], new, done, smoke=False)]
    # records written before the preset was stored are judged by their settings
    del record["preset"]
    record["settings"] = {"forget_loss": "ga", "learning_rate": 1e-4, "forget_weight": 1.0, "steps": 50, "seed": 0}
    assert mc.current(record, old["ga"]) and not mc.current(record, new["ga"])

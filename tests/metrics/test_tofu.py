"""TOFU aggregation: hand-built logs, bad input, and TOFU's official logs (the numbers vendored in tests/fixtures/tofu;
the complete released logs too where a local copy is present)."""

import copy
import logging
import math
from pathlib import Path

import pytest

from hf_unlearn.metrics import load_tofu_log, tofu_aggregate, tofu_set_scores
from hf_unlearn.metrics.tofu import TOFU_LOG_KEYS


# The numbers of TOFU's official logs that the aggregation reads, in every clone (see its README).
FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "tofu"
# The complete released logs, where this team keeps a local copy beside the checkout.
LOGS_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tofu_eval_logs"
needs_official_logs = pytest.mark.skipif(
    not LOGS_DIR.is_dir(), reason="the complete official TOFU logs (../shared/data) are not here"
)

LN2, LN4 = math.log(2), math.log(4)


def _set_log(gt, rouge, paraphrased, perturbed):
    as_dict = lambda values: {str(i): v for i, v in enumerate(values)}  # noqa: E731
    return {
        "avg_gt_loss": as_dict(gt),
        "rougeL_recall": as_dict(rouge),
        "avg_paraphrased_loss": as_dict(paraphrased),
        "average_perturb_loss": as_dict(perturbed),
    }


def small_logs():
    return {
        "eval_log.json": _set_log([0.0, LN2], [1.0, 0.5], [0.0, 0.0], [[LN2, LN2], [0.0, 0.0]]),
        "eval_log_forget.json": _set_log([0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [[LN2], [LN4]]),
        "eval_real_author_wo_options.json": _set_log([LN2], [1.0], [LN2], [[LN4]]),
        "eval_real_world_wo_options.json": _set_log([LN2], [0.5], [LN2], [[LN4]]),
    }


def test_set_scores_by_hand():
    logs = small_logs()
    retain = tofu_set_scores(logs["eval_log.json"], "retain")
    # probabilities 1 and 1/2; R = 1/2 and 1 -> mean(max(0, 1 - R)) = 1/4
    assert retain == pytest.approx({"probability": 0.75, "rougeL_recall": 0.75, "truth_ratio": 0.25})
    forget = tofu_set_scores(logs["eval_log_forget.json"], "forget")
    # R = 1/2 and 1/4 -> mean(min(R, 1/R)) = 3/8
    assert forget == pytest.approx({"probability": 1.0, "rougeL_recall": 1.0, "truth_ratio": 0.375})
    authors = tofu_set_scores(logs["eval_real_author_wo_options.json"], "real_authors")
    # normalised probability 0.5 / (0.5 + 0.25); R = exp(ln 2 - ln 4) = 1/2
    assert authors == pytest.approx({"probability": 2 / 3, "rougeL_recall": 1.0, "truth_ratio": 0.5})


def test_aggregate_by_hand():
    result = tofu_aggregate(small_logs(), small_logs())
    components = [0.75, 0.75, 0.25, 2 / 3, 1.0, 0.5, 2 / 3, 0.5, 0.5]
    assert result["model_utility"] == pytest.approx(len(components) / sum(1 / c for c in components))
    assert result["model_utility"] == pytest.approx(0.54)
    assert result["forget_quality"] == pytest.approx(1.0)
    assert result["model_utility_sets"] == ["retain", "real_authors", "world_facts"]
    assert result["num_forget_samples"] == {"logs": 2, "retain_logs": 2}


def test_missing_optional_sets_are_reported(caplog):
    logs = small_logs()
    del logs["eval_real_world_wo_options.json"]
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        result = tofu_aggregate(logs, small_logs())
    assert result["model_utility_sets"] == ["retain", "real_authors"]
    assert "world_facts" in caplog.text


def test_missing_retain_set_is_an_error():
    logs = small_logs()
    del logs["eval_log.json"]
    with pytest.raises(ValueError, match="no retain-set entry 'eval_log.json'"):
        tofu_aggregate(logs, small_logs())


def test_missing_forget_set_in_retain_logs_is_an_error():
    retain_logs = small_logs()
    del retain_logs["eval_log_forget.json"]
    with pytest.raises(ValueError, match="no forget-set entry"):
        tofu_aggregate(small_logs(), retain_logs)


def test_missing_field_is_named():
    logs = small_logs()
    del logs["eval_log.json"]["rougeL_recall"]
    with pytest.raises(ValueError, match="retain set has no 'rougeL_recall' field"):
        tofu_aggregate(logs, small_logs())


def test_misaligned_samples_are_an_error():
    logs = small_logs()
    logs["eval_log.json"]["rougeL_recall"] = {"0": 1.0}
    with pytest.raises(ValueError, match="'rougeL_recall' has 1 samples but avg_gt_loss has 2"):
        tofu_aggregate(logs, small_logs())


def test_rows_without_perturbed_answers_are_skipped(caplog):
    logs = copy.deepcopy(small_logs())
    logs["eval_log.json"]["average_perturb_loss"]["1"] = []
    with caplog.at_level(logging.WARNING, logger="hf_unlearn.metrics"):
        scores = tofu_set_scores(logs["eval_log.json"], "retain")
    assert scores["truth_ratio"] == pytest.approx(0.5)  # only sample 0 (R = 1/2) is left
    assert "1 of 2" in caplog.text


def test_load_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"accuracy": 1}')
    with pytest.raises(ValueError, match="not a TOFU-format log"):
        load_tofu_log(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_tofu_log(path)


# TOFU's official logs for forget10: the model fine-tuned on `full` and the retain model trained on
# `retain90`, both scored against the retain90 model. No TOFU publication lists these four model
# utilities / forget qualities to 3 significant digits (the paper only plots them); the expected values
# are the output of TOFU's released aggregate_eval_stat.py on these same logs (run outside this project).
TOFU_REFERENCE = {
    ("phi", "full"): (0.522, 2.19e-16),
    ("phi", "retain90"): (0.532, 1.0),
    ("llama2-7b", "full"): (0.623, 1.83e-21),
    ("llama2-7b", "retain90"): (0.614, 1.0),
}


def three_significant_digits(value: float) -> float:
    return float(f"{value:.3g}")


def check_reproduces_tofu(logs_dir: Path, model: str, split: str):
    logs = load_tofu_log(logs_dir / f"{model}_{split}_wd0.01.json")
    retain_logs = load_tofu_log(logs_dir / f"{model}_retain90_wd0.01.json")
    result = tofu_aggregate(logs, retain_logs)
    expected_utility, expected_quality = TOFU_REFERENCE[(model, split)]
    assert three_significant_digits(result["model_utility"]) == expected_utility
    assert three_significant_digits(result["forget_quality"]) == expected_quality
    assert result["num_forget_samples"] == {"logs": 300, "retain_logs": 300}


@pytest.mark.parametrize(("model", "split"), sorted(TOFU_REFERENCE))
def test_official_logs_reproduce_tofu(model, split):
    check_reproduces_tofu(FIXTURE_DIR, model, split)


@needs_official_logs
@pytest.mark.parametrize(("model", "split"), sorted(TOFU_REFERENCE))
def test_the_complete_official_logs_reproduce_tofu(model, split):
    check_reproduces_tofu(LOGS_DIR, model, split)


# Per-set scores published on TOFU's leaderboard (huggingface.co/spaces/locuslab/tofu_leaderboard) for the retain90
# Llama-2 logs. Only these 8 of the row's fields are consistent with the released logs; see the report.
LEADERBOARD_LLAMA_RETAIN90 = {
    ("real_authors", "truth_ratio"): 0.5706808914420933,
    ("world_facts", "rougeL_recall"): 0.8974358974358975,
    ("world_facts", "truth_ratio"): 0.5441982317366325,
    ("world_facts", "probability"): 0.4143263304391235,
    ("retain", "rougeL_recall"): 0.9758111850816836,
    ("retain", "truth_ratio"): 0.4709771340245287,
    ("forget", "rougeL_recall"): 0.4082436195223163,
    ("forget", "truth_ratio"): 0.6740192657877031,
}


def check_leaderboard_components(logs_dir: Path):
    logs = load_tofu_log(logs_dir / "llama2-7b_retain90_wd0.01.json")
    scores = tofu_aggregate(logs, logs)["scores"]
    for (set_name, metric), value in LEADERBOARD_LLAMA_RETAIN90.items():
        assert scores[set_name][metric] == pytest.approx(value, rel=1e-12), (set_name, metric)


def test_official_llama_retain90_matches_tofu_leaderboard_components():
    check_leaderboard_components(FIXTURE_DIR)


@needs_official_logs
def test_the_complete_official_llama_retain90_log_matches_tofu_leaderboard_components():
    check_leaderboard_components(LOGS_DIR)


def test_the_vendored_numbers_are_the_released_ones_field_for_field():
    """The fixture holds the released values unchanged, for every sample, in the fields the aggregation reads."""
    for path in sorted(FIXTURE_DIR.glob("*_wd0.01.json")):
        vendored = load_tofu_log(path)
        assert set(vendored) == set(TOFU_LOG_KEYS.values()), path.name
        sizes = {key: len(set_log["avg_gt_loss"]) for key, set_log in vendored.items()}
        assert sizes == {
            "eval_log.json": 300,
            "eval_log_forget.json": 300,
            "eval_real_author_wo_options.json": 100,
            "eval_real_world_wo_options.json": 117,
        }, path.name
        if LOGS_DIR.is_dir():
            released = load_tofu_log(LOGS_DIR / path.name)
            for key, set_log in vendored.items():
                assert set_log == {field: released[key][field] for field in set_log}, (path.name, key)


def test_a_retain_model_with_a_different_forget_set_size_warns():
    logs = load_tofu_log(FIXTURE_DIR / "phi_full_wd0.01.json")
    retain_logs = copy.deepcopy(load_tofu_log(FIXTURE_DIR / "phi_retain90_wd0.01.json"))
    forget = retain_logs["eval_log_forget.json"]
    for field, values in forget.items():  # the first 200 samples, as a retain95 model's forget set has
        forget[field] = {index: value for index, value in values.items() if int(index) < 200}
    with pytest.warns(UserWarning, match="300 forget-set truth ratios but the retain model has 200"):
        result = tofu_aggregate(logs, retain_logs)
    assert result["num_forget_samples"] == {"logs": 300, "retain_logs": 200}


@needs_official_logs
def test_official_logs_with_a_different_forget_set_size_warn():
    logs = load_tofu_log(LOGS_DIR / "phi_full_wd0.01.json")
    retain95 = load_tofu_log(LOGS_DIR / "phi_retain95_wd0.01.json")
    with pytest.warns(UserWarning, match="300 forget-set truth ratios but the retain model has 200"):
        result = tofu_aggregate(logs, retain95)
    assert 0.0 <= result["forget_quality"] <= 1.0

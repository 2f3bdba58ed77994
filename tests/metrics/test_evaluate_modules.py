"""The `evaluate` door: packaged modules load offline and return what the functions return."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hf_unlearn import metrics


REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_NAMES = ["forget_quality", "mia", "model_utility", "rouge_recall", "truth_ratio"]


@pytest.fixture(scope="module")
def modules():
    return {name: metrics.load(name, keep_in_memory=True) for name in MODULE_NAMES}


def test_available_modules():
    assert metrics.available_modules() == MODULE_NAMES


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="unknown hf_unlearn metric 'forget_qualty'; known metrics: forget_quality, mia"
    ):
        metrics.load("forget_qualty")


def test_truth_ratio_module_equals_function(modules):
    paraphrased, perturbed = [1.0, 0.5, 2.0], [[2.0, 3.0], [], [1.0]]
    for aggregation in ("forget", "retain"):
        result = modules["truth_ratio"].compute(
            paraphrased_nll=paraphrased, perturbed_nll=perturbed, aggregation=aggregation
        )
        expected = metrics.truth_ratio_score(metrics.truth_ratio(paraphrased, perturbed), aggregation)
        assert result == {"truth_ratio": pytest.approx(expected), "num_skipped": 1}


def test_forget_quality_module_equals_function(modules):
    unlearned, retain = [0.1, 0.3, 0.5, 0.7], [0.4, 0.6, 0.8, 1.0]
    result = modules["forget_quality"].compute(truth_ratios=unlearned, retain_truth_ratios=retain)
    assert result == {"forget_quality": pytest.approx(metrics.forget_quality(unlearned, retain))}


def test_forget_quality_module_needs_the_retain_sample(modules):
    with pytest.raises(ValueError, match="needs retain_truth_ratios"):
        modules["forget_quality"].compute(truth_ratios=[0.5])


def test_model_utility_module_equals_function(modules):
    scores = [0.9, 0.5, 0.25]
    assert modules["model_utility"].compute(scores=scores) == {
        "model_utility": pytest.approx(metrics.model_utility(scores))
    }


def test_rouge_recall_module_equals_function(modules):
    predictions, references = ["the cat sat", ""], ["the cat sat down", "an answer"]
    result = modules["rouge_recall"].compute(predictions=predictions, references=references)
    expected = {name: float(np.mean(values)) for name, values in metrics.rouge_scores(predictions, references).items()}
    assert result == pytest.approx(expected)
    assert result["rougeL_recall"] == pytest.approx(0.375)


def test_mia_module_equals_functions(modules):
    forget, holdout = [0.1, 0.4, 0.35], [0.3, 0.9]
    result = modules["mia"].compute(scores=forget + holdout, is_member=[True] * 3 + [False] * 2, retain_auc=0.5)
    auc = metrics.mia_auc(forget, holdout)
    assert result == {"auc": pytest.approx(auc), "privleak": pytest.approx(metrics.privleak(auc, 0.5))}
    assert "privleak" not in modules["mia"].compute(scores=forget + holdout, is_member=[True] * 3 + [False] * 2)


def test_modules_load_offline_in_a_fresh_process(tmp_path):
    """evaluate copies each script into its module cache; importing hf_unlearn there must work, with no Hub access."""
    script = (
        "import evaluate, json, sys\n"
        "from hf_unlearn.metrics.loading import MODULES_DIR\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    metric = evaluate.load(str(MODULES_DIR / name), keep_in_memory=True)\n"
        "    out[name] = type(metric).__name__\n"
        "out['fq'] = evaluate.load(str(MODULES_DIR / 'forget_quality'), keep_in_memory=True).compute(\n"
        "    truth_ratios=[0.1, 0.2], retain_truth_ratios=[0.1, 0.2])['forget_quality']\n"
        "print(json.dumps(out))\n"
    )
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),  # empty cache: nothing can come from an earlier download
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, *MODULE_NAMES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = json.loads(completed.stdout.strip().splitlines()[-1])
    assert out == {
        "forget_quality": "ForgetQuality",
        "mia": "MIA",
        "model_utility": "ModelUtility",
        "rouge_recall": "RougeRecall",
        "truth_ratio": "TruthRatio",
        "fq": 1.0,
    }

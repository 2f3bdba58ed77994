"""Multi-process runs on CPU (gloo): two processes give the losses and eval metrics of one at the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # launches several processes


SCRIPT = Path(__file__).resolve().parent / "distributed_run.py"
# The launcher of the interpreter running the tests, not whatever `accelerate` is first on PATH (or none).
ACCELERATE_LAUNCH = [sys.executable, "-m", "accelerate.commands.launch"]


def run(command: list[str], tmp_path: Path, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def launch(tmp_path: Path, name: str, per_device_batch: int, launcher: list[str], fields: dict | None = None) -> dict:
    output = tmp_path / name
    result = run([*launcher, str(SCRIPT), str(output), str(per_device_batch), json.dumps(fields or {})], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((output / "result.json").read_text())


SCORE_KEYS = ("loss", "loss/forget", "loss/retain", "ref_logps/forget", "log_ratio/forget")


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    single = launch(tmp_path, "single", 4, [sys.executable])
    double = launch(tmp_path, "double", 2, [*ACCELERATE_LAUNCH, "--multi_gpu", "--num_processes", "2"])
    assert (single["processes"], double["processes"]) == (1, 2)
    assert double["reference"] == "LlamaForCausalLM"  # the frozen copy, in eval mode, not wrapped for gradients
    train_logs = [(a, b) for a, b in zip(single["logs"], double["logs"]) if "loss" in a]
    assert len(train_logs) == 4
    for a, b in train_logs:
        for key in SCORE_KEYS:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-5), key
    # eval metrics are gathered from both ranks, without the rows accelerate repeats to even out the last batch
    scores = [key for key in single["eval"] if "/" in key]
    assert {"eval_retain_nll/retain", "eval_forget_log_ratio/forget"} <= set(scores)
    for key in scores:
        assert double["eval"][key] == pytest.approx(single["eval"][key], rel=1e-5, abs=1e-5), key


def test_smoothed_steps_on_two_processes_match_one_with_the_same_global_batch(tmp_path):
    """SAM and randomized smoothing under data parallelism: the perturbation comes from the forget gradient averaged
    over the processes (the global batch's), and the noise is the same on every process (seeded by seed, step,
    micro-batch and draw), so two processes of 2 rows take the steps one process of 4 rows takes."""
    fields = {"sam_rho": 0.1, "randomized_smoothing_std": 1e-3, "randomized_smoothing_samples": 2}
    single = launch(tmp_path, "single", 4, [sys.executable], fields)
    double = launch(tmp_path, "double", 2, [*ACCELERATE_LAUNCH, "--multi_gpu", "--num_processes", "2"], fields)
    assert (single["processes"], double["processes"]) == (1, 2)
    train_logs = [(a, b) for a, b in zip(single["logs"], double["logs"]) if "loss" in a]
    assert len(train_logs) == 4
    for a, b in train_logs:  # the loss of steps 2-4 is taken at the weights the earlier smoothed steps made
        for key in SCORE_KEYS:
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-5), key
    # the weights after 4 smoothed steps (sums of each parameter; weights of order 0.02, sums of order 1)
    assert double["weights"] == pytest.approx(single["weights"], rel=1e-4, abs=1e-4)
    # and the options do change the steps: the match above is not that of two plain runs
    plain = launch(tmp_path, "plain", 4, [sys.executable])
    assert plain["weights"] != pytest.approx(single["weights"], rel=1e-4, abs=1e-4)


def test_a_launch_that_accelerate_would_run_as_separate_processes_is_refused(tmp_path):
    """Without GPUs, `--use_fsdp` makes accelerate set up one independent run per process: we stop it."""
    result = run(
        [
            *ACCELERATE_LAUNCH,
            "--use_fsdp",
            "--fsdp_version",
            "2",
            "--num_processes",
            "2",
            str(SCRIPT),
            str(tmp_path / "out"),
            "2",
        ],
        tmp_path,
        USE_CPU="0",
    )
    assert result.returncode != 0
    assert "every process would unlearn on its own" in result.stderr

"""`hf-unlearn distill`: the UNDO step from a YAML config and command-line overrides; bad input one message, exit 2."""

import json
from pathlib import Path

import pytest
import yaml

from hf_unlearn.commands import DEBUG_ENV, main
from hf_unlearn.hub import RECORD_FILE

from ..conftest import FORGET_ROWS, RETAIN_ROWS, tiny_llama


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture
def run_files(tmp_path, tokenizer) -> dict[str, str]:
    """A tiny saved model and the sets, written as a run would find them."""
    tiny_llama(len(tokenizer)).save_pretrained(tmp_path / "teacher")
    tokenizer.save_pretrained(tmp_path / "teacher")
    return {
        "model_name_or_path": str(tmp_path / "teacher"),
        "retain_dataset": write_jsonl(tmp_path / "retain.jsonl", RETAIN_ROWS),
        "forget_dataset": write_jsonl(tmp_path / "forget.jsonl", FORGET_ROWS),
        "output_dir": str(tmp_path / "out"),
    }


def test_distill_end_to_end_from_a_config_file_with_a_command_line_override(tmp_path, run_files, capsys):
    config = {
        **run_files,
        "alpha": 0.9,  # overridden below
        "noise": "xavier",
        "max_steps": 2,
        "per_device_train_batch_size": 5,
        "learning_rate": 1e-3,
        "max_length": 64,
        "default_eval_rows": 3,
        "use_cpu": True,
        "disable_tqdm": True,
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["distill", "--config", str(tmp_path / "run.yaml"), "--alpha", "0.25", "--json"]) == 0
    stdout = capsys.readouterr().out
    output = json.loads(stdout[stdout.rindex('\n{\n  "output_dir"') :])  # after the Trainer's own log lines
    assert output["output_dir"] == run_files["output_dir"]
    assert "eval_retain_rougeL_recall" in output["before"] and "eval_forget_rougeL_recall" in output["after"]
    out = Path(run_files["output_dir"])
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["method"]["trainer"] == "DistillTrainer" and record["method"]["forget_loss"] == "undo"
    assert record["hyperparameters"]["alpha"] == 0.25 and record["hyperparameters"]["noise"] == "xavier"
    assert record["training"]["global_step"] == 2
    assert record["retain_set"]["rows"] == len(RETAIN_ROWS)
    assert (out / "evaluation" / "summary.json").is_file()


def test_help_lists_the_distillation_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["distill", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hf-unlearn distill --config RUN.yaml")
    for option in ("--retain_dataset", "--extra_datasets", "--alpha", "--noise", "--noise_scale", "--temperature"):
        assert option in out, option
    assert "--use_peft" not in out  # a LoRA-only run cannot be distilled


@pytest.mark.parametrize(
    "change, message",
    [
        ({"alpha": "1.5"}, "alpha must be in [0, 1], got 1.5"),
        ({"alpha": "-0.1"}, "alpha must be in [0, 1], got -0.1"),
        ({"retain_dataset": None}, "retain_dataset is required"),
        (
            {"use_peft": "true"},
            "distill trains every weight of the student: use_peft, load_in_4bit and load_in_8bit are not accepted",
        ),
    ],
)
def test_bad_input_is_one_message_and_exit_code_2(run_files, change, message, capsys):
    values = {**run_files, **change}
    argv = ["distill"] + [item for key, value in values.items() if value is not None for item in (f"--{key}", value)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hf-unlearn distill: error: {message}") and "Traceback" not in err
    assert not Path(run_files["output_dir"]).exists()

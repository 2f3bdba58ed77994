"""`hf-unlearn unlearn`: YAML config + command-line overrides, unknown keys refused, outputs saved."""

import json
from pathlib import Path

import pytest
import yaml

from hf_unlearn.cli import main
from hf_unlearn.hub import RECORD_FILE
from hf_unlearn.unlearn_cli import accelerate_config_path, make_parser, split_launch_args

from .conftest import FORGET_ROWS, RETAIN_ROWS


EXAMPLE_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.yaml"))
TOFU = Path(__file__).resolve().parents[2] / "shared" / "data" / "tofu"


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture
def run_config(tmp_path, memorized_model_dir) -> Path:
    retain = [{"instruction": f"Question: {r['question']}\nAnswer:", "output": " " + r["answer"]} for r in RETAIN_ROWS]
    config = {
        "model_name_or_path": memorized_model_dir,
        "forget_dataset": write_jsonl(tmp_path / "forget.jsonl", FORGET_ROWS),
        "retain_dataset": write_jsonl(tmp_path / "retain.jsonl", retain),
        "column_mapping": {"instruction": "prompt", "output": "completion"},
        "eval_datasets": {"forget": str(tmp_path / "forget.jsonl")},
        "use_peft": True,
        "lora_r": 4,
        "lora_target_modules": ["q_proj", "v_proj"],
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "learning_rate": 1.0e-2,
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "base_model_id": "acme/tiny-llama",
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_yaml_run_with_overrides_saves_adapter_card_and_record(run_config, tmp_path, capsys):
    assert main(["unlearn", "--config", str(run_config), "--learning_rate", "5e-3", "--beta", "0.2"]) == 0
    out = tmp_path / "out"
    assert {"adapter_model.safetensors", "README.md", RECORD_FILE} <= {p.name for p in out.iterdir()}
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["hyperparameters"]["learning_rate"] == 5e-3 and record["hyperparameters"]["beta"] == 0.2
    assert record["method"]["reference"] == "adapter" and record["base_model"] == "acme/tiny-llama"
    before, after = record["metrics"]["before"], record["metrics"]["after"]
    assert before["eval_forget_log_ratio/forget"] == pytest.approx(0.0, abs=1e-4)
    assert after["eval_forget_nll/forget"] > before["eval_forget_nll/forget"]
    # the evaluator's scores too, and its TOFU-format log (numbers only) beside the adapter
    assert before["eval_forget_rougeL_recall"] > 0.9 and "eval_forget_probability" in after
    assert json.loads((out / "evaluation" / "summary.json").read_text())
    assert "Aurelio" not in (out / "evaluation" / "eval_log_aggregated.json").read_text()
    assert f'"output_dir": "{out}"' in capsys.readouterr().out


def test_unknown_keys_are_named(run_config, tmp_path):
    config = yaml.safe_load(run_config.read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**config, "forget_los": "npo"}))
    with pytest.raises(ValueError, match="forget_los"):
        main(["unlearn", "--config", str(bad)])
    with pytest.raises(ValueError, match=r"--retain_wieght"):
        main(["unlearn", "--config", str(run_config), "--retain_wieght", "2"])


def test_the_forget_set_is_required(tmp_path):
    with pytest.raises(ValueError, match="forget_dataset is required"):
        make_parser().parse_args_and_config(["--output_dir", str(tmp_path)])


def test_launch_options_are_recognised_and_shipped_configs_resolve():
    assert split_launch_args([]) == []
    assert split_launch_args(["--num_processes", "2", "--multi_gpu"]) == ["--num_processes", "2", "--multi_gpu"]
    resolved = split_launch_args(["--accelerate_config", "zero3"])
    assert resolved[0] == "--config_file" and Path(resolved[1]).name == "zero3.yaml"
    for name in ("multi_gpu", "multi_cpu", "zero2", "zero3", "fsdp2"):
        assert yaml.safe_load(Path(accelerate_config_path(name)).read_text())["distributed_type"]
    with pytest.raises(ValueError, match="shipped:.*zero3"):
        accelerate_config_path("zero4")


@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=lambda p: p.stem)
def test_example_configs_parse(config):
    # use_cpu: the configs ask for bf16, which TrainingArguments refuses on a machine without GPU unless told CPU
    training_args, model_args, data_args = make_parser().parse_args_and_config(
        ["--config", str(config), "--use_cpu", "true"]
    )
    assert training_args.forget_loss == "npo" and model_args.model_name_or_path
    assert data_args.forget_dataset.endswith("forget10")


@pytest.mark.skipif(not TOFU.is_dir(), reason="../shared/data/tofu is not here")
@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=lambda p: p.stem)
def test_example_configs_run_offline_on_local_tofu_and_a_tiny_model(config, tmp_path, memorized_model_dir):
    tofu = str(TOFU)
    overrides = ["--model_name_or_path", memorized_model_dir, "--dtype", "float32", "--bf16", "false",
                 "--gradient_checkpointing", "false", "--max_steps", "2", "--use_cpu", "true",
                 "--output_dir", str(tmp_path / "out"), "--forget_dataset", f"{tofu}:forget01",
                 "--retain_dataset", f"{tofu}:retain99:train[:40]",
                 "--eval_datasets", json.dumps({"forget": f"{tofu}:forget01_perturbed"}), "--max_length", "128"]
    assert main(["unlearn", "--config", str(config), *overrides]) == 0
    record = json.loads((tmp_path / "out" / RECORD_FILE).read_text())
    assert record["forget_set"]["rows"] == 40 and record["training"]["global_step"] == 2

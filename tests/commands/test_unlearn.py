"""`hf-unlearn unlearn`: YAML config + command-line overrides, a short help, user errors as one message, outputs saved
and scored before / after (the training sets by default)."""

import argparse
import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest
import torch
import yaml

from hf_unlearn import UnlearningConfig
from hf_unlearn.commands import DEBUG_ENV, main
from hf_unlearn.commands.unlearn import (
    UnlearningDataConfig,
    accelerate_config_path,
    default_eval_sets,
    end_of_run_warnings,
    make_parser,
    option_given,
    resolve_mixed_precision,
    split_launch_args,
)
from hf_unlearn.hub import RECORD_FILE, ModelCardMixin

from ..conftest import FORGET_ROWS, RETAIN_ROWS


REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIGS = sorted((REPO / "examples" / "configs").glob("tofu_*.yaml"))
HAS_ACCELERATOR = torch.accelerator.is_available()


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)


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
    # the answer: a table of headline scores before -> after, a verdict, and where the files are
    printed = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(printed) if line.startswith("score "))
    table = printed[start:]
    assert table[0].split() == ["score", "before", "->", "after", "direction", "of", "good"]
    forget_rouge = table[1].split()
    assert forget_rouge[:3] == ["forget", "ROUGE-L", f"{before['eval_forget_rougeL_recall']:.3f}"]
    assert forget_rouge[4] == f"{after['eval_forget_rougeL_recall']:.3f}" and table[1].endswith("lower is forgetting")
    assert table[-2].startswith("Verdict: ") and "no forget quality" in table[-2]
    assert table[-1] == (
        f"Saved to {out}; every score in {out / RECORD_FILE} and {out / 'evaluation' / 'summary.json'} (--json "
        "prints them)."
    )
    assert len(table) <= 10


def test_without_eval_datasets_the_training_sets_are_scored_before_and_after(run_config, tmp_path, capsys, caplog):
    config = {key: value for key, value in yaml.safe_load(run_config.read_text()).items() if key != "eval_datasets"}
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(config))
    with caplog.at_level(logging.WARNING):
        assert main(["unlearn", "--config", str(path), "--default_eval_rows", "5", "--json"]) == 0
    out = tmp_path / "out"
    record = json.loads((out / RECORD_FILE).read_text())
    before, after = record["metrics"]["before"], record["metrics"]["after"]
    for scores in (before, after):
        assert {
            "eval_forget_nll/forget",
            "eval_retain_nll/retain",
            "eval_forget_probability",
            "eval_retain_rougeL_recall",
        } <= set(scores)
    assert after["eval_forget_nll/forget"] > before["eval_forget_nll/forget"]
    # a sample, the same rows before and after, and said so: in the log, the output and evaluation/summary.json
    sampled = {"forget": {"rows": 5, "of": 8, "seed": 42}, "retain": {"rows": 5, "of": 10, "seed": 42}}
    assert json.loads((out / "evaluation" / "summary.json").read_text())["default_eval_sets"] == sampled
    printed = capsys.readouterr().out  # after Trainer's own printed metrics dict
    assert json.loads(printed[printed.index('{\n  "output_dir"') :])["default_eval_sets"] == sampled
    messages = [record.getMessage() for record in caplog.records]
    assert sum("forget: 5 of 8 rows, retain: 5 of 10 rows" in m for m in messages) == 1
    # no perturbed answers: truth ratio and model utility are undefined, said once for both evaluations
    undefined = [m for m in messages if "ruth ratio" in m or "odel utility" in m]
    assert len(undefined) == 1, undefined
    assert "no row has perturbed answers" in undefined[0] and "model utility" in undefined[0]


def test_default_eval_sets_cap_with_a_seeded_sample_and_can_be_turned_off():
    import datasets

    forget = datasets.Dataset.from_list(FORGET_ROWS)
    sets, described = default_eval_sets({"forget": forget, "retain": None}, 3, seed=7)
    assert described == {"forget": {"rows": 3, "of": 8, "seed": 7}} and len(sets["forget"]) == 3
    again, _ = default_eval_sets({"forget": forget, "retain": None}, 3, seed=7)
    assert sets["forget"]["question"] == again["forget"]["question"]
    assert default_eval_sets({"forget": forget}, 100, seed=7)[1] == {"forget": {"rows": 8, "of": 8}}
    assert default_eval_sets({"forget": forget}, 0, seed=7) == ({}, {})


def test_unknown_keys_are_named_in_one_message(run_config, tmp_path, capsys):
    config = yaml.safe_load(run_config.read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**config, "forget_los": "npo"}))
    assert main(["unlearn", "--config", str(bad)]) == 2
    assert "'--forget_los'" in capsys.readouterr().err
    assert main(["unlearn", "--config", str(run_config), "--retain_wieght", "2"]) == 2
    err = capsys.readouterr().err
    assert "'--retain_wieght'" in err and "Did you mean --retain_weight?" in err and len(err.splitlines()) == 2
    with pytest.raises(ValueError, match="--retain_wieght"):  # --debug: the exception itself
        main(["unlearn", "--config", str(run_config), "--retain_wieght", "2", "--debug"])


@pytest.mark.parametrize(
    "abbreviated",
    [["--forget_los", "ga"], ["--num_proc", "2"]],  # of --forget_loss, and of accelerate launch's --num_processes
)
def test_an_abbreviated_option_is_refused(run_config, capsys, abbreviated):
    assert main(["unlearn", "--config", str(run_config), *abbreviated]) == 2
    assert f"Unknown argument(s) ['{abbreviated[0]}']" in capsys.readouterr().err


@pytest.mark.parametrize("command, option", [("unlearn", "--forget_los"), ("task-vector", "--alph")])
def test_an_unknown_option_is_reported_before_the_fields_are_checked(tmp_path, capsys, command, option):
    # No forget_dataset either: the mistyped option is the error a user needs to see first.
    assert main([command, option, "3", "--output_dir", str(tmp_path)]) == 2
    assert f"error: Unknown argument(s) ['{option}'" in capsys.readouterr().err


def test_an_argument_error_is_two_lines(run_config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["unlearn", "--config", str(run_config), "--learning_rate", "fast"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0] == (
        "hf-unlearn unlearn: error: argument --learning_rate/--learning-rate: invalid float value: 'fast'"
    )
    assert "--help" in lines[1]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"forget_dataset": "{empty}"}, r"forget_dataset '.*empty\.jsonl': the forget file is empty"),
        ({"forget_dataset": "{missing}"}, r"forget_dataset '.*missing\.jsonl': no such file\."),
        (
            {"retain_dataset": "{bad_columns}"},
            (
                r"retain_dataset '.*bad\.jsonl': The retain dataset has columns "
                r"\['a', 'q'\].*Accepted column sets: prompt \+ completion; question \+ answer.*column_mapping"
            ),
        ),
        (
            {"model_name_or_path": "{missing_model}"},
            r"model_name_or_path '.*no_model': no local folder '.*no_model'; accepted",
        ),
        ({"beta": -1.0}, r"beta must be > 0 .*got beta=-1\.0\."),
    ],
    ids=["empty-forget-file", "missing-file", "wrong-columns", "missing-model", "bad-value"],
)
def test_user_mistakes_are_one_message_and_exit_code_2(run_config, tmp_path, capsys, change, message):

    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"q": "Who?", "a": "Someone."}) + "\n")
    paths = {
        "empty": tmp_path / "empty.jsonl",
        "missing": tmp_path / "missing.jsonl",
        "bad_columns": tmp_path / "bad.jsonl",
        "missing_model": tmp_path / "no_model",
    }
    change = {key: value.format(**paths) if isinstance(value, str) else value for key, value in change.items()}
    config = tmp_path / "mistake.yaml"
    config.write_text(yaml.safe_dump({**yaml.safe_load(run_config.read_text()), **change}))
    assert main(["unlearn", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err and not (tmp_path / "out").exists()
    error = next(line for line in lines if line.startswith("hf-unlearn unlearn: error: "))
    assert re.search(message, error), error
    assert lines[lines.index(error) + 1].startswith("(run with --debug")


def test_short_help_leads_with_the_unlearning_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["unlearn", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) < 170, len(lines)  # transformers' argparse help alone is ~750 lines
    needed_texts = (
        "--config RUN.yaml",
        "--accelerate_config",
        "--num_processes",
        "SPEC",
        "PATH_OR_HUB_ID[:CONFIG[:SPLIT]]",
        "NPO with a retain NLL term",
        "--help-all",
        "--debug",
    )
    for needed in needed_texts:
        assert needed in text, needed
    own = (
        {f.name for f in dataclasses.fields(UnlearningConfig)}
        - {"logging_steps"}
        - {f.name for f in dataclasses.fields(UnlearningConfig.__mro__[1])}
    )
    data = [f.name for f in dataclasses.fields(UnlearningDataConfig)]
    for name in [*data, *own]:
        assert f"  --{name} " in text, name
    # data and unlearning options come before the inherited ones; rarely used TrainingArguments are left out
    assert text.index("--forget_dataset") < text.index("--forget_loss") < text.index("--learning_rate")
    assert "--adam_beta1" not in text and "../shared" not in text


def test_help_lists_the_objectives_of_the_loss_registry_and_whole_first_sentences():
    from hf_unlearn.losses import FORGET_LOSSES, RETAIN_LOSSES

    text = " ".join(make_parser().format_help().split())  # unwrapped
    listed = re.search(
        r"Forget objectives \(forget_loss\): (.*?)\. Retain objectives \(retain_loss\): (.*?), or none\.", text
    )
    assert listed.group(1).split(", ") == list(FORGET_LOSSES)
    assert listed.group(2).split(", ") == list(RETAIN_LOSSES)
    assert "kl" not in listed.group(1).split(", ")
    # a clause before a semicolon is not cut off as if it were the whole help
    assert "RMU: regular expressions; RMUTrainer trains only the parameters whose name contains a match." in text


def test_help_all_lists_every_field(capsys):
    assert main(["unlearn", "--help-all"]) == 0
    text = capsys.readouterr().out
    assert "--adam_beta1" in text and "--forget_loss" in text and "--lora_dropout" in text


def test_unlearning_fields_carry_their_docstring_meaning_as_help():
    by_name = {f.name: f for f in dataclasses.fields(UnlearningConfig)}
    assert "frozen copy of the initial model" in by_name["ref_source"].metadata["help"]
    assert "keep every example whole" in by_name["max_length"].metadata["help"]
    assert "per_device_eval_batch_size" in by_name["precompute_ref_batch_size"].metadata["help"]


@pytest.mark.parametrize(
    "given",
    [
        "{instruction: prompt, output: completion}",  # YAML flow style, as --help shows it
        '{"instruction": "prompt", "output": "completion"}',  # strict JSON
    ],
)
def test_mappings_on_the_command_line_may_be_yaml_flow_or_json(tmp_path, given):
    argv = ["--forget_dataset", "f.jsonl", "--output_dir", str(tmp_path), "--column_mapping", given]
    argv += ["--eval_datasets", given.replace("instruction", "forget").replace("output", "retain")]
    _, _, data_args = make_parser().parse_args_and_config(argv)
    assert data_args.column_mapping == {"instruction": "prompt", "output": "completion"}
    assert data_args.eval_datasets == {"forget": "prompt", "retain": "completion"}


@pytest.mark.parametrize("given", ["{instruction: prompt", "instruction=prompt", "{instruction: 1}", "[a, b]"])
def test_a_mapping_that_does_not_parse_names_the_accepted_forms(tmp_path, capsys, given):
    argv = ["unlearn", "--forget_dataset", "f.jsonl", "--output_dir", str(tmp_path), "--column_mapping", given]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"hf-unlearn unlearn: error: column_mapping {given!r} is not a mapping of strings; accepted: a YAML mapping "
        "in the config file, or on the command line a YAML flow mapping such as '{instruction: prompt, output: "
        """completion}' or a JSON object such as '{"instruction": "prompt"}'."""
    )


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
def test_example_configs_parse_and_say_what_hardware_they_are_for(config):
    text = config.read_text()
    assert "Hardware:" in text and "../shared" not in text
    values = yaml.safe_load(text)
    assert "gradient_checkpointing" not in values  # deprecated in transformers 5: activation_checkpointing
    training_args, model_args, data_args = make_parser().parse_args_and_config(
        ["--config", str(config), "--use_cpu", "true"]
    )
    assert training_args.forget_loss == "npo" and model_args.model_name_or_path
    assert data_args.forget_dataset.endswith("forget10")
    assert training_args.activation_checkpointing == values.get("activation_checkpointing", False)


def test_the_chat_knowledge_recipe_parses_to_undial_on_chat_rows():
    config = REPO / "examples" / "configs" / "chat_knowledge_undial.yaml"
    assert "Hardware:" in config.read_text()
    training_args, model_args, data_args = make_parser().parse_args_and_config(
        ["--config", str(config), "--forget_dataset", "forget.jsonl", "--retain_dataset", "retain.jsonl"]
    )
    assert (training_args.forget_loss, training_args.retain_loss) == ("undial", "nll")
    assert training_args.learning_rate == 3e-5 and training_args.forget_end_tokens == "auto"
    assert model_args.model_name_or_path == "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.skipif(HAS_ACCELERATOR, reason="the CPU fallback applies only without an accelerator")
@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=lambda p: p.stem)
def test_a_bf16_config_runs_on_a_machine_without_gpu(config, caplog):
    # No --bf16 false, no --use_cpu: mixed precision is turned off with one warning naming the flag.
    with caplog.at_level(logging.WARNING):
        training_args, _, _ = make_parser().parse_args_and_config(["--config", str(config)])
    assert training_args.bf16 is False and training_args.use_cpu is False
    warnings = [r.getMessage() for r in caplog.records if "bf16" in r.getMessage()]
    assert len(warnings) == 1 and "--bf16 false" in warnings[0]


def test_bf16_on_a_gpu_without_it_fails_early_naming_the_flag(monkeypatch):
    import transformers.utils

    monkeypatch.setattr(transformers.utils, "is_torch_bf16_gpu_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda: torch.device("cuda"))
    with pytest.raises(ValueError, match=r"^bf16 is on but this cuda device does not support bfloat16: set --bf16 f"):
        resolve_mixed_precision(argparse.Namespace(bf16=True, bf16_full_eval=False, use_cpu=False))
    namespace = argparse.Namespace(bf16=True, bf16_full_eval=False, use_cpu=True)  # asked for: transformers' CPU bf16
    resolve_mixed_precision(namespace)
    assert namespace.bf16 is True


def test_max_length_none_keeps_evaluated_rows_whole(tmp_path, tokenizer):
    # One behaviour for `max_length: null` / `--max_length none`: every example whole, in training and evaluation.
    training_args, _, _ = make_parser().parse_args_and_config(
        ["--forget_dataset", "f.jsonl", "--output_dir", str(tmp_path), "--max_length", "none", "--use_cpu", "true"]
    )
    assert training_args.max_length is None
    long_row = {"question": "Who?", "answer": " ".join(["Aurelio Vennmark was born in Port Calloway."] * 60)}
    trainer = argparse.Namespace(
        args=training_args, processing_class=tokenizer, is_deepspeed_enabled=False, is_fsdp_enabled=False
    )
    evaluator = ModelCardMixin._unlearning_evaluator(trainer, {"forget": [long_row]}, retain_logs=None)
    input_ids, _ = evaluator.sets["forget"].rows[0].answer
    assert len(input_ids) == len(tokenizer("Question: Who?\nAnswer: " + long_row["answer"]).input_ids) + 1
    assert len(input_ids) > 512


@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=lambda p: p.stem)
def test_example_configs_run_offline_on_local_tofu_and_a_tiny_model(config, tmp_path, memorized_model_dir, tofu_dir):
    tofu = str(tofu_dir)
    overrides = [
        "--model_name_or_path",
        memorized_model_dir,
        "--dtype",
        "float32",
        "--bf16",
        "false",
        "--activation_checkpointing",
        "false",
        "--max_steps",
        "2",
        "--use_cpu",
        "true",
        "--output_dir",
        str(tmp_path / "out"),
        "--forget_dataset",
        f"{tofu}:forget01",
        "--retain_dataset",
        f"{tofu}:retain99:train[:40]",
        "--eval_datasets",
        json.dumps({"forget": f"{tofu}:forget01_perturbed"}),
        "--max_length",
        "128",
    ]
    assert main(["unlearn", "--config", str(config), *overrides]) == 0
    record = json.loads((tmp_path / "out" / RECORD_FILE).read_text())
    assert record["forget_set"]["rows"] == 40 and record["training"]["global_step"] == 2


def test_a_short_run_keeps_no_checkpoint_of_its_final_model_and_lora_gets_its_own_learning_rate(
    run_config, tmp_path, caplog
):
    """Without learning_rate, a LoRA run trains at 10 x the default; the checkpoint at the last step (a copy of the
    saved model plus the optimizer state) is not written, the ones inside the run are."""
    config = yaml.safe_load(run_config.read_text())
    for key in ("learning_rate", "save_strategy"):
        del config[key]
    path = tmp_path / "lora.yaml"
    path.write_text(yaml.safe_dump(config))
    with caplog.at_level(logging.WARNING):
        assert main(["unlearn", "--config", str(path), "--save_steps", "2"]) == 0
    out = tmp_path / "out"
    assert json.loads((out / RECORD_FILE).read_text())["hyperparameters"]["learning_rate"] == pytest.approx(5e-4)
    assert "use_peft without a learning_rate: training the LoRA adapter at 0.0005" in caplog.text
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-2"]
    assert (out / "adapter_model.safetensors").is_file()


def test_option_given_reads_the_command_line_and_the_config_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"learning_rate": 5e-5}))
    assert option_given(["--learning_rate", "1e-4"], "learning_rate")
    assert option_given(["--learning_rate=1e-4"], "learning_rate")
    assert option_given(["--config", str(path)], "learning_rate")
    assert option_given([f"--config={path}"], "learning_rate")
    assert not option_given(["--config", str(path), "--learning_rate_x", "1"], "beta")
    assert not option_given(["--lr_scheduler_type", "linear"], "learning_rate")


def _scores(forget_rouge, forget_probability, retain_rouge, retain_probability):
    return {
        "eval_forget_rougeL_recall": forget_rouge,
        "eval_forget_probability": forget_probability,
        "eval_retain_rougeL_recall": retain_rouge,
        "eval_retain_probability": retain_probability,
    }


def test_end_of_run_warnings_name_retain_damage_and_runs_that_did_not_move():
    before = _scores(0.557, 0.232, 0.600, 0.504)
    # The task-vector run of issue 19 (alpha 5): retain answer probability 0.504 -> 0.015.
    (message,) = end_of_run_warnings(_scores(0.1, 0.01, 0.598, 0.015), before)
    assert message.startswith("Retain damage: retain answer probability 0.504 -> 0.015 (3% of its value), below the")
    assert "retain ROUGE-L" not in message  # kept at 99.7%
    # The LoRA run at 5e-5: forget ROUGE-L 0.557 -> 0.557, probability 0.232 -> 0.220 (-5%).
    (message,) = end_of_run_warnings(_scores(0.557, 0.220, 0.600, 0.504), before)
    assert message.startswith("Little or no forgetting: forget ROUGE-L 0.557 -> 0.557; forget answer probability")
    assert "10 x a full fine-tune's" in message
    # Forgetting with retain kept: nothing to say; so without scores before.
    assert end_of_run_warnings(_scores(0.2, 0.05, 0.59, 0.47), before) == []
    assert end_of_run_warnings(_scores(0.2, 0.05, 0.0, 0.0), None) == []
    # A forget ROUGE-L that rose (chat answers running on) while the probability fell is still forgetting.
    assert end_of_run_warnings(_scores(0.742, 0.003, 0.6, 0.504), _scores(0.665, 0.282, 0.6, 0.504)) == []

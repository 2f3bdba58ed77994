"""One parser for every command: shared options declared once, underscores with dash aliases, errors in one place."""

import subprocess
import sys

import pytest

from hf_unlearn.commands import COMMANDS, DEBUG_ENV, main
from hf_unlearn.commands import audit as audit_command
from hf_unlearn.commands import eval as eval_command
from hf_unlearn.commands.options import SHARED_OPTIONS


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)


def option_actions(parser) -> dict:
    """Every option of a parser: `dest` -> (its option strings, default, help, required)."""
    return {
        action.dest: (tuple(action.option_strings), action.default, action.help)
        for action in parser._actions
        if action.option_strings and action.dest != "help"
    }


def test_the_options_eval_and_audit_share_are_declared_once_and_read_the_same():
    eval_options = option_actions(eval_command.make_parser())
    audit_options = option_actions(audit_command.make_parser())
    shared = {field for options in SHARED_OPTIONS for field in options.__dataclass_fields__}
    assert {"model", "tokenizer", "forget", "retain", "output_dir", "batch_size", "max_length"} <= shared
    for name in shared:
        assert eval_options[name] == audit_options[name], name
    # and neither command declares a shared option again in its own dataclass
    own = set(eval_command.EvalOptions.__dataclass_fields__) | set(audit_command.AuditOptions.__dataclass_fields__)
    assert own & shared == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_the_field_name_with_underscores_and_a_dash_alias(name):
    parser = __import__(f"hf_unlearn.commands.{COMMANDS[name].module}", fromlist=["make_parser"]).make_parser()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        first, *aliases = action.option_strings
        name = first.removeprefix("--")
        assert name == action.dest or (name == f"no_{action.dest}" and action.const is False), first
        if "_" in first:
            assert first.replace("_", "-") in aliases, first


@pytest.mark.parametrize(
    "spelling", [["--retain_logs", "r.json"], ["--retain-logs", "r.json"], ["--retain_logs=r.json"]]
)
def test_dash_spellings_are_aliases_of_the_underscore_ones(spelling):
    from hf_unlearn.commands import tofu_aggregate

    args = tofu_aggregate.make_parser().parse_namespace(["logs.json", *spelling])
    assert str(args.retain_logs) == "r.json" and str(args.logs) == "logs.json"
    eval_args = eval_command.make_parser().parse_namespace(
        ["--model", "m", "--output-dir", "o", "--real-authors", "a.jsonl", "--max_new_tokens", "4", "--no-generation"]
    )
    assert (eval_args.output_dir.name, eval_args.real_authors, eval_args.max_new_tokens) == ("o", "a.jsonl", 4)
    assert eval_args.no_generation is True


def test_a_bad_flag_is_two_lines_naming_it_and_the_closest_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--model", "m", "--forget", "f.jsonl", "--output_dir", "o", "--relearn_step", "5"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "hf-unlearn audit: error: unrecognized arguments: --relearn_step 5. Did you mean --relearn_steps?",
        "See `hf-unlearn audit --help`.",
    ]


def test_audit_reports_bad_input_through_the_one_error_policy_and_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    argv = ["audit", "--model", str(tmp_path / "model"), "--forget", str(tmp_path / "missing.jsonl")]
    argv += ["--output_dir", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.splitlines()[0].startswith("hf-unlearn audit: error: forget '")
    assert err.splitlines()[1] == f"(run with --debug or {DEBUG_ENV}=1 for the traceback)"
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):  # --debug: the exception itself
        main([*argv, "--debug"])


def test_python_dash_m_and_the_old_module_run_the_same_command():
    for module in ("hf_unlearn", "hf_unlearn.cli"):
        result = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout.startswith("hf_unlearn "), (module, result.stderr)
    from hf_unlearn.cli import main as old_main

    assert old_main is main


def test_every_command_takes_a_yaml_config(tmp_path, capsys):
    config = tmp_path / "agg.yaml"
    config.write_text(f"retain_logs: {tmp_path / 'missing.json'}\n")
    assert main(["tofu-aggregate", str(tmp_path / "logs.json"), "--config", str(config)]) == 2
    err = capsys.readouterr().err  # --retain_logs came from the config: the error is the missing log file
    assert "required" not in err and err.startswith("hf-unlearn tofu-aggregate: error: ") and "logs.json" in err

"""The `hf-unlearn` command line: version, and user errors as one message with exit code 2 (`--debug`: traceback)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hf_unlearn import __version__
from hf_unlearn.commands import DEBUG_ENV, _take_debug_flag, main


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_a_user_error_is_one_message_and_exit_code_2(tmp_path, capsys):
    missing = str(tmp_path / "missing.json")
    assert main(["tofu-aggregate", missing, "--retain-logs", missing]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith("hf-unlearn tofu-aggregate: error: ") and "missing.json" in lines[0]
    assert "--debug" in lines[1] and DEBUG_ENV in lines[1]


@pytest.mark.parametrize("where", ["before the command", "after the command", "environment"])
def test_debug_shows_the_traceback(tmp_path, monkeypatch, where):
    missing = str(tmp_path / "missing.json")
    argv = ["tofu-aggregate", missing, "--retain-logs", missing]
    if where == "before the command":
        argv = ["--debug", *argv]
    elif where == "after the command":
        argv = [*argv, "--debug"]
    else:
        monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        main(argv)


def test_a_bug_is_not_dressed_as_a_user_error(monkeypatch):
    def crash(*args):
        raise RuntimeError("a bug")

    monkeypatch.setattr("hf_unlearn.commands.tofu_aggregate.load_tofu_log", lambda path: {})
    monkeypatch.setattr("hf_unlearn.commands.tofu_aggregate.tofu_aggregate", crash)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["tofu-aggregate", "a.json", "--retain-logs", "b.json"])


def test_transformers_debug_option_stays_theirs():
    # `unlearn` has TrainingArguments' `--debug underflow_overflow`; only a bare `--debug` is ours.
    assert _take_debug_flag(["unlearn", "--debug", "underflow_overflow"]) == (
        ["unlearn", "--debug", "underflow_overflow"],
        False,
    )
    assert _take_debug_flag(["unlearn", "--config", "a.yaml", "--debug"]) == (["unlearn", "--config", "a.yaml"], True)
    assert _take_debug_flag(["eval", "--debug", "--model", "m"]) == (["eval", "--model", "m"], True)


def test_no_user_facing_text_names_this_team_s_data_folder():
    root = Path(__file__).resolve().parents[2]
    files = [
        root / "README.md",
        *(root / "docs").rglob("*.md"),
        *(root / "examples").rglob("*.*"),
        *(root / "hf_unlearn").rglob("*.py"),
        *(root / "hf_unlearn").rglob("*.yaml"),
    ]
    naming = [str(path.relative_to(root)) for path in files if path.is_file() and "../shared" in path.read_text()]
    assert naming == []


def test_debug_leaves_the_environment_as_it_was(tmp_path):
    missing = str(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError):
        main(["--debug", "tofu-aggregate", missing, "--retain-logs", missing])
    assert DEBUG_ENV not in os.environ


@pytest.mark.parametrize(
    ("argv", "abbreviated"),
    [
        (["--vers", "demo"], "--vers"),  # of --version
        (["eval", "--model", "m", "--output_dir", "out", "--forg", "f.jsonl"], "--forg"),  # of --forget
        (["audit", "--model", "m", "--forget", "f.jsonl", "--output_dir", "out", "--prob", "all"], "--prob"),
        (["tofu-aggregate", "a.json", "--retain-logs", "b.json", "--retain-log", "c.json"], "--retain-log"),
        (["demo", "--out", "somewhere"], "--out"),  # of --output_dir
    ],
)
def test_an_abbreviated_option_is_refused_with_exit_code_2(argv, abbreviated, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {abbreviated}" in err or f"required: {abbreviated}" in err


@pytest.mark.parametrize(
    "command", ["unlearn", "task-vector", "eval --model", "audit --model", "audit --original", "audit --retain_model"]
)
def test_every_command_says_the_same_for_a_missing_model(command, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: True)  # and nothing of that name is cached
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"question": "Q?", "answer": "A."}\n')
    missing, output = "missing/model", str(tmp_path / "out")
    if command in ("unlearn", "task-vector"):
        option = "model_name_or_path"
        argv = [command, f"--{option}", missing, "--forget_dataset", str(rows), "--output_dir", output]
    else:
        name, option = command.split()
        (tmp_path / "model").mkdir()
        model = missing if option == "--model" else str(tmp_path / "model")
        argv = [name, "--model", model, "--forget", str(rows), "--retain", str(rows), "--output_dir", output]
        if option != "--model":
            argv += [option, missing]
    assert main(argv) == 2
    err = capsys.readouterr().err
    # every command names the option as its field (the flag is `--` and the field's name), unlearn's config key too
    assert (
        f"error: {option.removeprefix('--')} 'missing/model': no local folder 'missing/model', and as a Hub id it is "
        "not in the local cache (HF_HUB_OFFLINE is set)." in err.splitlines()[0]
    )


def test_help_and_argument_errors_import_neither_torch_nor_transformers():
    # One process for every case (each import of the stack costs seconds); the heavy modules are listed after each.
    cases = [
        ["--help"],
        ["eval", "--help"],
        ["audit", "--help"],
        ["demo", "--help"],
        ["tofu-aggregate", "--help"],
        ["eval", "--model"],  # an argument error
        ["--vers", "demo"],  # an abbreviation, refused
    ]
    code = (
        "import contextlib, io, json, sys\n"
        "from hf_unlearn.commands import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as exit_info:\n"
        "            code = exit_info.code\n"
        "    print(json.dumps([argv, code, sorted({'torch', 'transformers'} & set(sys.modules))]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True, check=True, cwd=root
    )
    seen = [json.loads(line) for line in result.stdout.splitlines()]
    assert seen == [[argv, 2 if argv[-1] in ("--model", "demo") else 0, []] for argv in cases]

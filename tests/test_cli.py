"""The `hf-unlearn` command line."""

import pytest

from hf_unlearn import __version__
from hf_unlearn.cli import main


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


def test_tofu_aggregate_reports_a_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "missing.json")
    assert main(["tofu-aggregate", missing, "--retain-logs", missing]) == 2
    assert "missing.json" in capsys.readouterr().err

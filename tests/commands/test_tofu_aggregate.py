import json

import pytest

from hf_unlearn.commands import main
from hf_unlearn.commands.tofu_aggregate import make_parser, run_tofu_aggregate

from ..metrics.test_tofu import FIXTURE_DIR, small_logs


def parse(argv):
    """`hf-unlearn ARGV` parsed by the `tofu-aggregate` command's parser (ARGV starts with `tofu-aggregate`)."""
    assert argv[0] == "tofu-aggregate"
    return make_parser().parse_namespace(argv[1:])


def test_prints_one_json_object(tmp_path, capsys):
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(small_logs()))
    args = parse(["tofu-aggregate", str(path), "--retain-logs", str(path)])
    assert run_tofu_aggregate(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_utility"] == pytest.approx(0.54)
    assert result["forget_quality"] == pytest.approx(1.0)
    assert set(result["scores"]) == {"retain", "forget", "real_authors", "world_facts"}


def test_retain_logs_are_required(capsys):
    with pytest.raises(SystemExit):
        parse(["tofu-aggregate", "logs.json"])
    assert "--retain-logs" in capsys.readouterr().err


def test_missing_file_is_a_clean_error(tmp_path, capsys):
    missing = str(tmp_path / "nope.json")
    assert main(["tofu-aggregate", missing, "--retain-logs", missing]) == 2  # `hf-unlearn` turns user errors into 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "tofu-aggregate: error:" in captured.err and "nope.json" in captured.err
    assert "Traceback" not in captured.err


def test_official_logs(capsys):
    args = parse(
        [
            "tofu-aggregate",
            str(FIXTURE_DIR / "llama2-7b_full_wd0.01.json"),
            "--retain-logs",
            str(FIXTURE_DIR / "llama2-7b_retain90_wd0.01.json"),
        ]
    )
    assert run_tofu_aggregate(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert f"{result['model_utility']:.3g}" == "0.623"
    assert f"{result['forget_quality']:.3g}" == "1.83e-21"

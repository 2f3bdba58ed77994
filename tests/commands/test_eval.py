"""`hf-unlearn eval`: a model folder, a PEFT adapter folder, base + --adapter, set specs, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from hf_unlearn.commands import main
from hf_unlearn.commands.eval import make_parser
from hf_unlearn.data.loading import load_dataset_spec

from ..conftest import FORGET_ROWS, RETAIN_ROWS
from ..test_evaluation import with_alternatives


def parse(argv):
    """`hf-unlearn ARGV` parsed by the `eval` command's parser (ARGV starts with `eval`)."""
    assert argv[0] == "eval"
    return make_parser().parse_namespace(argv[1:])


def run(argv) -> int:
    """`hf-unlearn eval ARGV` through the command's `main`, which turns bad input into one message and exit code 2."""
    return main(["eval", *argv])


@pytest.fixture(scope="module")
def sets_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sets")
    for name, rows in (("forget", with_alternatives(FORGET_ROWS)), ("retain", with_alternatives(RETAIN_ROWS))):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, memorized_model_dir, tokenizer) -> str:
    """A LoRA adapter on the memorized model, saved with its tokenizer, as a training run leaves it."""
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(memorized_model_dir),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    path = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def set_args(sets_dir: Path) -> list[str]:
    return [
        "--forget",
        str(sets_dir / "forget.jsonl"),
        "--retain",
        str(sets_dir / "retain.jsonl"),
        "--max_new_tokens",
        "6",
        "--batch_size",
        "8",
    ]


def test_scores_a_peft_adapter_folder(tmp_path, capsys, sets_dir, adapter_dir, memorized_model_dir):
    output = str(tmp_path / "adapter")
    assert run(["--model", adapter_dir, *set_args(sets_dir), "--output_dir", output, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # --json: the summary, as written
    assert summary == json.loads((tmp_path / "adapter" / "summary.json").read_text())
    assert set(summary["sets"]) == {"forget", "retain"} and summary["run"]["model"] == adapter_dir
    logs = json.loads((tmp_path / "adapter" / "eval_log_aggregated.json").read_text())
    assert set(logs) == {"eval_log_forget.json", "eval_log.json"}

    # The same adapter given as base model + --adapter scores the same; the base model alone does not.
    assert (
        run(
            [
                "--model",
                memorized_model_dir,
                "--adapter",
                adapter_dir,
                *set_args(sets_dir),
                "--output-dir",
                str(tmp_path / "base_adapter"),
            ]
        )
        == 0
    )
    assert run(["--model", memorized_model_dir, *set_args(sets_dir), "--output_dir", str(tmp_path / "base")]) == 0
    capsys.readouterr()
    base_adapter = json.loads((tmp_path / "base_adapter" / "eval_log_aggregated.json").read_text())
    base = json.loads((tmp_path / "base" / "eval_log_aggregated.json").read_text())
    first_loss = {
        name: log["eval_log_forget.json"]["avg_gt_loss"]["0"]
        for name, log in (("adapter", logs), ("base_adapter", base_adapter), ("base", base))
    }
    assert first_loss["base_adapter"] == pytest.approx(first_loss["adapter"], rel=1e-5)
    assert first_loss["base"] != pytest.approx(first_loss["adapter"], rel=1e-3)


def test_retain_logs_give_forget_quality(tmp_path, capsys, sets_dir, memorized_model_dir):
    assert run(["--model", memorized_model_dir, *set_args(sets_dir), "--output_dir", str(tmp_path / "a")]) == 0
    retain_logs = tmp_path / "a" / "eval_log_aggregated.json"
    capsys.readouterr()
    assert (
        run(
            [
                "--model",
                memorized_model_dir,
                *set_args(sets_dir),
                "--retain-logs",
                str(retain_logs),
                "--output_dir",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out.splitlines()  # the table of headline scores, not the summary's JSON
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["forget_quality"] == pytest.approx(1.0)  # the same model: identical truth ratios
    assert table[0].split() == ["score", "value", "direction", "of", "good"]
    rows = {line[:27].strip(): line[27:].split(maxsplit=1) for line in table[1:-2]}
    assert rows["forget quality"] == ["1.000", "higher is better"]
    forget_rouge = summary["sets"]["forget"]["rougeL_recall"]
    assert rows["forget ROUGE-L"] == [f"{forget_rouge:.3f}", "lower is forgetting"]
    assert table[-2] == "Verdict: forget quality 1 >= 0.05: forget answers like a retain model's."
    assert table[-1].startswith(f"Every score in {tmp_path / 'b' / 'summary.json'}") and len(table) < 12


def test_remote_code_stays_off_unless_asked():
    base = ["--model", "m", "--forget", "f.json", "--retain", "r.json", "--output_dir", "o"]
    assert parse(["eval", *base]).trust_remote_code is False
    assert parse(["eval", *base, "--trust_remote_code"]).trust_remote_code is True


@pytest.mark.parametrize(
    "forget, message",
    [
        (
            "{missing}:forget10",
            (
                r"error: forget '.*missing:forget10' could not be loaded \(FileNotFoundError.*Accepted: a "
                r"local \.json/\.jsonl/\.csv/\.parquet file, or PATH_OR_HUB_ID\[:CONFIG\[:SPLIT\]\]"
            ),
        ),
        ("{bad_columns}", r"forget eval dataset has columns \['query', 'reply'\].*Accepted column sets: prompt \+ "),
        ("{text_file}", r"error: forget '.*rows.txt': a file ending in '.txt' cannot be read; accepted: a local"),
    ],
    ids=["unknown-spec", "missing-columns", "unknown-file-type"],
)
def test_bad_sets_are_clean_errors(tmp_path, capsys, sets_dir, memorized_model_dir, forget, message):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"query": "q", "reply": "a"}) + "\n")
    (tmp_path / "rows.txt").write_text("x\n")
    forget = forget.format(
        missing=tmp_path / "missing", bad_columns=tmp_path / "bad.jsonl", text_file=tmp_path / "rows.txt"
    )
    argv = [
        "--model",
        memorized_model_dir,
        "--forget",
        forget,
        "--retain",
        str(sets_dir / "retain.jsonl"),
        "--output_dir",
        str(tmp_path / "out"),
    ]
    assert run(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not (tmp_path / "out").exists()
    assert "hf-unlearn eval: error: " in captured.err and "Traceback" not in captured.err
    assert re.search(message, captured.err), captured.err


def test_an_adapter_option_that_is_no_adapter_is_a_clean_error(tmp_path, capsys, sets_dir, memorized_model_dir):
    argv = [
        "--model",
        memorized_model_dir,
        "--adapter",
        str(tmp_path),
        *set_args(sets_dir),
        "--output_dir",
        str(tmp_path),
    ]
    assert run(argv) == 2
    assert "is not a PEFT adapter folder (it has no adapter_config.json)" in capsys.readouterr().err


def test_tofu_configs_load_offline_by_spec(tofu_dir):
    rows = load_dataset_spec(f"{tofu_dir}:forget01_perturbed:train[:5]", "forget")
    assert len(rows) == 5 and {"paraphrased_answer", "perturbed_answer"} <= set(rows.column_names)
    with pytest.raises(
        ValueError,
        match=r"^forget .* could not be loaded \(ValueError: BuilderConfig 'forget11' not "
        r"found. Available: \['full'",
    ):
        load_dataset_spec(f"{tofu_dir}:forget11", "forget")


def test_named_sets_and_answer_accuracy_from_the_command_line(tmp_path, capsys, caplog, sets_dir, memorized_model_dir):
    with_aliases = tmp_path / "forget_aliases.jsonl"
    rows = [{**row, "aliases": [row["answer"].rstrip(".").split()[-1]]} for row in FORGET_ROWS]
    with_aliases.write_text("".join(json.dumps(row) + "\n" for row in rows))
    neighbours = tmp_path / "neighbours.jsonl"
    neighbours.write_text("".join(json.dumps({**row, "aliases": ["Lagos"]}) + "\n" for row in RETAIN_ROWS))
    argv = ["--model", memorized_model_dir, "--forget", str(with_aliases), "--retain", str(sets_dir / "retain.jsonl")]
    argv += ["--eval_set", f"neighbours={neighbours}", "--eval-set", f"forget_again={with_aliases}"]
    assert run([*argv, "--answer_accuracy", "--output_dir", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["sets"]) == {"forget", "retain", "neighbours", "forget_again"}
    sets = summary["sets"]
    assert "answer_accuracy" not in sets["retain"] and sets["neighbours"]["answer_accuracy"] == pytest.approx(0.1)
    assert sets["forget_again"] == sets["forget"] and sets["forget"]["answer_accuracy"] >= 0.5
    assert "Answer accuracy is not computed for retain: it needs an `aliases` column" in caplog.text
    table = captured.out.splitlines()
    rows = {line[:27].strip(): line[27:].split(maxsplit=1) for line in table[1:-3]}
    assert rows["forget answer accuracy"] == [f"{sets['forget']['answer_accuracy']:.3f}", "lower is forgetting"]
    accuracy = sets["forget_again"]["answer_accuracy"]
    assert table[-3] == f"answer accuracy: neighbours 0.100, forget_again {accuracy:.3f}"
    # No --max_new_tokens: each set's budget, sized to its answers, is recorded.
    assert set(summary["run"]["max_new_tokens"]) == set(sets) and summary["run"]["sets"]["neighbours"] == str(
        neighbours
    )
    logs = json.loads((tmp_path / "out" / "eval_log_aggregated.json").read_text())
    assert {"eval_log_neighbours.json", "eval_log_forget_again.json"} <= set(logs)


@pytest.mark.parametrize(
    "value, message",
    [
        ("neighbours", r"--eval_set 'neighbours' is not NAME=SPEC \(e.g. --eval_set neighbours=neighbours.jsonl\)"),
        ("near-by=x.jsonl", r"Eval set name 'near-by' is not accepted: a name is letters, digits and underscores"),
        ("holdout=x.jsonl", r"--eval_set holdout=...: give the holdout set with --holdout"),
    ],
    ids=["no-spec", "bad-name", "tofu-name"],
)
def test_bad_named_sets_are_clean_errors(tmp_path, capsys, sets_dir, value, message):
    argv = ["--model", str(tmp_path), *set_args(sets_dir), "--eval_set", value, "--output_dir", str(tmp_path / "o")]
    assert run(argv) == 2
    assert re.search(message, capsys.readouterr().err)

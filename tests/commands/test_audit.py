"""`hf-unlearn audit`: model and adapter folders, set specs, the files it writes, and bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from peft import LoraConfig, get_peft_model

from hf_unlearn.commands import main

from ..conftest import FORGET_ROWS, RETAIN_ROWS, tiny_llama
from ..evaluation.conftest import one_thread  # noqa: F401 - autouse: one math thread, see there


def folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tokenizer) -> dict[str, Path]:
    """Three tiny model folders (with the tokenizer), a LoRA adapter folder, and the sets as JSON lines."""
    root = tmp_path_factory.mktemp("audit_cli")
    paths = {}
    for seed, name in enumerate(("unlearned", "original", "retain")):
        paths[name] = root / name
        tiny_llama(len(tokenizer), seed=seed).save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    adapter = get_peft_model(
        tiny_llama(len(tokenizer), seed=0),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    adapter.peft_config["default"].base_model_name_or_path = str(paths["unlearned"])
    paths["adapter"] = root / "adapter"
    adapter.save_pretrained(paths["adapter"])
    forget = [dict(row, paraphrased_question="In other words: " + row["question"]) for row in FORGET_ROWS]
    for name, rows in (("forget", forget), ("retain", RETAIN_ROWS)):
        paths[name + "_set"] = root / f"{name}.jsonl"
        paths[name + "_set"].write_text("".join(json.dumps(row) + "\n" for row in rows))
    return paths


def common(folders, output_dir) -> list[str]:
    return [
        "audit",
        "--forget",
        str(folders["forget_set"]),
        "--retain",
        str(folders["retain_set"]),
        "--output_dir",
        str(output_dir),
        "--max_new_tokens",
        "2",
        "--max_length",
        "64",
        "--relearn_steps",
        "1",
    ]


def test_audit_writes_json_and_plot_prints_the_table_and_changes_no_model(folders, tmp_path, capsys, caplog):
    hashes = {name: folder_hash(folders[name]) for name in ("unlearned", "original", "retain")}
    with caplog.at_level("WARNING"):
        code = main(
            [
                *common(folders, tmp_path / "out"),
                "--model",
                str(folders["unlearned"]),
                "--original",
                str(folders["original"]),
                "--retain_model",
                str(folders["retain"]),
                "--probes",
                "relearn,paraphrase,logit_lens",
                "--relearn_rows",
                "3",
                "--relearn_repeats",
                "2",
            ]
        )
    assert code == 0
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert list(audit["attacks"]) == ["relearn_forget", "relearn_unrelated", "paraphrase", "logit_lens"]
    assert audit["attacks"]["relearn_forget"]["settings"]["train_rows"] == 3
    # each relearning attack ran twice, and the log said once what that costs
    for name in ("relearn_forget", "relearn_unrelated"):
        entry = audit["attacks"][name]
        assert entry["settings"]["repeats"] == 2 and [run["seed"] for run in entry["repeats"]] == [0, 1000]
        assert entry["spread"]["recovery"]["rougeL_recall"]["repeats"] == 2
    costs = [record.getMessage() for record in caplog.records if "times the cost of one run" in record.getMessage()]
    assert len(costs) == 1 and "relearn attacks run 2 times each" in costs[0]
    assert audit["models"] == ["unlearned", "original", "retain"]
    assert (tmp_path / "out" / "audit.png").is_file()
    table = capsys.readouterr().out
    assert all(name in table for name in audit["attacks"]) and "recovery" in table
    assert "median [lowest, highest] over 2 repeats" in " ".join(table.split())
    text = (tmp_path / "out" / "audit.json").read_text()
    assert not any(value in text for row in FORGET_ROWS + RETAIN_ROWS for value in row.values())
    assert {name: folder_hash(folders[name]) for name in hashes} == hashes


def test_an_adapter_folder_is_audited_on_its_base(folders, tmp_path):
    code = main(
        [*common(folders, tmp_path), "--model", str(folders["adapter"]), "--probes", "logit_lens", "--no_plot"]
    )
    assert code == 0
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert audit["models"] == ["unlearned"] and audit["attacks"]["logit_lens"]["status"] == "ok"
    assert not (tmp_path / "audit.png").exists()


def test_an_adapter_whose_base_is_missing_names_the_path_it_tried(folders, tmp_path, capsys):
    adapter = tmp_path / "orphan"
    adapter.mkdir()
    config = json.loads((folders["adapter"] / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "gone")
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    for name in ("adapter_model.safetensors",):
        (adapter / name).write_bytes((folders["adapter"] / name).read_bytes())
    code = main(
        [
            *common(folders, tmp_path / "out"),
            "--model",
            str(folders["unlearned"]),
            "--original",
            str(adapter),
            "--probes",
            "logit_lens",
        ]
    )
    error = capsys.readouterr().err
    assert code == 2 and f"error: original {str(adapter)!r} is a PEFT adapter folder whose base model" in error
    assert str(tmp_path / "gone") in error


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--probes", "relearn,jailbreak"], "Unknown probe 'jailbreak'; known probes: relearn, quantize, paraphrase"),
        (["--probes", "relearn", "--relearn_rows", "0"], "relearn split has 0 of the 8 forget rows"),
        (["--probes", "relearn", "--relearn_rows", "1.0"], "relearn split has 8 of the 8 forget rows"),
        (["--probes", "relearn", "--relearn_repeats", "0"], "relearn_repeats 0: give a whole number >= 1"),
        (["--probes", "relearn", "--relearn_rows", "7", "--relearn_repeats", "9"], "have only 8 distinct splits"),
    ],
)
def test_bad_input_exits_2_and_says_what_is_accepted(folders, tmp_path, capsys, extra, message):
    code = main([*common(folders, tmp_path), "--model", str(folders["unlearned"]), *extra])
    assert code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("inside", ["", "audit"])
def test_the_audit_never_writes_into_a_model_folder(folders, capsys, inside):
    before = folder_hash(folders["original"])
    code = main(
        [
            *common(folders, folders["original"] / inside),
            "--model",
            str(folders["unlearned"]),
            "--original",
            str(folders["original"]),
            "--probes",
            "logit_lens",
        ]
    )
    error = capsys.readouterr().err
    assert code == 2 and "is inside the --original folder" in error and "never writes into a model folder" in error
    assert folder_hash(folders["original"]) == before and not (folders["original"] / "audit").exists()


def test_record_in_model_adds_robustness_to_the_card_and_refuses_another_forget_set(folders, tmp_path, capsys):
    from hf_unlearn.data import content_fingerprint
    from hf_unlearn.hub import RECORD_FILE, save_card_and_record

    from ..test_hub import card_record

    model = tmp_path / "run"
    model.mkdir()
    for path in folders["unlearned"].iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    record = card_record({}, {})
    for forget_rows, code in ((FORGET_ROWS[1:], 2), (FORGET_ROWS, 0)):
        save_card_and_record({**record, "forget_set": content_fingerprint(forget_rows, "forget")}, str(model))
        before = folder_hash(model)
        arguments = [*common(folders, tmp_path / f"out{code}"), "--model", str(model), "--original"]
        arguments += [str(folders["original"]), "--probes", "logit_lens", "--no_plot", "--record_in_model"]
        assert main(arguments) == code
        if code == 2:  # refused before the audit ran: nothing written anywhere
            assert "says the model forgot (7 rows" in capsys.readouterr().err
            assert folder_hash(model) == before and not (tmp_path / "out2").exists()
    robustness = json.loads((model / RECORD_FILE).read_text())["robustness"]
    assert robustness["models"] == ["unlearned", "original"] and set(robustness["recovery"]) == {"logit_lens"}
    card = (model / "README.md").read_text()
    assert (
        "## Robustness" in card
        and "| `logit_lens` |" in card
        and "recorded the robustness summary" in (capsys.readouterr().err)
    )


@pytest.fixture
def no_bitsandbytes(monkeypatch):
    def missing():
        raise ImportError("The quantize probe needs bitsandbytes, which is not installed: pip install 'x'.")

    monkeypatch.setattr("hf_unlearn.evaluation.probes.quantize.require_bitsandbytes", missing)


def test_without_bitsandbytes_all_probes_leave_quantize_out_and_record_why(
    folders, tmp_path, capsys, caplog, no_bitsandbytes
):
    argv = [*common(folders, tmp_path / "out"), "--model", str(folders["unlearned"]), "--relearn_rows", "3"]
    with caplog.at_level("WARNING"):
        assert main([*argv, "--no_plot"]) == 0
    quantize = json.loads((tmp_path / "out" / "audit.json").read_text())["attacks"]["quantize"]
    assert quantize["status"] == "skipped" and "needs bitsandbytes" in quantize["reason"]
    assert quantize["reason"].endswith("Left out of --probes all; name it in --probes to require it.")
    assert "quantize" in capsys.readouterr().out  # the table says so too
    notes = [record.getMessage() for record in caplog.records if "quantize" in record.getMessage()]
    assert len(notes) == 1 and "needs bitsandbytes" in notes[0], notes


def test_quantize_named_without_bitsandbytes_is_refused(folders, tmp_path, capsys, no_bitsandbytes):
    code = main([*common(folders, tmp_path), "--model", str(folders["unlearned"]), "--probes", "logit_lens,quantize"])
    err = capsys.readouterr().err
    assert code == 2 and "hf-unlearn audit: error: The quantize probe needs bitsandbytes" in err


def chat_sets(folders, root: Path) -> list[str]:
    """The forget and retain rows as chat `messages` rows (the paraphrase a reworded user turn)."""
    specs = []
    for name, rows in (("forget", FORGET_ROWS), ("retain", RETAIN_ROWS)):
        path = root / f"chat_{name}.jsonl"
        lines = []
        for row in rows:
            turns = [{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["answer"]}]
            lines.append(json.dumps({"messages": turns, "paraphrased_question": "Say: " + row["question"]}) + "\n")
        path.write_text("".join(lines))
        specs += [f"--{name}", str(path)]
    return specs


def test_chat_rows_are_attacked_through_the_chat_template_and_without_a_retain_model_the_share_regained_is_given(
    folders, tokenizer, tmp_path, capsys
):
    import copy

    chat = copy.deepcopy(tokenizer)
    chat.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    chat.save_pretrained(tmp_path / "chat_tokenizer")
    models = ["--model", str(folders["unlearned"]), "--original", str(folders["original"])]
    options = ["--output_dir", str(tmp_path / "out"), "--max_new_tokens", "2", "--no_plot", *models]
    probes = ["--probes", "paraphrase,few_shot,prompt_attacks"]
    # The models' own tokenizer has no chat template: refused in one line, before any model runs.
    assert main(["audit", *chat_sets(folders, tmp_path), *options, *probes]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert "the tokenizer has no chat template" in error and "(the `tokenizer` option)" in error
    assert not (tmp_path / "out").exists()

    tokenizer_option = ["--tokenizer", str(tmp_path / "chat_tokenizer")]
    assert main(["audit", *chat_sets(folders, tmp_path), *options, *probes, *tokenizer_option]) == 0
    table = capsys.readouterr().out
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    names = ["paraphrase", "few_shot", "prompt_roleplay", "prompt_affirmative_prefix", "prompt_fill_in_blank"]
    assert list(audit["attacks"]) == names and all(audit["attacks"][n]["status"] == "ok" for n in names)
    assert all("regained" in audit["attacks"][name]["headline"] for name in names)
    header = table.splitlines()[0]
    assert "regained" in header and "recovery" not in header
    from hf_unlearn.evaluation.audit import robustness_summary

    assert " ".join(table.split()).endswith(robustness_summary(audit)["sentence"])

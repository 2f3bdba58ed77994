"""The WMDP example runs offline end to end: the unlearned domain falls to chance or below on its multiple-choice
questions, general knowledge stays, the accuracies reach the model's card; the real-data path leaves no text behind."""

import importlib.util
import json
import runpy
import sys
from pathlib import Path

import pytest


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wmdp_rmu.py"
SECRET = "Quillfeather"  # a word that only the "real" corpora below contain

pytestmark = [
    pytest.mark.slow,  # runs an example end to end
    pytest.mark.skipif(
        importlib.util.find_spec("lm_eval") is None,
        reason='lm-eval is not installed (pip install "hf_unlearn[lm-eval]"): the example scores through it',
    ),
]


def run_example(monkeypatch, capsys, *flags) -> tuple[str, dict]:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), *flags])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    output_dir = Path(flags[flags.index("--output_dir") + 1])
    return capsys.readouterr().out, json.loads((output_dir / "report.json").read_text())


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("wmdp")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--output_dir", str(output_dir)])
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    return output_dir, json.loads((output_dir / "report.json").read_text())


def test_the_forget_domain_falls_to_chance_and_general_knowledge_stays(toy_run):
    output_dir, report = toy_run
    before, after = report["accuracy"]["before"], report["accuracy"]["after"]
    assert report["method"] == "rmu"  # the paper's method
    assert before["toy_hazard"]["acc"] >= 0.9 and before["toy_general"]["acc"] >= 0.9  # the model knew both
    assert after["toy_hazard"]["acc"] <= report["accuracy"]["chance"] + 0.1  # 16 questions: one is 0.0625
    assert after["toy_general"]["acc"] >= 0.9
    assert after["toy_hazard"]["samples"] == report["rows"]["forget"]

    record = json.loads((output_dir / "unlearned_rmu" / "unlearning_record.json").read_text())
    assert record["lm_eval"]["tasks"] == after
    assert "## Multiple-choice benchmarks" in (output_dir / "unlearned_rmu" / "README.md").read_text()


def test_every_method_of_the_example_is_a_valid_unlearning_config(tmp_path):
    from hf_unlearn import UnlearningConfig

    module = runpy.run_path(str(EXAMPLE), run_name="wmdp_example")
    assert module["DEFAULT_METHOD"] in module["METHODS"]
    for name, fields in module["METHODS"].items():
        config = UnlearningConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **fields)
        assert config.forget_loss == fields["forget_loss"], name


def test_the_real_data_path_saves_and_prints_no_corpus_text(toy_run, tmp_path, monkeypatch, capsys):
    toy_dir, _ = toy_run
    corpora = {}
    for name in ("forget", "retain"):
        rows = [
            {"text": f"The {SECRET} {name} passage number {i} is long enough to be kept as a row."} for i in range(6)
        ]
        corpora[name] = tmp_path / f"{name}.jsonl"
        corpora[name].write_text("".join(json.dumps(row) + "\n" for row in rows))
    output_dir = tmp_path / "run"
    out, report = run_example(
        monkeypatch,
        capsys,
        "--wmdp",
        "--model",
        str(toy_dir / "original"),  # the toy run's tiny model stands in for zephyr
        "--forget_corpus",
        str(corpora["forget"]),
        "--retain_corpus",
        str(corpora["retain"]),
        "--tasks",
        str(toy_dir / "tasks" / "toy_general.yaml"),  # a task YAML path stands in for wmdp_bio,wmdp_cyber,mmlu
        "--steps",
        "2",
        "--rmu_layer",
        "1",  # the tiny model has 2 layers; the paper's layer 7 is refused by name
        "--max_length",
        "32",
        "--output_dir",
        str(output_dir),
    )
    assert report["rows"] == {"forget": 6, "retain": 6}
    assert set(report["accuracy"]["after"]) == {"toy_general"}
    written = [output_dir / "report.json", *output_dir.rglob("README.md"), *output_dir.rglob("unlearning_record.json")]
    assert len(written) == 3
    for path in written:
        assert SECRET not in path.read_text(), path
    assert SECRET not in out

"""hf_unlearn.testing_utils: the builders shared by the tests, examples and benchmarks, and what the package ships
beside them (py.typed, the pytest `slow` marker)."""

import json
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from hf_unlearn.testing_utils import as_messages, chatml_tokenizer, tiny_causal_lm, train_bpe_tokenizer


ROOT = Path(__file__).resolve().parents[1]


def test_trained_tokenizer_round_trips_and_has_eos_and_pad():
    tokenizer = train_bpe_tokenizer(["Mira Okonkwo was born in Lagos."] * 3, vocab_size=300)
    ids = tokenizer("Mira was born in Lagos.")["input_ids"]
    assert tokenizer.decode(ids) == "Mira was born in Lagos."
    assert tokenizer.eos_token == "<eos>" and tokenizer.pad_token == "<pad>"
    assert train_bpe_tokenizer(["a b"], pad_token=None).pad_token is None


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_tiny_models_are_seeded_and_sized(architecture):
    first = tiny_causal_lm(100, architecture, hidden_size=16, num_layers=1, seed=4)
    second = tiny_causal_lm(100, architecture, hidden_size=16, num_layers=1, seed=4)
    other = tiny_causal_lm(100, architecture, hidden_size=16, num_layers=1, seed=5)
    assert first.config.vocab_size == 100
    assert all((a == b).all() for a, b in zip(first.parameters(), second.parameters()))
    assert not all((a == b).all() for a, b in zip(first.parameters(), other.parameters()))


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="accepted: 'llama', 'gpt2'"):
        tiny_causal_lm(100, "mamba")


@pytest.mark.parametrize("turn_end_is_eos", [True, False])
def test_the_chatml_tokenizer_writes_chatml_with_its_turn_markers_as_single_tokens(turn_end_is_eos):
    tokenizer = chatml_tokenizer(["Where was Mira born? In Lagos."], vocab_size=300, turn_end_is_eos=turn_end_is_eos)
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
    assert len(tokenizer("<|im_end|>", add_special_tokens=False).input_ids) == 1
    assert tokenizer.eos_token == ("<|im_end|>" if turn_end_is_eos else "<eos>")
    with_system = chatml_tokenizer(["Hi"], vocab_size=300, system=True).apply_chat_template(chat, tokenize=False)
    assert with_system == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" + text


def test_as_messages_makes_one_user_and_one_assistant_turn_per_row():
    rows = [{"question": "Q?", "answer": "A.", "paraphrased_question": "Q again?"}]
    user, assistant = {"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}
    assert as_messages(rows) == [{"messages": [user, assistant], "paraphrased_question": "Q again?"}]
    assert as_messages(rows[:1], "prompt_completion") == [
        {"prompt": [user], "completion": [assistant], "paraphrased_question": "Q again?"}
    ]
    with pytest.raises(ValueError, match="accepted: 'messages', 'prompt_completion'"):
        as_messages(rows, "text")


def test_the_testing_module_does_not_import_the_demo():
    # the demo may import the testing module, not the reverse
    code = (
        "import json, sys\n"
        "import hf_unlearn.testing_utils\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('hf_unlearn'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "hf_unlearn.testing_utils" in loaded
    assert [name for name in loaded if name.startswith("hf_unlearn.demo")] == []


def test_the_package_is_marked_typed():
    # PEP 561: type checkers read the package's annotations only where py.typed sits beside it
    assert resources.files("hf_unlearn").joinpath("py.typed").is_file()


def test_the_wheel_ships_py_typed_and_the_testing_module(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools in this environment")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "hf_unlearn", source / "hf_unlearn", ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
    result = subprocess.run([*command, "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"hf_unlearn/py.typed", "hf_unlearn/testing_utils.py", "hf_unlearn/demo/report.py"} <= names


def test_the_slow_marker_is_registered_and_the_readme_test_command_runs_every_test(pytestconfig):
    markers = [line.split(":")[0].strip() for line in pytestconfig.getini("markers")]
    assert "slow" in markers
    addopts = pytestconfig.getini("addopts")
    assert "--strict-markers" in addopts
    # `python -m pytest -q`, as the README says, runs the slow tests too: nothing deselects them by default
    assert "-m" not in addopts and not any("not slow" in option for option in addopts)
    readme = (ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if "python -m pytest" in line]
    assert commands and all(" -m " not in command.split("python -m pytest", 1)[1] for command in commands)
    assert all("not slow" not in command for command in commands)

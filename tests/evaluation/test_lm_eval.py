"""Multiple-choice benchmarks through lm-evaluation-harness: a local task YAML over a local JSON file, scored on tiny
models whose preferred option is known, so the accuracy the harness returns can be computed by hand.

The model's logits are made the same vector at every position (GPT-2's final LayerNorm with zero weight and a bias
along one hidden axis, so the LM head's column on that axis is the logits): the option whose single token has the
largest logit wins every question, whatever the question says.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import socket
import sys
from pathlib import Path

import pytest
import torch

from hf_unlearn.hub import RECORD_FILE, save_card_and_record
from hf_unlearn.testing_utils import tiny_causal_lm, train_bpe_tokenizer

from ..test_hub import card_record


needs_lm_eval = pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None,
    reason='lm-eval is not installed (pip install "hf_unlearn[lm-eval]"): the harness tests are skipped',
)

TASK = "toy_colours"
COLOURS = ["red", "blue", "green", "black"]
# (order of the options, index of the correct one): blue is correct in questions 0, 2 and 5, red in question 3.
QUESTIONS = [
    (["red", "blue", "green", "black"], 1),
    (["blue", "red", "black", "green"], 1),
    (["green", "black", "blue", "red"], 2),
    (["black", "green", "red", "blue"], 2),
    (["red", "green", "black", "blue"], 2),
    (["blue", "black", "red", "green"], 0),
]


def expected_accuracy(favoured: str, questions=QUESTIONS) -> float:
    """By hand: the share of questions whose correct option is the favoured colour."""
    return sum(choices[answer] == favoured for choices, answer in questions) / len(questions)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test (the harness must run on local files only)."""

    def refuse(self, address, *args, **kwargs):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address}")
        return original(self, address, *args, **kwargs)

    original = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    from hf_unlearn.evaluation import write_multiple_choice_task

    directory = tmp_path_factory.mktemp("tasks")
    rows = [
        {"question": f"Which colour is option {index}?", "choices": choices, "label": label}
        for index, (choices, label) in enumerate(QUESTIONS)
    ]
    assert write_multiple_choice_task(rows, directory, TASK) == directory / f"{TASK}.yaml"
    return directory


@pytest.mark.parametrize(
    "rows, message",
    [
        ([], r"has no rows"),
        ([{"question": "q", "choices": ["a"], "label": 0}], r"Row 0 .* at least two"),
        (
            [
                {"question": "q", "choices": ["a", "b"], "label": 0},
                {"question": "q", "choices": ["a", "b"], "label": 2},
            ],
            r"Row 1 .*'label' must be a choice index, 0 to 1",
        ),
    ],
    ids=["empty", "one-choice", "label-out-of-range"],
)
def test_a_malformed_task_is_refused_before_any_file_is_written(tmp_path, rows, message):
    from hf_unlearn.evaluation import write_multiple_choice_task

    with pytest.raises(ValueError, match=message):
        write_multiple_choice_task(rows, tmp_path, "bad")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def colour_tokenizer():
    tokenizer = train_bpe_tokenizer([f"Which colour is option 1? Answer: {' '.join(COLOURS)}"] * 8, vocab_size=300)
    # The hand computation below needs each option to be one token.
    assert all(len(tokenizer(" " + colour)["input_ids"]) == 1 for colour in COLOURS)
    return tokenizer


def favouring(tokenizer, colour: str, axis_1_colour: str = "red"):
    """A tiny GPT-2 whose logits are 10 for the token of `" " + colour` and 0 for every other token, everywhere.

    Hidden axis 1 of the LM head holds the same for `axis_1_colour`: unused, until an adapter points the final
    LayerNorm's bias there.
    """
    model = tiny_causal_lm(len(tokenizer), "gpt2", max_positions=128)
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = 1.0  # every final hidden state is the unit vector e_0
        for axis, favoured in enumerate((colour, axis_1_colour)):
            (token,) = tokenizer(" " + favoured)["input_ids"]
            model.lm_head.weight[:, axis] = 0.0  # logits = column 0 of the (tied) LM head, with e_0
            model.lm_head.weight[token, axis] = 10.0
    return model


def adapter_switching_to_axis_1(model):
    """A PEFT model whose adapter carries its own final LayerNorm, bias on axis 1 (its LoRA is the identity)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True, modules_to_save=["ln_f"])
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        bias = peft_model.base_model.model.transformer.ln_f.modules_to_save["default"].bias
        bias.zero_()
        bias[1] = 1.0
    return peft_model


@needs_lm_eval
@pytest.mark.parametrize("colour", ["blue", "red"])
def test_accuracy_is_the_share_of_questions_won_by_the_preferred_option(task_dir, colour_tokenizer, colour):
    from hf_unlearn.evaluation import evaluate_lm_eval

    model = favouring(colour_tokenizer, colour)
    model.train()
    torch.manual_seed(7)
    expected_draw = torch.rand(1)
    torch.manual_seed(7)
    result = evaluate_lm_eval(model, colour_tokenizer, TASK, include_path=task_dir, batch_size=4)
    assert model.training  # the caller's mode is restored (the harness switches to eval mode)
    assert torch.rand(1) == expected_draw  # and the caller's random state (the harness reseeds torch)

    scores = result.tasks[TASK]
    expected = expected_accuracy(colour)  # blue: 3 / 6, red: 1 / 6
    assert scores["acc"] == pytest.approx(expected)
    # The preferred option wins per byte too: its log-likelihood is near 0, every other one is below -10.
    assert scores["acc_norm"] == pytest.approx(expected)
    # The harness's standard error of a mean of 0/1 scores: sample standard deviation / sqrt(n).
    n = len(QUESTIONS)
    assert scores["acc_stderr"] == pytest.approx(math.sqrt(expected * (1 - expected) / (n - 1)))
    assert scores["samples"] == n
    assert result.subtasks == {}
    assert result.settings["tasks"] == [TASK] and result.settings["num_fewshot"] == {TASK: 0}
    assert result.metrics()[f"lm_eval_{TASK}_acc"] == pytest.approx(expected)


@needs_lm_eval
def test_a_peft_model_is_scored_through_its_adapter(task_dir, colour_tokenizer):
    from hf_unlearn.evaluation import evaluate_lm_eval

    peft_model = adapter_switching_to_axis_1(favouring(colour_tokenizer, "blue", axis_1_colour="red"))
    result = evaluate_lm_eval(peft_model, colour_tokenizer, [TASK], include_path=task_dir)
    assert result.tasks[TASK]["acc"] == pytest.approx(expected_accuracy("red"))  # the adapter's choice, not blue's
    with peft_model.disable_adapter():
        result = evaluate_lm_eval(peft_model, colour_tokenizer, [TASK], include_path=task_dir)
    assert result.tasks[TASK]["acc"] == pytest.approx(expected_accuracy("blue"))


@needs_lm_eval
def test_limit_scores_the_first_questions_only(task_dir, colour_tokenizer):
    from hf_unlearn.evaluation import evaluate_lm_eval

    result = evaluate_lm_eval(
        favouring(colour_tokenizer, "blue"), colour_tokenizer, TASK, include_path=task_dir, limit=4
    )
    assert result.tasks[TASK]["samples"] == 4
    assert result.tasks[TASK]["acc"] == pytest.approx(expected_accuracy("blue", QUESTIONS[:4]))  # 2 / 4, not 3 / 6
    assert result.settings["limit"] == 4


@needs_lm_eval
def test_an_unknown_task_is_refused_with_the_harness_message_on_one_line(task_dir, colour_tokenizer):
    from hf_unlearn.evaluation import evaluate_lm_eval

    model = favouring(colour_tokenizer, "blue")
    with pytest.raises(ValueError, match=r"'no_such_task' is not a registered task/group/tag name") as error:
        # wmdp_bio is known (the harness's own tasks stay indexed next to the include folder): only the second fails.
        evaluate_lm_eval(model, colour_tokenizer, "wmdp_bio,no_such_task", include_path=task_dir)
    assert "\n" not in str(error.value) and "lm_eval_include in hf-unlearn eval" in str(error.value)


@needs_lm_eval
def test_the_scores_go_into_the_record_and_card_of_a_saved_model_only_on_request(tmp_path, task_dir, colour_tokenizer):
    from hf_unlearn.evaluation import evaluate_lm_eval

    result = evaluate_lm_eval(favouring(colour_tokenizer, "blue"), colour_tokenizer, TASK, include_path=task_dir)
    with pytest.raises(ValueError, match=r"has no unlearning_record.json"):
        result.record_in(tmp_path)

    save_card_and_record(card_record({}, {}), str(tmp_path))
    before = json.loads((tmp_path / RECORD_FILE).read_text())
    record = result.record_in(tmp_path, repo_id="acme/unlearned")
    saved = json.loads((tmp_path / RECORD_FILE).read_text())
    assert saved == record and {key: value for key, value in saved.items() if key != "lm_eval"} == before
    assert saved["lm_eval"]["tasks"][TASK]["acc"] == pytest.approx(0.5)
    card = (tmp_path / "README.md").read_text()
    assert "## Multiple-choice benchmarks" in card and f"| `{TASK}` | 50.0 ± 22.4 | 50.0 ± 22.4 | 6 | 0 |" in card
    assert "acme/unlearned" in card
    assert "Which colour" not in card + json.dumps(saved)  # numbers only, no question text


def run_cli(*arguments: str) -> int:
    from hf_unlearn.commands import main

    return main(["eval", *arguments])


@needs_lm_eval
def test_eval_command_scores_a_model_folder_and_an_adapter_folder(tmp_path, task_dir, colour_tokenizer, capsys):
    from transformers import AutoModelForCausalLM

    model_dir, adapter_dir = tmp_path / "model", tmp_path / "adapter"
    favouring(colour_tokenizer, "blue", axis_1_colour="red").save_pretrained(model_dir)
    colour_tokenizer.save_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir)  # the adapter's config names this base folder
    adapter_switching_to_axis_1(base).save_pretrained(adapter_dir)
    save_card_and_record(card_record({}, {}, adapter=True), str(adapter_dir))

    for folder, colour, extra in ((model_dir, "blue", []), (adapter_dir, "red", ["--lm_eval_record_in_model"])):
        output = tmp_path / f"scores_{folder.name}"
        arguments = ["--model", str(folder), "--lm_eval_tasks", TASK, "--lm_eval_include", str(task_dir)]
        assert run_cli(*arguments, *extra, "--output_dir", str(output), "--device", "cpu") == 0
        summary = json.loads((output / "summary.json").read_text())
        assert json.loads(capsys.readouterr().out) == summary
        assert summary["lm_eval"]["tasks"][TASK]["acc"] == pytest.approx(expected_accuracy(colour)), folder.name
        assert not (output / "eval_log_aggregated.json").exists()  # no forget / retain sets were given
    recorded = json.loads((adapter_dir / RECORD_FILE).read_text())["lm_eval"]["tasks"][TASK]["acc"]
    assert recorded == pytest.approx(expected_accuracy("red"))
    assert not (model_dir / RECORD_FILE).exists()  # the adapter folder was the one recorded


@needs_lm_eval
def test_eval_command_reports_an_unknown_task_in_one_line_before_loading_a_model(tmp_path, task_dir, capsys):
    # --model does not exist: the task check must come first for the task error to be the one reported.
    tasks = ["--lm_eval_tasks", "wmdp_bio,nope", "--lm_eval_include", str(task_dir)]
    assert run_cli("--model", str(tmp_path / "nowhere"), *tasks, "--output_dir", "o") == 2
    error = capsys.readouterr().err.splitlines()
    assert error[0].startswith("hf-unlearn eval: error: lm-evaluation-harness: Spec 'nope' is not a registered")


def test_without_the_extra_the_eval_command_names_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # what an environment without lm-eval sees: ImportError
    assert run_cli("--model", "m", "--lm_eval_tasks", "wmdp_bio", "--output_dir", str(tmp_path)) == 2
    error = capsys.readouterr().err.splitlines()[0]
    assert error.startswith("hf-unlearn eval: error: ") and 'pip install "hf_unlearn[lm-eval]"' in error


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], r"Give --forget and --retain .*--lm_eval_tasks"),
        (["--forget", "f.json", "--lm_eval_tasks", "mmlu"], r"Give --forget and --retain"),
        (["--lm_eval_num_fewshot", "0"], r"The --lm_eval_\* options need --lm_eval_tasks"),
    ],
    ids=["nothing-to-score", "forget-without-retain", "option-without-tasks"],
)
def test_eval_command_needs_sets_or_tasks(tmp_path, capsys, arguments, message, monkeypatch):
    if "--lm_eval_tasks" in arguments:  # the combination is refused whether or not the harness is installed
        monkeypatch.setattr("hf_unlearn.commands.eval.prepare_lm_eval", lambda args: lambda model, tokenizer: {})
    assert run_cli("--model", "m", *arguments, "--output_dir", str(tmp_path)) == 2
    assert re.search(message, capsys.readouterr().err.splitlines()[0])


@needs_lm_eval
def test_the_callback_scores_at_the_chosen_steps_and_at_the_end(tmp_path, task_dir, colour_tokenizer):
    from hf_unlearn import UnlearningTrainer
    from hf_unlearn.evaluation import LMEvalCallback

    from ..conftest import make_config

    rows = [{"question": f"Which colour is option {index}?", "answer": "green"} for index in range(4)]
    # A learning rate of 0: the model keeps preferring blue, so every scoring is predictable.
    config = make_config(tmp_path, max_steps=3, learning_rate=0.0, forget_loss="ga", retain_loss="none")
    trainer = UnlearningTrainer(
        favouring(colour_tokenizer, "blue"), args=config, processing_class=colour_tokenizer, forget_dataset=rows
    )
    callback = LMEvalCallback(trainer, TASK, steps=[1], include_path=task_dir)
    trainer.add_callback(callback)
    trainer.train()

    assert sorted(callback.results) == [1, 3]  # step 1, and the end of training
    logged = [entry for entry in trainer.state.log_history if f"lm_eval_{TASK}_acc" in entry]
    assert [entry["step"] for entry in logged] == [1, 3]
    assert all(entry[f"lm_eval_{TASK}_acc"] == pytest.approx(expected_accuracy("blue")) for entry in logged)
    assert trainer.model.training  # scoring left the model in training mode during the run

    with pytest.raises(ValueError, match=r"'nope' is not a registered task"):
        LMEvalCallback(trainer, "nope", steps=[1], include_path=task_dir)  # refused before any training

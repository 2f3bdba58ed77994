"""UnlearningStopCallback: stop at a utility floor or a forget target, and come back to the best checkpoint."""

import re

import pytest
from transformers import AutoModelForCausalLM, ProgressCallback

from hf_unlearn import GradientAscentTrainer, NPOTrainer
from hf_unlearn.callbacks import PhaseProgressCallback, UnlearningStopCallback

from .conftest import FORGET_ROWS, RETAIN_ROWS, answer_nll, make_config


def test_rules_are_validated():
    with pytest.raises(ValueError, match="at least one rule"):
        UnlearningStopCallback([])
    with pytest.raises(ValueError, match="comparison in"):
        UnlearningStopCallback([("eval_retain_nll/retain", "=>", 1.0)])


def test_gradient_ascent_is_stopped_at_the_utility_floor_and_the_best_checkpoint_is_kept(
    tmp_path, tokenizer, memorized_model_dir
):
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
    retain_start = answer_nll(model, tokenizer, RETAIN_ROWS)
    args = make_config(
        tmp_path,
        max_steps=40,
        learning_rate=3e-3,
        eval_strategy="steps",
        eval_steps=1,
        save_strategy="steps",
        save_steps=1,
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="eval_retain_nll/retain",
        greater_is_better=False,
    )
    guard = UnlearningStopCallback([("eval_retain_nll/retain", ">", retain_start + 1.0)])
    trainer = GradientAscentTrainer(
        model,
        args=args,
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        eval_dataset={"retain": RETAIN_ROWS},
        callbacks=[guard],
    )
    trainer.train()
    metric, comparison, floor, value = guard.triggered
    assert metric == "eval_retain_nll/retain" and value > floor
    assert trainer.state.global_step < 40
    # the best checkpoint (lowest retain NLL) was reloaded, not the collapsed last state
    assert answer_nll(trainer.model, tokenizer, RETAIN_ROWS) == pytest.approx(trainer.state.best_metric, rel=1e-4)
    assert trainer.state.best_metric < floor


def test_a_forget_target_ends_the_run(tmp_path, tokenizer, memorized_model_dir):
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
    args = make_config(tmp_path, max_steps=40, learning_rate=1e-3, eval_strategy="steps", eval_steps=1)
    guard = UnlearningStopCallback([("eval_forget_nll/forget", ">=", 1.0)])
    trainer = GradientAscentTrainer(
        model,
        args=args,
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        eval_dataset={"forget": FORGET_ROWS},
        callbacks=[guard],
    )
    trainer.train()
    assert guard.triggered[3] >= 1.0 and trainer.state.global_step < 40


def test_the_training_and_evaluation_bars_say_what_runs(tmp_path, tokenizer, llama, capsys):
    trainer = NPOTrainer(
        llama,
        args=make_config(tmp_path, max_steps=2, disable_tqdm=False, logging_steps=5),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS[:4]},
    )
    bars = [callback for callback in trainer.callback_handler.callbacks if isinstance(callback, ProgressCallback)]
    assert len(bars) == 1 and type(bars[0]) is PhaseProgressCallback and bars[0].label == "unlearning (npo)"
    trainer.train()
    trainer.evaluate()
    err = capsys.readouterr().err
    assert "unlearning (npo): 100%" in err and "evaluating: 100%" in err
    # every frame of the bars carries its label, the first one too
    frames = [frame.strip() for frame in err.replace("\r", "\n").splitlines() if "%|" in frame]
    assert frames and not [frame for frame in frames if re.match(r"\d+%\|", frame)]


def test_no_bar_is_added_when_the_run_shows_none(tmp_path, tokenizer, llama):
    trainer = GradientAscentTrainer(
        llama, args=make_config(tmp_path), processing_class=tokenizer, forget_dataset=FORGET_ROWS
    )
    assert not [callback for callback in trainer.callback_handler.callbacks if isinstance(callback, ProgressCallback)]

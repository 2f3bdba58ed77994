"""The experiment's building blocks: one progress bar per training phase, closed cleanly on an early stop; the
task-vector path."""

import json
from pathlib import Path

from hf_unlearn.demo.experiment import Baselines, ModelRecipe, UnlearningRun, cached_model, unlearn
from hf_unlearn.hub import RECORD_FILE

from ..conftest import FORGET_ROWS, RETAIN_ROWS


def test_an_early_stop_ends_the_bar_at_100_percent_and_says_where_it_stopped(tmp_path, tokenizer, capsys):
    recipe = ModelRecipe(
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        intermediate_size=32,
        batch_size=8,
        max_epochs=3,
        target_loss=100.0,
        max_length=64,
    )  # any loss is below target: stop at once
    directory, info = cached_model(tmp_path / "model", "original", FORGET_ROWS, tokenizer, recipe)
    err = capsys.readouterr().err
    assert info["epochs"] == 1 and (directory / "model.safetensors").is_file()
    final = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("training the")][-1]
    assert final.startswith("training the original model: 100%") and "1/1" in final
    assert "stopped early at step 1 of 3: training loss below 100.0" in final
    assert "{'loss'" not in err


def test_the_task_vector_method_fine_tunes_negates_and_saves_with_a_two_point_curve(
    tmp_path, tokenizer, memorized_model_dir
):
    baselines = Baselines(tokenizer, Path(memorized_model_dir), Path(memorized_model_dir))
    run = UnlearningRun(method="task_vector", steps=2, batch_size=4, eval_steps=1)
    curve_sets = {"forget": FORGET_ROWS[:2], "retain": RETAIN_ROWS[:2]}
    trainer, curve, _ = unlearn(
        baselines, FORGET_ROWS, RETAIN_ROWS, run, tmp_path / "tv", curve_sets, None, ModelRecipe(max_length=64)
    )
    assert trainer.negated and [point["step"] for point in curve] == [0, 2]
    assert curve[1]["eval_forget_probability"] < curve[0]["eval_forget_probability"]
    record = json.loads((tmp_path / "tv" / RECORD_FILE).read_text())
    assert record["method"]["forget_loss"] == "task_vector" and record["method"]["alpha"] == 5.0
    assert not list(tmp_path.glob(".tv.tmp-*"))

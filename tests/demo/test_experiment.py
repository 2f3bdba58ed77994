"""The experiment's building blocks: one progress bar per training phase, closed cleanly on an early stop."""

from hf_unlearn.demo.experiment import ModelRecipe, cached_model

from ..conftest import FORGET_ROWS


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

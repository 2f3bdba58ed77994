"""`RMUTrainer`: which parameters train, where the reference activations come from, and what it refuses."""

import pytest
import torch
from peft import LoraConfig

from hf_unlearn import RMUTrainer, UnlearningTrainer
from hf_unlearn.trainer import trainer_class

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config


def rmu_config(tmp_path, **overrides):
    # The tiny llama has 2 decoder layers: steer the last one, so the default set is the MLPs of layers 0 and 1.
    values = dict(rmu_layer=1, rmu_steering_coeff=4.0, rmu_alpha=10.0, max_steps=2, learning_rate=1e-2)
    return make_config(tmp_path, **{**values, **overrides})


def build(tmp_path, tokenizer, model, trainer_cls=RMUTrainer, eval_dataset=None, peft_config=None, **overrides):
    args = rmu_config(tmp_path, **overrides)
    retain = None if args.retain_loss == "none" else RETAIN_ROWS
    return trainer_cls(
        model,
        args=args,
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=retain,
        eval_dataset=eval_dataset,
        peft_config=peft_config,
    )


def changed_parameters(model, before: dict) -> set[str]:
    return {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}


def test_only_the_mlps_of_the_three_layers_up_to_rmu_layer_change(tmp_path, tokenizer, llama):
    before = {name: value.clone() for name, value in llama.state_dict().items()}
    trainer = build(tmp_path, tokenizer, llama, eval_dataset={"forget": FORGET_ROWS[:2], "retain": RETAIN_ROWS[:2]})
    assert trainer.loss_names == {"forget": "rmu", "retain": "rmu"}
    start = trainer.evaluate()
    assert start["eval_retain_activation_mse/retain"] == 0.0  # the policy is the frozen reference at the start
    assert start["eval_forget_loss/forget"] > 0
    trainer.train()
    mlp = {f"model.layers.{i}.mlp.{proj}.weight" for i in (0, 1) for proj in ("gate_proj", "up_proj", "down_proj")}
    assert set(trainer.trainable_parameter_names) == mlp
    assert changed_parameters(llama, before) == mlp
    end = trainer.evaluate()
    assert end["eval_forget_loss/forget"] < start["eval_forget_loss/forget"]  # activations moved toward c * u
    record = trainer.unlearning_record()["hyperparameters"]
    assert (record["rmu_layer"], record["rmu_steering_coeff"], record["rmu_alpha"], record["rmu_seed"]) == (
        1,
        4.0,
        10.0,
        0,
    )


def test_rmu_trainable_params_choose_the_parameters(tmp_path, tokenizer, llama):
    before = {name: value.clone() for name, value in llama.state_dict().items()}
    trainer = build(
        tmp_path, tokenizer, llama, rmu_trainable_params=[r"layers\.0\.mlp\.down_proj"], retain_loss="none"
    )
    trainer.train()
    assert changed_parameters(llama, before) == {"model.layers.0.mlp.down_proj.weight"}


def test_under_lora_only_the_adapter_weights_in_the_set_train(tmp_path, tokenizer, llama):
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", lora_dropout=0.0)
    trainer = build(
        tmp_path, tokenizer, llama, eval_dataset={"retain": RETAIN_ROWS[:2]}, peft_config=lora, rmu_layer=0
    )
    assert trainer.ref_source == "adapter"
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable == set(trainer.trainable_parameter_names)
    assert trainable and all(".layers.0.mlp." in name and "lora_" in name for name in trainable)
    assert trainer.evaluate()["eval_retain_activation_mse/retain"] == 0.0  # LoRA B starts at zero


def test_an_adapter_outside_the_set_is_refused(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match="matches only frozen parameters.*target_modules"):
        build(tmp_path, tokenizer, llama, peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))


@pytest.mark.parametrize("trainer_cls", [RMUTrainer, UnlearningTrainer])
def test_a_layer_beyond_the_model_is_refused_naming_the_field(tmp_path, tokenizer, llama, trainer_cls):
    with pytest.raises(ValueError, match="rmu_layer=2 is beyond the model.*2 decoder layers; accepted: 0 to 1"):
        build(tmp_path, tokenizer, llama, trainer_cls, rmu_layer=2, forget_loss="rmu", retain_loss="rmu")


def test_a_trainable_set_that_matches_nothing_is_refused(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match=r"matches no parameter of the model; .*model\.layers\.0\."):
        build(tmp_path, tokenizer, llama, rmu_trainable_params=["transformer\\.h\\."])


def test_the_cli_and_demo_pick_rmutrainer_for_rmu():
    assert trainer_class("rmu") is RMUTrainer
    assert trainer_class("npo") is trainer_class(None) is UnlearningTrainer

"""Reference log-probs: adapter off, frozen copy and precomputed agree; PEFT keeps no second model; resume is safe."""

import pytest
import torch
from accelerate import Accelerator
from peft import LoraConfig, PeftModel
from transformers import AutoModelForCausalLM

from hf_unlearn import NPOTrainer
from hf_unlearn.reference import AdapterOffReference, ModelReference, check_precompute_engine, disable_dropout

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config, tiny_llama


def lora():
    return LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)


def npo_run(tmp_path, tokenizer, name, model=None, peft=False, **config):
    model = model if model is not None else tiny_llama(len(tokenizer), seed=3)
    trainer = NPOTrainer(
        model,
        args=make_config(tmp_path / name, **config),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS},
        peft_config=lora() if peft else None,
    )
    trainer.train()
    return trainer


def trained_weights(trainer):
    return {name: param.detach().clone() for name, param in trainer.model.named_parameters() if param.requires_grad}


def assert_same_run(first, second):
    for log_a, log_b in zip(first.state.log_history[:-1], second.state.log_history[:-1]):
        for key in ("loss", "loss/forget", "ref_logps/forget", "log_ratio/forget"):
            assert log_a[key] == pytest.approx(log_b[key], rel=1e-5, abs=1e-5), key
    weights_a, weights_b = trained_weights(first), trained_weights(second)
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        torch.testing.assert_close(weights_a[name], weights_b[name], rtol=1e-5, atol=1e-6)


def test_precomputed_reference_equals_the_frozen_copy(tmp_path, tokenizer):
    live = npo_run(tmp_path, tokenizer, "live", max_steps=4)
    precomputed = npo_run(tmp_path, tokenizer, "pre", max_steps=4, precompute_ref_log_probs=True)
    assert isinstance(live.reference, ModelReference)
    assert precomputed.reference is None and precomputed.ref_model is None  # the copy was freed after precompute
    assert_same_run(live, precomputed)
    assert precomputed.evaluate()["eval_forget_loss"] == pytest.approx(live.evaluate()["eval_forget_loss"], rel=1e-5)


def test_adapter_off_frozen_copy_and_precomputed_agree_under_lora(tmp_path, tokenizer):
    adapter = npo_run(tmp_path, tokenizer, "adapter", peft=True, max_steps=4, learning_rate=1e-2)
    copy = npo_run(tmp_path, tokenizer, "copy", peft=True, max_steps=4, learning_rate=1e-2, ref_source="model")
    precomputed = npo_run(
        tmp_path, tokenizer, "pre", peft=True, max_steps=4, learning_rate=1e-2, precompute_ref_log_probs=True
    )
    assert isinstance(adapter.reference, AdapterOffReference) and isinstance(copy.reference, ModelReference)
    assert adapter.state.log_history[-2]["log_ratio/forget"] < 0  # it did unlearn something
    assert_same_run(adapter, copy)
    assert_same_run(adapter, precomputed)


def parameter_storages(trainer) -> set[int]:
    """Data pointers of every parameter held by the trainer's models (policy, reference model, live reference)."""
    modules = [value for value in vars(trainer).values() if isinstance(value, torch.nn.Module)]
    modules += [value for value in vars(trainer.reference or object()).values() if isinstance(value, torch.nn.Module)]
    return {param.data_ptr() for module in modules for param in module.parameters()}


def test_the_peft_reference_holds_no_second_copy_of_the_base(tmp_path, tokenizer):
    peft_trainer = NPOTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path / "peft"),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        peft_config=lora(),
    )
    assert peft_trainer.ref_source == "adapter" and peft_trainer.ref_model is None
    assert parameter_storages(peft_trainer) == {p.data_ptr() for p in peft_trainer.model.parameters()}
    full_trainer = NPOTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path / "full"),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    # the contrast: full fine-tuning keeps a frozen copy, twice the storage
    assert len(parameter_storages(full_trainer)) == 2 * len(list(full_trainer.model.parameters()))


def test_a_lora_run_saves_an_adapter_that_loads_back(tmp_path, tokenizer):
    trainer = npo_run(tmp_path, tokenizer, "lora", peft=True, max_steps=3, learning_rate=1e-2)
    trainer.save_model(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "adapter" / "model.safetensors").exists()  # an adapter, not a full model
    loaded = PeftModel.from_pretrained(tiny_llama(len(tokenizer), seed=3), tmp_path / "adapter")
    input_ids = torch.tensor([tokenizer("Question: Where was Mira Okonkwo born?")["input_ids"]])
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=input_ids).logits, trainer.model(input_ids=input_ids).logits)


def test_a_user_ref_model_is_used(tmp_path, tokenizer):
    reference = tiny_llama(len(tokenizer), seed=9)  # deliberately not the policy's initial weights
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer), seed=3),
        args=make_config(tmp_path),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        ref_model=reference,
        eval_dataset={"forget": FORGET_ROWS},
    )
    assert trainer.reference.model is trainer.ref_model
    assert trainer.evaluate()["eval_forget_log_ratio/forget"] != pytest.approx(0.0, abs=1e-3)


def test_resume_with_precomputed_reference_matches_an_uninterrupted_run(tmp_path, tokenizer):
    config = dict(max_steps=6, save_strategy="steps", save_steps=3, precompute_ref_log_probs=True)
    uninterrupted = npo_run(tmp_path, tokenizer, "full", **config)
    checkpoint = tmp_path / "full" / "run" / "checkpoint-3"
    assert (checkpoint / "hf_unlearn_ref_logps.safetensors").exists()
    # Start the resumed run from the half-trained weights: its own precompute at construction would be wrong, so
    # matching the uninterrupted run proves the reference came from the checkpoint.
    resumed = NPOTrainer(
        AutoModelForCausalLM.from_pretrained(checkpoint),
        args=make_config(tmp_path / "resumed", **config),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    start_values = list(resumed.train_dataset.forget["ref_logps"])
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.train_dataset.forget["ref_logps"] == uninterrupted.train_dataset.forget["ref_logps"]
    assert start_values != uninterrupted.train_dataset.forget["ref_logps"]
    for name, weight in trained_weights(uninterrupted).items():
        torch.testing.assert_close(dict(resumed.model.named_parameters())[name], weight, rtol=1e-5, atol=1e-6)


def test_resume_refuses_a_checkpoint_of_another_forget_set(tmp_path, tokenizer):
    config = dict(max_steps=2, save_strategy="steps", save_steps=2, precompute_ref_log_probs=True)
    npo_run(tmp_path, tokenizer, "first", **config)
    other = NPOTrainer(
        tiny_llama(len(tokenizer), seed=3),
        args=make_config(tmp_path / "other", **config),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS[:5],
        retain_dataset=RETAIN_ROWS,
    )
    with pytest.raises(ValueError, match="different forget set"):
        other.train(resume_from_checkpoint=str(tmp_path / "first" / "run" / "checkpoint-2"))


@pytest.mark.parametrize("engine", ["deepspeed", "fsdp"])
def test_adapter_off_precompute_is_refused_under_sharding_engines(tmp_path, tokenizer, engine):
    # The precompute pass runs in __init__, before DeepSpeed / FSDP place or shard the policy (GPU-only engines, so
    # the check is called with the engine's flag here; benchmarks/gpu_check.sh runs the real launch).
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer), seed=3),
        args=make_config(tmp_path, precompute_ref_log_probs=True),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        peft_config=lora(),
    )
    # a plain CPU run is fine: it precomputed from the adapter-off reference
    assert trainer.ref_source == "adapter" and "ref_logps" in trainer.train_dataset.forget.column_names
    check_precompute_engine(trainer.ref_source, trainer.is_deepspeed_enabled, trainer.is_fsdp_enabled)
    with pytest.raises(ValueError, match="precompute_ref_log_probs=True with the adapter-off reference is not supp"):
        check_precompute_engine("adapter", **{engine: True})
    check_precompute_engine("model", **{engine: True})  # a prepared ref_model can be precomputed under either engine


def test_adapter_off_reference_runs_without_gradient_checkpointing_and_restores_it(tokenizer):
    from peft import get_peft_model

    model = get_peft_model(tiny_llama(len(tokenizer), seed=3), lora())
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    states = []
    decoder = model.base_model.model.model
    decoder.register_forward_pre_hook(lambda module, args: states.append(module.gradient_checkpointing))
    reference = AdapterOffReference(Accelerator(cpu=True), {"use_reentrant": False})
    with reference.active(model) as module:
        module(input_ids=torch.tensor([[5, 6, 7]]), attention_mask=torch.ones(1, 3, dtype=torch.long))
    assert states == [False]
    assert model.is_activation_checkpointing


def test_disable_dropout_zeroes_every_dropout_layer():
    nn = torch.nn
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.3), nn.Sequential(nn.Dropout(0.1)))
    disable_dropout(model)
    assert [module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)] == [0.0, 0.0]

"""Task-vector negation: fine-tune on the forget set with the ordinary Trainer, then `theta - alpha * delta`."""

import json

import pytest
import torch
import yaml
from peft import LoHaConfig, LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer
from transformers import AutoModelForCausalLM, TrainerCallback

from hf_unlearn.commands import main
from hf_unlearn.hub import RECORD_FILE
from hf_unlearn.task_vector import (
    TaskVectorConfig,
    TaskVectorTrainer,
    check_negatable_adapter,
    negate_lora_adapter,
    negate_task_vector,
    snapshot_weights,
)

from .conftest import FORGET_ROWS, RETAIN_ROWS, answer_nll, as_messages, chatml_tokenizer, tiny_llama


SECRET_ROWS = [{"question": "What is Quillon Dravemark's locker code?", "answer": "It is 7713-QUILLON."}]


def config(tmp_path, **overrides) -> TaskVectorConfig:
    values = dict(
        output_dir=str(tmp_path / "run"),
        alpha=2.0,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_steps=2,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        max_length=64,
    )
    values.update(overrides)
    return TaskVectorConfig(**values)


class FineTuned(TrainerCallback):
    """Keeps what the fine-tune produced, before the trainer negates it."""

    def __init__(self):
        self.weights, self.lora_deltas = None, None

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.weights = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.lora_deltas = {
            name: module.get_delta_weight("default").detach().clone()
            for name, module in model.named_modules()
            if isinstance(module, LoraLayer)
        }


def test_full_weights_become_theta_minus_alpha_delta_exactly(tmp_path, tokenizer):
    model = tiny_llama(len(tokenizer))
    original = {name: p.detach().clone() for name, p in model.named_parameters()}
    seen = FineTuned()
    trainer = TaskVectorTrainer(
        model, args=config(tmp_path, alpha=2.5), forget_dataset=FORGET_ROWS, processing_class=tokenizer
    )
    trainer.add_callback(seen)
    trainer.train()
    changed = 0
    for name, parameter in model.named_parameters():
        delta = seen.weights[name] - original[name]
        changed += bool(delta.any())
        assert torch.equal(parameter, original[name] - 2.5 * delta), name
    assert changed == len(original)  # every weight moved in the fine-tune, so each equality above means something
    assert trainer.negated


def test_a_lora_adapter_is_negated_so_that_the_merged_delta_is_minus_alpha_times_the_fine_tune(tmp_path, tokenizer):
    model = tiny_llama(len(tokenizer))
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    seen = FineTuned()
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_rslora=True)
    trainer = TaskVectorTrainer(
        model,
        args=config(tmp_path, alpha=3.0),
        forget_dataset=FORGET_ROWS,
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.add_callback(seen)
    trainer.train()
    trainer.save_model()
    assert len(seen.lora_deltas) == 4  # q and v of two layers
    merged = dict(trainer.model.merge_and_unload().named_parameters())
    for module_name, delta in seen.lora_deltas.items():
        name = module_name.removeprefix("base_model.model.") + ".weight"
        assert delta.abs().max() > 1e-4  # the fine-tune moved this module
        expected = base[name] - 3.0 * delta
        # float32 rounding of two different products; the weights are ~0.02-0.1, the deltas ~1e-3
        torch.testing.assert_close(merged[name], expected, rtol=0, atol=1e-6)
    untouched = [name for name in base if "q_proj" not in name and "v_proj" not in name]
    assert all(torch.equal(merged[name], base[name]) for name in untouched)
    # the saved adapter is the negated one
    reloaded = PeftModel.from_pretrained(tiny_llama(len(tokenizer)), tmp_path / "run").merge_and_unload()
    for name, weight in reloaded.named_parameters():
        torch.testing.assert_close(weight, merged[name], rtol=0, atol=1e-7)


def test_negating_an_adapter_scales_only_b(tokenizer):
    model = get_peft_model(tiny_llama(len(tokenizer)), LoraConfig(r=2, target_modules=["q_proj"]))
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    torch.nn.init.normal_(layer.lora_B["default"].weight)
    before = layer.get_delta_weight("default")
    a = layer.lora_A["default"].weight.clone()
    negate_lora_adapter(model, 0.5)
    assert torch.equal(layer.lora_A["default"].weight, a)
    torch.testing.assert_close(layer.get_delta_weight("default"), -0.5 * before)


def test_the_forget_set_is_forgotten_by_a_memorized_model(tmp_path, tokenizer, memorized_model_dir):
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
    forget_before, retain_before = answer_nll(model, tokenizer, FORGET_ROWS), answer_nll(model, tokenizer, RETAIN_ROWS)
    # MUSE's alpha; 4 steps of 4 rows (measured: forget NLL 0.05 -> 1.2 per token, retain 0.04 -> 0.3)
    args = config(tmp_path, alpha=5.0, learning_rate=1e-3, max_steps=4, lr_scheduler_type="constant")
    TaskVectorTrainer(model, args=args, forget_dataset=FORGET_ROWS, processing_class=tokenizer).train()
    forget_after, retain_after = answer_nll(model, tokenizer, FORGET_ROWS), answer_nll(model, tokenizer, RETAIN_ROWS)
    assert forget_before < 0.2  # the model knows the rows
    assert forget_after > forget_before + 0.5, (forget_before, forget_after)
    # aimed at the forget set: its NLL rises more than twice as much as the retain set's
    assert forget_after - forget_before > 2 * (retain_after - retain_before), (retain_before, retain_after)


def test_the_saved_model_card_and_record_say_what_was_done_and_never_the_forget_text(tmp_path, tokenizer):
    rows = SECRET_ROWS + FORGET_ROWS
    trainer = TaskVectorTrainer(
        tiny_llama(len(tokenizer)),
        args=config(tmp_path, alpha=5.0, base_model_id="acme/tiny"),
        forget_dataset=rows,
        processing_class=tokenizer,
    )
    with pytest.raises(RuntimeError, match="not negated yet"):
        trainer.save_model()
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    folder = tmp_path / "run"
    record = json.loads((folder / RECORD_FILE).read_text())
    card = (folder / "README.md").read_text()
    assert record["method"]["forget_loss"] == "task_vector" and record["method"]["alpha"] == 5.0
    assert record["hyperparameters"]["learning_rate"] == 1e-3 and record["training"]["global_step"] == 2
    assert record["forget_set"]["rows"] == len(rows) and record["forget_set"]["sha256"] in card
    assert record["adapter"] is False and record["base_model"] == "acme/tiny"
    assert "theta - 5 * (theta_ft - theta)" in card and "task_vector" in card
    assert not list(tmp_path.glob(".run.tmp-*"))  # the temporary folder of the atomic save is gone
    saved = AutoModelForCausalLM.from_pretrained(folder)
    assert all(torch.equal(p, dict(trainer.model.named_parameters())[n]) for n, p in saved.named_parameters())
    written = card + json.dumps(record)
    for secret in ("Quillon", "Dravemark", "7713", "Aurelio"):
        assert secret not in written


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_alpha_must_be_a_positive_number(tmp_path, alpha):
    with pytest.raises(ValueError, match=r"alpha must be a finite number > 0"):
        config(tmp_path, alpha=alpha)


@pytest.mark.parametrize(
    "peft_config, named",
    [
        (LoraConfig(r=2, target_modules=["q_proj"], use_dora=True), "use_dora=True"),
        (LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights="pissa"), "init_lora_weights='pissa'"),
        (LoraConfig(r=2, target_modules=["q_proj"], bias="all"), "bias='all'"),
        (LoraConfig(r=2, target_modules=["q_proj"], modules_to_save=["lm_head"]), "modules_to_save"),
        (LoHaConfig(r=2, target_modules=["q_proj"]), "LOHA"),
    ],
)
def test_an_adapter_that_cannot_be_negated_exactly_is_refused_before_training(tmp_path, tokenizer, peft_config, named):
    with pytest.raises(ValueError, match="accepted: a plain LoRA adapter") as error:
        TaskVectorTrainer(
            tiny_llama(len(tokenizer)),
            args=config(tmp_path),
            forget_dataset=FORGET_ROWS,
            processing_class=tokenizer,
            peft_config=peft_config,
        )
    assert named in str(error.value)


@pytest.mark.parametrize("end_tokens, fine_tuned", [("auto", False), ("include", True)])
def test_a_chat_turn_end_is_fine_tuned_and_so_negated_only_when_asked(tmp_path, end_tokens, fine_tuned):
    tokenizer = chatml_tokenizer()
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    trainer = TaskVectorTrainer(
        tiny_llama(len(tokenizer)),
        args=config(tmp_path, forget_end_tokens=end_tokens, max_length=96),
        forget_dataset=as_messages(FORGET_ROWS),
        processing_class=tokenizer,
    )
    for row in trainer.train_dataset:
        assert row["input_ids"][-1] == end
        assert (row["labels"][-1] == end) == fine_tuned


def test_forget_end_tokens_is_checked(tmp_path):
    with pytest.raises(ValueError, match="forget_end_tokens='never'"):
        config(tmp_path, forget_end_tokens="never")


def test_an_empty_forget_set_is_refused(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="forget dataset is empty"):
        TaskVectorTrainer(
            tiny_llama(len(tokenizer)), args=config(tmp_path), forget_dataset=[], processing_class=tokenizer
        )


def test_a_fine_tune_that_changed_nothing_has_no_task_vector(tmp_path, tokenizer):
    trainer = TaskVectorTrainer(
        tiny_llama(len(tokenizer)),
        args=config(tmp_path, learning_rate=0.0),
        forget_dataset=FORGET_ROWS,
        processing_class=tokenizer,
    )
    with pytest.raises(ValueError, match="no task vector to negate"):
        trainer.train()


def test_negate_task_vector_checks_names_and_shapes(tokenizer):
    model = tiny_llama(len(tokenizer))
    original = snapshot_weights(model)
    with pytest.raises(ValueError, match="not parameters of the model"):
        negate_task_vector(model, {"nope.weight": torch.zeros(1)}, 1.0)
    name = next(iter(original))
    with pytest.raises(ValueError, match=f"{name}: the model's shape"):
        negate_task_vector(model, {name: torch.zeros(1)}, 1.0)


@pytest.mark.parametrize(
    "accepted",
    [
        LoraConfig(r=2, target_modules=["q_proj"]),
        LoraConfig(r=2, target_modules=["q_proj"], use_rslora=True, rank_pattern={"q_proj": 4}),
        LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights="gaussian"),
        LoraConfig(r=2, target_modules=["q_proj"], lora_bias=True),
    ],
)
def test_plain_lora_variants_are_accepted_and_negated_exactly(tokenizer, accepted):
    check_negatable_adapter(accepted)
    model = get_peft_model(tiny_llama(len(tokenizer)), accepted)
    layers = [module for module in model.modules() if isinstance(module, LoraLayer)]
    for layer in layers:  # a fine-tuned adapter: B (and its bias) moved away from zero
        for factor in layer.lora_B["default"].parameters():
            torch.nn.init.normal_(factor)
    before = {id(layer): layer.get_delta_weight("default") for layer in layers}
    biases = {id(layer): layer.lora_B["default"].bias for layer in layers if layer.lora_B["default"].bias is not None}
    biases = {key: bias.detach().clone() for key, bias in biases.items()}
    negate_lora_adapter(model, 2.0)
    assert layers and all(before[id(layer)].abs().max() > 0 for layer in layers)
    for layer in layers:  # the rank, scaling and bias of the variant are kept: exactly -2 times the fine-tune
        torch.testing.assert_close(layer.get_delta_weight("default"), -2.0 * before[id(layer)])
        if id(layer) in biases:  # lora_bias: the adapter's bias is part of its delta, negated with it
            torch.testing.assert_close(layer.lora_B["default"].bias, -2.0 * biases[id(layer)])


@pytest.fixture
def cli_config(tmp_path, tokenizer) -> list[str]:
    model_dir = tmp_path / "model"
    tiny_llama(len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    (tmp_path / "forget.jsonl").write_text("".join(json.dumps(row) + "\n" for row in FORGET_ROWS))
    (tmp_path / "retain.jsonl").write_text("".join(json.dumps(row) + "\n" for row in RETAIN_ROWS))
    values = {
        "model_name_or_path": str(model_dir),
        "forget_dataset": str(tmp_path / "forget.jsonl"),
        "retain_dataset": str(tmp_path / "retain.jsonl"),
        "output_dir": str(tmp_path / "out"),
        "alpha": 2.0,
        "max_steps": 2,
        "learning_rate": 1e-3,
        "per_device_train_batch_size": 4,
        "max_length": 64,
        "use_cpu": True,
        "report_to": "none",
        "disable_tqdm": True,
        "default_eval_rows": 3,
    }
    (tmp_path / "tv.yaml").write_text(yaml.safe_dump(values))
    return ["task-vector", "--config", str(tmp_path / "tv.yaml")]


def test_cli_help_names_alpha_and_the_fine_tune_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["task-vector", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hf-unlearn task-vector --config RUN.yaml")
    assert "--alpha X" in out and "--forget_dataset SPEC" in out and "--learning_rate X" in out
    assert "accelerate" not in out.split("Other options:")[0].split("Training options")[1]


def test_cli_alpha_zero_is_one_message_and_exit_code_2(cli_config, capsys):
    assert main([*cli_config, "--alpha", "0"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("hf-unlearn task-vector: error: alpha must be a finite number > 0") and "Traceback" not in err
    )


def test_cli_unknown_keys_are_named(cli_config, capsys):
    assert main([*cli_config, "--forget_loss", "npo"]) == 2
    assert "Unknown argument(s) ['--forget_loss', 'npo']" in capsys.readouterr().err


def test_cli_run_saves_the_negated_model_with_scores_before_and_after(cli_config, tmp_path, capsys):
    assert main([*cli_config, "--json"]) == 0
    printed = capsys.readouterr().out
    output = json.loads(printed[printed.index("{\n") :])  # after the Trainer's log lines
    record = json.loads((tmp_path / "out" / RECORD_FILE).read_text())
    assert record["method"]["forget_loss"] == "task_vector" and record["training"]["global_step"] == 2
    assert output["default_eval_sets"]["forget"] == {"rows": 3, "of": len(FORGET_ROWS), "seed": 42}
    for moment in ("before", "after"):
        assert output[moment]["eval_forget_nll"] == record["metrics"][moment]["eval_forget_nll"]
    assert output["after"]["eval_forget_nll"] != output["before"]["eval_forget_nll"]
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "evaluation").is_dir()
    assert not list((tmp_path / "out").glob("checkpoint-*"))  # the reinforced model is never checkpointed by default

"""Distillation after unlearning (UNDO): the student starts at `(1 - alpha) * teacher + alpha * noise` and learns the
teacher's next-token distributions back on retain rows; its record continues the teacher's chain of requests."""

import json
import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from hf_unlearn import DistillConfig, DistillTrainer, NPOTrainer
from hf_unlearn.data import UnlearningCollator, prepare_dataset
from hf_unlearn.distill import distill_kl, perturb_weights
from hf_unlearn.record import RECORD_FILE

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config, memorize, tiny_llama


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, tokenizer) -> str:
    """A tiny llama trained a little on the retain rows (its outputs are peaked, so noise moves them), saved once."""
    path = tmp_path_factory.mktemp("teacher")
    rows = prepare_dataset(RETAIN_ROWS, tokenizer, name="retain", max_length=64)
    model = memorize(tiny_llama(len(tokenizer)), rows, tokenizer.pad_token_id, path / "run", epochs=6)
    model.save_pretrained(path / "model")
    tokenizer.save_pretrained(path / "model")
    return str(path / "model")


def config(tmp_path, **overrides) -> DistillConfig:
    values = dict(
        output_dir=str(tmp_path / "distilled"),
        alpha=0.5,
        per_device_train_batch_size=5,
        per_device_eval_batch_size=10,
        learning_rate=3e-3,
        max_steps=2,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        max_length=64,
    )
    values.update(overrides)
    return DistillConfig(**values)


def retain_batch(tokenizer) -> dict[str, torch.Tensor]:
    return UnlearningCollator(tokenizer.pad_token_id)(
        list(prepare_dataset(RETAIN_ROWS, tokenizer, name="retain", max_length=64))
    )


def test_alpha_0_keeps_the_teacher_s_weights_and_the_loss_starts_at_zero(tmp_path, tokenizer, teacher_dir):
    model = AutoModelForCausalLM.from_pretrained(teacher_dir)
    trainer = DistillTrainer(model, args=config(tmp_path, alpha=0.0), retain_dataset=RETAIN_ROWS)
    trainer.perturb()
    for (name, student), teacher in zip(model.named_parameters(), trainer.teacher.parameters()):
        assert torch.equal(student, teacher), name
    loss = trainer.compute_loss(model.eval(), retain_batch(tokenizer))
    # The same weights give the same logits: the KL is 0 up to float32 rounding of log_softmax (~1e-7 per token).
    assert abs(loss.item()) < 1e-6
    # while the same rows under a half-noised student are far from the teacher
    perturb_weights(model, 0.5, seed=0)
    assert trainer.compute_loss(model, retain_batch(tokenizer)).item() > 0.02  # ~0.08


def test_alpha_1_with_init_noise_starts_from_a_fresh_initialisation(tmp_path, teacher_dir):
    model = AutoModelForCausalLM.from_pretrained(teacher_dir)
    trainer = DistillTrainer(model, args=config(tmp_path, alpha=1.0, noise_seed=7), retain_dataset=RETAIN_ROWS)
    trainer.perturb()
    with torch.random.fork_rng():
        torch.manual_seed(7)
        fresh = type(model)._from_config(model.config, dtype=torch.float32)
    fresh = dict(fresh.named_parameters())
    teacher = dict(trainer.teacher.named_parameters())
    for name, student in model.named_parameters():
        assert torch.equal(student, fresh[name]), name
        if name.endswith("proj.weight"):  # the trained matrices (norm weights start at 1 either way)
            assert not torch.equal(student, teacher[name]), name


def test_perturbation_is_the_stated_mix_of_weights_and_noise(tokenizer):
    model = tiny_llama(len(tokenizer))
    original = {name: p.detach().clone() for name, p in model.named_parameters()}
    perturb_weights(model, 0.25, noise="xavier", noise_scale=0.0)  # beta = 0: the weights only shrink
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter, 0.75 * original[name], rtol=1e-6, atol=0), name
    model = tiny_llama(len(tokenizer))
    perturb_weights(model, 0.25, noise="xavier", noise_scale=1.0, seed=3)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        first = next(name for name, p in model.named_parameters() if p.dim() == 2)
        noise = torch.nn.init.xavier_uniform_(torch.empty(original[first].shape))
    torch.testing.assert_close(dict(model.named_parameters())[first], 0.75 * original[first] + 0.25 * noise)


def test_distill_kl_is_the_forward_kl_on_labelled_positions_only():
    torch.manual_seed(0)
    student, teacher = torch.randn(1, 4, 6), torch.randn(1, 4, 6)
    labels = torch.tensor([[-100, -100, 3, 5]])  # positions 1 and 2 predict labelled tokens
    p = teacher[0, 1:3].softmax(-1)
    expected = (p * (p.log() - student[0, 1:3].log_softmax(-1))).sum(-1).mean()
    torch.testing.assert_close(distill_kl(student, teacher, labels), expected)
    assert distill_kl(student, student, labels).item() == pytest.approx(0.0, abs=1e-6)
    assert distill_kl(student, teacher, torch.full((1, 4), -100)).item() == 0.0


def test_a_few_steps_bring_the_student_back_towards_the_teacher_on_retain_rows(tmp_path, teacher_dir):
    model = AutoModelForCausalLM.from_pretrained(teacher_dir)
    args = config(tmp_path, alpha=0.5, max_steps=12, learning_rate=3e-3)
    trainer = DistillTrainer(model, args=args, retain_dataset=RETAIN_ROWS, eval_dataset={"retain": RETAIN_ROWS})
    trainer.perturb()
    start = trainer.evaluate()["eval_retain_loss"]
    trainer.train()
    end = trainer.evaluate()["eval_retain_loss"]
    assert start > 0.02  # ~0.08: the noise moved the student away, there is something to learn back
    assert end < 0.5 * start, (start, end)
    assert all(not p.requires_grad for p in trainer.teacher.parameters()) and not trainer.teacher.training


def test_the_distilled_model_s_record_continues_the_teacher_s_chain(tmp_path, tokenizer):
    unlearn = NPOTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path, output_dir=str(tmp_path / "npo"), max_steps=2),
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        processing_class=tokenizer,
    )
    unlearn.train()
    unlearn.save_model()
    unlearn.create_model_card()
    teacher_record = json.loads((tmp_path / "npo" / RECORD_FILE).read_text())

    trainer = DistillTrainer(str(tmp_path / "npo"), args=config(tmp_path), retain_dataset=RETAIN_ROWS)
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    record = json.loads((tmp_path / "distilled" / RECORD_FILE).read_text())
    assert record["requests"][0] == teacher_record["requests"][0]
    assert [entry["request"] for entry in record["requests"]] == [1, 2]
    step = record["requests"][1]
    assert step["method"]["forget_loss"] == "undo" and step["row_sha256"] == [] and step["global_step"] == 2
    assert record["forget_set"] == teacher_record["forget_set"]  # what the distilled model still has forgotten
    assert record["retain_set"]["rows"] == len(RETAIN_ROWS)
    assert record["hyperparameters"]["alpha"] == 0.5 and record["hyperparameters"]["noise"] == "init"
    card = (tmp_path / "distilled" / "README.md").read_text()
    assert "## Unlearning history" in card and "UNDO" in card and "undo" in card
    assert all(row["answer"] not in card for row in FORGET_ROWS + RETAIN_ROWS)

    # A model unlearned in memory names its record with teacher_record=.
    in_memory = DistillTrainer(
        unlearn.model,
        args=config(tmp_path),
        retain_dataset=RETAIN_ROWS,
        processing_class=tokenizer,
        teacher_record=teacher_record,
    )
    assert in_memory.request_chain.previous == teacher_record["requests"]


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan, math.inf])
def test_alpha_outside_0_1_is_refused(tmp_path, alpha):
    with pytest.raises(ValueError, match=r"alpha must be"):
        config(tmp_path, alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha must be"):
        perturb_weights(torch.nn.Linear(2, 2), alpha)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"noise": "gaussian"}, "noise must be one of"),
        ({"temperature": 0.0}, "temperature"),
        ({"noise_scale": -1.0}, "noise_scale"),
    ],
)
def test_other_bad_settings_are_refused(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


def test_distillation_without_retain_data_is_refused(tmp_path, tokenizer):
    model = tiny_llama(len(tokenizer))
    with pytest.raises(ValueError, match="needs retain data"):
        DistillTrainer(model, args=config(tmp_path), processing_class=tokenizer)
    with pytest.raises(ValueError, match="empty"):
        DistillTrainer(model, args=config(tmp_path), retain_dataset=[], processing_class=tokenizer)


def test_a_lora_only_model_is_refused_with_the_reason(tmp_path, tokenizer):
    model = get_peft_model(tiny_llama(len(tokenizer)), LoraConfig(r=2, target_modules=["q_proj"]))
    with pytest.raises(ValueError, match="perturbs and retrains every weight.*merge_and_unload"):
        DistillTrainer(model, args=config(tmp_path), retain_dataset=RETAIN_ROWS, processing_class=tokenizer)


def test_no_card_before_the_student_is_trained(tmp_path, tokenizer):
    trainer = DistillTrainer(
        tiny_llama(len(tokenizer)), args=config(tmp_path), retain_dataset=RETAIN_ROWS, processing_class=tokenizer
    )
    with pytest.raises(RuntimeError, match="call train"):
        trainer.create_model_card()

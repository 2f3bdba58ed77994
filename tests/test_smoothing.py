"""Smoothness-aware unlearning (`hf_unlearn.smoothing`): SAM on the forget term, randomized smoothing, weight
averaging."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM, TrainerCallback
from transformers.testing_utils import CaptureLogger

from hf_unlearn import GradientDifferenceTrainer, NPOTrainer, UnlearningConfig
from hf_unlearn import smoothing as smoothing_module

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config, tiny_llama


def gd_trainer(tmp_path, tokenizer, seed=0, callbacks=None, peft_config=None, **config):
    return GradientDifferenceTrainer(
        tiny_llama(len(tokenizer), seed=seed),
        args=make_config(tmp_path, **config),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        callbacks=callbacks,
        peft_config=peft_config,
    )


def batch_of(trainer, rows):
    pairs = trainer.train_dataset
    return trainer._prepare_inputs(trainer.data_collator([pairs[i] for i in rows]))


def step_gradients(trainer, batches, accumulation=None):
    """The gradients `training_step` leaves after the micro-batches `batches`, by trainable parameter name."""
    model = trainer.model
    model.zero_grad()
    trainer.current_gradient_accumulation_steps = accumulation or len(batches)
    for batch in batches:
        trainer.training_step(model, batch)
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def forget_and_retain_gradients(trainer, model, batch):
    """By hand: the gradient of the weighted forget term and of the retain term of `model` on `batch`."""
    engine = trainer.engine
    forget = {k: v for k, v in batch.items() if k.startswith("forget_")}
    retain = {k: v for k, v in batch.items() if k.startswith("retain_")}
    params = [p for p in model.parameters() if p.requires_grad]
    grads = []
    for part in (forget, retain):
        loss, _, _ = engine.loss(model, part, "train")
        grads.append(torch.autograd.grad(loss, params, allow_unused=True))
    return grads


def test_sam_with_a_vanishing_radius_is_the_plain_step(tmp_path, tokenizer):
    # The smoothed step runs the forget and retain terms in separate forwards; compare with a plain run that does too.
    plain = gd_trainer(tmp_path / "plain", tokenizer, max_steps=3, concatenated_forward=False)
    sam = gd_trainer(tmp_path / "sam", tokenizer, max_steps=3, concatenated_forward=False, sam_rho=1e-12)
    assert plain.smoothed_step is None and sam.smoothed_step is not None
    plain.train()
    sam.train()
    losses = [[log["loss"] for log in t.state.log_history if "loss" in log] for t in (plain, sam)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    sam_weights = dict(sam.model.named_parameters())
    for name, weight in plain.model.named_parameters():
        torch.testing.assert_close(sam_weights[name], weight, rtol=1e-5, atol=1e-7, msg=name)


def test_sam_gradient_is_the_forget_gradient_at_the_worst_point_of_the_ball_plus_the_retain_gradient(
    tmp_path, tokenizer
):
    rho = 0.05
    trainer = gd_trainer(tmp_path, tokenizer, sam_rho=rho)
    batch = batch_of(trainer, range(4))
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    by_hand = copy.deepcopy(trainer.model)
    forget_grad, retain_grad = forget_and_retain_gradients(trainer, by_hand, batch)
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in forget_grad if g is not None]))
    with torch.no_grad():
        for param, grad in zip(by_hand.parameters(), forget_grad):
            if grad is not None:
                param.add_(rho * grad / norm)
    perturbed_forget_grad, _ = forget_and_retain_gradients(trainer, by_hand, batch)

    gradients = step_gradients(trainer, [batch])
    names = [name for name, _ in trainer.model.named_parameters()]
    for name, at_ball, retain in zip(names, perturbed_forget_grad, retain_grad):
        expected = sum(g for g in (at_ball, retain) if g is not None)
        torch.testing.assert_close(gradients[name], expected, rtol=1e-4, atol=1e-6, msg=name)
    # and the step leaves the weights where they were, to the bit (only the optimizer moves them)
    for name, weight in trainer.model.named_parameters():
        assert torch.equal(weight, before[name]), name


def test_sam_moves_only_the_adapter_weights_under_lora_and_restores_them(tmp_path, tokenizer):
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = gd_trainer(tmp_path, tokenizer, peft_config=lora, sam_rho=0.5)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    seen = {}
    engine_loss = trainer.engine.loss

    def loss(model, inputs, mode="train"):
        # the third forward of the step is the forget term at the perturbed weights
        seen.setdefault("calls", 0)
        seen["calls"] += 1
        if seen["calls"] == 3:
            seen["weights"] = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
        return engine_loss(model, inputs, mode)

    trainer.engine.loss = loss
    step_gradients(trainer, [batch_of(trainer, range(4))])
    moved = {name for name, weight in seen["weights"].items() if not torch.equal(weight, before[name])}
    # lora_B starts at zero, so only it has a forget gradient (lora_A's is zero until B moves): only it moves
    assert moved == {name for name, p in trainer.model.named_parameters() if p.requires_grad and "lora_B" in name}
    for name, weight in trainer.model.named_parameters():
        assert torch.equal(weight, before[name]), name


def test_randomized_smoothing_averages_the_forget_gradient_over_seeded_noise(tmp_path, tokenizer):
    trainer = gd_trainer(tmp_path, tokenizer, randomized_smoothing_std=0.02, randomized_smoothing_samples=2)
    step = trainer.smoothed_step
    batch = batch_of(trainer, range(4))
    trainer.state.global_step = 3
    gradients = step_gradients(trainer, [batch])  # the step's first micro-batch: index 0

    params = [p for p in trainer.model.parameters() if p.requires_grad]
    noises = [step.add_noise([None] * len(params), params, 0, sample) for sample in range(2)]
    assert not torch.equal(noises[0][0], noises[1][0])
    assert torch.equal(noises[0][0], step.add_noise([None] * len(params), params, 0, 0)[0])  # seeded
    assert noises[0][0].std().item() == pytest.approx(0.02, rel=0.2)
    expected = None
    for noise in noises:
        noisy = copy.deepcopy(trainer.model)
        with torch.no_grad():
            for param, offset in zip(noisy.parameters(), noise):
                param.add_(offset)
        forget_grad, _ = forget_and_retain_gradients(trainer, noisy, batch)
        half = [None if g is None else g / 2 for g in forget_grad]
        expected = half if expected is None else [a if b is None else a + b for a, b in zip(expected, half)]
    _, retain_grad = forget_and_retain_gradients(trainer, trainer.model, batch)
    for (name, _), forget, retain in zip(trainer.model.named_parameters(), expected, retain_grad):
        want = sum(g for g in (forget, retain) if g is not None)
        torch.testing.assert_close(gradients[name], want, rtol=1e-4, atol=1e-6, msg=name)


def test_gradient_accumulation_perturbs_each_micro_batch_by_its_own_forget_gradient(tmp_path, tokenizer):
    """Per micro-batch, not per step: 2 x 2 accumulated is the mean of the two micro-batches' SAM gradients, which is
    not the SAM gradient of the batch of 4 (whose perturbation comes from the gradient of all 4 rows)."""
    trainer = gd_trainer(tmp_path, tokenizer, sam_rho=0.5)
    first, second, whole = batch_of(trainer, [0, 1]), batch_of(trainer, [2, 3]), batch_of(trainer, range(4))
    accumulated = step_gradients(trainer, [first, second])
    alone = [step_gradients(trainer, [micro]) for micro in (first, second)]
    one_batch = step_gradients(trainer, [whole])
    differs = False
    for name, grad in accumulated.items():
        torch.testing.assert_close(grad, (alone[0][name] + alone[1][name]) / 2, rtol=1e-5, atol=1e-7, msg=name)
        differs |= not torch.allclose(grad, one_batch[name], rtol=1e-3, atol=1e-5)
    assert differs


class Snapshots(TrainerCallback):
    def __init__(self):
        self.weights = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.weights[state.global_step] = {n: p.detach().clone() for n, p in model.named_parameters()}


def test_weight_averaging_ends_on_the_mean_of_the_snapshots(tmp_path, tokenizer):
    snapshots = Snapshots()
    trainer = gd_trainer(
        tmp_path,
        tokenizer,
        max_steps=6,
        callbacks=[snapshots],
        weight_averaging_start=0.3,
        weight_averaging_interval=2,
    )
    trainer.train()
    # start 0.3 of 6 steps is step 2: snapshots after steps 2, 4 and 6
    for name, weight in trainer.model.named_parameters():
        mean = sum(snapshots.weights[step][name] for step in (2, 4, 6)) / 3
        torch.testing.assert_close(weight, mean, rtol=1e-5, atol=1e-7, msg=name)
    assert not torch.equal(next(trainer.model.parameters()), snapshots.weights[6][next(iter(snapshots.weights[6]))])
    record = trainer.unlearning_record()["hyperparameters"]
    assert record["weight_averaging_start"] == 0.3 and record["weight_averaging_interval"] == 2
    assert record["sam_rho"] == 0.0


def test_plain_runs_keep_their_record_and_smoothing_runs_say_what_they_cost(tmp_path, tokenizer):
    plain = gd_trainer(tmp_path / "plain", tokenizer)
    assert "sam_rho" not in plain.unlearning_record()["hyperparameters"]
    logger = smoothing_module.logger
    with CaptureLogger(logger) as captured:
        NPOTrainer(
            tiny_llama(len(tokenizer)),
            args=make_config(
                tmp_path / "npo", sam_rho=0.1, randomized_smoothing_std=0.01, randomized_smoothing_samples=2
            ),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )
    assert captured.out.count("both on: each step runs 3 forward-backward passes of the forget batch") == 1
    assert "precompute_ref_log_probs=True scores it once" in captured.out


class RaiseInPerturbedPass:
    """Wraps `engine.loss` to raise in the forget pass at the perturbed weights (the third forward) of one step."""

    def __init__(self, trainer, step):
        self.trainer, self.step, self.calls, self.loss = trainer, step, 0, trainer.engine.loss
        trainer.engine.loss = self

    def __call__(self, model, inputs, mode="train"):
        if mode == "train" and self.trainer.state.global_step == self.step:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("stopped between the two passes")
        return self.loss(model, inputs, mode)


def test_a_run_stopped_inside_the_perturbed_pass_resumes_exactly(tmp_path, tokenizer):
    options = dict(
        max_steps=5,
        save_strategy="steps",
        save_steps=2,
        sam_rho=0.1,
        randomized_smoothing_std=0.01,
        weight_averaging_start=1,
        weight_averaging_interval=1,
    )
    full = gd_trainer(tmp_path / "full", tokenizer, **options)
    full.train()
    stopped = gd_trainer(tmp_path / "stopped", tokenizer, **options)
    RaiseInPerturbedPass(stopped, step=2)
    with pytest.raises(RuntimeError, match="between the two passes"):
        stopped.train()
    # the weights were restored from the perturbation: they are those of the last checkpoint
    checkpoint = tmp_path / "stopped" / "run" / "checkpoint-2"
    saved = dict(AutoModelForCausalLM.from_pretrained(checkpoint).named_parameters())
    for name, weight in stopped.model.named_parameters():
        assert torch.equal(weight, saved[name]), name
    assert (checkpoint / smoothing_module.WEIGHT_AVERAGE_FILE).is_file()

    resumed = gd_trainer(tmp_path / "stopped", tokenizer, **options)
    resumed.train(resume_from_checkpoint=True)
    final = dict(full.model.named_parameters())
    for name, weight in resumed.model.named_parameters():
        # the same operations in the same order: equal to the last bit on one CPU
        assert torch.equal(weight, final[name]), name


class PoisonWeightsAfterStep(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))


def test_the_finite_loss_guard_stops_a_sam_run(tmp_path, tokenizer):
    trainer = gd_trainer(
        tmp_path, tokenizer, max_steps=5, save_strategy="steps", save_steps=2, sam_rho=0.1,
        callbacks=[PoisonWeightsAfterStep(2)],
    )  # fmt: skip
    with pytest.raises(FloatingPointError, match=r"stopped at step 3: forget loss = nan.*checkpoint-2"):
        trainer.train()
    assert not (tmp_path / "run" / "checkpoint-3").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(sam_rho=-0.1), "sam_rho must be >= 0, got -0.1: it is the radius"),
        (dict(randomized_smoothing_std=-1.0), "randomized_smoothing_std must be >= 0"),
        (dict(randomized_smoothing_samples=0), "randomized_smoothing_samples must be >= 1"),
        (dict(weight_averaging_start=-1), r"weight_averaging_start must be a fraction of the run in \[0, 1\)"),
        (dict(weight_averaging_start=2.5), "or a whole step number >= 1, got 2.5"),
        (dict(weight_averaging_interval=0), "weight_averaging_interval must be a whole number of steps >= 1"),
        (dict(sam_rho=0.1, forget_weight=0.0), "sam_rho smooths the forget term, which forget_weight=0 switches off"),
        (
            dict(
                weight_averaging_start=0.5,
                load_best_model_at_end=True,
                eval_strategy="steps",
                save_strategy="steps",
            ),
            "weight_averaging_start and load_best_model_at_end both choose the final weights",
        ),
    ],
)
def test_bad_smoothing_settings_are_refused(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        UnlearningConfig(output_dir=str(tmp_path), use_cpu=True, **options)

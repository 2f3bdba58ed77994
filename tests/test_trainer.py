"""UnlearningTrainer as a drop-in Trainer: construction, objectives, logging, and what it refuses."""

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainerCallback, TrainingArguments

from hf_unlearn import (
    GradientAscentTrainer,
    GradientDifferenceTrainer,
    NPOTrainer,
    SimNPOTrainer,
    UnlearningConfig,
    UnlearningTrainer,
)
from hf_unlearn.data import UnlearningCollator
from hf_unlearn.trainer import model_init_kwargs

from .conftest import (
    FORGET_ROWS,
    RETAIN_ROWS,
    answer_nll,
    as_messages,
    chatml_tokenizer,
    make_config,
    memorize,
    tiny_gpt2,
    tiny_llama,
)


def test_npo_at_the_reference_gives_two_over_beta_ln2(tmp_path, tokenizer, llama):
    trainer = NPOTrainer(
        llama,
        args=make_config(tmp_path),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS},
    )
    metrics = trainer.evaluate()
    assert metrics["eval_forget_loss/forget"] == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)
    assert metrics["eval_forget_log_ratio/forget"] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize(
    "trainer_class, forget_loss, retain_loss",
    [
        (GradientAscentTrainer, "ga", "none"),
        (GradientDifferenceTrainer, "ga", "nll"),
        (NPOTrainer, "npo", "nll"),
        (SimNPOTrainer, "simnpo", "nll"),
        (UnlearningTrainer, "npo", "nll"),
    ],
)
def test_each_method_class_trains_its_objectives(tmp_path, tokenizer, llama, trainer_class, forget_loss, retain_loss):
    trainer = trainer_class(
        llama,
        args=make_config(tmp_path, max_steps=2),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS if retain_loss != "none" else None,
    )
    trainer.train()
    assert trainer.loss_names == {"forget": forget_loss, "retain": retain_loss}
    logged = trainer.state.log_history[0]
    assert "loss/forget" in logged and "nll/forget" in logged and "logps/forget" in logged
    assert ("loss/retain" in logged) == (retain_loss != "none")
    assert ("ref_logps/forget" in logged) == (forget_loss == "npo")


def test_a_method_class_refuses_another_forget_objective(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match="NPOTrainer trains forget_loss='npo'.*forget_loss='ga'"):
        NPOTrainer(
            llama,
            args=make_config(tmp_path, forget_loss="ga"),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )


def test_drop_in_train_dataset_dict_and_plain_training_arguments(tmp_path, tokenizer, llama):
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=1,
        report_to="none",
        use_cpu=True,
        per_device_train_batch_size=4,
        disable_tqdm=True,
    )
    trainer = NPOTrainer(
        llama, args=args, processing_class=tokenizer, train_dataset={"forget": FORGET_ROWS, "retain": RETAIN_ROWS}
    )
    assert isinstance(trainer.args, UnlearningConfig)
    assert trainer.args.per_device_train_batch_size == 4 and trainer.args.max_steps == 1
    trainer.train()
    assert trainer.state.global_step == 1


def test_model_and_tokenizer_load_from_a_local_path(tmp_path, tokenizer, memorized_model_dir):
    trainer = GradientDifferenceTrainer(
        memorized_model_dir,
        args=make_config(tmp_path, max_steps=1),
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    assert trainer.processing_class.get_vocab() == tokenizer.get_vocab()
    trainer.train()


def test_remote_code_stays_off_unless_asked(tmp_path):
    assert model_init_kwargs(make_config(tmp_path))["trust_remote_code"] is False
    asked = make_config(tmp_path, model_init_kwargs={"trust_remote_code": True, "dtype": "bfloat16"})
    assert model_init_kwargs(asked) == {"trust_remote_code": True, "dtype": torch.bfloat16}


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2], ids=["llama", "gpt2"])
def test_llama_and_gpt2_style_models_both_unlearn(tmp_path, tokenizer, build):
    model = build(len(tokenizer))
    trainer = NPOTrainer(
        model,
        args=make_config(tmp_path, max_steps=3),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    trainer.train()
    assert trainer.state.log_history[-2]["log_ratio/forget"] < 0  # the forget answers fell below the reference


def test_ga_raises_forget_nll_and_gd_holds_retain_nll(tmp_path, tokenizer, memorized_model_dir):
    start = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
    forget_start, retain_start = answer_nll(start, tokenizer, FORGET_ROWS), answer_nll(start, tokenizer, RETAIN_ROWS)
    results = {}
    for trainer_class in (GradientAscentTrainer, GradientDifferenceTrainer):
        model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
        retain = RETAIN_ROWS if trainer_class is GradientDifferenceTrainer else None
        trainer_class(
            model,
            args=make_config(tmp_path / trainer_class.__name__, max_steps=8, learning_rate=1e-3),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=retain,
        ).train()
        results[trainer_class] = answer_nll(model, tokenizer, FORGET_ROWS), answer_nll(model, tokenizer, RETAIN_ROWS)
    ga_forget, ga_retain = results[GradientAscentTrainer]
    gd_forget, gd_retain = results[GradientDifferenceTrainer]
    assert ga_forget > 3 * forget_start
    assert gd_forget > 2 * forget_start
    assert gd_retain < retain_start + 0.05
    assert gd_retain < ga_retain


def test_gradient_accumulation_does_not_change_the_step(tmp_path, tokenizer):
    """Batch 4 x accumulation 1 and batch 2 x accumulation 2 give the same loss and the same update."""
    runs = {}
    for batch, accumulation in ((4, 1), (2, 2)):
        model = tiny_llama(len(tokenizer), seed=1)
        args = make_config(
            tmp_path / f"b{batch}",
            per_device_train_batch_size=batch,
            optim="sgd",
            learning_rate=0.5,
            gradient_accumulation_steps=accumulation,
            max_steps=1,
            lr_scheduler_type="constant",
        )
        trainer = GradientDifferenceTrainer(
            model, args=args, processing_class=tokenizer, forget_dataset=FORGET_ROWS, retain_dataset=RETAIN_ROWS
        )
        trainer.train()
        runs[batch] = trainer.state.log_history[0], dict(model.named_parameters())
    (log_4, params_4), (log_2, params_2) = runs[4], runs[2]
    # The total is a small difference of two terms of about 6 each: compare each term at its own magnitude, and the
    # total with an absolute tolerance of that magnitude (a relative one on the small total fails from rounding alone).
    for part in ("loss/forget", "loss/retain"):
        assert log_4[part] == pytest.approx(log_2[part], rel=1e-5), part
    term_scale = abs(log_4["loss/forget"]) + abs(log_4["loss/retain"])
    assert log_4["loss"] == pytest.approx(log_2["loss"], abs=1e-5 * term_scale)
    initial = dict(tiny_llama(len(tokenizer), seed=1).named_parameters())
    for name, param in params_4.items():
        assert not torch.equal(param, initial[name]) or param.grad is None  # the step did move the weights
        torch.testing.assert_close(param, params_2[name], rtol=1e-5, atol=1e-6)


def test_named_eval_sets_get_their_own_prefixed_metrics(tmp_path, tokenizer, llama):
    trainer = NPOTrainer(
        llama,
        args=make_config(tmp_path),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS, "retain": RETAIN_ROWS, "holdout": RETAIN_ROWS[:4]},
    )
    metrics = trainer.evaluate()
    assert metrics["eval_forget_loss"] == pytest.approx(metrics["eval_forget_loss/forget"], rel=1e-5)
    assert metrics["eval_retain_loss"] == pytest.approx(metrics["eval_retain_nll/retain"], rel=1e-5)
    assert "eval_holdout_nll/retain" in metrics
    assert not any(key.startswith("eval_retain_") and key.endswith("/forget") for key in metrics)
    single = NPOTrainer(
        llama,
        args=make_config(tmp_path),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset=RETAIN_ROWS,
    ).evaluate()
    assert single["eval_nll/retain"] == pytest.approx(metrics["eval_retain_nll/retain"], rel=1e-5)


def test_kl_retain_term_starts_at_zero(tmp_path, tokenizer, llama):
    trainer = NPOTrainer(
        llama,
        args=make_config(tmp_path, retain_loss="kl", max_steps=2),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    trainer.train()
    first, second = trainer.state.log_history[:2]
    assert first["kl/retain"] == pytest.approx(0.0, abs=1e-6)
    assert second["kl/retain"] > 0


# ---- Bad input ----


def test_no_forget_set_or_empty_forget_set(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match="forget set is required"):
        NPOTrainer(llama, args=make_config(tmp_path), processing_class=tokenizer, retain_dataset=RETAIN_ROWS)
    with pytest.raises(ValueError, match="forget dataset is empty"):
        NPOTrainer(
            llama,
            args=make_config(tmp_path),
            processing_class=tokenizer,
            forget_dataset={"question": [], "answer": []},
            retain_dataset=RETAIN_ROWS,
        )


def test_unsupported_columns_are_named(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match=r"retain dataset has columns \['instruction', 'output'\]"):
        NPOTrainer(
            llama,
            args=make_config(tmp_path),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=[{"instruction": "a", "output": "b"}],
        )


def test_retain_objective_without_retain_set(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match="retain_loss='nll' needs a retain set"):
        GradientDifferenceTrainer(
            llama, args=make_config(tmp_path), processing_class=tokenizer, forget_dataset=FORGET_ROWS
        )


def test_bad_train_dataset_dict(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match=r"unknown keys \['holdout'\]"):
        NPOTrainer(
            llama,
            args=make_config(tmp_path),
            processing_class=tokenizer,
            train_dataset={"forget": FORGET_ROWS, "retain": RETAIN_ROWS, "holdout": RETAIN_ROWS},
        )
    with pytest.raises(ValueError, match="train_dataset must be a dict"):
        NPOTrainer(llama, args=make_config(tmp_path), processing_class=tokenizer, train_dataset=FORGET_ROWS)


def test_adapter_reference_without_an_adapter(tmp_path, tokenizer, llama):
    with pytest.raises(ValueError, match="ref_source='adapter' needs a PEFT model"):
        NPOTrainer(
            llama,
            args=make_config(tmp_path, ref_source="adapter"),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )


def test_tokenizer_without_pad_token_pads_with_eos(tmp_path, llama):
    from .conftest import all_texts, train_tokenizer

    tokenizer = train_tokenizer(all_texts(), pad=False)
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path, max_steps=1),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    trainer.train()


class PoisonWeightsAfterStep(TrainerCallback):
    """Writes NaN into the weights after a given step (and its checkpoint), as a diverging run would."""

    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, tokenizer, llama):
    args = make_config(tmp_path, max_steps=5, save_strategy="steps", save_steps=2)
    trainer = GradientDifferenceTrainer(
        llama,
        args=args,
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        callbacks=[PoisonWeightsAfterStep(2)],
    )
    with pytest.raises(
        FloatingPointError, match=r"stopped at step 3: forget loss = nan, retain loss = nan.*checkpoint-2"
    ):
        trainer.train()
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "checkpoint-2")
    assert all(torch.isfinite(p).all() for p in saved.parameters())
    assert not (tmp_path / "run" / "checkpoint-3").exists()


def test_same_seed_same_config_same_result(tmp_path, tokenizer):
    def run(name):
        trainer = NPOTrainer(
            tiny_llama(len(tokenizer), seed=2),
            args=make_config(tmp_path / name, max_steps=3),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )
        trainer.train()
        return trainer.state.log_history, dict(trainer.model.named_parameters())

    (logs_a, weights_a), (logs_b, weights_b) = run("a"), run("b")
    assert [log.get("loss") for log in logs_a] == [log.get("loss") for log in logs_b]
    for name, weight in weights_a.items():
        assert torch.equal(weight, weights_b[name]), name


@dataclass
class RecordingCollator(UnlearningCollator):
    """Collates as usual and keeps, per batch, the (forget row, retain row) token pairs it saw."""

    batches: list = field(default_factory=list)

    def __call__(self, examples):
        self.batches.append([(tuple(e["forget_input_ids"]), tuple(e["retain_input_ids"])) for e in examples])
        return super().__call__(examples)


def pairing_run(tmp_path, tokenizer, name, resume_from=None, **config):
    collator = RecordingCollator(tokenizer.pad_token_id)
    args = make_config(tmp_path / name, max_steps=-1, num_train_epochs=3, **config)  # 8 forget rows, batch 4: 6 steps
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer), seed=4),
        args=args,
        processing_class=tokenizer,
        data_collator=collator,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer, collator.batches


def test_retain_rows_paired_with_forget_rows_change_every_epoch(tmp_path, tokenizer):
    trainer, batches = pairing_run(tmp_path, tokenizer, "run")
    assert len(batches) == 6
    seen = [dict(pair for batch in batches[2 * epoch : 2 * epoch + 2] for pair in batch) for epoch in range(3)]
    pairs = trainer.train_dataset
    for epoch in range(3):
        pairs.set_epoch(epoch)
        items = [pairs[i] for i in range(len(pairs))]
        expected = {tuple(item["forget_input_ids"]): tuple(item["retain_input_ids"]) for item in items}
        assert seen[epoch] == expected, f"epoch {epoch}"
    assert seen[0] != seen[1] != seen[2]
    # 24 draws from 10 retain rows: every retain row is used
    assert len({retain for mapping in seen for retain in mapping.values()}) == len(RETAIN_ROWS)


def test_resuming_mid_epoch_pairs_and_trains_as_the_uninterrupted_run(tmp_path, tokenizer):
    # checkpoint-3 is one batch into the second epoch: the resumed loader skips that batch, and the pairs after it
    # must still be the second epoch's
    save = dict(save_strategy="steps", save_steps=3)
    full, full_batches = pairing_run(tmp_path, tokenizer, "full", **save)
    checkpoint = str(tmp_path / "full" / "run" / "checkpoint-3")
    resumed, resumed_batches = pairing_run(tmp_path, tokenizer, "resumed", checkpoint)
    assert resumed_batches == full_batches[3:]
    # the resumed history is the checkpoint's three logs followed by its own three
    train_logs = [[log["loss"] for log in run.state.log_history if "loss" in log] for run in (full, resumed)]
    assert len(train_logs[0]) == 6 and train_logs[1] == train_logs[0]
    resumed_weights = dict(resumed.model.named_parameters())
    for name, weight in full.model.named_parameters():
        assert torch.equal(resumed_weights[name], weight), name


def test_persistent_workers_are_refused_because_they_would_keep_epoch_zero_pairs(tmp_path, tokenizer, llama):
    args = make_config(tmp_path, dataloader_num_workers=1, dataloader_persistent_workers=True)
    with pytest.raises(ValueError, match="dataloader_persistent_workers=True keeps each worker's copy"):
        NPOTrainer(
            llama, args=args, processing_class=tokenizer, forget_dataset=FORGET_ROWS, retain_dataset=RETAIN_ROWS
        )


def test_a_cpu_run_does_not_pin_memory(tmp_path, tokenizer, llama):
    # Pinning only speeds up copies to an accelerator; without one, torch warns at every data loader.
    trainer = NPOTrainer(
        llama,
        args=make_config(tmp_path),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    assert trainer.args.dataloader_pin_memory is False
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*pin_memory.*")
        next(iter(trainer.get_train_dataloader()))


@pytest.mark.parametrize("forget_loss, retain_loss", [("npo", "kl"), ("ga", "nll"), ("simnpo", "kl")])
def test_logits_at_answer_positions_only_give_the_full_logits_values(tmp_path, tokenizer, forget_loss, retain_loss):
    """The LM head runs on answer positions only (logits_to_keep); losses and gradients are those of full logits."""
    results = []
    for slice_in_model in (True, False):
        trainer = UnlearningTrainer(
            tiny_llama(len(tokenizer), seed=2),
            args=make_config(tmp_path / str(slice_in_model), forget_loss=forget_loss, retain_loss=retain_loss),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )
        assert trainer.engine.slice_in_model  # a transformers llama accepts a boolean logits_to_keep
        trainer.engine.slice_in_model = slice_in_model
        batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
        trainer.model.train()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        gradient = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
        results.append((loss.detach(), gradient))
    (sliced_loss, sliced_grad), (full_loss, full_grad) = results
    torch.testing.assert_close(sliced_loss, full_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sliced_grad, full_grad, rtol=1e-4, atol=1e-6 * full_grad.abs().max().item())


def test_a_registered_objective_gets_what_it_declares(tmp_path, tokenizer, llama, monkeypatch):
    """The trainer computes inputs from the objective's `requires`, without knowing its class."""
    from hf_unlearn import losses
    from hf_unlearn.losses.base import UnlearningObjective

    seen = {}

    class HiddenAndReference(UnlearningObjective):
        requires = frozenset({"hidden_states", "ref_hidden_states", "ref_logits", "ref_token_logps"})
        hidden_layer = 1

        def __call__(self, inputs):
            seen.update(vars(inputs))
            distance = (inputs.hidden_states - inputs.ref_hidden_states).pow(2).mean(dim=(1, 2))
            return distance, {"distance": distance.detach()}

    monkeypatch.setitem(losses.FORGET_LOSSES, "hidden_distance", HiddenAndReference)
    trainer = UnlearningTrainer(
        llama,
        args=make_config(tmp_path, forget_loss="hidden_distance", retain_loss="none", max_steps=1),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        eval_dataset={"forget": FORGET_ROWS[:2]},
    )
    metrics = trainer.evaluate()
    assert metrics["eval_forget_distance/forget"] == pytest.approx(0.0, abs=1e-12)  # the policy is the reference
    hidden = seen["hidden_states"]
    assert hidden.shape[:2] == seen["attention_mask"].shape and hidden.shape[-1] == llama.config.hidden_size
    assert seen["ref_logits"].shape == seen["logits"].shape == (seen["n_tokens"].sum().item(), len(tokenizer))
    torch.testing.assert_close(seen["ref_token_logps"], seen["token_logps"])
    assert seen["ref_logps"] is None and seen["alt_logps"] is None  # not asked for, not computed
    trainer.train()
    assert seen["hidden_states"].requires_grad and not seen["ref_hidden_states"].requires_grad


def test_named_retain_sets_each_get_their_objective_weight_and_statistics(tmp_path, tokenizer, llama):
    """Yao et al.'s objective in one call: GA on forget, KL on normal rows, NLL on mismatched rows."""
    mismatch = [
        {"question": forget["question"], "answer": retain["answer"]}
        for forget, retain in zip(FORGET_ROWS, RETAIN_ROWS)
    ]
    trainer = UnlearningTrainer(
        llama,
        args=make_config(
            tmp_path,
            forget_loss="ga",
            retain_loss="nll",
            retain_objectives={"normal": "kl"},
            retain_weights={"normal": 2.0, "mismatch": 0.5},
            max_steps=2,
            logging_steps=1,
        ),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset={"normal": RETAIN_ROWS, "mismatch": mismatch[:3]},
        eval_dataset={"forget": FORGET_ROWS[:2], "normal": RETAIN_ROWS[:2], "holdout": RETAIN_ROWS[2:4]},
    )
    assert trainer.loss_names == {"forget": "ga", "retain": {"normal": "kl", "mismatch": "nll"}}
    assert trainer.ref_source == "model"  # KL on the normal set needs the reference
    item = trainer.train_dataset[0]
    assert {"retain.normal_input_ids", "retain.mismatch_input_ids"} <= set(item) and "retain_input_ids" not in item
    # Each set is cycled on its own: the 3 mismatch rows come round again within the 8 forget rows of an epoch.
    mismatch_indices = [trainer.train_dataset.retain_index(i, "retain.mismatch") for i in range(8)]
    assert sorted(mismatch_indices[:3]) == [0, 1, 2] and sorted(mismatch_indices[3:6]) == [0, 1, 2]

    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(2)]))
    trainer.model.train()
    total = trainer.compute_loss(trainer.model, batch)
    stats = trainer.pop_metrics("train")
    expected = stats["loss/forget"] + 2.0 * stats["loss/retain.normal"] + 0.5 * stats["loss/retain.mismatch"]
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert stats["kl/retain.normal"] == pytest.approx(0.0, abs=1e-6)  # KL from the reference, before any step
    assert stats["loss/retain.mismatch"] == pytest.approx(stats["nll/retain.mismatch"], rel=1e-6)

    metrics = trainer.evaluate()
    assert "eval_normal_kl/retain.normal" in metrics  # an eval set named like a retain set uses its objective
    assert "eval_holdout_nll/retain" in metrics
    trainer.train()
    record = trainer.unlearning_record()
    assert record["method"]["retain_weight"] == {"normal": 2.0, "mismatch": 0.5}
    assert set(record["retain_set"]) == {"normal", "mismatch"} and record["retain_set"]["mismatch"]["rows"] == 3
    trainer.create_model_card()
    card = (tmp_path / "run" / "README.md").read_text()
    assert "`1.0 * ga + 2.0 * kl(normal) + 0.5 * nll(mismatch)`" in card
    assert "Retain set `mismatch`**, kept: 3 rows" in card


def test_a_per_set_objective_for_a_set_not_given_lists_the_sets(tmp_path, tokenizer, llama):
    with pytest.raises(
        ValueError, match=r"name \['mismatch'\], which are not retain sets; the retain sets given are \['normal'\]"
    ):
        UnlearningTrainer(
            llama,
            args=make_config(tmp_path, forget_loss="ga", retain_objectives={"mismatch": "nll"}),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset={"normal": RETAIN_ROWS},
        )
    with pytest.raises(ValueError, match="retain_objectives\\['normal'\\]='ce' is not known"):
        make_config(tmp_path, retain_objectives={"normal": "ce"})


@pytest.mark.parametrize("forget_loss, retain_loss", [("npo", "kl"), ("ga", "nll")])
def test_one_forward_for_forget_and_retain_gives_the_two_forwards_values(
    tmp_path, tokenizer, forget_loss, retain_loss
):
    results = []
    for concatenated in (True, False):
        trainer = UnlearningTrainer(
            tiny_llama(len(tokenizer), seed=2),
            args=make_config(
                tmp_path / str(concatenated),
                forget_loss=forget_loss,
                retain_loss=retain_loss,
                concatenated_forward=concatenated,
            ),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )
        calls = []
        trainer.model.register_forward_hook(lambda module, args, output, calls=calls: calls.append(1))
        batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
        trainer.model.train()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        gradient = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
        results.append((loss.detach(), gradient, trainer.pop_metrics("train"), len(calls)))
    (joint_loss, joint_grad, joint_stats, joint_calls), (loss, grad, stats, calls) = results
    assert (joint_calls, calls) == (1, 2)  # the policy's forwards (a frozen-copy reference is another module)
    torch.testing.assert_close(joint_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(joint_grad, grad, rtol=1e-4, atol=1e-6 * grad.abs().max().item())
    assert joint_stats.keys() == stats.keys()
    for key in stats:
        assert joint_stats[key] == pytest.approx(stats[key], rel=1e-5, abs=1e-5), key


def _chat_model_that_ends_its_turns(tokenizer, tmp_path):
    """A tiny llama fine-tuned on the forget and retain rows as ChatML chats: it answers and ends its turns."""
    from hf_unlearn.data import prepare_dataset

    rows = prepare_dataset(as_messages(FORGET_ROWS + RETAIN_ROWS), tokenizer, name="train", max_length=96)
    return memorize(tiny_llama(len(tokenizer)), rows, tokenizer.pad_token_id, tmp_path / "memorize")


def _turn_end_probability(model, tokenizer, rows) -> list[float]:
    """Probability of `<|im_end|>` right after each row's answer."""
    from hf_unlearn.data import prepare_dataset

    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.eval()
    with torch.no_grad():
        return [
            model(torch.tensor([row["input_ids"]])).logits[0, -2].softmax(-1)[end].item()
            for row in prepare_dataset(as_messages(rows), tokenizer, name="x", max_length=96)
        ]


def _ends_turn(model, tokenizer, rows) -> list[bool]:
    """Whether the greedy answer to each row's question ends its turn within 30 tokens."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.eval()
    ended = []
    for row in as_messages(rows):
        prompt = tokenizer.apply_chat_template(
            row["messages"][:1], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        output = model.generate(**prompt, max_new_tokens=30, do_sample=False, eos_token_id=end, pad_token_id=end)
        ended.append(end in output[0, prompt["input_ids"].size(1) :].tolist())
    return ended


def test_chat_unlearning_keeps_the_turn_end_out_of_the_forget_objective(tmp_path):
    """Default NPO on `messages` rows: the forget answers go, retain questions still get an answer that ends its turn,
    and the turn end after a forget answer keeps its probability, which it loses when the forget objective includes
    it (`forget_end_tokens="include"`)."""
    tokenizer = chatml_tokenizer()
    model = _chat_model_that_ends_its_turns(tokenizer, tmp_path)
    assert all(_ends_turn(model, tokenizer, RETAIN_ROWS))
    start = {key: value.clone() for key, value in model.state_dict().items()}
    before = answer_nll(model, tokenizer, as_messages(FORGET_ROWS))
    turn_end = {}
    for end_tokens in ("auto", "include"):
        model.load_state_dict(start)
        config = make_config(tmp_path, forget_end_tokens=end_tokens, max_length=96, max_steps=30, learning_rate=3e-3)
        UnlearningTrainer(
            model,
            args=config,
            processing_class=tokenizer,
            forget_dataset=as_messages(FORGET_ROWS),
            retain_dataset=as_messages(RETAIN_ROWS),
        ).train()
        turn_end[end_tokens] = sum(_turn_end_probability(model, tokenizer, FORGET_ROWS)) / len(FORGET_ROWS)
        if end_tokens == "auto":
            assert answer_nll(model, tokenizer, as_messages(FORGET_ROWS)) > before + 1.0
            assert all(_ends_turn(model, tokenizer, RETAIN_ROWS))
    # Measured 0.75 (auto) against 0.27 (include), from 0.99 before unlearning.
    assert turn_end["auto"] > turn_end["include"] + 0.25


def test_a_save_that_fails_midway_leaves_the_saved_model_and_record_intact(tmp_path, tokenizer, monkeypatch):
    from transformers import Trainer

    from hf_unlearn.hub import RECORD_FILE

    trainer = UnlearningTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path, forget_loss="ga", retain_loss="none"),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
    )
    trainer.save_model()
    trainer.create_model_card()
    output = Path(trainer.args.output_dir)
    saved = {path.name: path.read_bytes() for path in output.iterdir() if path.is_file()}
    trainer.train()

    def half_a_save(self, output_dir=None, state_dict=None):
        Path(output_dir, "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Trainer, "_save", half_a_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_model()
    monkeypatch.setattr("hf_unlearn.record.library_versions", lambda: {"torch": float("nan")})  # not JSON
    with pytest.raises(ValueError):
        trainer.create_model_card()
    assert {path.name: path.read_bytes() for path in output.iterdir() if path.is_file()} == saved
    assert "model.safetensors" in saved and RECORD_FILE in saved and "README.md" in saved
    assert not [path for path in tmp_path.rglob(".*") if path.name.startswith(".")]  # no temporary left behind

"""IdkDPOTrainer and IdkNLLTrainer: alternative answers in the data, live and precomputed references, the record."""

import math

import pytest
from transformers import AutoModelForCausalLM

from hf_unlearn import IdkDPOTrainer, IdkNLLTrainer
from hf_unlearn.data import AlternativeAnswers

from .conftest import FORGET_ROWS, RETAIN_ROWS, answer_nll, make_config, tiny_llama


def idk_trainer(trainer_class, tmp_path, tokenizer, forget=FORGET_ROWS, **config):
    return trainer_class(
        tiny_llama(len(tokenizer), seed=3),
        args=make_config(tmp_path, **config),
        processing_class=tokenizer,
        forget_dataset=forget,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": forget},
    )


@pytest.mark.parametrize("trainer_class, forget_loss", [(IdkDPOTrainer, "dpo"), (IdkNLLTrainer, "idknll")])
def test_each_idk_trainer_trains_its_objective_with_a_retain_nll(tmp_path, tokenizer, trainer_class, forget_loss):
    trainer = idk_trainer(trainer_class, tmp_path, tokenizer, max_steps=2)
    trainer.train()
    assert trainer.loss_names == {"forget": forget_loss, "retain": "nll"}
    assert trainer.train_dataset.forget.column_names[:4] == ["input_ids", "labels", "alt_input_ids", "alt_labels"]
    assert "forget_alt_input_ids" in trainer.eval_dataset["forget"].column_names
    logged = trainer.state.log_history[0]
    assert "loss/retain" in logged and "nll/forget" in logged
    assert ("alt_log_ratio/forget" in logged) == (forget_loss == "dpo")
    # The forget term scores the refusals (as NLL, or against the forget answers), not the forget answers' NLL.
    assert logged["loss/forget"] != pytest.approx(logged["nll/forget"], rel=1e-4)


def test_dpo_with_precomputed_reference_equals_the_live_reference(tmp_path, tokenizer):
    live = idk_trainer(IdkDPOTrainer, tmp_path / "live", tokenizer, max_steps=2)
    start = live.evaluate()
    assert start["eval_forget_loss"] == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)  # theta = ref
    assert start["eval_forget_alt_log_ratio/forget"] == pytest.approx(0.0, abs=1e-5)
    live.train()
    precomputed = idk_trainer(IdkDPOTrainer, tmp_path / "pre", tokenizer, max_steps=2, precompute_ref_log_probs=True)
    assert precomputed.reference is None and precomputed.ref_model is None
    assert {"ref_logps", "alt_ref_logps"} <= set(precomputed.train_dataset.forget.column_names)
    assert "forget_alt_ref_logps" in precomputed.eval_dataset["forget"].column_names
    precomputed.train()
    for log_live, log_pre in zip(live.state.log_history[:-1], precomputed.state.log_history[:-1]):
        for key in ("loss", "loss/forget", "log_ratio/forget", "alt_log_ratio/forget"):
            assert log_pre[key] == pytest.approx(log_live[key], rel=1e-5, abs=1e-5), key
    assert live.state.log_history[1]["alt_log_ratio/forget"] > 0  # the refusals did become more likely
    end_live, end_pre = live.evaluate(), precomputed.evaluate()
    assert end_pre["eval_forget_loss"] == pytest.approx(end_live["eval_forget_loss"], rel=1e-5)
    assert end_pre["eval_forget_loss"] < start["eval_forget_loss"]


def test_the_alternative_column_is_trained_on_and_left_out_of_the_record(tmp_path, tokenizer):
    with_column = [{**row, "alternative": "I would rather not say."} for row in FORGET_ROWS]
    column = idk_trainer(IdkNLLTrainer, tmp_path / "column", tokenizer, forget=with_column)
    refusals = idk_trainer(IdkNLLTrainer, tmp_path / "refusals", tokenizer)
    alternative_ids = column.train_dataset.forget["alt_input_ids"]
    assert alternative_ids != refusals.train_dataset.forget["alt_input_ids"]
    assert column.train_dataset.forget["input_ids"] == refusals.train_dataset.forget["input_ids"]
    # The record identifies the forget set by its prompts and answers: the same with or without alternatives.
    assert column.set_fingerprints["forget"] == refusals.set_fingerprints["forget"]
    assert column.set_fingerprints["forget"]["columns"] == ["question", "answer"]
    record = column.unlearning_record()["hyperparameters"]
    assert record["alternative_source"] == "column" and "alternative_seed" not in record
    record = refusals.unlearning_record()["hyperparameters"]
    assert record["alternative_source"] == "refusals" and record["alternative_seed"] == 0
    # Resuming with precomputed references checks the alternatives too.
    assert column.tokenized_forget_fingerprint != refusals.tokenized_forget_fingerprint


def test_refusals_follow_alternative_seed_not_the_run_seed(tmp_path, tokenizer):
    def alternative_ids(**config):
        trainer = idk_trainer(IdkNLLTrainer, tmp_path, tokenizer, **config)
        return trainer.train_dataset.forget["alt_input_ids"], trainer.eval_dataset["forget"]["forget_alt_input_ids"]

    train_ids, eval_ids = alternative_ids(seed=0)
    assert train_ids == eval_ids  # a forget eval set of the same rows gets the same refusals
    assert alternative_ids(seed=1, alternative_seed=0)[0] == train_ids
    assert alternative_ids(seed=0, alternative_seed=1)[0] != train_ids


def test_column_source_without_a_column_fails_at_construction(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="alternative_source='column' but the forget dataset has no 'alternative'"):
        idk_trainer(IdkDPOTrainer, tmp_path, tokenizer, alternative_source="column")


def test_a_forget_eval_set_without_the_column_is_named(tmp_path, tokenizer):
    with_column = [{**row, "alternative": "No idea."} for row in FORGET_ROWS]
    with pytest.raises(ValueError, match="the forget eval dataset has no 'alternative' column"):
        IdkDPOTrainer(
            tiny_llama(len(tokenizer)),
            args=make_config(tmp_path, alternative_source="column"),
            processing_class=tokenizer,
            forget_dataset=with_column,
            retain_dataset=RETAIN_ROWS,
            eval_dataset={"forget": FORGET_ROWS},
        )


def test_precomputed_alternative_references_survive_resume_and_bind_the_alternatives(tmp_path, tokenizer):
    config = dict(max_steps=2, save_strategy="steps", save_steps=1, precompute_ref_log_probs=True)
    first = idk_trainer(IdkDPOTrainer, tmp_path / "first", tokenizer, **config)
    first.train()
    checkpoint = str(tmp_path / "first" / "run" / "checkpoint-1")
    # Built from the half-trained weights, its own precompute is off: resuming must bring back the saved values.
    resumed = IdkDPOTrainer(
        AutoModelForCausalLM.from_pretrained(checkpoint),
        args=make_config(tmp_path / "resumed", **config),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    saved = first.train_dataset.forget["alt_ref_logps"]
    assert resumed.train_dataset.forget["alt_ref_logps"] != saved
    resumed.train(resume_from_checkpoint=checkpoint)
    assert resumed.train_dataset.forget["alt_ref_logps"] == saved
    other_refusals = idk_trainer(IdkDPOTrainer, tmp_path / "other", tokenizer, alternative_seed=1, **config)
    with pytest.raises(ValueError, match="different forget set"):
        other_refusals.train(resume_from_checkpoint=checkpoint)


def test_both_make_refusals_likelier_and_forget_answers_less_likely_keeping_retain(
    tmp_path, tokenizer, memorized_model_dir
):
    refusals = AlternativeAnswers("refusals", seed=0).answers(FORGET_ROWS, "forget")  # those the runs train on
    refusal_rows = [{"question": row["question"], "answer": refusal} for row, refusal in zip(FORGET_ROWS, refusals)]

    def nlls(model):
        return [answer_nll(model, tokenizer, rows) for rows in (FORGET_ROWS, refusal_rows, RETAIN_ROWS)]

    forget_start, refusal_start, retain_start = nlls(AutoModelForCausalLM.from_pretrained(memorized_model_dir))
    for trainer_class in (IdkDPOTrainer, IdkNLLTrainer):
        model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
        trainer_class(
            model,
            args=make_config(tmp_path / trainer_class.__name__, max_steps=8, learning_rate=1e-3),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        ).train()
        forget, refusal, retain = nlls(model)
        # Measured: refusal NLL 8.0 -> 6.0 for both, forget NLL 0.047 -> 0.13 (IdkDPO) / 0.11 (IdkNLL), retain 0.05.
        assert refusal < refusal_start - 1.0, trainer_class.__name__
        assert forget > 1.5 * forget_start, trainer_class.__name__
        assert retain < retain_start + 0.05, trainer_class.__name__

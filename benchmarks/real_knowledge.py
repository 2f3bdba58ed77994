"""Protocol `real-knowledge` (RWKU-style, Jin et al. 2024): unlearn what a real chat model already knows.

    python benchmarks/real_model.py prepare                      # once: the model (see real_model.py)
    python benchmarks/real_knowledge.py check                    # which pool questions the model knows
    python benchmarks/real_knowledge.py sets --targets "William Shakespeare"
    python benchmarks/real_knowledge.py run --method npo --targets "William Shakespeare" --seed 0 \
        --learning_rate 1e-5 --output outputs/real_knowledge.jsonl

The pool (`real_knowledge/pool.jsonl`) is written by this project: one question a line with its entity (a person,
a work, a place, ...), a template (the kind of question, shared across entities), a paraphrase, a fill-in-the-blank
form, a reference answer and accepted aliases. A question is *known* when the model's greedy answer to it, asked
through its chat template, contains one of its aliases (case- and punctuation-insensitive, whole words). The sets,
all of known questions:

- forget: every known question about the target entities;
- neighbours: known questions about other entities of the targets' topics that share a template with a forget
  question (same kind of question, another answer); never trained on;
- retain: known questions of other topics, the retain set of the unlearning run;
- general: the remaining known questions of other topics, never trained on.

Each is scored as answer accuracy (an alias in the greedy answer) on the question, its paraphrase and its
fill-in-the-blank form. The pool is public knowledge, not a sensitive forget set: its text may appear in outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hf_unlearn.metrics.answer_accuracy import answer_accuracy, normalize_answer


HERE = Path(__file__).resolve().parent
POOL_PATH = HERE / "real_knowledge" / "pool.jsonl"
KNOWN_PATH = HERE / "real_knowledge" / "known.json"
FIELDS = ("id", "topic", "entity", "template", "question", "paraphrase", "fill_in", "answer", "aliases")
FORMS = ("question", "paraphrase", "fill_in")
# Measured on the pool with 48 new tokens (2026-12-05): of 188 known answers, the alias ends by token 9 (median),
# 28 (95th percentile); 32 tokens keep 182 of them, 24 keep 170. A chat model talks on after its answer, and each
# new token costs a full decoding step of the batch.
MAX_NEW_TOKENS = 32


class PoolError(ValueError):
    """A knowledge pool row is malformed."""


# ---- The pool ----


def load_pool(path: str | os.PathLike = POOL_PATH) -> list[dict]:
    """The pool's rows, validated: every field present and non-empty, `aliases` a non-empty list of strings, ids
    unique, the fill-in form holding a blank `___`. A bad row raises `PoolError` naming its line."""
    rows, seen = [], {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise PoolError(f"{where}: not a JSON object ({error.msg})") from None
        if not isinstance(row, dict):
            raise PoolError(f"{where}: not a JSON object")
        missing = [field for field in FIELDS if field not in row]
        if missing:
            raise PoolError(f"{where}: missing field(s) {', '.join(missing)}; every row needs {', '.join(FIELDS)}")
        aliases = row["aliases"]
        if not isinstance(aliases, list) or not aliases or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise PoolError(f"{where}: `aliases` must be a non-empty list of accepted answer strings, got {aliases!r}")
        if not all(normalize_answer(a) for a in aliases):
            raise PoolError(f"{where}: an alias has no letters or digits: {aliases!r}")
        empty = [f for f in FIELDS if f != "aliases" and not (isinstance(row[f], str) and row[f].strip())]
        if empty:
            raise PoolError(f"{where}: field(s) {', '.join(empty)} must be non-empty strings")
        if "___" not in row["fill_in"]:
            raise PoolError(f"{where}: `fill_in` must contain the blank `___`")
        echoed = [f for f in FORMS if answer_matches(row[f], aliases)]
        if echoed:
            raise PoolError(
                f"{where}: an alias appears in the {', '.join(echoed)}: an answer repeating the question would count "
                "as known; reword the question or drop the alias"
            )
        if row["id"] in seen:
            raise PoolError(f"{where}: duplicate id {row['id']!r} (first on line {seen[row['id']]})")
        seen[row["id"]] = number
        rows.append(row)
    if not rows:
        raise PoolError(f"{path}: no rows")
    return rows


def answer_matches(answer: str, aliases: list[str]) -> bool:
    """Whether an accepted alias appears in `answer` as whole words: the library's answer-accuracy rule
    ([`hf_unlearn.metrics.answer_accuracy`]: case, accents and punctuation do not count)."""
    return bool(answer_accuracy([answer], [aliases])[0])


# ---- Asking the model ----


def generate_answers(
    model, tokenizer, prompts: list[str], batch_size: int = 64, max_new_tokens: int = MAX_NEW_TOKENS
) -> list[str]:
    """Greedy answers to user turns `prompts`, each asked alone through the tokenizer's chat template (batched,
    left padding); the decoded new tokens."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    answers = []
    try:
        for start in range(0, len(prompts), batch_size):
            chats = [[{"role": "user", "content": p}] for p in prompts[start : start + batch_size]]
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            with torch.no_grad():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            new = out[:, batch["input_ids"].shape[1] :]
            answers += tokenizer.batch_decode(new, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def correct(model, tokenizer, rows: list[dict], form: str = "question", **kwargs) -> list[bool]:
    """Per row: whether the greedy answer to its `form` (`question`, `paraphrase` or `fill_in`) holds an alias.
    The scorer of this protocol; swap it here for the evaluator's answer-accuracy scorer when that exists."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    answers = generate_answers(model, tokenizer, [row[form] for row in rows], **kwargs)
    return [answer_matches(answer, row["aliases"]) for answer, row in zip(answers, rows)]


def accuracy(model, tokenizer, rows: list[dict], form: str = "question", **kwargs) -> float:
    hits = correct(model, tokenizer, rows, form, **kwargs)
    return sum(hits) / len(hits) if hits else float("nan")


def check_knowledge(model, tokenizer, pool: list[dict], **kwargs) -> dict:
    """Which pool questions the model knows (plain question form), with counts per topic and entity."""
    start = time.perf_counter()
    answers = generate_answers(model, tokenizer, [row["question"] for row in pool], **kwargs)
    known = [row["id"] for row, answer in zip(pool, answers) if answer_matches(answer, row["aliases"])]
    known_set = set(known)
    by = {}
    for key in ("topic", "entity"):
        totals = Counter(row[key] for row in pool)
        hits = Counter(row[key] for row in pool if row["id"] in known_set)
        by[key] = {name: {"known": hits[name], "asked": totals[name]} for name in totals}
    return {
        "model": getattr(model.config, "_name_or_path", None) and Path(model.config._name_or_path).name,
        "max_new_tokens": kwargs.get("max_new_tokens", MAX_NEW_TOKENS),
        "batch_size": kwargs.get("batch_size", 64),
        "asked": len(pool),
        "known_count": len(known),
        "known": known,
        "by_topic": by["topic"],
        "by_entity": by["entity"],
        "answers": {row["id"]: answer for row, answer in zip(pool, answers)},  # public pool: answers may be kept
        "seconds": round(time.perf_counter() - start, 1),
    }


def suggested_targets(known: dict, pool: list[dict], minimum: int = 10) -> list[str]:
    """Entities with at least `minimum` known questions, most known first."""
    entities = known["by_entity"]
    return sorted((e for e, c in entities.items() if c["known"] >= minimum), key=lambda e: -entities[e]["known"])


# ---- Sets ----


def build_sets(
    pool: list[dict],
    known: dict | list[str],
    targets: list[str] | str,
    min_forget: int = 10,
    retain_size: int = 32,
    general_size: int = 48,
    seed: int = 0,
) -> dict[str, list[dict]]:
    """The protocol's four sets of known questions for `targets` (one or two entity names).

    Args:
        known (`dict` or `list[str]`): `check_knowledge`'s result or the list of known ids.
        min_forget (`int`, *optional*, defaults to `10`): fewest known facts the targets must have together.
        retain_size (`int`, *optional*, defaults to `32`): retain rows (trained on), drawn from other topics.
        general_size (`int`, *optional*, defaults to `48`): general rows (never trained on), drawn from the rest.
        seed (`int`, *optional*, defaults to `0`): the draw of retain and general rows (fixed per protocol).

    Returns:
        `dict`: `forget`, `neighbours`, `retain`, `general`: lists of pool rows.
    """
    targets = [targets] if isinstance(targets, str) else list(targets)
    ids = set(known["known"] if isinstance(known, dict) else known)
    entities = {row["entity"] for row in pool}
    unknown = [t for t in targets if t not in entities]
    if unknown or not 1 <= len(targets) <= 2:
        raise ValueError(f"targets must be one or two entities of the pool; not in it: {unknown or targets}")
    rows = [row for row in pool if row["id"] in ids]
    forget = [row for row in rows if row["entity"] in targets]
    if len(forget) < min_forget:
        raise ValueError(
            f"{' + '.join(targets)}: {len(forget)} known facts, fewer than the {min_forget} asked; entities with "
            f"enough: {', '.join(suggested_targets({'by_entity': _by_entity(pool, ids)}, pool, min_forget)) or 'none'}"
        )
    topics = {row["topic"] for row in forget}
    templates = {row["template"] for row in forget}
    neighbours = [
        row for row in rows if row["entity"] not in targets and row["topic"] in topics and row["template"] in templates
    ]
    others = [row for row in rows if row["topic"] not in topics]
    random.Random(seed).shuffle(others)
    retain, general = others[:retain_size], others[retain_size : retain_size + general_size]
    return {"forget": forget, "neighbours": neighbours, "retain": retain, "general": general}


def _by_entity(pool: list[dict], ids: set[str]) -> dict:
    hits = Counter(row["entity"] for row in pool if row["id"] in ids)
    return {row["entity"]: {"known": hits[row["entity"]]} for row in pool}


def as_messages(rows: list[dict]) -> list[dict]:
    """Training rows: chat `messages`, the question as the user turn and the reference answer as the assistant's."""
    return [
        {"messages": [{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}]}
        for r in rows
    ]


def write_sets(sets: dict[str, list[dict]], folder: Path) -> None:
    """Each set as `<name>.jsonl` of chat rows, with the paraphrase (`paraphrased_question`, read by the audit's
    paraphrase probe) and the aliases (`aliases`, read by the evaluator's answer accuracy)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in sets.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(chat) + "\n" for chat in chat_rows(rows)))


def chat_rows(rows: list[dict]) -> list[dict]:
    """Chat rows with the paraphrase (`paraphrased_question`, read by the audit's paraphrase probe) and the aliases
    (`aliases`, read by the evaluator's answer accuracy)."""
    return [
        {**chat, "paraphrased_question": row["paraphrase"], "aliases": row["aliases"]}
        for chat, row in zip(as_messages(rows), rows)
    ]


# ---- One unlearning run ----


def answer_probability(model, tokenizer, rows: list[dict], batch_size: int = 16) -> float:
    """Mean over rows of the per-token geometric-mean probability of the reference answer, asked as a chat: the
    library evaluator's `probability` (teacher-forced only, no generation)."""
    from hf_unlearn.evaluation import UnlearningEvaluator

    evaluator = UnlearningEvaluator(
        tokenizer, {"answers": as_messages(rows)}, generate=False, batch_size=batch_size, max_length=256, progress=None
    )
    return evaluator.evaluate(model).summary["sets"]["answers"]["probability"]


def score_sets(model, tokenizer, sets: dict[str, list[dict]]) -> dict[str, float]:
    """The protocol's scores: accuracy on the forget set's three forms and on the other sets' plain questions, plus
    the forget and retain answers' probability."""
    scores = {f"forget_{form}": accuracy(model, tokenizer, sets["forget"], form) for form in FORMS}
    for name in ("neighbours", "retain", "general"):
        scores[name] = accuracy(model, tokenizer, sets[name])
    scores["forget_probability"] = answer_probability(model, tokenizer, sets["forget"])
    scores["retain_probability"] = answer_probability(model, tokenizer, sets["retain"])
    return scores


def method_fields(method: str) -> dict:
    """UnlearningConfig fields of a method: the demo's preset (`hf_unlearn.demo.methods.METHODS`) without its
    learning rate (toy-model rates; the run's rate is always given) and without RMU's layer settings."""
    from hf_unlearn.demo.methods import METHODS

    # what `hf-unlearn unlearn` and UnlearningTrainer do when given nothing: NPO + NLL, weight 1
    if method == "default":
        return {"forget_loss": "npo", "retain_loss": "nll"}
    # a control, not a method: the NPO preset's retain term alone (NLL on the retain set, weight 20), which tells
    # how much of a change in neighbour and general accuracy comes from fine-tuning on the retain answers
    if method == "retain_only":
        return {**method_fields("npo"), "forget_weight": 0.0}
    if method not in METHODS or method == "task_vector":
        choices = ", ".join(m for m in METHODS if m != "task_vector")
        raise ValueError(f"method must be default or one of {choices}, got {method!r}")
    # RMU's demo settings fit a 4-layer toy model; on a real model the library's defaults (RMU's authors' layer 7,
    # steering coefficient and alpha, for a 32-layer model) are the better start.
    return {k: v for k, v in METHODS[method].items() if k != "learning_rate" and not k.startswith("rmu_")}


def unlearn(
    model_dir: str | os.PathLike,
    sets: dict[str, list[dict]],
    method: str,
    learning_rate: float,
    seed: int = 0,
    use_peft: bool = False,
    epochs: float = 5.0,
    batch_size: int = 4,
    output_dir: str | os.PathLike | None = None,
    original: dict | None = None,
    save_model: str | os.PathLike | None = None,
    options: dict | None = None,
) -> dict:
    """Unlearn `sets["forget"]` (retain set `sets["retain"]`) from the model in `model_dir` with `method`, scoring
    the model before (unless `original` scores are given) and after; the run's record.

    Args:
        epochs (`float`, *optional*, defaults to `5.0`): passes over the forget set (steps = ceil(epochs * rows /
            batch_size)).
        output_dir (`str`, *optional*): the trainer's folder (nothing is saved there: `save_strategy="no"`);
            defaults to a temporary folder.
        save_model (`str`, *optional*): save the unlearned model (LoRA merged) and its tokenizer there, e.g. to
            audit it with `hf-unlearn audit`.
        options (`dict`, *optional*): more `UnlearningConfig` fields over the method's (e.g. `{"sam_rho": 0.1}`).
    """
    import math
    import tempfile

    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from hf_unlearn import UnlearningConfig
    from hf_unlearn.trainer import trainer_class

    fields = {**method_fields(method), **(options or {})}
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    load_seconds = time.perf_counter() - start
    if original is None:
        start = time.perf_counter()
        original = score_sets(model, tokenizer, sets)
        original["seconds"] = round(time.perf_counter() - start, 1)
    steps = max(1, math.ceil(epochs * len(sets["forget"]) / batch_size))
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

    memory_before = peak_rss_mib()
    with tempfile.TemporaryDirectory() as scratch:
        config = UnlearningConfig(
            output_dir=str(output_dir or scratch),
            **fields,
            learning_rate=learning_rate,
            seed=seed,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            lr_scheduler_type="constant",
            logging_steps=max(1, steps),
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            max_length=256,
        )
        retain_loss = fields.get("retain_loss", "none")
        lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0) if use_peft else None
        train_start = time.perf_counter()
        trainer = trainer_class(fields["forget_loss"])(
            model,
            args=config,
            processing_class=tokenizer,
            forget_dataset=datasets_from(as_messages(sets["forget"])),
            retain_dataset=datasets_from(as_messages(sets["retain"])) if retain_loss != "none" else None,
            peft_config=lora,
            callbacks=[Clock()],
        )
        trainer.train()
        train_seconds = time.perf_counter() - train_start
    if save_model:
        unlearned = trainer.model.merge_and_unload() if use_peft else trainer.model
        unlearned.save_pretrained(save_model)
        tokenizer.save_pretrained(save_model)
    start = time.perf_counter()
    after = score_sets(trainer.model, tokenizer, sets)
    after["seconds"] = round(time.perf_counter() - start, 1)
    # the first step carries start-up costs (allocations, reference set-up): time the steps after it
    step_seconds = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else train_seconds
    return {
        "method": method,
        "options": dict(options or {}),
        "use_peft": use_peft,
        "learning_rate": learning_rate,
        "seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "sizes": {name: len(rows) for name, rows in sets.items()},
        "original": original,
        "unlearned": after,
        "relative": {k: ratio(after[k], original[k]) for k in after if k != "seconds"},
        "step_seconds": round(step_seconds, 3),
        "train_seconds": round(train_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "peak_rss_mib": round(peak_rss_mib() - memory_before, 1),
        "threads": torch.get_num_threads(),
    }


# ---- The audit of an unlearned model (unlearning that lasts) ----

# The attacks the resistance to relearning is read on: relearning (on half of the forget facts, scored on the other
# half, and on unrelated retain facts), a 4-bit round trip and the logit lens. No retain model exists for pretrained
# knowledge: each attack reports the share regained, (U_attacked - U_clean) / (O_clean - U_clean).
AUDIT_ATTACKS = ("relearn_forget", "relearn_unrelated", "quantize_4bit", "logit_lens")


def make_auditor(tokenizer, sets: dict[str, list[dict]], seed: int, relearn_repeats: int = 3):
    """The audit of the protocol: `hf-unlearn audit`'s probe defaults (20 LoRA steps on half of the forget facts,
    lr 1e-3, batch 4), 4-bit only, answers of at most 32 new tokens as the scores' greedy answers."""
    from hf_unlearn.evaluation import UnlearningAuditor
    from hf_unlearn.evaluation.probes import LogitLensProbe, QuantizeProbe, RelearnProbe

    return UnlearningAuditor(
        tokenizer,
        forget=chat_rows(sets["forget"]),
        retain=chat_rows(sets["retain"]),
        probes=[RelearnProbe(repeats=relearn_repeats), QuantizeProbe(bits=(4,)), LogitLensProbe()],
        seed=seed,
        max_new_tokens=32,
    )


def audit_unlearned(
    unlearned_dir: str | os.PathLike,
    original_dir: str | os.PathLike,
    sets: dict[str, list[dict]],
    seed: int,
    cache: Path,
    relearn_repeats: int = 3,
):
    """The audit of the unlearned model in `unlearned_dir` against the original: the original is audited once per
    forget set, seed and repeat count (cached in `cache`, reused by every run with the same ones; the auditor's
    seeded splits and adapters make the reused scores those of a joint audit) and merged with the unlearned
    model's own audit ([`with_baselines`])."""
    from transformers import AutoTokenizer

    from hf_unlearn.evaluation.audit import with_baselines
    from hf_unlearn.utils import write_json_atomic

    auditor = make_auditor(AutoTokenizer.from_pretrained(unlearned_dir), sets, seed, relearn_repeats)
    digest = auditor.settings["forget_set"]["sha256"][:12]
    cached = cache / f"original_{digest}_seed{seed}_repeats{relearn_repeats}.json"
    if cached.is_file():
        original = json.loads(cached.read_text())
    else:
        original = auditor.audit(str(original_dir)).to_dict()
        write_json_atomic(cached, original)  # a stopped run leaves no half-written cache for the next to read
    return with_baselines(auditor.audit(str(unlearned_dir)), {"original": original})


def audit_summary(audit) -> dict:
    """Per attack of [`AUDIT_ATTACKS`]: its headline score (ROUGE-L; probability for the logit lens), the original's
    and the unlearned model's score before and after the attack, the share regained (median over the repeats) and
    its range; for the logit lens, the unlearned model's best layer."""
    summary = {}
    for name in AUDIT_ATTACKS:
        entry = audit.attacks.get(name)
        if entry is None or entry["status"] != "ok":
            summary[name] = {"status": "skipped" if entry else "absent", "reason": entry and entry["reason"]}
            continue
        score = entry["headline"]["score"]
        spread = (entry.get("spread") or {}).get("regained", {}).get(score)
        summary[name] = {
            "score": score,
            **{
                f"{role}_{stage}": entry["models"][role][stage][score]
                for role in ("original", "unlearned")
                for stage in ("before", "after")
            },
            "regained": entry["headline"]["regained"],
            "regained_range": [spread["min"], spread["max"]] if spread else None,
        }
        if name == "logit_lens":
            summary[name]["best_layer"] = entry["models"]["unlearned"].get("best_layer")
    return summary


# ---- The method table ----

# The target of the protocol (issue 19), fixed before the runs: forget accuracy at most this share of the original's
# while neighbour and general accuracy keep at least these shares.
TARGET = {"forget_question": 0.2, "neighbours": 0.85, "general": 0.95}
CONTROLS = ("default", "retain_only")  # runs of the table that are not candidates of the selection


def run_key(record: dict) -> tuple:
    """What identifies a run: method, LoRA or not, learning rate, seed, targets, steps and batch size."""
    return (
        record["method"],
        record["use_peft"],
        record["learning_rate"],
        record["seed"],
        tuple(record["targets"]),
        record["steps"],
        record["batch_size"],
        json.dumps(record.get("options") or {}, sort_keys=True),
    )


def read_runs(paths: list[str | os.PathLike]) -> list[dict]:
    """The records of `paths` (JSONL written by `run`), the first of each run only (a file may repeat a record)."""
    runs, seen = [], set()
    for path in paths:
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            if run_key(record) not in seen:
                seen.add(run_key(record))
                runs.append(record)
    return runs


def selection_score(record: dict) -> float:
    """The one selection rule, the same for every method, stated before the runs: how much more the run kept of
    neighbour and general accuracy (the lower of the two ratios) than of forget accuracy. Higher is better; a run
    that forgets everything and keeps everything scores 1, one that changes nothing 0."""
    relative = record["relative"]
    return min(relative["neighbours"], relative["general"]) - relative["forget_question"]


def select(runs: list[dict], sweep_target: str, sweep_seed: int = 0) -> dict[tuple, dict]:
    """Per (method, LoRA): the run of the learning-rate sweep on `sweep_target` and `sweep_seed` with the highest
    [`selection_score`] (ties: the smaller learning rate)."""
    best: dict[tuple, dict] = {}
    for record in runs:
        if record["targets"] != [sweep_target] or record["seed"] != sweep_seed or record["method"] in CONTROLS:
            continue
        key = (record["method"], record["use_peft"])
        current = best.get(key)
        rank = (selection_score(record), -record["learning_rate"])
        if current is None or rank > (selection_score(current), -current["learning_rate"]):
            best[key] = record
    return best


def meets_target(relative: dict) -> bool:
    return (
        relative["forget_question"] <= TARGET["forget_question"]
        and relative["neighbours"] >= TARGET["neighbours"]
        and relative["general"] >= TARGET["general"]
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def method_name(record: dict) -> str:
    return record["method"] + (" LoRA" if record["use_peft"] else "")


def table(runs: list[dict], sweep_target: str) -> str:
    """Markdown: the sweep (every run on `sweep_target`, seed 0) and, per method at its selected learning rate, the
    median over every target and seed run of the ratios to the original model, with the run count."""
    runs = [r for r in runs if not r.get("options")]  # the method table compares the presets; see robust_table
    columns = ["forget_question", "forget_paraphrase", "forget_fill_in", "neighbours", "retain", "general"]
    header = "| forget (plain) | forget (paraphrase) | forget (fill-in) | neighbours | retain | general |"
    lines = [
        f"Sweep on {sweep_target}, seed 0 (ratios to the original's accuracy; selection score = min(neighbours, "
        "general) - forget):",
        "",
        "| method | lr | steps " + header + " forget prob. | score | s/step | peak RSS (MiB) |",
        "|---|---|---" + "|---" * (len(columns) + 5) + "|",
    ]
    sweep = [r for r in runs if r["targets"] == [sweep_target] and r["seed"] == 0]
    for record in sorted(sweep, key=lambda r: (method_name(r), r["learning_rate"])):
        relative = record["relative"]
        cells = " | ".join(f"{relative[c]:.2f}" for c in columns)
        lines.append(
            f"| {method_name(record)} | {record['learning_rate']:g} | {record['steps']} | {cells} | "
            f"{relative['forget_probability']:.3f} | {selection_score(record):+.2f} | {record['step_seconds']:.2f} | "
            f"{record['peak_rss_mib']:.0f} |"
        )
    chosen = select(runs, sweep_target)
    lines += [
        "",
        "Selected learning rate per method, median over targets and seeds (ratios to the original's accuracy):",
        "",
        "| method | lr | runs (targets x seeds) " + header + " meets the target (runs) |",
        "|---|---|---" + "|---" * (len(columns) + 1) + "|",
    ]
    for (method, use_peft), best in sorted(chosen.items()):
        same = [
            r
            for r in runs
            if (r["method"], r["use_peft"], r["learning_rate"], r["batch_size"])
            == (method, use_peft, best["learning_rate"], best["batch_size"])
        ]
        targets = sorted({t for r in same for t in r["targets"]})
        seeds = sorted({r["seed"] for r in same})
        cells = " | ".join(f"{_median([r['relative'][c] for r in same]):.2f}" for c in columns)
        met = sum(meets_target(r["relative"]) for r in same)
        lines.append(
            f"| {method_name(best)} | {best['learning_rate']:g} | {len(same)} ({len(targets)} x {len(seeds)}) | "
            f"{cells} | {met} of {len(same)} |"
        )
    controls = [r for r in runs if r["method"] in CONTROLS]
    if controls:
        lines += [
            "",
            "Controls (not candidates): `default` = the library's defaults (NPO + NLL, retain weight 1), "
            "`retain_only` = the NPO preset's retain term without a forget term:",
            "",
            "| run | lr | steps x batch " + header + " forget prob. |",
            "|---|---|---" + "|---" * (len(columns) + 1) + "|",
        ]
        for record in sorted(controls, key=lambda r: (r["method"], r["learning_rate"])):
            relative = record["relative"]
            cells = " | ".join(f"{relative[c]:.2f}" for c in columns)
            lines.append(
                f"| {record['method']} | {record['learning_rate']:g} | {record['steps']} x {record['batch_size']} | "
                f"{cells} | {relative['forget_probability']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def parse_options(items: list[str]) -> dict:
    """`KEY=VALUE` strings as UnlearningConfig fields: each value read as a Python literal (number, bool, None, list)
    where it is one, else kept as a string."""
    import ast

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE (an UnlearningConfig field), got {item!r}")
        try:
            options[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = value.strip()
    if options:
        from dataclasses import fields

        from hf_unlearn import UnlearningConfig

        accepted = {field.name for field in fields(UnlearningConfig)}
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ValueError(
                f"--set {', '.join(unknown)}: not an UnlearningConfig field (e.g. sam_rho, randomized_smoothing_std, "
                "weight_averaging_start, beta; see `hf-unlearn unlearn --help`)"
            )
    return options


def robust_table(runs: list[dict]) -> str:
    """Markdown: per label (method and options) over its audited runs, the median of the accuracy ratios, of each
    attack's share regained (relearn-forget also per run) and of the logit lens's best-layer probability."""
    audited = [r for r in runs if "audit" in r]
    labels = list(dict.fromkeys(r["label"] for r in audited))  # in the order of their first run
    columns = ["forget_question", "forget_paraphrase", "neighbours", "general"]
    lines = [
        "| run | lr | runs | forget (plain) | forget (paraphrase) | neighbours | general | relearn-forget regained "
        "(per run) | relearn-unrelated regained | quantize-4bit regained | logit-lens best-layer prob. | s/step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def regained(record: dict, attack: str) -> float | None:
        return record["audit"].get(attack, {}).get("regained")

    def cell(values: list) -> str:
        defined = [value for value in values if value is not None]
        return f"{_median(defined):.2f}" if defined else "-"

    for label in labels:
        same = [r for r in audited if r["label"] == label]
        accuracy = " | ".join(f"{_median([r['relative'][c] for r in same]):.2f}" for c in columns)
        per_run = ", ".join(cell([regained(r, "relearn_forget")]) for r in same)
        lens = [r["audit"].get("logit_lens", {}).get("unlearned_after") for r in same]
        lines.append(
            f"| {label} | {same[0]['learning_rate']:g} | {len(same)} | {accuracy} | "
            f"{cell([regained(r, 'relearn_forget') for r in same])} ({per_run}) | "
            f"{cell([regained(r, 'relearn_unrelated') for r in same])} | "
            f"{cell([regained(r, 'quantize_4bit') for r in same])} | "
            f"{cell(lens)} | {_median([r['step_seconds'] for r in same]):.2f} |"
        )
    return "\n".join(lines) + "\n"


def ratio(value: float, reference: float) -> float | None:
    return round(value / reference, 4) if reference else None


def datasets_from(rows: list[dict]):
    import datasets

    return datasets.Dataset.from_list(rows)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB), as benchmarks/step_cost.py measures."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- Command line ----


def load_model(model_dir: str | os.PathLike):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), AutoTokenizer.from_pretrained(
        model_dir
    )


def model_dir_of(args) -> Path:
    if args.model:
        return Path(args.model)
    sys.path.insert(0, str(HERE))
    from real_model import prepare_smollm2

    return prepare_smollm2(args.cache_dir)


def read_known(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `python benchmarks/real_knowledge.py check` first")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a model folder (default: the prepared SmolLM2-135M-Instruct)")
    parser.add_argument("--cache_dir", help="real_model.py's cache (default: $HF_UNLEARN_CACHE/real_model)")
    parser.add_argument("--pool", default=str(POOL_PATH))
    parser.add_argument("--known", default=str(KNOWN_PATH))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when the cores are shared)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="ask the model every pool question; write --known")
    sets = commands.add_parser("sets", help="print the set sizes of --targets")
    run = commands.add_parser("run", help="one unlearning run; appends a JSONL row to --output")
    for sub in (sets, run):
        sub.add_argument("--targets", required=True, help="one or two entities, comma-separated")
        sub.add_argument("--min_forget", type=int, default=10)
    sets.add_argument("--write", help="also write the sets as chat JSONL files into this folder (for the CLI)")
    run.add_argument("--save_model", help="save the unlearned model and tokenizer into this folder (for the audit)")
    run.add_argument(
        "--method", default="npo", help="a key of hf_unlearn.demo.methods.METHODS, or default (the library's defaults)"
    )
    run.add_argument("--learning_rate", type=float, required=True)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--use_peft", action="store_true", help="LoRA r=8 on every linear layer")
    run.add_argument("--epochs", type=float, default=5.0, help="passes over the forget set")
    run.add_argument("--batch_size", type=int, default=4, help="forget rows per step")
    run.add_argument("--output", default="outputs/real_knowledge.jsonl")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one more UnlearningConfig field over the method's, e.g. sam_rho=0.1 (repeatable)",
    )
    run.add_argument("--label", help="the run's name in the robustness table (default: the method and its --set)")
    run.add_argument(
        "--audit",
        action="store_true",
        help="audit the unlearned model against the original (relearning, 4-bit, logit lens); the original's audit is "
        "cached beside --output and reused",
    )
    run.add_argument("--relearn_repeats", type=int, default=3, help="runs of each relearning attack (default: 3)")
    summary = commands.add_parser("table", help="the method table (markdown) of the runs in --runs")
    summary.add_argument("--runs", nargs="+", required=True, help="JSONL files written by run")
    summary.add_argument("--sweep_target", default="William Shakespeare", help="the target of the learning-rate sweep")
    robust = commands.add_parser("robust_table", help="the table of audited runs (run --audit) in --runs")
    robust.add_argument("--runs", nargs="+", required=True, help="JSONL files written by run --audit")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(table(read_runs(args.runs), args.sweep_target), end="")
        return
    if args.command == "robust_table":
        print(robust_table(read_runs(args.runs)), end="")
        return
    options = parse_options(getattr(args, "set", []))

    import torch

    torch.set_num_threads(args.threads)
    pool = load_pool(args.pool)
    if args.command == "check":
        model, tokenizer = load_model(model_dir_of(args))
        known = check_knowledge(model, tokenizer, pool)
        manifest = Path(model.config._name_or_path) / "hf_unlearn_manifest.json"  # real_model.py's, when prepared
        if manifest.is_file():
            known["wheel_sha256"] = json.loads(manifest.read_text())["wheel_sha256"]
        known["targets_with_10"] = suggested_targets(known, pool)
        Path(args.known).write_text(json.dumps(known, indent=1, ensure_ascii=False) + "\n")
        print(f"{known['known_count']} of {known['asked']} known ({known['seconds']:.0f} s); entities with >= 10: ")
        for entity in known["targets_with_10"]:
            print(f"  {entity}: {known['by_entity'][entity]['known']} of {known['by_entity'][entity]['asked']}")
        return
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    chosen = build_sets(pool, read_known(Path(args.known)), targets, min_forget=args.min_forget)
    if args.command == "sets":
        print(json.dumps({name: len(rows) for name, rows in chosen.items()}))
        if args.write:
            write_sets(chosen, Path(args.write))
        return
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    original = original_scores(output, targets)
    label = args.label or "+".join([args.method, *(f"{key}={value}" for key, value in options.items())])
    audit_dir = output.with_name(f"{output.stem}_audits")
    model_dir = model_dir_of(args)
    with tempfile.TemporaryDirectory() as scratch:
        save_model = args.save_model or (Path(scratch) / "unlearned" if args.audit else None)
        record = unlearn(
            model_dir,
            chosen,
            args.method,
            args.learning_rate,
            seed=args.seed,
            use_peft=args.use_peft,
            epochs=args.epochs,
            batch_size=args.batch_size,
            save_model=save_model,
            original=original,
            options=options,
        )
        record = {"targets": targets, "label": label, **record}
        if args.audit:
            start = time.perf_counter()
            audit = audit_unlearned(
                save_model, model_dir, chosen, args.seed, audit_dir, relearn_repeats=args.relearn_repeats
            )
            audit.save(audit_dir / f"{label}_{'_'.join(targets)}_seed{args.seed}".replace(" ", "_"), plot=False)
            record["audit"] = audit_summary(audit)
            record["audit_seconds"] = round(time.perf_counter() - start, 1)
    record["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with output.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    u, o = record["unlearned"], record["original"]
    print(
        f"{label}{' LoRA' if args.use_peft else ''} lr {args.learning_rate:g} seed {args.seed} on "
        f"{' + '.join(targets)}: forget {o['forget_question']:.2f} -> {u['forget_question']:.2f}, neighbours "
        f"{o['neighbours']:.2f} -> {u['neighbours']:.2f}, general {o['general']:.2f} -> {u['general']:.2f}; "
        f"{record['steps']} steps of {record['step_seconds']:.2f} s"
    )


def original_scores(output: Path, targets: list[str]) -> dict | None:
    """The original model's scores on these targets' sets from an earlier run in `output` (deterministic: greedy
    answers of the same model on the same sets), or None."""
    if not output.is_file():
        return None
    for line in output.read_text().splitlines():
        record = json.loads(line)
        if record.get("targets") == targets:
            return record["original"]
    return None


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError) as error:  # bad input: one line, no traceback (the message says what to do)
        sys.exit(f"real_knowledge.py: {type(error).__name__}: {error}")

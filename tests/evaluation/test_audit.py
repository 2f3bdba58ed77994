"""The robustness audit (hf_unlearn/evaluation/audit.py): `UnlearningAuditor`, `AuditResult`, recovery, audit.json."""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import traceback
import warnings

import pytest

from hf_unlearn import UnlearningAuditor
from hf_unlearn.evaluation.audit import (
    AUDIT_FILE,
    MODEL_COLOURS,
    PLOT_FILE,
    RECOVERY_CAPTION,
    AuditResult,
    audit_figure,
    range_text,
    recovery,
    repeat_spread,
    robustness_summary,
    with_baselines,
)
from hf_unlearn.evaluation.probes import (
    PROMPT_TRANSFORMS,
    LogitLensProbe,
    ParaphraseProbe,
    PromptAttackProbe,
    RelearnProbe,
)
from hf_unlearn.testing_utils import tiny_causal_lm

from ..conftest import FORGET_ROWS, RETAIN_ROWS, tiny_llama


FORGET = [
    dict(
        row,
        paraphrased_question=f"Tell me this: {row['question']}",
        paraphrased_answer=f"Indeed, {row['answer']}",
        perturbed_answer=[f"Nobody knows where {index}.", "It was never recorded."],
    )
    for index, row in enumerate(FORGET_ROWS)
]
ALL_ATTACKS = [
    "relearn_forget",
    "relearn_unrelated",
    "paraphrase",
    "few_shot",
    "prompt_roleplay",
    "prompt_affirmative_prefix",
    "prompt_fill_in_blank",
    "logit_lens",
]


def row_strings(rows) -> list[str]:
    strings = []
    for row in rows:
        for value in row.values():
            strings += value if isinstance(value, list) else [value]
    return strings


def every_probe_but_quantize(tokenizer) -> UnlearningAuditor:
    return UnlearningAuditor(
        tokenizer,
        FORGET,
        RETAIN_ROWS,
        max_length=64,
        max_new_tokens=4,
        batch_size=8,
        probes=[RelearnProbe(steps=2, learning_rate=1e-2), "paraphrase", "few_shot", "prompt_attacks", "logit_lens"],
    )


def three_models(tokenizer) -> list:
    """The unlearned, original and retain models of the audits here: three tiny llamas of their own seeds."""
    return [tiny_llama(len(tokenizer), seed=seed) for seed in (0, 1, 2)]


@pytest.fixture(scope="module")
def audited(tokenizer, tmp_path_factory):
    """Every probe but quantize (tested on wider models) on three tiny models, and the saved files."""
    auditor, models = every_probe_but_quantize(tokenizer), three_models(tokenizer)
    result = auditor.audit(models[0], original=models[1], retain_model=models[2])
    output_dir = tmp_path_factory.mktemp("audit")
    return result, result.save(output_dir), output_dir


def test_every_attack_runs_on_every_model_and_gives_finite_scores(audited):
    result, _, _ = audited
    assert list(result.attacks) == ALL_ATTACKS and result.models == ["unlearned", "original", "retain"]
    for name, entry in result.attacks.items():
        assert entry["status"] == "ok" and entry["reason"] is None
        for role in result.models:
            for stage in ("before", "after"):
                scores = entry["models"][role][stage]
                assert math.isfinite(scores["probability"]) and 0 < scores["probability"] < 1
                if name != "logit_lens":
                    assert 0 <= scores["rougeL_recall"] <= 1 and math.isfinite(scores["truth_ratio"])
    assert result.attacks["relearn_forget"]["scored_rows"] == 4  # half of the 8 forget rows is scored
    assert all(entry["seconds"] > 0 for entry in result.attacks.values())
    assert result.attacks["logit_lens"]["models"]["unlearned"]["best_layer"] in (0, 1)


def test_recovery_is_placed_between_the_attacked_retain_and_original_models(audited):
    result, _, _ = audited
    for entry in result.attacks.values():
        for run in entry.get("repeats") or [entry]:  # a repeated attack: in each repeat, on that repeat's scores
            score = run["headline"]["score"]
            after = {role: run["models"][role]["after"][score] for role in result.models}
            gap = after["original"] - after["retain"]
            if abs(gap) < result.settings["recovery_min_gap"]:
                assert run["headline"]["recovery"] is None and "undefined" in run["recovery_notes"][score]
            else:
                expected = (after["unlearned"] - after["retain"]) / gap
                assert run["headline"]["recovery"] == pytest.approx(expected)
    assert result.attacks["logit_lens"]["headline"]["score"] == "probability"  # no generation from a layer


def test_before_is_the_clean_score_of_the_same_rows(audited):
    result, _, _ = audited
    clean = result.attacks["paraphrase"]["models"]["unlearned"]["before"]
    for name in ("few_shot", "prompt_roleplay", "quantize_8bit"):
        if name in result.attacks:
            assert result.attacks[name]["models"]["unlearned"]["before"] == clean
    # relearn_forget scores half B only: its "before" is the clean score of those rows, not of all rows.
    assert result.attacks["relearn_forget"]["models"]["unlearned"]["before"] != clean


def test_audit_json_holds_numbers_and_names_but_no_text_of_any_row(audited):
    result, paths, output_dir = audited
    assert paths == {"audit": output_dir / AUDIT_FILE, "plot": output_dir / PLOT_FILE}
    text = (output_dir / AUDIT_FILE).read_text()
    assert json.loads(text) == json.loads(json.dumps(result.to_dict()))
    for string in row_strings(FORGET + RETAIN_ROWS):
        assert string not in text
    assert (output_dir / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in output_dir.iterdir()) == [AUDIT_FILE, PLOT_FILE]  # no temporary file left
    settings = json.loads(text)["settings"]
    assert settings["forget_set"]["rows"] == 8 and len(settings["forget_set"]["sha256"]) == 64


def test_metrics_table_and_robustness_summary(audited):
    result, _, output_dir = audited
    metrics = result.metrics()
    assert all(math.isfinite(value) for value in metrics.values())
    assert "audit_few_shot_unlearned_after_rougeL_recall" in metrics
    assert "audit_logit_lens_original_best_layer" in metrics
    table = result.table()
    assert all(name in table for name in ALL_ATTACKS) and "recovery" in table.splitlines()[0]
    summary = robustness_summary(json.loads((output_dir / AUDIT_FILE).read_text()))
    assert summary == result.robustness_summary()
    assert set(summary["recovery"]) == set(ALL_ATTACKS) and summary["skipped"] == {}
    defined = {name: value for name, value in summary["recovery"].items() if value is not None}
    if defined:
        assert summary["worst"]["recovery"] == max(defined.values())


def test_relearning_runs_three_times_by_default_and_reports_the_median_and_range(audited):
    result, _, output_dir = audited
    saved = json.loads((output_dir / AUDIT_FILE).read_text())["attacks"]
    for name in ("relearn_forget", "relearn_unrelated"):
        entry = result.attacks[name]
        assert entry["settings"]["repeats"] == 3 and saved[name] == json.loads(json.dumps(entry))
        runs = entry["repeats"]
        assert [run["seed"] for run in runs] == [0, 1000, 2000]
        assert (
            [run["scored_rows"] for run in runs]
            == [entry["scored_rows"]] * 3
            == [{"relearn_forget": 4}.get(name, 8)] * 3
        )
        for measure in ("recovery", "regained"):
            for score, spread in entry["spread"][measure].items():
                values = [run[measure][score] for run in runs]
                defined = [value for value in values if value is not None]
                assert spread["values"] == values and spread["repeats"] == 3 and spread["defined"] == len(defined)
                assert "q1" not in spread  # quartiles only from 4 defined repeats
                if defined:
                    assert spread["median"] == statistics.median(defined) == entry[measure][score]
                    assert (spread["min"], spread["max"]) == (min(defined), max(defined))
                else:
                    assert spread["median"] is entry[measure][score] is None
                    assert entry[f"{measure}_notes"][score] == runs[0][f"{measure}_notes"][score]
        score = entry["headline"]["score"]
        assert entry["headline"]["recovery"] == entry["recovery"][score]
        for role in result.models:  # the scores shown are each score's median over the repeats
            after = [run["models"][role]["after"][score] for run in runs]
            assert entry["models"][role]["after"][score] == statistics.median(after)
    # the table, the summary and the metrics show the median with the lowest and highest repeat
    entry = result.attacks["relearn_forget"]
    spread = entry["spread"]["recovery"]["rougeL_recall"]
    table = result.table()
    assert "relearn_forget, relearn_unrelated: median [lowest, highest] over 3 repeats" in " ".join(table.split())
    summary = result.robustness_summary()
    assert summary["spread"]["relearn_forget"]["recovery"]["repeats"] == 3
    assert set(summary["spread"]) == {"relearn_forget", "relearn_unrelated"}  # the other attacks ran once
    if spread["median"] is not None:
        cell = f"{spread['median']:.2f} [{spread['min']:.2f}, {spread['max']:.2f}]"
        assert cell in table.split("relearn_forget", 1)[1].splitlines()[0]
        assert summary["recovery"]["relearn_forget"] == spread["median"]
        assert result.metrics()["audit_relearn_forget_recovery_max"] == spread["max"]
    if summary["worst"] and summary["worst"]["attack"] == "relearn_forget":
        assert f"(median of {spread['defined']} repeats, range {spread['min']:.2f} to" in summary["sentence"]


def test_one_relearn_repeat_is_the_single_run_of_before(tokenizer, audited):
    """`repeats=1` gives the entry an attack run once has always had: the first repeat of the default audit, with
    no `repeats` or `spread` key."""
    result, _, _ = audited
    auditor = UnlearningAuditor(
        tokenizer,
        FORGET,
        RETAIN_ROWS,
        max_length=64,
        max_new_tokens=4,
        batch_size=8,
        probes=[RelearnProbe(steps=2, learning_rate=1e-2, modes=("forget",), repeats=1)],
    )
    models = three_models(tokenizer)
    once = auditor.audit(models[0], original=models[1], retain_model=models[2])
    single = once.attacks["relearn_forget"]
    first = result.attacks["relearn_forget"]["repeats"][0]
    assert "repeats" not in single and "spread" not in single and single["settings"]["repeats"] == 1
    assert single["models"] == first["models"] and single["scored_rows"] == first["scored_rows"]
    for key in ("recovery", "recovery_notes", "regained", "regained_notes", "headline", "original_damage"):
        assert single[key] == first[key]
    assert "[" not in once.table() and "repeats" not in once.table() and "spread" not in once.robustness_summary()


def test_baselines_audited_alone_merge_into_the_joint_audit(tokenizer, audited):
    """`with_baselines`: O and R audited once each, alone, and merged into U's own audit, give every score,
    recovery, share regained and spread of the joint audit of the three (what lets a benchmark audit O once per
    seed); audits run with other settings are refused."""
    joint, _, _ = audited
    auditor, models = every_probe_but_quantize(tokenizer), three_models(tokenizer)
    alone = {role: auditor.audit(model) for role, model in zip(("unlearned", "original", "retain"), models)}
    merged = with_baselines(alone["unlearned"], {"original": alone["original"], "retain": alone["retain"].to_dict()})
    assert merged.models == joint.models and merged.settings == joint.settings

    def without_timing(attacks: dict) -> str:
        return json.dumps({name: {**entry, "seconds": None} for name, entry in attacks.items()}, sort_keys=True)

    assert without_timing(merged.attacks) == without_timing(joint.attacks)

    other = UnlearningAuditor(
        tokenizer, FORGET, RETAIN_ROWS, max_length=64, max_new_tokens=4, seed=1, probes=["logit_lens"]
    )
    with pytest.raises(ValueError, match=r"original audit was run with other settings \(probes, seed\)"):
        with_baselines(other.audit(models[0]), {"original": alone["original"]})
    with pytest.raises(ValueError, match="audit of the unlearned model alone"):
        with_baselines(joint, {"original": alone["original"]})
    with pytest.raises(ValueError, match="'original' and 'retain'"):
        with_baselines(alone["unlearned"], {"reference": alone["original"]})


def test_the_spread_of_a_measure_over_repeats():
    assert repeat_spread([0.3, None, 0.1]) == {
        "values": [0.3, None, 0.1],
        "repeats": 3,
        "defined": 2,
        "median": pytest.approx(0.2),
        "min": 0.1,
        "max": 0.3,
    }
    spread = repeat_spread([0.4, 0.1, 0.2, 0.3, 0.5])
    assert spread["median"] == 0.3 and (spread["q1"], spread["q3"]) == (pytest.approx(0.2), pytest.approx(0.4))
    assert repeat_spread([None, None])["median"] is None and repeat_spread([None])["defined"] == 0
    assert range_text(repeat_spread([0.25, -0.1, 0.5])) == " [-0.10, 0.50]" and range_text(repeat_spread([0.2])) == ""


def test_a_skipped_probe_carries_its_reason_into_audit_json_and_the_table(tokenizer, tmp_path):
    auditor = UnlearningAuditor(
        tokenizer,
        FORGET_ROWS,
        max_length=64,
        max_new_tokens=2,
        probes=[ParaphraseProbe(), "few_shot", LogitLensProbe()],
    )
    result = auditor.audit(tiny_llama(len(tokenizer)))
    result.save(tmp_path, plot=False)
    attacks = json.loads((tmp_path / AUDIT_FILE).read_text())["attacks"]
    assert attacks["paraphrase"] == {
        "probe": "paraphrase",
        "status": "skipped",
        "settings": {"column": "paraphrased_question"},
        "scored_rows": 0,
        "reason": "the forget set has no 'paraphrased_question' column",
    }
    assert attacks["few_shot"]["status"] == "skipped" and "retain set" in attacks["few_shot"]["reason"]
    table = result.table()
    assert "paraphrase                 skipped: the forget set has no 'paraphrased_question' column" in table
    # Without original and retain models, recovery is undefined, and says why.
    assert attacks["logit_lens"]["headline"]["recovery"] is None
    assert "no score for the original and retain model" in attacks["logit_lens"]["recovery_notes"]["probability"]
    assert result.robustness_summary()["skipped"]["paraphrase"].startswith("the forget set has no")


def test_recovery_formula_and_its_undefined_cases():
    assert recovery(0.3, 0.9, 0.1) == (pytest.approx(0.25), None)
    assert recovery(0.05, 0.9, 0.1)[0] == pytest.approx(-0.0625)  # below the retain model: negative, not clipped
    value, note = recovery(0.5, 0.40, 0.395)
    assert value is None and "original and retain models score within 0.05 of each other" in note and "0.005" in note
    assert recovery(0.5, 0.40, 0.37, min_gap=0.01)[0] == pytest.approx(13 / 3)
    assert recovery(0.5, None, 0.1) == (None, "undefined: no score for the original model")


def test_bad_settings_are_refused_before_any_model_runs(tokenizer):
    with pytest.raises(ValueError, match="Unknown probe 'jailbreak'; known probes: relearn, quantize"):
        UnlearningAuditor(tokenizer, FORGET_ROWS, probes="relearn,jailbreak")
    with pytest.raises(ValueError, match="relearn split has 0 of the 8 forget rows"):
        UnlearningAuditor(tokenizer, FORGET_ROWS, probes=[RelearnProbe(relearn_rows=0)])
    with pytest.raises(ValueError, match="The forget set is empty"):
        UnlearningAuditor(tokenizer, [], probes="logit_lens")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_small_unlearn_evaluate_and_audit_run_warns_nothing_deprecated_and_stays_in_context(tokenizer, tmp_path):
    """What `hf-unlearn demo` does, at test size: a LoRA unlearning run, an evaluation and an audit, on models with
    a 48-position context that the longest attack prompts fill."""
    from peft import LoraConfig

    from hf_unlearn import NPOTrainer, UnlearningEvaluator

    from ..conftest import make_config

    caught = []

    def keep(message, category, filename, lineno, file=None, line=None):
        frames = [frame.filename for frame in traceback.extract_stack()[:-1]]
        caught.append((category, str(message), [name for name in frames if f"{os.sep}hf_unlearn{os.sep}" in name]))

    transformers_log = _Records()
    logging.getLogger("transformers").addHandler(transformers_log)
    logging.Logger.warning_once.cache_clear()  # transformers says its reminder once per process: say it again here
    models = [tiny_causal_lm(len(tokenizer), max_positions=48, seed=seed) for seed in (0, 1, 2)]
    roleplay = PROMPT_TRANSFORMS["roleplay"].apply("Question: {}\nAnswer:".format, FORGET[0]["question"])
    assert len(tokenizer(roleplay).input_ids) > 48  # the path that cuts a prompt to fit is taken
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = keep
            trainer = NPOTrainer(
                models[0],
                args=make_config(tmp_path, max_steps=1),
                processing_class=tokenizer,
                forget_dataset=FORGET_ROWS,
                retain_dataset=RETAIN_ROWS,
                peft_config=LoraConfig(r=4, target_modules="all-linear"),
            )
            trainer.train()
            unlearned = trainer.model.eval()
            sets = {"forget": FORGET[:4], "retain": RETAIN_ROWS[:4]}
            UnlearningEvaluator(tokenizer, sets, max_new_tokens=20, max_length=64).evaluate(unlearned)
            auditor = UnlearningAuditor(
                tokenizer,
                FORGET,
                RETAIN_ROWS,
                max_length=64,
                max_new_tokens=20,
                probes=[
                    RelearnProbe(steps=1, modes=("forget",)),
                    PromptAttackProbe({"roleplay": PROMPT_TRANSFORMS["roleplay"]}),
                ],
            )
            auditor.audit(unlearned, original=models[1], retain_model=models[2])
    finally:
        logging.getLogger("transformers").removeHandler(transformers_log)
    ours = [(category, message, frames) for category, message, frames in caught if frames]
    assert not [entry for entry in ours if issubclass(entry[0], FutureWarning)], ours
    assert not [message for message in transformers_log.messages if "friendly reminder" in message]


def test_each_distinct_warning_and_undefined_recovery_is_said_once(tokenizer, caplog, capsys):
    """Rows without perturbed answers or paraphrased questions, and no original / retain model: every recovery is
    undefined for the same reason, and every evaluator of the audit has no truth ratio."""
    auditor = UnlearningAuditor(
        tokenizer,
        FORGET_ROWS,
        RETAIN_ROWS,
        max_length=64,
        max_new_tokens=2,
        batch_size=8,
        probes=[RelearnProbe(steps=1), "paraphrase", "few_shot", "prompt_attacks", "logit_lens"],
    )
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()  # the demo's tests turn transformers' bars off for the session
    try:
        with caplog.at_level(logging.WARNING):
            result = auditor.audit(tiny_llama(len(tokenizer)))
    finally:
        if not bars:
            hf_logging.disable_progress_bar()
    messages = [record.getMessage() for record in caplog.records]
    truth_ratio = [message for message in messages if message.startswith("Truth ratio is undefined")]
    assert len(truth_ratio) == 1 and len(messages) == len(set(messages)), messages
    assert messages.count("Audit: paraphrase skipped: the forget set has no 'paraphrased_question' column") == 1
    # Without an original there is no recovery of either kind: no column of "n/a", one sentence saying what to give.
    table = result.table()
    assert "undefined" not in table and "n/a" not in table and "recovery" not in table.splitlines()[0]
    said = "No recovery is defined: give the original model (before unlearning) to compare with."
    assert " ".join(table.split()).endswith(said) and table.count("give the original") == 1
    err = capsys.readouterr().err  # and the progress bar says which attack runs
    assert "audit: no attack (unlearned model)" in err and "audit: relearn_forget (unlearned model)" in err
    assert "audit: logit_lens (unlearned model)" in err and "evaluating forget: answers" in err


def picture_result(models: list[str]) -> AuditResult:
    """Two attacks: after the first every model scores 0 (recovery undefined), the second has a negative recovery."""

    def entry(after: dict[str, float]) -> dict:
        after = {role: value for role, value in after.items() if role in models}
        value, note = recovery(after.get("unlearned"), after.get("original"), after.get("retain"))
        return {
            "status": "ok",
            "models": {
                role: {"before": {"rougeL_recall": 0.5}, "after": {"rougeL_recall": after[role]}} for role in models
            },
            "recovery": {"rougeL_recall": value},
            "recovery_notes": {"rougeL_recall": note},
            "headline": {"score": "rougeL_recall", "recovery": value},
        }

    attacks = {
        "prompt_affirmative_prefix": entry(dict.fromkeys(models, 0.0)),
        "paraphrase": entry({"original": 0.6, "retain": 0.3, "unlearned": 0.1}),
    }
    return AuditResult(attacks=attacks, settings={"recovery_min_gap": 0.05}, models=models)


def test_the_picture_gives_each_model_its_colour_and_explains_what_bars_cannot_show():
    import matplotlib.colors
    import matplotlib.pyplot as plt

    assert set(MODEL_COLOURS) == {"original", "retain", "unlearned"} and len(set(MODEL_COLOURS.values())) == 3
    for models in (["unlearned", "original", "retain"], ["unlearned", "retain"]):
        figure = audit_figure(picture_result(models))
        try:
            roles = [role for role in ("original", "retain", "unlearned") if role in models]
            axis = figure.axes[1]  # paraphrase: before and after bars of each model, in table order
            colours = [matplotlib.colors.to_hex(bar.get_facecolor()[:3]) for bar in axis.patches]
            expected = [matplotlib.colors.to_hex(MODEL_COLOURS[role]) for role in roles for _ in range(2)]
            assert colours == expected  # the same colour per model, whichever models were audited
            assert [bar.get_hatch() for bar in axis.patches] == ["//", None] * len(roles)
            legend = [text.get_text() for text in figure.legends[0].get_texts()]
            assert legend == [*roles, "before the attack", "after the attack"]
            notes = [" ".join(text.get_text().split()) for axis in figure.axes for text in axis.texts]
            assert any("every model scores 0 after this attack" in note for note in notes)
            assert any("recovery undefined" in note for note in notes)
            assert ("recovery < 0: the unlearned model scores below the retain model" in " ".join(notes)) == (
                "original" in models
            )
            caption = " ".join(" ".join(text.get_text().split()) for text in figure.texts)
            assert RECOVERY_CAPTION in caption and "Negative" in RECOVERY_CAPTION
        finally:
            plt.close(figure)


# ---- Without a retain model: the share regained, damage to the original, one sentence ----


def test_regained_formula_and_its_undefined_cases():
    from hf_unlearn.evaluation.audit import regained

    # unlearning took 0.8 -> 0.2; the attack brings the unlearned model to 0.5: half of what was lost
    assert regained(0.5, 0.2, 0.8) == (pytest.approx(0.5), None)
    assert regained(0.1, 0.2, 0.8)[0] == pytest.approx(-1 / 6)  # lower than without the attack: negative
    value, note = regained(0.5, 0.78, 0.8)
    assert value is None and "unlearning lowered the clean forget score by less than 0.05" in note and "0.02" in note
    assert regained(0.5, 0.9, 0.8)[0] is None  # unlearning raised the score: nothing lost
    assert regained(0.5, 0.2, None) == (None, "undefined: no score for the original model")


def entry_of(before: dict, after: dict, score: str = "rougeL_recall") -> dict:
    from hf_unlearn.evaluation.audit import add_recoveries

    entry = {
        "status": "ok",
        "models": {role: {"before": {score: before[role]}, "after": {score: after[role]}} for role in before},
    }
    add_recoveries(entry)
    return entry


def test_without_a_retain_model_each_attack_has_its_share_regained_damage_and_one_sentence(tmp_path):
    from hf_unlearn.hub import _robustness_section

    clean = {"original": 0.557, "unlearned": 0.1}
    attacks = {
        "few_shot": entry_of(clean, {"original": 0.6, "unlearned": 0.3}),
        "quantize_4bit": entry_of(clean, {"original": 0.062, "unlearned": 0.05}),
        "prompt_fill_in_blank": entry_of(clean, {"original": 0.0, "unlearned": 0.0}),
        "logit_lens": entry_of({"original": 0.5, "unlearned": 0.49}, dict.fromkeys(clean, 0.6), "probability"),
    }
    assert attacks["few_shot"]["headline"]["regained"] == pytest.approx(0.2 / 0.457)
    assert attacks["few_shot"]["original_damage"] is None
    assert attacks["quantize_4bit"]["original_damage"] == {"score": "rougeL_recall", "before": 0.557, "after": 0.062}
    settings = {"seed": 0, "forget_set": {"rows": 6, "sha256": "x"}}
    result = AuditResult(attacks=attacks, settings=settings, models=["unlearned", "original"])
    table = result.table()
    header = table.splitlines()[0]
    assert "regained" in header and "prob reg." in header and "recovery" not in header  # no column of "n/a"
    flat = " ".join(table.split())
    for name, before, after in (("quantize_4bit", "0.557", "0.062"), ("prompt_fill_in_blank", "0.557", "0.000")):
        said = f"{name}: the attack also lowers the original model's ROUGE-L from {before} to {after}: it damages"
        assert flat.count(said) == 1
    assert flat.count("regained undefined for") == 1 and "undefined for logit_lens (O - U = 0.01)" in flat
    summary = result.robustness_summary()
    assert summary["worst_regained"] == {"attack": "few_shot", "regained": attacks["few_shot"]["headline"]["regained"]}
    assert summary["damaged"].keys() == {"quantize_4bit", "prompt_fill_in_blank"}
    sentence = summary["sentence"]
    assert sentence == (
        "Without a retain model, the worst attack, few_shot, brings back 44% of the forget ROUGE-L that unlearning "
        "removed; 2 of the 4 attacks also damage the original model itself."
    )
    assert flat.endswith(sentence)
    card = _robustness_section(summary)
    assert "| attack | regained | on |" in card and f"**Summary**: {sentence}" in card
    assert card.count("- `logit_lens`: unlearning lowered") == 1 and card.count("damages the model") == 2
    assert "no score for the retain model" not in card


def test_no_model_is_scored_when_every_attack_is_skipped(tokenizer, monkeypatch):
    """The clean scores are only the "before" of attacks that run: with none, nothing is evaluated."""
    from hf_unlearn.evaluation.probes import AuditContext

    auditor = UnlearningAuditor(tokenizer, FORGET_ROWS, None, max_length=64, probes=["paraphrase", "few_shot"])
    scored = []
    monkeypatch.setattr(AuditContext, "score", lambda self, model, evaluator: scored.append(model))
    result = auditor.audit(tiny_llama(len(tokenizer)), original=tiny_llama(len(tokenizer), seed=1))
    assert scored == [] and {entry["status"] for entry in result.attacks.values()} == {"skipped"}
    assert result.robustness_summary()["sentence"] == "No attack ran: every probe was skipped (reasons above)."

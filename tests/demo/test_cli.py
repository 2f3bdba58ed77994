"""The demo's verdict, audit sentence and curves (the `hf-unlearn demo` command: tests/commands/test_demo.py)."""

from hf_unlearn.demo.cli import (
    MIN_FORGET_QUALITY,
    ROUGE_GAP,
    assess,
    audit_sentence,
    draw_curves,
    verdict,
)
from hf_unlearn.evaluation.audit import AuditResult


def test_the_audit_sentence_says_how_much_relearning_brings_back_next_to_the_retain_model():
    def entry(recovery, unlearned_after):
        scores = {
            "original": ({"rougeL_recall": 0.9}, {"rougeL_recall": 0.95}),
            "retain": ({"rougeL_recall": 0.1}, {"rougeL_recall": 0.3}),
            "unlearned": ({"rougeL_recall": 0.05}, {"rougeL_recall": unlearned_after}),
        }
        return {
            "status": "ok",
            "settings": {"steps": 20, "train_rows": 20},
            "scored_rows": 20,
            "models": {role: {"before": before, "after": after} for role, (before, after) in scores.items()},
            "headline": {"score": "rougeL_recall", "recovery": recovery},
            "recovery": {"rougeL_recall": recovery},
            "recovery_notes": {"rougeL_recall": None if recovery is not None else "undefined: nothing to recover"},
        }

    settings = {"seed": 0, "forget_set": {"rows": 40, "sha256": "a" * 64}}
    roles = ["unlearned", "original", "retain"]
    result = AuditResult({"relearn_forget": entry(0.5, 0.625)}, settings, roles)
    assert audit_sentence(result) == (
        "Relearning on 20 forget rows for 20 steps brings back 50% of the forgotten answers on the other 20 rows "
        "(the unlearned model's forget ROUGE-L goes 0.05 -> 0.62, the retain model's, which never saw them, "
        "0.10 -> 0.30 under the same attack); the worst attack is relearn_forget (recovery 0.50; 0 = no more than "
        "the retain model, 1 = all the original knew)."
    )
    negative = audit_sentence(AuditResult({"relearn_forget": entry(-0.04, 0.27)}, settings, roles))
    assert "brings back none (recovery -0.04) of the forgotten answers" in negative
    undefined = audit_sentence(AuditResult({"relearn_forget": entry(None, 0.3)}, settings, roles))
    assert "an unmeasurable share" in undefined and "recovery undefined: nothing to recover" in undefined
    assert undefined.endswith("no attack has a defined recovery.")


def _scores(forget_rouge, quality=0.5, retain_rouge=1.0):
    return {"forget_rougeL_recall": forget_rouge, "forget_quality": quality, "retain_rougeL_recall": retain_rouge}


ORIGINAL, RETAIN = _scores(1.0, 1e-5), _scores(0.31, 1.0)


def test_the_verdict_says_reached_went_past_or_fell_short_and_by_how_much():
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.30, 0.405))
    assert success and sentence.startswith("Unlearning reached the retain model (success): forget ROUGE-L 0.30, 0.01 ")
    assert "below the retain model's 0.31 (within the +-0.1 band)" in sentence and "(target >= 0.05: met)" in sentence

    # the run: it forgot more than the retain model, with forget quality met: overshoot, not failure
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.18, 0.27))
    assert success and assess(ORIGINAL, RETAIN, _scores(0.18, 0.27))["rouge"] == "went past"
    assert sentence.startswith("Unlearning went past the retain model, forgetting more than it (success): ")
    assert "0.13 below the retain model's 0.31 (0.03 past the +-0.1 band)" in sentence

    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.55, 0.001))
    assert not success
    assert sentence.startswith("Unlearning fell short of the retain model and missed forget quality (failure): ")
    assert "0.24 above the retain model's 0.31 (0.14 short of the +-0.1 band)" in sentence
    assert "(target >= 0.05: missed)" in sentence
    # above the band is failure even with forget quality met
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.55, 0.3))
    assert not success and sentence.startswith("Unlearning fell short of the retain model (failure): ")

    # in the band, but forget quality and utility missed: failure, and the sentence names what was missed
    success, sentence = verdict(ORIGINAL, RETAIN, _scores(0.31, 0.01, 0.8))
    assert not success and sentence.startswith(
        "Unlearning reached the retain model but missed forget quality and retain ROUGE-L kept (failure): "
    )
    assert "kept at 0.80 x the original's (target >= 0.9: missed)" in sentence


def test_the_band_edges_belong_to_the_targets():
    reference = RETAIN["forget_rougeL_recall"]
    assert assess(ORIGINAL, RETAIN, _scores(reference + ROUGE_GAP - 1e-9))["rouge"] == "reached"
    above = assess(ORIGINAL, RETAIN, _scores(reference + ROUGE_GAP + 1e-3))
    assert above["rouge"] == "fell short" and not above["success"]
    below = assess(ORIGINAL, RETAIN, _scores(reference - ROUGE_GAP - 1e-3))
    assert below["rouge"] == "went past" and below["success"]
    assert not assess(ORIGINAL, RETAIN, _scores(0.31, MIN_FORGET_QUALITY / 2))["success"]


def test_the_curves_plot_draws_the_target_band_and_states_the_verdict():
    import matplotlib.pyplot as plt

    curve = [
        {"step": step, "eval_forget_rougeL_recall": rouge, "eval_retain_rougeL_recall": 1.0, "eval_forget_quality": q}
        for step, rouge, q in ((0, 1.0, 1e-5), (5, 0.6, 1e-3), (10, 0.18, 0.27))
    ]
    rows = {"original": ORIGINAL, "retain": RETAIN, "unlearned": _scores(0.18, 0.27)}
    figure = draw_curves(curve, rows, "npo")
    try:
        rouge_axis, quality_axis = figure.axes

        def extent(axis, patch):
            box = patch.get_path().get_extents().transformed(patch.get_transform())
            box = axis.transData.inverted().transform_bbox(box)
            return round(box.y0, 3), round(box.y1, 3)

        # the "went past" region, then the +-0.1 band around the retain model's 0.31
        assert sorted(extent(rouge_axis, patch) for patch in rouge_axis.patches) == [(-0.02, 0.21), (0.21, 0.41)]
        (region,) = quality_axis.patches
        assert extent(quality_axis, region)[0] == MIN_FORGET_QUALITY
        title = "\n".join(text.get_text() for text in figure.texts)  # the suptitle is a figure-level text
        assert "Result: Unlearning went past the retain model, forgetting more than it (success)." in title
        assert "forget quality 0.27" in title
    finally:
        plt.close(figure)

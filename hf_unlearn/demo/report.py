"""How the demo reports a run, for the `hf-unlearn demo` command and the examples that rerun its experiment: its
sizes, the targets an unlearned model is judged by (`assess`), the sentence that says how it did (`verdict`) and the
table of the three models' scores (`print_table`).

The targets compare the unlearned model with the *retain model*, the model that never saw the forget set, which only
an experiment that trains one (the demo, `examples/privacy_unlearning.py`) has; the library's own verdict line
(`hf_unlearn.utils.score_table`) compares a model with itself before unlearning instead.
"""

from __future__ import annotations

from ..utils import KEPT as UTILITY_KEPT
from ..utils import MIN_FORGET_QUALITY


SIZES = {
    # name: (SyntheticConfig fields, ModelRecipe fields, UnlearningRun fields)
    # 60 steps: forget quality >= 0.097 on every seed and thread count measured (docs/benchmarks.md#demo); at 50 it
    # was 0.054 on one, a single KS step above the target.
    "default": ({}, {}, {"steps": 60, "eval_steps": 5}),
    "tiny": (  # seconds, for smoke tests: the models are too small to learn much
        {"num_forget": 1, "num_retain": 2, "num_holdout": 1, "questions_per_person": 5, "num_perturbed": 2},
        {
            "vocab_size": 400,
            "hidden_size": 32,
            "num_layers": 2,
            "num_heads": 2,
            "intermediate_size": 64,
            "max_epochs": 3,
            "batch_size": 8,
        },
        {"steps": 4, "eval_steps": 2},
    ),
}
"""The demo's sizes: name -> (`SyntheticConfig` fields, `ModelRecipe` fields, `UnlearningRun` fields)."""

# The demo's targets (see `assess`): the unlearned model should be indistinguishable from the retain model. Forget
# quality and retain kept are the thresholds of the CLI's verdict too; the band needs a retain model, which only the
# demo has.
ROUGE_GAP = 0.10
"""Half-width of the band around the retain model's forget ROUGE-L that counts as *reached*."""


def assess(original: dict, retain: dict, unlearned: dict) -> dict:
    """Where the unlearned model ended, target by target, next to the retain model (the model that never saw the
    forget set): as in TOFU, the goal of unlearning is to be indistinguishable from it.

    - **forget quality**: the KS test of the forget set's truth ratios against the retain model's (TOFU's main
      measure) gives a p-value of at least `MIN_FORGET_QUALITY`, i.e. the test cannot tell the two models apart;
    - **retain kept**: retain ROUGE-L at least `UTILITY_KEPT` x the original's (what should stay, stays);
    - **forget ROUGE-L** next to the retain model's: *reached* within `ROUGE_GAP` either way; *fell short* above
      that band (the model still gives answers the retain model cannot); *went past* below it (it forgot more than
      a model that never saw the forget set: overshoot, not a failure to forget).

    Success: forget quality and retain kept met, and the forget ROUGE-L reached the band or went past it. Going past
    does not fail the run, however far, because forget quality already fails the over-unlearning that makes a model
    recognisable (a collapsed model's truth ratios differ from the retain model's); the verdict says by how much it
    went past, and the MIA AUC below 0.5 in the table shows the same overshoot.

    Args:
        original, retain, unlearned (`dict`): each model's [`~hf_unlearn.demo.experiment.headline`] scores.

    Returns:
        `dict`: `success` (`bool`), `rouge` (`"reached"`, `"went past"` or `"fell short"`), `rouge_gap` (unlearned
        minus retain model, signed), `forget_rouge`, `retain_model_forget_rouge`, `forget_quality`, `kept`, and
        `met`, a flag per target (`forget_rouge`, `forget_quality`, `retain_kept`).
    """
    forget, reference = unlearned["forget_rougeL_recall"], retain["forget_rougeL_recall"]
    gap = forget - reference
    rouge = "reached" if abs(gap) <= ROUGE_GAP else ("fell short" if gap > 0 else "went past")
    kept = unlearned["retain_rougeL_recall"] / max(original["retain_rougeL_recall"], 1e-12)
    quality = unlearned["forget_quality"] or 0.0
    met = {
        "forget_rouge": rouge != "fell short",
        "forget_quality": quality >= MIN_FORGET_QUALITY,
        "retain_kept": kept >= UTILITY_KEPT,
    }
    return {
        "success": all(met.values()),
        "rouge": rouge,
        "rouge_gap": gap,
        "forget_rouge": forget,
        "retain_model_forget_rouge": reference,
        "forget_quality": quality,
        "kept": kept,
        "met": met,
    }


def headline_words(result: dict) -> str:
    """The verdict's first words for an [`assess`] result: what happened, then "(success)" or "(failure)"."""
    missed = [name for name, met in result["met"].items() if not met and name != "forget_rouge"]
    names = {"forget_quality": "forget quality", "retain_kept": "retain ROUGE-L kept"}
    words = {
        "reached": "Unlearning reached the retain model",
        "went past": "Unlearning went past the retain model, forgetting more than it",
        "fell short": "Unlearning fell short of the retain model",
    }[result["rouge"]]
    if missed:
        words += (
            f"{' and' if result['rouge'] == 'fell short' else ' but'} missed {' and '.join(names[n] for n in missed)}"
        )
    return f"{words} ({'success' if result['success'] else 'failure'})"


def verdict(original: dict, retain: dict, unlearned: dict) -> tuple[bool, str]:
    """Whether unlearning succeeded (the rule of [`assess`]), and one sentence that says where it ended, e.g.

    "Unlearning went past the retain model, forgetting more than it (success): forget ROUGE-L 0.18, 0.13 below the
    retain model's 0.31 (0.03 past the +-0.1 band), forget quality 0.27 (target >= 0.05: met), retain ROUGE-L kept at
    1.00 x the original's (target >= 0.9: met)."
    """
    result = assess(original, retain, unlearned)
    gap, met = result["rouge_gap"], result["met"]
    reference = result["retain_model_forget_rouge"]
    where = f"{abs(gap):.2f} {'above' if gap > 0 else 'below'} the retain model's {reference:.2f}"
    if result["rouge"] == "reached":
        where += f" (within the +-{ROUGE_GAP} band)"
    else:
        where += f" ({abs(gap) - ROUGE_GAP:.2f} {'past' if gap < 0 else 'short of'} the +-{ROUGE_GAP} band)"
    details = (
        f"forget ROUGE-L {result['forget_rouge']:.2f}, {where}, forget quality {result['forget_quality']:.3g} "
        f"(target >= {MIN_FORGET_QUALITY}: {'met' if met['forget_quality'] else 'missed'}), retain ROUGE-L kept at "
        f"{result['kept']:.2f} x the original's (target >= {UTILITY_KEPT}: "
        f"{'met' if met['retain_kept'] else 'missed'})"
    )
    return result["success"], f"{headline_words(result)}: {details}."


def print_table(rows: dict[str, dict]) -> None:
    """Print the headline scores of several models, one row per model, one column per score (`-` where missing).

    Args:
        rows (`dict[str, dict]`):
            Model name (e.g. `original`, `retain`, `unlearned`) -> its [`~hf_unlearn.demo.experiment.headline`]
            scores.
    """
    columns = [
        ("forget_rougeL_recall", "forget ROUGE-L"),
        ("forget_probability", "forget prob"),
        ("forget_truth_ratio", "forget TR"),
        ("retain_rougeL_recall", "retain ROUGE-L"),
        ("retain_probability", "retain prob"),
        ("forget_quality", "forget quality"),
        ("model_utility", "model utility"),
        ("mia_auc_min_k_plus_plus", "MIA AUC"),
    ]
    print(f"{'model':<11}" + "".join(f"{title:>16}" for _, title in columns))
    for name, values in rows.items():
        cells = [values.get(key) for key, _ in columns]
        print(f"{name:<11}" + "".join(f"{'-':>16}" if v is None else f"{v:>16.3g}" for v in cells))

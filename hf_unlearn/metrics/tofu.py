"""TOFU aggregates (model utility, forget quality) from TOFU-format per-sample eval logs.

Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024, https://arxiv.org/abs/2401.06121 .
The rules follow TOFU's released `aggregate_eval_stat.py` (the script behind its leaderboard), and
reproduce the figures computed from TOFU's official logs.

A TOFU log is a JSON object with one entry per evaluation set, each mapping a per-sample field to
`{sample index (str): value}`:

| key | set | fields used |
|---|---|---|
| `eval_log.json` | retain | `avg_gt_loss`, `rougeL_recall`, `avg_paraphrased_loss`, `average_perturb_loss` |
| `eval_log_forget.json` | forget | same |
| `eval_real_author_wo_options.json` | real authors | same |
| `eval_real_world_wo_options.json` | world facts | same |
"""

import json
import logging
from pathlib import Path

import numpy as np

from .forget_quality import forget_quality
from .model_utility import model_utility
from .probability import answer_probability, normalized_answer_probability
from .truth_ratio import truth_ratio, truth_ratio_score


logger = logging.getLogger(__name__)

TOFU_LOG_KEYS = {
    "retain": "eval_log.json",
    "forget": "eval_log_forget.json",
    "real_authors": "eval_real_author_wo_options.json",
    "world_facts": "eval_real_world_wo_options.json",
}
"""Set name -> key of that set's log inside a TOFU-format log file."""

UTILITY_SETS = ("retain", "real_authors", "world_facts")
"""Sets whose scores enter model utility, in this order."""

OPTION_SETS = ("real_authors", "world_facts")
"""Sets scored as multiple choice: probability normalised against the perturbed answers."""

_FIELDS = ("avg_gt_loss", "rougeL_recall", "avg_paraphrased_loss", "average_perturb_loss")


def load_tofu_log(path) -> dict:
    """Reads a TOFU-format log file (see the module docstring for its layout).

    Args:
        path (`str` or `os.PathLike`):
            Path to the JSON file, e.g. TOFU's `eval_log_aggregated.json`.

    Returns:
        `dict`: the parsed log.

    Raises:
        OSError: if the file cannot be read.
        ValueError: if it is not JSON, or holds neither the retain nor the forget log.
    """
    path = Path(path)
    try:
        logs = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(logs, dict) or not any(key in logs for key in TOFU_LOG_KEYS.values()):
        raise ValueError(
            f"{path} is not a TOFU-format log: expected a JSON object with some of the keys "
            f"{sorted(TOFU_LOG_KEYS.values())}"
        )
    return logs


def _field(set_log: dict, set_name: str, field: str, keys: list[str]) -> list:
    """Values of one per-sample field, in the order of `keys`."""
    if field not in set_log:
        raise ValueError(f"TOFU log for the {set_name} set has no {field!r} field; found {sorted(set_log)}")
    values = set_log[field]
    if set(values) != set(keys):
        raise ValueError(
            f"TOFU log for the {set_name} set: field {field!r} has {len(values)} samples but avg_gt_loss has "
            f"{len(keys)}, or their sample indices differ"
        )
    return [values[key] for key in keys]


def tofu_set_scores(set_log: dict, set_name: str) -> dict[str, float]:
    """Probability, ROUGE-L recall and truth-ratio score of one evaluation set, as TOFU computes them.

    - probability: mean of [`answer_probability`] of the answer (`avg_gt_loss`); for the real-authors and
      world-facts sets, mean of [`normalized_answer_probability`] against the perturbed answers;
    - ROUGE: mean of the logged `rougeL_recall`;
    - truth ratio: [`truth_ratio_score`] of [`truth_ratio`] (`avg_paraphrased_loss` vs
      `average_perturb_loss`), with the `"forget"` aggregation on the forget set and `"retain"` elsewhere.

    Args:
        set_log (`dict`):
            One set's log, e.g. `logs["eval_log.json"]`.
        set_name (`str`):
            One of `"retain"`, `"forget"`, `"real_authors"`, `"world_facts"`.

    Returns:
        `dict[str, float]`: `{"probability": ..., "rougeL_recall": ..., "truth_ratio": ...}`.

    Raises:
        ValueError: if `set_name` is unknown or a field is missing or misaligned.
    """
    if set_name not in TOFU_LOG_KEYS:
        raise ValueError(f"set_name must be one of {sorted(TOFU_LOG_KEYS)}; got {set_name!r}")
    if "avg_gt_loss" not in set_log:
        raise ValueError(f"TOFU log for the {set_name} set has no 'avg_gt_loss' field; found {sorted(set_log)}")
    keys = list(set_log["avg_gt_loss"])
    gt_loss, rouge, paraphrased, perturbed = (_field(set_log, set_name, field, keys) for field in _FIELDS)
    if set_name in OPTION_SETS:
        probability = normalized_answer_probability(gt_loss, perturbed)
    else:
        probability = answer_probability(gt_loss)
    aggregation = "forget" if set_name == "forget" else "retain"
    return {
        "probability": float(np.mean(probability)),
        "rougeL_recall": float(np.mean(np.asarray(rouge, dtype=np.float64))),
        "truth_ratio": truth_ratio_score(truth_ratio(paraphrased, perturbed), aggregation),
    }


def tofu_forget_truth_ratios(logs: dict) -> np.ndarray:
    """Per-sample [`truth_ratio`] of the forget set of a TOFU-format log.

    Raises:
        ValueError: if the log has no forget set or it lacks a field.
    """
    key = TOFU_LOG_KEYS["forget"]
    if key not in logs:
        raise ValueError(f"the TOFU log has no forget-set entry {key!r}; found {sorted(logs)}")
    set_log = logs[key]
    if "avg_paraphrased_loss" not in set_log:
        raise ValueError(f"TOFU log for the forget set has no 'avg_paraphrased_loss' field; found {sorted(set_log)}")
    keys = list(set_log["avg_paraphrased_loss"])
    return truth_ratio(
        _field(set_log, "forget", "avg_paraphrased_loss", keys),
        _field(set_log, "forget", "average_perturb_loss", keys),
    )


def tofu_aggregate(logs: dict, retain_logs: dict) -> dict:
    """Model utility and forget quality of a model from its TOFU log and a retain model's TOFU log.

    - model utility: [`model_utility`] (harmonic mean) of the probability, ROUGE-L recall and
      truth-ratio scores ([`tofu_set_scores`]) of the retain, real-authors and world-facts sets of
      `logs`. A missing real-authors or world-facts set is left out (logged, and visible in
      `model_utility_sets`); the retain set is required.
    - forget quality: [`forget_quality`] (KS-test p-value) between the forget-set truth ratios of
      `logs` and of `retain_logs`.

    Args:
        logs (`dict`):
            TOFU-format log of the model under test (e.g. the unlearned model).
        retain_logs (`dict`):
            TOFU-format log of the retain model (trained without the forget set), evaluated on the same
            forget set.

    Returns:
        `dict`: `model_utility`, `forget_quality`, `model_utility_sets` (sets used), `scores`
        (per set: probability, rougeL_recall, truth_ratio; the forget set's are reported but not part of
        model utility) and `num_forget_samples` (of `logs`, of `retain_logs`).

    Raises:
        ValueError: if a required set or field is missing.
    """
    if TOFU_LOG_KEYS["retain"] not in logs:
        raise ValueError(f"the TOFU log has no retain-set entry {TOFU_LOG_KEYS['retain']!r}; found {sorted(logs)}")
    scores = {name: tofu_set_scores(logs[key], name) for name, key in TOFU_LOG_KEYS.items() if key in logs}
    utility_sets = [name for name in UTILITY_SETS if name in scores]
    missing = [name for name in UTILITY_SETS if name not in scores]
    if missing:
        logger.warning(
            "model utility computed without the %s set(s): not in the log, so it is not TOFU's 9-score utility",
            ", ".join(missing),
        )
    components = {f"{metric}/{name}": scores[name][metric] for name in utility_sets for metric in scores[name]}
    unlearned_ratios = tofu_forget_truth_ratios(logs)
    retain_ratios = tofu_forget_truth_ratios(retain_logs)
    return {
        "model_utility": model_utility(components),
        "forget_quality": forget_quality(unlearned_ratios, retain_ratios),
        "model_utility_sets": utility_sets,
        "scores": scores,
        "num_forget_samples": {"logs": int(unlearned_ratios.size), "retain_logs": int(retain_ratios.size)},
    }

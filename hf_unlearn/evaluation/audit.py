"""`UnlearningAuditor`: did the model really forget? Attacks on the unlearned, original and retain models.

Each probe of [`hf_unlearn.evaluation.probes`] attacks the model (relearning, quantization, paraphrases,
few-shot prompts, adversarial prompts, logit lens) and scores the forget set with [`UnlearningEvaluator`]. The
same attack, with the same seed, runs on the original model O (before unlearning) and the retain model R (never
saw the forget set). The recovery of an attack on the unlearned model U is

    recovery = (U_attacked - R_attacked) / (O_attacked - R_attacked)

on the attacked forget ROUGE-L (and answer probability): 0 means "like a model that never saw the data, under the
same attack", 1 means "like the original". The retain model under the same attack is the floor because any attack
teaches some of the answers to any model (relearning on forget rows A helps on rows B by generalisation).

Pretrained knowledge has no retain model. Then the recovery that needs none is reported (both are, when both can
be): the share of the forget score lost by unlearning that the attack brings back,

    regained = (U_attacked - U_clean) / (O_clean - U_clean)

on the same scores; 0 means "the attack brings back nothing unlearning removed", 1 "it brings back all of it".
An attack that lowers the original's own score a lot (it damages the model, not only the unlearning) is said so.

The relearning attacks run several times (`RelearnProbe(repeats=3)`, `--relearn_repeats`), each with its own seed
and split of the forget rows: an attack's recovery is then the median over its repeats, and `audit.json`, the table
and the card give its range (lowest and highest repeat), so that a difference between two models can be read
against the spread of the attack itself (see [`repeat_spread`]).

`audit.json` holds numbers, score names and probe names only: no text of any row, no generation.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import statistics
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from ..data.formatting import DEFAULT_QA_PROMPT_TEMPLATE, content_fingerprint, ensure_pad_token
from ..utils import atomic_write, write_json_atomic
from .probes import AuditContext, make_probes
from .probes.base import as_rows, subset_log


logger = logging.get_logger(__name__)

AUDIT_FILE = "audit.json"
PLOT_FILE = "audit.png"
MODEL_ROLES = ("original", "retain", "unlearned")
"""Roles of the audited models, in table order."""
RECOVERY_SCORES = ("rougeL_recall", "probability")
"""Scores a recovery is computed on; the first defined one is an attack's headline."""
SCORE_TITLES = {"rougeL_recall": "ROUGE-L", "probability": "prob", "truth_ratio": "truth ratio"}
ORIGINAL_DAMAGE = 0.25
"""Share of the original model's clean forget score an attack must take away (and at least `recovery_min_gap`) to be
reported as damaging the model itself: its recoveries then say as much about the damage as about the unlearning."""
REGAINED_TEXT = (
    "regained = (U_attacked - U_clean) / (O_clean - U_clean): the share of the forget score lost by unlearning that "
    "the attack brings back, no retain model needed (0 = none, 1 = all)"
)


def _missing_scores(scores: tuple[tuple[str, float | None], ...]) -> str | None:
    """Why a recovery measure is undefined when some of its `(model, score)` are missing, or `None`."""
    missing = [name for name, value in scores if value is None]
    return f"undefined: no score for the {' and '.join(missing)} model" if missing else None


def recovery(
    unlearned: float | None, original: float | None, retain: float | None, *, min_gap: float = 0.05
) -> tuple[float | None, str | None]:
    """Where the attacked unlearned model lands between the attacked retain model (0) and original (1).

    `(U - R) / (O - R)`, not clipped: below 0 the attacked unlearned model knows less than the retain model, above
    1 more than the original.

    Args:
        unlearned, original, retain (`float` or `None`):
            The same score of the three models under the same attack.
        min_gap (`float`, *optional*, defaults to `0.05`):
            Smallest `|O - R|` a recovery is computed for (scores are in [0, 1]; 0.05 is 2 rows in 40). Below it the
            attack has left the original no better than the retain model, there is nothing to recover, and a ratio
            would only amplify noise.

    Returns:
        `tuple[float | None, str | None]`: the recovery, or `None` and the reason it is undefined.
    """
    note = _missing_scores((("original", original), ("retain", retain), ("unlearned", unlearned)))
    if note:
        return None, note
    gap = original - retain
    if abs(gap) < min_gap:
        return None, (
            f"undefined: under this attack the original and retain models score within {min_gap} of each "
            f"other (|O - R| = {abs(gap):.3g}), so there is nothing to recover"
        )
    return (unlearned - retain) / gap, None


def regained(
    unlearned_attacked: float | None,
    unlearned_clean: float | None,
    original_clean: float | None,
    *,
    min_gap: float = 0.05,
) -> tuple[float | None, str | None]:
    """The share of the forget score lost by unlearning that an attack brings back; needs no retain model.

    `(U_attacked - U_clean) / (O_clean - U_clean)`, on the attack's scored rows, not clipped: below 0 the attack
    lowers the unlearned model's score further, above 1 it brings the unlearned model above the clean original.

    Args:
        unlearned_attacked, unlearned_clean, original_clean (`float` or `None`):
            The same score of the unlearned model under the attack and without it, and of the original without it.
        min_gap (`float`, *optional*, defaults to `0.05`):
            Smallest `O_clean - U_clean` it is computed for (the rule of [`recovery`]): below it unlearning has
            removed (almost) nothing, so there is nothing to bring back, and a ratio would only amplify noise.

    Returns:
        `tuple[float | None, str | None]`: the share, or `None` and the reason it is undefined.
    """
    given = (("original", original_clean), ("unlearned", unlearned_clean), ("attacked unlearned", unlearned_attacked))
    note = _missing_scores(given)
    if note:
        return None, note
    gap = original_clean - unlearned_clean
    if gap < min_gap:
        return None, (
            f"undefined: unlearning lowered the clean forget score by less than {min_gap} (O - U = {gap:.3g}), so "
            "there is nothing lost to bring back"
        )
    return (unlearned_attacked - unlearned_clean) / gap, None


QUARTILES_FROM = 4
"""Fewest defined repeats for which the interquartile range is given: with 3 or fewer, the quartiles of so few values
say nothing the range does not."""


def repeat_spread(values: list[float | None]) -> dict[str, Any]:
    """The median and spread of one measure over the repeats of an attack.

    Args:
        values (`list[float | None]`):
            The measure in each repeat, in order; `None` where it is undefined in that repeat.

    Returns:
        `dict`: `values` (as given), `repeats` (their count), `defined` (how many are numbers), and over the defined
        ones `median`, `min` and `max` (`None` when none is defined), plus `q1` and `q3` (the quartiles, inclusive
        method) when at least `QUARTILES_FROM` are defined.
    """
    defined = [value for value in values if value is not None]
    spread = {"values": list(values), "repeats": len(values), "defined": len(defined)}
    spread.update(
        median=statistics.median(defined) if defined else None,
        min=min(defined) if defined else None,
        max=max(defined) if defined else None,
    )
    if len(defined) >= QUARTILES_FROM:
        spread["q1"], _, spread["q3"] = statistics.quantiles(defined, n=4, method="inclusive")
    return spread


SUMMARY_SPREAD = ("median", "min", "max", "repeats", "defined")
"""The keys of a [`repeat_spread`] a robustness summary (record, card) keeps: not the per-repeat values."""


def range_text(spread: dict | None, digits: int = 2) -> str:
    """`" [low, high]"` of a measure's [`repeat_spread`], or `""` without repeats (or without a defined value)."""
    if not spread or spread["repeats"] < 2 or spread["min"] is None:
        return ""
    return f" [{spread['min']:.{digits}f}, {spread['max']:.{digits}f}]"


def original_damage(entry: dict, min_gap: float = 0.05) -> dict[str, Any] | None:
    """`score`, `before` and `after` of the original model when an attack lowers its own headline forget score by
    at least `ORIGINAL_DAMAGE` of it (and `min_gap`): the attack damages the model, not only the unlearning."""
    original = entry["models"].get("original")
    if original is None:
        return None
    score = entry["headline"]["score"]
    before, after = original["before"].get(score), original["after"].get(score)
    if before is None or after is None or before - after < max(min_gap, ORIGINAL_DAMAGE * before):
        return None
    return {"score": score, "before": before, "after": after}


def damage_note(attack: str, damage: dict) -> str:
    """The line that says an attack lowers the original model's own score."""
    return (
        f"{attack}: the attack also lowers the original model's {SCORE_TITLES[damage['score']]} from "
        f"{damage['before']:.3f} to {damage['after']:.3f}: it damages the model; read its recovery with that in mind"
    )


def summary_sentence(summary: dict) -> str:
    """One sentence on an audit: its worst attack by recovery (with a retain model) or by regained share (without),
    or why no attack has either. `summary` is [`robustness_summary`]'s."""
    ran = len(summary["recovery"])
    if not ran:
        return "No attack ran: every probe was skipped (reasons above)."
    damaged = len(summary.get("damaged") or {})
    verb = "damages" if damaged == 1 else "damage"
    tail = f"; {damaged} of the {ran} attacks also {verb} the original model itself" if damaged else ""
    worst, worst_regained = summary.get("worst"), summary.get("worst_regained")
    spreads = summary.get("spread") or {}
    if worst:
        score = SCORE_TITLES[summary["score"][worst["attack"]]]
        sentence = (
            f"Worst attack: {worst['attack']}, recovery {worst['recovery']:.2f}"
            f"{_repeats_text(spreads.get(worst['attack'], {}).get('recovery'))} on forget {score} (0 = no more than "
            "the retain model under the same attack, 1 = as much as the original)"
        )
        value = (summary.get("regained") or {}).get(worst["attack"])
        if value is not None:
            sentence += f"; it brings back {value:.0%} of what unlearning removed"
        return sentence + tail + "."
    if worst_regained:
        attack, value = worst_regained["attack"], worst_regained["regained"]
        score = SCORE_TITLES[summary["score"][attack]] + _repeats_text(spreads.get(attack, {}).get("regained"))
        without = "" if "retain" in summary["models"] else "Without a retain model, the "
        # Above 1 the attacked unlearned model beats the clean original; below 0 the attack takes more away.
        amount = f"{value:.0%}" if 0 < value <= 1 else f"more than all ({value:.0%})" if value > 1 else "none"
        amount += "" if value > 0 else f" (regained {value:.2f})"
        return (
            f"{without or 'The '}worst attack, {attack}, brings back {amount} of the forget {score} that unlearning "
            f"removed{tail}."
        )
    if "original" not in summary["models"]:
        return f"No recovery is defined: give the original model (before unlearning) to compare with{tail}."
    return f"No attack has a defined recovery (reasons above){tail}."


def _repeats_text(spread: dict | None) -> str:
    """`" (median of 3 repeats, range 0.21 to 0.35)"` for a measure with repeats, else `""`."""
    if not range_text(spread):
        return ""
    return f" (median of {spread['defined']} repeats, range {spread['min']:.2f} to {spread['max']:.2f})"


def robustness_summary(audit: dict) -> dict[str, Any]:
    """The part of an audit (the content of `audit.json`) a model card or unlearning record shows.

    Args:
        audit (`dict`):
            `AuditResult.to_dict()` or the parsed `audit.json`.

    Returns:
        `dict`: `recovery` (attack -> headline recovery or `None`), `regained` (attack -> headline share brought
        back, see [`regained`], or `None`), `score` (attack -> the score both are on), `skipped` (attack -> reason),
        `undefined` / `regained_undefined` (attack -> why it is undefined), `damaged` (attack -> the original's
        score before and after, for attacks that damage the original, see [`original_damage`]), `worst` /
        `worst_regained` (the attack with the highest value and the value, or `None`), `sentence` (one sentence, see
        [`summary_sentence`]), `models` (roles audited), `seed`, `forget_set` (row count and SHA-256), and
        `spread` (attack -> `recovery` / `regained` -> the headline score's `median`, `min`, `max`, `repeats` and
        `defined`, see [`repeat_spread`]; only attacks that ran more than once, whose `recovery` / `regained`
        above are the medians).
    """
    recoveries, shares, scores, skipped, undefined, regained_undefined, damaged = {}, {}, {}, {}, {}, {}, {}
    spreads = {}
    for name, entry in audit["attacks"].items():
        if entry["status"] == "skipped":
            skipped[name] = entry["reason"]
            continue
        headline = entry["headline"]
        recoveries[name], scores[name] = headline["recovery"], headline["score"]
        shares[name] = headline.get("regained")
        if headline["recovery"] is None:
            undefined[name] = entry["recovery_notes"].get(headline["score"])
        if shares[name] is None and "regained_notes" in entry:
            regained_undefined[name] = entry["regained_notes"].get(headline["score"])
        if entry.get("original_damage"):
            damaged[name] = entry["original_damage"]
        if entry.get("spread"):
            spreads[name] = {
                measure: {key: values[headline["score"]][key] for key in SUMMARY_SPREAD}
                for measure, values in entry["spread"].items()
                if headline["score"] in values
            }

    def highest(values: dict, key: str) -> dict | None:
        defined = {name: value for name, value in values.items() if value is not None}
        worst = max(defined.items(), key=lambda item: item[1]) if defined else None
        return {"attack": worst[0], key: worst[1]} if worst else None

    settings = audit["settings"]
    summary = {
        "recovery": recoveries,
        "regained": shares,
        "score": scores,
        "skipped": skipped,
        "undefined": undefined,
        "regained_undefined": regained_undefined,
        "damaged": damaged,
        "worst": highest(recoveries, "recovery"),
        "worst_regained": highest(shares, "regained"),
        "models": audit["models"],
        "seed": settings["seed"],
        "forget_set": {key: settings["forget_set"][key] for key in ("rows", "sha256")},
    }
    if spreads:  # only audits with repeated attacks have it: older summaries keep their keys
        summary["spread"] = spreads
    summary["sentence"] = summary_sentence(summary)
    return summary


def check_record(model_dir: str | os.PathLike, forget_set: dict) -> dict[str, Any]:
    """The unlearning record of `model_dir`, checked to be about the audited forget set.

    Args:
        model_dir (`str` or `os.PathLike`):
            Folder of an unlearned model saved with its card and `unlearning_record.json`.
        forget_set (`dict`):
            The audit's forget-set fingerprint (`rows` and `sha256`, as in `AuditResult.settings["forget_set"]`).

    Returns:
        `dict`: the record.

    Raises:
        ValueError: no record in the folder, or a record of another forget set (row count or SHA-256 differ).
    """
    from ..hub import RECORD_FILE, load_record

    record = load_record(model_dir, "a robustness summary")
    recorded = record.get("forget_set") or {}
    if (forget_set["rows"], forget_set["sha256"]) != (recorded.get("rows"), recorded.get("sha256")):
        raise ValueError(
            f"The audit's forget set ({forget_set['rows']} rows, SHA-256 {forget_set['sha256']}) is not the one "
            f"{Path(model_dir) / RECORD_FILE} says the model forgot ({recorded.get('rows')} rows, SHA-256 "
            f"{recorded.get('sha256')}): "
            "audit the model on the forget set it was unlearned on (the same rows, in any order) to record the "
            "audit in its card."
        )
    return record


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass
class AuditResult:
    """What [`UnlearningAuditor.audit`] returns.

    Args:
        attacks (`dict`):
            Attack name -> `probe`, `status` (`"ok"` or `"skipped"`), `reason` (why skipped), `settings`,
            `scored_rows`, `seconds` (wall time of the attack on every model), `models` (role -> `before` and
            `after` scores, plus `layers` and `best_layer` for the logit lens), `recovery` (score -> value or
            `None`), `recovery_notes` (score -> why undefined),
            `headline` (`score` and `recovery`: ROUGE-L, or probability where there is no ROUGE).
            An attack that ran more than once (the relearning attacks, `RelearnProbe(repeats=...)`) also has
            `repeats` (one entry per run: its `seed`, `scored_rows`, `models`, `recovery`, `regained`, notes and
            `headline`, as an attack run once has them) and `spread` (`recovery` / `regained` -> score ->
            [`repeat_spread`]); its `models` scores are then the medians over the repeats, and its `recovery`,
            `regained` and `headline` the medians of the repeats' values (not the measure of the median scores).
        settings (`dict`):
            Seed, scoring settings, probes, and the forget / retain sets' row counts and SHA-256.
        models (`list[str]`):
            Roles audited (`unlearned`, and `original` / `retain` when given).
        per_row (`dict`):
            In memory only, never saved: attack -> role -> the per-row forget log (numbers) after the attack (its
            first run, for a repeated attack).
    """

    attacks: dict[str, dict]
    settings: dict[str, Any]
    models: list[str]
    per_row: dict[str, dict] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The content of `audit.json`: numbers, score names and probe names, never any text of any row."""
        return {"format_version": 1, "models": self.models, "settings": self.settings, "attacks": self.attacks}

    def robustness_summary(self) -> dict[str, Any]:
        """See [`robustness_summary`]."""
        return robustness_summary(self.to_dict())

    def record_in(self, model_dir: str | os.PathLike, repo_id: str | None = None) -> dict[str, Any]:
        """Adds this audit's robustness summary to a saved unlearned model: opt-in, the audit never does it itself.

        Writes the `robustness` section (see [`robustness_summary`]: numbers, attack and score names, and the
        library's reasons for skipped attacks and undefined recoveries; no text of any row) into the folder's
        `unlearning_record.json`, and regenerates its `README.md` card from the record, with a "Robustness"
        section. Nothing else in the folder is touched. Both files are rendered before either is written, and each
        is written atomically; a second audit replaces the section of the first.

        Args:
            model_dir (`str` or `os.PathLike`):
                The folder of the audited unlearned model (or adapter), as saved by `UnlearningTrainer` with its
                card and `unlearning_record.json`.
            repo_id (`str`, *optional*):
                The Hub repository the card's loading snippet names; without it, a placeholder (as when the card
                was first written for a local folder).

        Returns:
            `dict`: the updated record.

        Raises:
            ValueError: the folder has no `unlearning_record.json` (it was not saved by an unlearning run), or the
                audit's forget set is not the one the record says the model forgot (row count and SHA-256 differ).
        """
        from ..hub import save_card_and_record

        record = check_record(model_dir, self.settings["forget_set"])
        record = {**record, "robustness": self.robustness_summary()}
        save_card_and_record(record, str(Path(model_dir)), repo_id=repo_id)
        return record

    def metrics(self, prefix: str = "audit") -> dict[str, float]:
        """Flat scalars, e.g. `audit_relearn_forget_unlearned_after_rougeL_recall`, `audit_quantize_4bit_recovery`.

        Returns:
            `dict[str, float]`: per attack, role, stage (`before` / `after`) and score; `{attack}_recovery_{score}`
            and `{attack}_recovery` (the headline; the median of a repeated attack) where defined, the same with
            `regained`; `{attack}_recovery_min` / `_max` (the headline's range over a repeated attack's runs);
            `{attack}_{role}_best_layer` for the logit lens.
        """
        flat: dict[str, float | None] = {}
        for name, entry in self.attacks.items():
            if entry["status"] != "ok":
                continue
            for role, result in entry["models"].items():
                for stage in ("before", "after"):
                    for score, value in result[stage].items():
                        flat[f"{prefix}_{name}_{role}_{stage}_{score}"] = value
                if "best_layer" in result:
                    flat[f"{prefix}_{name}_{role}_best_layer"] = result["best_layer"]
            for measure in ("recovery", "regained"):
                for score, value in entry[measure].items():
                    flat[f"{prefix}_{name}_{measure}_{score}"] = value
                flat[f"{prefix}_{name}_{measure}"] = entry["headline"][measure]
                spread = entry.get("spread", {}).get(measure, {}).get(entry["headline"]["score"])
                if spread:  # the headline's range over the repeats
                    flat[f"{prefix}_{name}_{measure}_min"] = spread["min"]
                    flat[f"{prefix}_{name}_{measure}_max"] = spread["max"]
        return {key: float(value) for key, value in flat.items() if _finite(value) is not None}

    def table(self) -> str:
        """The audit as a text table: per attack, each model's headline score before -> after, and its recoveries.

        The three-model recovery (and on answer probability) is shown when a retain model was audited, the share
        regained (see [`regained`]) when the original was; then one line per reason a value is undefined, one line
        per attack that damages the original model itself, and [`summary_sentence`].
        """
        roles = [role for role in MODEL_ROLES if role in self.models]
        measures = [  # (key in the entry, column title of the headline, column title on probability)
            (key, title, probability)
            for key, title, probability, role in (
                ("recovery", "recovery", "prob rec.", "retain"),
                ("regained", "regained", "prob reg.", "original"),
            )
            if role in self.models
        ]
        repeated = {name: entry for name, entry in self.attacks.items() if entry.get("spread")}
        # A repeated attack's cell is its median and [lowest, highest] repeat: the columns widen to hold it.
        width = 20 if repeated else 10
        header = f"{'attack':<27}{'score':<9}" + "".join(f"{role + ' before->after':>26}" for role in roles)
        header += "".join(f"{title:>{width}}{probability:>{width + 1}}" for _, title, probability in measures)
        lines = [header, "-" * len(header)]
        undefined: dict[tuple[str, str], list[str]] = {}  # (measure, reason) -> its attacks: one line per reason
        damaged = []
        for name, entry in self.attacks.items():
            if entry["status"] == "skipped":
                lines.append(f"{name:<27}skipped: {entry['reason']}")
                continue
            score = entry["headline"]["score"]
            cells = []
            for role in roles:
                before, after = (entry["models"][role][stage][score] for stage in ("before", "after"))
                cells.append(f"{_cell(before)} -> {_cell(after)}".rjust(26))
            for key, _, _ in measures:  # `.get`: an entry of an older audit.json has no share regained
                value = entry["headline"].get(key)
                probability = entry.get(key, {}).get("probability") if score != "probability" else None
                missing = "n/a" if score != "probability" else ""
                spread = entry.get("spread", {}).get(key, {})
                cells.append(
                    f"{_cell(value, 'n/a', spread.get(score)):>{width}}"
                    f"{_cell(probability, missing, spread.get('probability')):>{width + 1}}"
                )
                if value is None:
                    reason, detail = _split_note(entry.get(f"{key}_notes", {}).get(score) or "not computed")
                    undefined.setdefault((key, reason), []).append(f"{name} ({detail})" if detail else name)
            lines.append(f"{name:<27}{SCORE_TITLES[score]:<9}" + "".join(cells))
            if entry.get("original_damage"):
                damaged.append(damage_note(name, entry["original_damage"]))
        explained = {
            "recovery": "recovery = (U - R) / (O - R) under the same attack, on the score shown (prob rec.: on answer "
            "probability): 0 = like the retain model, 1 = like the original",
            "regained": REGAINED_TEXT + " (prob reg.: on answer probability)",
        }
        lines += [textwrap.fill(explained[key], len(header)) for key, _, _ in measures]
        if repeated and measures:
            counts = sorted({len(entry["repeats"]) for entry in repeated.values()})
            text = (
                f"{', '.join(repeated)}: median [lowest, highest] over {' / '.join(map(str, counts))} repeats, each "
                "with its own seed (and split of the forget rows); the before->after scores are the medians"
            )
            lines.append(textwrap.fill(text, len(header)))
        partial = [  # a repeat where a value is undefined is left out of its median and range
            f"{name} {key} defined in {spread['defined']} of {spread['repeats']} repeats"
            for name, entry in repeated.items()
            for key, _, _ in measures
            for spread in [entry["spread"].get(key, {}).get(entry["headline"]["score"])]
            if spread and 0 < spread["defined"] < spread["repeats"]
        ]
        if partial:
            text = f"{'; '.join(partial)}: the median and range are over those repeats"
            lines.append(textwrap.fill(text, len(header), subsequent_indent="  "))
        notes = [
            textwrap.fill(f"{key} undefined for {', '.join(names)}: {reason}", len(header), subsequent_indent="  ")
            for (key, reason), names in undefined.items()
        ]
        notes += [textwrap.fill(note, len(header), subsequent_indent="  ") for note in damaged]
        notes.append(textwrap.fill(self.robustness_summary()["sentence"], len(header)))
        return "\n".join(lines + notes)

    def save(self, output_dir: str | os.PathLike, plot: bool = True) -> dict[str, Path]:
        """Writes `audit.json` (and `audit.png` when `plot`) into `output_dir`, each atomically.

        Returns:
            `dict[str, Path]`: the paths written, under `audit` and `plot`.
        """
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        paths = {"audit": output_dir / AUDIT_FILE}
        write_json_atomic(paths["audit"], self.to_dict())
        if plot:
            paths["plot"] = output_dir / PLOT_FILE
            plot_audit(self, paths["plot"])
        return paths


def _split_note(note: str) -> tuple[str, str | None]:
    """A recovery note (see [`recovery`], [`regained`]) as its reason, shared by attacks, and its per-attack gap."""
    reason = note.removeprefix("undefined: ")
    match = re.search(r" \(((?:\|O - R\||O - U) = [^)]*)\)", reason)
    if match is None:
        return reason, None
    return reason[: match.start()] + reason[match.end() :], match.group(1)


def _cell(value: float | None, missing: str = "-", spread: dict | None = None) -> str:
    """A table cell: the value with 3 decimals, or with 2 and the repeats' range (see [`range_text`])."""
    if value is None:
        return missing
    bracket = range_text(spread)
    return f"{value:.2f}{bracket}" if bracket else f"{value:.3f}"


MODEL_COLOURS = {"original": "tab:blue", "retain": "tab:green", "unlearned": "tab:red"}
"""The colour of each audited model in `audit.png`: the same in every run, whichever models were audited."""
RECOVERY_CAPTION = (
    "recovery = (U - R) / (O - R) on the attacked scores: 0 = like the retain model (R, never saw the forget set), "
    "1 = like the original (O). Negative: under this attack the unlearned model (U) scores below the retain model, "
    "i.e. lower than a model that never saw the data."
)


def _measure(entry: dict, roles: list[str]) -> str:
    """The recovery a panel shows: the three-model one with a retain model, else the share regained."""
    return "regained" if "retain" not in roles and "regained" in entry["headline"] else "recovery"


def _panel_note(entry: dict, roles: list[str], score: str, min_gap: float) -> str | None:
    """What a panel's bars cannot show: every score zero or missing after the attack, an undefined recovery (and
    why), a negative one (what it means)."""
    after = [entry["models"][role]["after"][score] for role in roles]
    notes = []
    if all(value is None for value in after):
        notes.append("no model has a score after this attack")
    elif all(not value for value in after):
        notes.append("every model scores 0 after this attack")
    measure = _measure(entry, roles)
    value = entry["headline"][measure]
    if value is None:
        reason, detail = _split_note(entry[f"{measure}_notes"][score])
        if detail and measure == "recovery":  # the gap rule of `recovery`, said short
            reason = f"original and retain models within {min_gap} of each other ({detail}), nothing to recover"
        notes.append(f"{measure} undefined: {reason}")
    elif value < 0:
        notes.append(
            "recovery < 0: the unlearned model scores below the retain model under this attack"
            if measure == "recovery"
            else "regained < 0: the attack lowers the unlearned model's score further"
        )
    if entry.get("original_damage"):
        notes.append("the attack also lowers the original's own score: it damages the model")
    return "\n".join(textwrap.fill(note, 36) for note in notes) or None


def audit_figure(result: AuditResult):
    """The figure of `audit.png`: per attack, the headline forget score of each model before and after the attack.

    Each model has one colour (`MODEL_COLOURS`); before the attack is hatched and light, after is solid. A panel
    whose scores are all zero or missing, or whose recovery is undefined, says so in a note; a caption under the
    figure says how to read recovery, negative values included.

    Returns:
        `matplotlib.figure.Figure`: the figure (close it with `matplotlib.pyplot.close`).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    ran = {name: entry for name, entry in result.attacks.items() if entry["status"] == "ok"}
    roles = [role for role in MODEL_ROLES if role in result.models]
    columns = min(4, max(1, len(ran)))
    rows = max(1, math.ceil(len(ran) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows + 1.0), squeeze=False)
    for axis in axes.flat[len(ran) :]:
        axis.set_visible(False)
    stages = {"before": {"alpha": 0.35, "hatch": "//"}, "after": {"alpha": 1.0, "hatch": None}}
    for axis, (name, entry) in zip(axes.flat, ran.items()):
        score = entry["headline"]["score"]
        for position, role in enumerate(roles):
            for offset, (stage, style) in zip((-0.2, 0.2), stages.items()):
                value = entry["models"][role][stage][score]
                axis.bar(
                    position + offset,
                    value or 0.0,
                    width=0.4,
                    color=MODEL_COLOURS[role],
                    edgecolor=MODEL_COLOURS[role],
                    **style,
                )
                if not value:  # a bar of height 0 (or no score) is invisible: its value is written instead
                    label = "n/a" if value is None else "0"
                    axis.text(position + offset, 0.01, label, ha="center", va="bottom", fontsize=6)
        measure = _measure(entry, roles)
        spread = entry.get("spread", {}).get(measure, {}).get(score)
        axis.set_title(f"{name}\n{measure} {_cell(entry['headline'][measure], 'undefined', spread)}", fontsize=9)
        axis.set_xticks(range(len(roles)), roles, fontsize=8)
        axis.set_ylabel(f"forget {SCORE_TITLES[score]}", fontsize=8)
        # scores are in [0, 1]; the space above 1 holds the panel's note, clear of the bars
        axis.set_ylim(0, 1.5)
        axis.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
        note = _panel_note(entry, roles, score, result.settings.get("recovery_min_gap", 0.05))
        if note:
            box = {"boxstyle": "round", "facecolor": "white", "edgecolor": "lightgray", "alpha": 0.9}
            axis.text(0.5, 0.97, note, transform=axis.transAxes, ha="center", va="top", fontsize=6.5, bbox=box)
    handles = [Patch(facecolor=MODEL_COLOURS[role], label=role) for role in roles]
    handles += [
        Patch(facecolor="lightgray", edgecolor="gray", hatch="//", label="before the attack"),
        Patch(facecolor="gray", edgecolor="gray", label="after the attack"),
    ]
    height = figure.get_figheight()  # inches: the legend, title and caption keep their size at any panel count
    caption = textwrap.fill(RECOVERY_CAPTION if "retain" in roles else REGAINED_TEXT + ".", 40 * columns)
    figure.legend(
        handles=handles, loc="upper center", ncol=len(handles), fontsize=8, bbox_to_anchor=(0.5, 1 - 0.05 / height)
    )
    figure.suptitle("Forget score of each model before and after each attack", fontsize=10, y=1 - 0.4 / height)
    figure.text(0.5, 0.08 / height, caption, ha="center", va="bottom", fontsize=7.5)
    bottom = (0.2 + 0.14 * (caption.count("\n") + 1)) / height
    figure.tight_layout(rect=(0, bottom, 1, 1 - 0.6 / height))
    return figure


def plot_audit(result: AuditResult, path: Path) -> None:
    """Writes [`audit_figure`] to `path`, atomically."""
    import matplotlib.pyplot as plt

    figure = audit_figure(result)
    try:
        with atomic_write(path) as temporary:
            figure.savefig(temporary, dpi=100)
    finally:
        plt.close(figure)


def load_model(path: str | os.PathLike, option: str = "model", **kwargs) -> torch.nn.Module:
    """A causal LM from a model folder or Hub id, or a PEFT adapter folder on its base model: the library's one
    loader, [`hf_unlearn.models.load_model`].

    Args:
        path (`str` or `os.PathLike`):
            Model folder / Hub id, or adapter folder (it holds `adapter_config.json`).
        option (`str`, *optional*, defaults to `"model"`):
            The parameter it was given as, named in error messages (`original`, `retain_model`, ...).
        **kwargs:
            Passed to `from_pretrained` (`dtype`, `trust_remote_code`).

    Raises:
        ValueError: an adapter folder whose base model cannot be loaded (naming the path it tried), or a model
            that cannot be loaded.
    """
    from .. import models

    return models.load_model(path, name=option, **kwargs)


class UnlearningAuditor:
    r"""
    Attacks an unlearned model, and its original and retain models under the same attacks, and reports how much of
    the forgotten answers each attack brings back.

    The sets are prepared once, so one auditor can audit several models. The audited models are never modified:
    attacks that change weights (relearning, quantization) work on copies.

    Args:
        tokenizer ([`~transformers.PreTrainedTokenizerBase`]):
            Tokenizer of the models; needs an EOS token.
        forget (`datasets.Dataset`, `list[dict]` or `dict[str, list]`):
            The forget rows, in any supported format; `paraphrased_question` (or the paraphrase probe's column),
            `paraphrased_answer` and `perturbed_answer` are used where present.
        retain (`datasets.Dataset`, `list[dict]` or `dict[str, list]`, *optional*):
            Retain rows: unrelated relearning data and few-shot examples. Without it those attacks are skipped.
        probes (`str` or `list`, *optional*, defaults to `"all"`):
            `"all"`, comma-separated names, or a list of names and probe objects (e.g.
            `RelearnProbe(steps=50)`); names: `relearn`, `quantize`, `paraphrase`, `few_shot`, `prompt_attacks`,
            `logit_lens`. The relearning attacks run 3 times by default (`RelearnProbe(repeats=...)`), each with
            its own seed and split, and report the median and range: 3 times the cost of one run.
        seed (`int`, *optional*, defaults to `0`):
            Seed of every random choice; the same for the three models.
        batch_size (`int`, *optional*, defaults to `16`):
            Sequences per teacher-forced forward pass.
        generation_batch_size (`int`, *optional*):
            Prompts per `generate` call; defaults to `batch_size`.
        max_new_tokens (`int`, *optional*):
            Most tokens generated per answer; by default the evaluator's budget, sized to the longest reference
            answer of the forget set (see [`UnlearningEvaluator`]).
        max_length (`int`, *optional*, defaults to `512`):
            Truncation length of scored and relearning sequences.
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\nAnswer:"`):
            Prompt of `question`/`answer` rows; use the training run's.
        recovery_min_gap (`float`, *optional*, defaults to `0.05`):
            Smallest `|O - R|` for which a recovery is computed (see [`recovery`]).

    Raises:
        ValueError: an unknown probe name (the message lists the known ones), a relearn split of 0 or all forget
            rows, unrelated relearning data that holds a forget row, or a bad set.
        ImportError: the quantize probe without bitsandbytes (names the extra to install).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        forget: Any,
        retain: Any = None,
        *,
        probes: str | list = "all",
        seed: int = 0,
        batch_size: int = 16,
        generation_batch_size: int | None = None,
        max_new_tokens: int | None = None,
        max_length: int | None = 512,
        qa_prompt_template: str = DEFAULT_QA_PROMPT_TEMPLATE,
        recovery_min_gap: float = 0.05,
    ):
        ensure_pad_token(tokenizer)
        self.probes = make_probes(probes)
        forget, retain = as_rows(forget, "forget"), (as_rows(retain, "retain") if retain is not None else None)
        evaluator_kwargs = {
            "batch_size": batch_size,
            "generation_batch_size": generation_batch_size,
            "max_new_tokens": max_new_tokens,
            "max_length": max_length,
        }
        self.context = AuditContext(
            tokenizer,
            forget,
            retain,
            seed=seed,
            evaluator_kwargs=evaluator_kwargs,
            qa_prompt_template=qa_prompt_template,
        )
        for probe in self.probes:
            probe.check(self.context)
        for probe in self.probes:  # said once per auditor, not per audited model
            repeats = getattr(probe, "repeats", 1)
            if repeats > 1:
                logger.warning(
                    f"Audit: the {probe.name} attacks run {repeats} times each (relearn_repeats={repeats}), each "
                    f"with its own seed and split, for the median and range of their recovery: {repeats} times the "
                    "cost of one run; relearn_repeats=1 runs them once."
                )
        self.recovery_min_gap = recovery_min_gap
        self.settings = {
            "seed": seed,
            "probes": [probe.name for probe in self.probes],
            "max_new_tokens": max_new_tokens,
            "max_length": max_length,
            "recovery_min_gap": recovery_min_gap,
            "original_damage": ORIGINAL_DAMAGE,
            "forget_set": content_fingerprint(forget, "forget"),
            "retain_set": content_fingerprint(retain, "retain") if retain is not None else None,
        }

    def audit(
        self,
        model: torch.nn.Module | str | os.PathLike,
        original: torch.nn.Module | str | os.PathLike | None = None,
        retain_model: torch.nn.Module | str | os.PathLike | None = None,
    ) -> AuditResult:
        """Runs every attack on `model` and, when given, on `original` and `retain_model`.

        Args:
            model (`torch.nn.Module`, `str` or `os.PathLike`):
                The unlearned model: a causal LM, a PEFT model, or a model / adapter folder.
            original (*optional*):
                The model before unlearning (recovery 1). Same types.
            retain_model (*optional*):
                A model trained without the forget set (recovery 0). Same types.

        Returns:
            [`AuditResult`]: scores, recoveries and reasons for skipped attacks.
        """
        given = {"unlearned": model, "original": original, "retain": retain_model}
        models = {
            role: load_model(value, role) if isinstance(value, (str, os.PathLike)) else value
            for role, value in given.items()
            if value is not None
        }
        context = self.context
        made = [probe.attacks(context) for probe in self.probes]  # each probe's attacks
        running = [run for attacks in made for attack in attacks if not attack.skipped for run in attack.runs]
        # The clean scores are the "before" of the attacks that have no `before` of their own: none, no clean run.
        needs_clean = any(attack.before is None for attack in running)
        units = len(models) * (needs_clean + len(running))
        # One bar over every (attack, model) pair, labelled with the pair; the evaluator's bars show within each.
        bar = logging.tqdm(total=units, desc="audit", dynamic_ncols=True)
        clean = {}
        if needs_clean:
            evaluator = context.evaluator(context.forget)  # prepared once, for every model
            for role, audited in models.items():
                bar.set_description(f"audit: no attack ({role} model)")
                clean[role] = context.score(audited, evaluator)
                bar.update()
        attacks, per_row = {}, {}
        for made_here in made:
            skipped: dict[str, list[str]] = {}
            for attack in made_here:
                if attack.skipped:
                    skipped.setdefault(attack.skipped, []).append(attack.name)
            for reason, names in skipped.items():  # one line per reason (a probe's attacks often share one)
                logger.warning(f"Audit: {', '.join(names)} skipped: {reason}")
            for attack in made_here:
                entry = {
                    "probe": attack.probe,
                    "status": "skipped" if attack.skipped else "ok",
                    "reason": attack.skipped,
                    "settings": attack.settings,
                    "scored_rows": len(attack.rows),
                }
                attacks[attack.name] = entry
                if attack.skipped:
                    continue
                per_row[attack.name], runs = {}, []
                start = time.perf_counter()
                for index, run in enumerate(attack.runs):
                    scores = {}
                    for role, audited in models.items():
                        repeat = f", repeat {index + 1}/{len(attack.runs)}" if attack.repeats else ""
                        bar.set_description(f"audit: {attack.name} ({role} model){repeat}")
                        after = run.run(audited)
                        before = (
                            run.before(audited)
                            if run.before is not None
                            else context.scores_of(subset_log(clean[role].log, run.rows))
                        )
                        result = {"before": before.scores, "after": after.scores}
                        if after.layers is not None:
                            result.update(layers=after.layers, best_layer=after.best_layer)
                        scores[role] = result
                        if index == 0:
                            per_row[attack.name][role] = after.log
                        bar.update()
                    runs.append({"seed": run.seed, "scored_rows": len(run.rows), "models": scores})
                entry["seconds"] = round(time.perf_counter() - start, 2)
                if attack.repeats:
                    entry["repeats"] = runs
                else:  # an attack run once keeps the entry it always had
                    entry["models"] = runs[0]["models"]
                add_recoveries(entry, self.recovery_min_gap)
        bar.close()
        return AuditResult(attacks=attacks, settings=self.settings, models=list(models), per_row=per_row)


def with_baselines(result: AuditResult, baselines: dict[str, AuditResult | dict]) -> AuditResult:
    """The audit of an unlearned model alone, completed with baseline models audited alone, as if all were audited
    together: audit the original (and retain) model once, and reuse it for every unlearned model of it.

    The merged scores are those a joint audit gives, because the auditor seeds each attack's split, adapter
    initialisation and data order from its settings, not from the models it is given; so the audits must share
    those settings (seed, probes, relearn repeats, scoring settings, forget and retain sets), which is checked.

    Args:
        result ([`AuditResult`]):
            The unlearned model's audit (`models == ["unlearned"]`).
        baselines (`dict[str, AuditResult | dict]`):
            `"original"` and / or `"retain"` -> that model's audit alone (an [`AuditResult`] or the content of its
            `audit.json`).

    Returns:
        [`AuditResult`]: the attacks with every model's scores and the recoveries of the joint audit.
    """
    if result.models != ["unlearned"]:
        raise ValueError(f"result must be the audit of the unlearned model alone; it audited {result.models}")
    unknown = sorted(set(baselines) - {"original", "retain"})
    if unknown:
        raise ValueError(f"baselines takes the roles 'original' and 'retain'; got {unknown}")
    given = {role: audit.to_dict() if isinstance(audit, AuditResult) else audit for role, audit in baselines.items()}
    settings = json.loads(json.dumps(result.settings))  # as saved: tuples read back as lists
    for role, audit in given.items():
        differ = sorted(
            key for key in {*audit["settings"], *settings} if audit["settings"].get(key) != settings.get(key)
        )
        if differ:
            raise ValueError(f"the {role} audit was run with other settings ({', '.join(differ)}); rerun it")
    attacks = {}
    for name, entry in result.attacks.items():
        entry = copy.deepcopy(entry)
        if entry["status"] == "ok":
            theirs = {role: audit["attacks"][name] for role, audit in given.items()}
            # A repeated attack is merged repeat by repeat: each repeat has its own seed and split, the same on
            # every model.
            for position, run in enumerate(entry.get("repeats") or [entry]):
                runs = {role: (other.get("repeats") or [other])[position] for role, other in theirs.items()}
                if any(other.get("seed") != run.get("seed") for other in runs.values()):
                    raise ValueError(f"{name}: the baseline audits ran other repeats; rerun them")
                run["models"] = {
                    **{role: other["models"]["unlearned"] for role, other in runs.items()},
                    **run["models"],
                }
            add_recoveries(entry, result.settings["recovery_min_gap"])
        attacks[name] = entry
    roles = [role for role in ("original", "retain") if role in given]
    return AuditResult(attacks=attacks, settings=result.settings, models=["unlearned", *roles])


def add_recoveries(entry: dict, min_gap: float = 0.05) -> None:
    """Adds to an attack's entry (its `models` scores before and after) its `recovery` and `regained` per score,
    with notes where undefined, its `headline` and its `original_damage`.

    An entry with `repeats` (one `models` per run of a repeated attack) gets them in each repeat, and in the entry
    itself the medians: `models` (each score's median over the repeats), `recovery` / `regained` and `headline` (the
    median of the repeats' values, over the repeats where it is defined; the first repeat's note where it is
    defined in none), and `spread` (measure -> score -> [`repeat_spread`]).
    """
    runs = entry.get("repeats")
    if not runs:
        _add_recoveries(entry, min_gap)
        return
    for run in runs:
        _add_recoveries(run, min_gap)
    entry["models"] = {
        role: {
            stage: {
                score: _median([run["models"][role][stage].get(score) for run in runs])
                for score in runs[0]["models"][role][stage]
            }
            for stage in ("before", "after")
        }
        for role in runs[0]["models"]
    }
    entry["spread"] = {}
    for measure in ("recovery", "regained"):
        entry[measure], entry[f"{measure}_notes"], entry["spread"][measure] = {}, {}, {}
        for score in runs[0][measure]:
            spread = repeat_spread([run[measure][score] for run in runs])
            entry[measure][score], entry["spread"][measure][score] = spread["median"], spread
            entry[f"{measure}_notes"][score] = None if spread["defined"] else runs[0][f"{measure}_notes"][score]
    score = runs[0]["headline"]["score"]
    entry["headline"] = {"score": score, **{key: entry[key][score] for key in ("recovery", "regained")}}
    entry["original_damage"] = original_damage(entry, min_gap)


def _median(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return statistics.median(defined) if defined else None


def _add_recoveries(entry: dict, min_gap: float) -> None:
    """[`add_recoveries`] of one run of an attack."""
    results = entry["models"]
    entry["recovery"], entry["recovery_notes"] = {}, {}
    for score in RECOVERY_SCORES:
        after = {role: results[role]["after"].get(score) if role in results else None for role in MODEL_ROLES}
        if after["unlearned"] is None:
            continue  # the attack has no such score (the logit lens has no ROUGE)
        value, note = recovery(after["unlearned"], after["original"], after["retain"], min_gap=min_gap)
        entry["recovery"][score], entry["recovery_notes"][score] = value, note
    entry["regained"], entry["regained_notes"] = {}, {}
    for score in entry["recovery"]:
        before = {role: results[role]["before"].get(score) if role in results else None for role in MODEL_ROLES}
        value, note = regained(
            results["unlearned"]["after"][score],
            before["unlearned"],
            before["original"],
            min_gap=min_gap,
        )
        entry["regained"][score], entry["regained_notes"][score] = value, note
    score = next(iter(entry["recovery"]))
    entry["headline"] = {"score": score, **{key: entry[key][score] for key in ("recovery", "regained")}}
    entry["original_damage"] = original_damage(entry, min_gap)

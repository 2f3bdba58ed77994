"""Evaluation of unlearning: per-sample scoring on forget / retain / holdout sets, TOFU-format logs, aggregates.

- [`UnlearningEvaluator`]: scores a model on named eval sets and returns an [`EvaluationResult`] (TOFU-format
  per-sample log + summary).
- [`UnlearningEvalCallback`]: the same during training, on the Trainer's evaluation schedule, multi-process.
- `hf-unlearn eval` (`hf_unlearn.eval_cli`): the same from the command line, for a model or an adapter folder.
- [`MuseEvaluator`]: MUSE's criteria (VerbMem, KnowMem, PrivLeak) on `muse-bench/MUSE-News` / `MUSE-Books`
  ([`load_muse`]); `hf-unlearn eval --benchmark muse_news` from the shell.
- [`evaluate_lm_eval`]: multiple-choice benchmarks (WMDP, MMLU, any lm-evaluation-harness task) on an in-memory
  model, with the `lm-eval` extra; `hf-unlearn eval --lm_eval_tasks` from the shell. [`write_multiple_choice_task`]
  writes a local task of your own questions; [`LMEvalCallback`] scores at chosen training steps.
- [`UnlearningAuditor`]: the robustness audit (relearning, quantization, paraphrase, few-shot, prompt attacks,
  logit lens) of an unlearned model against its original and retain models; `hf-unlearn audit` from the shell.

The classes are imported on first use, so that the command line can read the set names below without paying
for the torch / transformers imports.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING

from ..metrics.tofu import TOFU_LOG_KEYS


EVAL_LOG_KEYS = {**TOFU_LOG_KEYS, "holdout": "eval_log_holdout.json"}
"""Eval-set name -> key of that set in a TOFU-format log. `holdout` is ours (TOFU has no holdout set)."""

EVAL_SET_NAMES = tuple(EVAL_LOG_KEYS)
"""The eval-set names with a TOFU role (and TOFU's log keys). Other names are accepted too, see [`eval_log_key`]."""

_OTHER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_OTHER_KEY = re.compile(r"eval_log_([A-Za-z][A-Za-z0-9_]*)\.json")


def eval_log_key(name: str) -> str:
    """Key of the eval set `name` in a TOFU-format log: TOFU's own for `EVAL_SET_NAMES`, else
    `eval_log_{name}.json` (e.g. `forget_paraphrase`, `neighbours`, `general`).

    Raises:
        ValueError: `name` is not letters, digits and underscores starting with a letter.
    """
    if name in EVAL_LOG_KEYS:
        return EVAL_LOG_KEYS[name]
    if not is_eval_set_name(name):
        raise ValueError(
            f"Eval set name {name!r} is not accepted: a name is letters, digits and underscores, starting with a "
            f"letter (e.g. forget_paraphrase, neighbours). {list(EVAL_SET_NAMES)} have their TOFU roles; other "
            "names starting with 'forget' are aggregated as forget sets, the rest as retain sets."
        )
    return f"eval_log_{name}.json"


def is_eval_set_name(name) -> bool:
    """Whether the evaluator accepts `name` as an eval-set name (see [`eval_log_key`])."""
    return name in EVAL_LOG_KEYS or (isinstance(name, str) and _OTHER_NAME.fullmatch(name) is not None)


def eval_set_name(key: str) -> str | None:
    """The eval-set name of a TOFU-format log key ([`eval_log_key`] reversed), or `None` for another key."""
    for name, known in EVAL_LOG_KEYS.items():
        if key == known:
            return name
    match = _OTHER_KEY.fullmatch(key)
    return match.group(1) if match else None


def tofu_role(name: str) -> str:
    """The TOFU set whose aggregation rules score the eval set `name`: its own for TOFU's sets, `"forget"` for other
    names starting with `forget` (the forget objective's convention for eval sets), else `"retain"`."""
    if name in TOFU_LOG_KEYS:
        return name
    return "forget" if name.startswith("forget") else "retain"


_EXPORTS = {
    "AuditResult": ".audit",
    "UnlearningAuditor": ".audit",
    "robustness_summary": ".audit",
    "EvaluationResult": ".evaluator",
    "UnlearningEvaluator": ".evaluator",
    "summarize_logs": ".evaluator",
    "UnlearningEvalCallback": ".callback",
    "MuseData": ".muse",
    "MuseEvaluator": ".muse",
    "MuseResult": ".muse",
    "load_muse": ".muse",
    "load_muse_split": ".muse",
    "LMEvalCallback": ".lm_eval_harness",
    "LMEvalResult": ".lm_eval_harness",
    "evaluate_lm_eval": ".lm_eval_harness",
    "write_multiple_choice_task": ".lm_eval_harness",
    "prepare_eval_set": ".sets",
    "greedy_generate": ".scoring",
    "score_sequences": ".scoring",
}

__all__ = sorted(
    [*_EXPORTS, "EVAL_LOG_KEYS", "EVAL_SET_NAMES", "eval_log_key", "eval_set_name", "is_eval_set_name", "tofu_role"]
)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'hf_unlearn.evaluation' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .audit import AuditResult, UnlearningAuditor, robustness_summary
    from .callback import UnlearningEvalCallback
    from .evaluator import EvaluationResult, UnlearningEvaluator, summarize_logs
    from .lm_eval_harness import LMEvalCallback, LMEvalResult, evaluate_lm_eval, write_multiple_choice_task
    from .muse import MuseData, MuseEvaluator, MuseResult, load_muse, load_muse_split
    from .scoring import greedy_generate, score_sequences
    from .sets import prepare_eval_set

"""What every probe of the robustness audit shares: the attack interface, the audit context, copies of models.

A *probe* (one class per attack family) turns the audit context into one or more *attacks*. An attack names the
forget rows it scores and scores one model under attack; the auditor runs it, with the same seed, on the
unlearned, original and retain models, and puts the result between the original (1) and the retain model (0).

Every score comes from [`UnlearningEvaluator`] (answer probability, ROUGE-L recall of greedy answers, truth ratio
where the rows have perturbed answers): an attack changes the prompts or the model, never the scoring.
"""

from __future__ import annotations

import copy
import logging as std_logging
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets
import torch

from ...data.formatting import SUPPORTED_FORMATS, as_dataset, detect_format, prepare_dataset
from .. import EVAL_LOG_KEYS


SCORES = ("rougeL_recall", "probability", "truth_ratio")
"""Forget-set scores reported per model, before and after each attack (names of the evaluator's summary)."""

FORGET_KEY = EVAL_LOG_KEYS["forget"]

PROMPT_FORMATS = ("question_answer", "prompt_completion")
"""Row formats whose prompt is a string an attack can rewrite."""


@dataclass
class AttackScores:
    """Scores of one model under one attack.

    Args:
        scores (`dict[str, float | None]`):
            Forget-set scores by name (see `SCORES`); `None` where undefined.
        log (`dict`, *optional*):
            The per-row forget-set log (TOFU format, numbers only), kept in memory for inspection; never saved.
        layers (`list[dict]`, *optional*):
            Per-layer scores (logit lens).
        best_layer (`int`, *optional*):
            Layer with the highest answer probability (logit lens).
    """

    scores: dict[str, float | None]
    log: dict | None = field(default=None, repr=False)
    layers: list[dict] | None = None
    best_layer: int | None = None


@dataclass
class Attack:
    """One attack of a probe, ready to run.

    Args:
        name (`str`):
            Name in `audit.json` and the table, e.g. `"relearn_forget"`.
        probe (`str`):
            Name of the probe that made it.
        rows (`list[int]`):
            Forget rows scored (indices into the auditor's forget set).
        run (`Callable[[torch.nn.Module], AttackScores]`, *optional*):
            Scores one model under attack. `None` when skipped.
        before (`Callable[[torch.nn.Module], AttackScores]`, *optional*):
            Scores the model without the attack, when the clean evaluation of `rows` is not the right "before"
            (the logit lens compares layers, not prompts).
        skipped (`str`, *optional*):
            Why the attack cannot run on these sets (written into `audit.json` and the table).
        settings (`dict`, *optional*):
            The attack's budget (numbers and names only), written into `audit.json`.
        evaluator ([`UnlearningEvaluator`], *optional*):
            The evaluator that scores the attacked forget rows; its prepared rows show exactly which tokens are
            prompt and which are scored.
    """

    name: str
    probe: str
    rows: list[int]
    run: Callable[[torch.nn.Module], AttackScores] | None = None
    before: Callable[[torch.nn.Module], AttackScores] | None = None
    skipped: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    evaluator: Any = field(default=None, repr=False)


class Probe:
    """Base class of the audit's probes. A subclass sets `name`, takes its budget in `__init__`, and implements
    [`Probe.attacks`]; [`Probe.check`] refuses a budget that cannot work on the given sets, before any model runs.
    """

    name: ClassVar[str] = ""

    def check(self, context: AuditContext) -> None:
        """Raises `ValueError` when this probe's settings cannot work on `context`'s sets. Default: accepts."""

    def attacks(self, context: AuditContext) -> list[Attack]:
        """The attacks of this probe on `context`'s sets (skipped ones carry their reason)."""
        raise NotImplementedError


# A forget-only evaluation warns, every time, that it has no model utility, and (without perturbed answers) that
# the truth ratio is undefined; the audit scores the forget set dozens of times and reports undefined scores as null.
# bitsandbytes' 8-bit layers warn on every forward pass that fp32 inputs are cast to fp16, which the quantize probe
# expects (it is what loading in 8 bits means).
_REPEATED_WARNINGS = (
    "hf_unlearn.evaluation.evaluator",
    "hf_unlearn.metrics.truth_ratio",
    "bitsandbytes.autograd._functions",
)


@contextmanager
def _quiet():
    """Silences the warnings every forget-only evaluation repeats (see `_REPEATED_WARNINGS`)."""
    loggers = [std_logging.getLogger(name) for name in _REPEATED_WARNINGS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(std_logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="MatMul8bitLt")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def subset_log(set_log: dict, rows: Sequence[int]) -> dict:
    """The per-sample fields of a TOFU-format set log restricted to `rows`, renumbered from 0."""
    return {name: {str(new): values[str(old)] for new, old in enumerate(rows)} for name, values in set_log.items()}


def plain_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of `model` with any PEFT adapter merged into its weights: the model an attack may change.

    The audited model itself is never modified.
    """
    from peft import PeftModel

    duplicate = copy.deepcopy(model)
    if isinstance(duplicate, PeftModel):
        duplicate = duplicate.merge_and_unload()
    return duplicate.eval()


class AuditContext:
    """The sets, tokenizer and scoring settings every probe of one audit works with.

    Args:
        tokenizer ([`~transformers.PreTrainedTokenizerBase`]):
            Tokenizer of the audited models.
        forget (`datasets.Dataset`):
            The forget rows.
        retain (`datasets.Dataset`, *optional*):
            The retain rows (unrelated data for relearning, demonstrations for few-shot prompts).
        seed (`int`):
            Seed of every random choice (splits, demonstrations, LoRA initialisation, data order).
        evaluator_kwargs (`dict`):
            Settings of every [`UnlearningEvaluator`] built here (batch sizes, `max_new_tokens`, `max_length`).
        qa_prompt_template (`str`):
            Prompt of `question`/`answer` rows, as in training.
    """

    def __init__(
        self,
        tokenizer,
        forget: datasets.Dataset,
        retain: datasets.Dataset | None,
        *,
        seed: int,
        evaluator_kwargs: dict[str, Any],
        qa_prompt_template: str,
    ):
        self.tokenizer = tokenizer
        self.forget = forget
        self.retain = retain
        self.seed = seed
        self.evaluator_kwargs = evaluator_kwargs
        self.qa_prompt_template = qa_prompt_template
        self.forget_format = detect_format(forget.column_names, "forget")
        from ..evaluator import OnceFilter

        # The audit builds an evaluator per attack (and per model for the clean scores), each on forget rows with
        # the same columns: what one of them warns about the rows (no perturbed answers), the audit says once.
        self._once = OnceFilter()

    @property
    def max_length(self) -> int | None:
        return self.evaluator_kwargs.get("max_length")

    # ---- Scoring: always through the evaluator ----

    def evaluator(self, rows: datasets.Dataset | list[dict], rewritten: bool = False):
        """An [`UnlearningEvaluator`] on `rows` as the forget set.

        `rewritten` rows (from [`AuditContext.prompt_rows`]) hold their whole prompt in `question`, so their
        template is `"{question}"`; they are not truncated, since cutting an attack's longer prompt at `max_length`
        would cut the answer that is scored.
        """
        from ..evaluator import UnlearningEvaluator, said_once

        kwargs = dict(self.evaluator_kwargs)
        if rewritten:
            kwargs["max_length"] = None
        template = "{question}" if rewritten else self.qa_prompt_template
        with said_once(self._once):
            return UnlearningEvaluator(
                self.tokenizer, {"forget": rows}, qa_prompt_template=template, mia_sets=(), **kwargs
            )

    @staticmethod
    def scores_of(set_log: dict) -> AttackScores:
        """Forget-set scores of a per-row log, by the evaluator's own aggregation (TOFU's rules)."""
        from ..evaluator import summarize_logs

        with _quiet():
            summary = summarize_logs({FORGET_KEY: set_log}, sets=["forget"])
        forget = summary["sets"]["forget"]
        return AttackScores(scores={name: forget.get(name) for name in SCORES}, log=set_log)

    def score(self, model: torch.nn.Module, evaluator) -> AttackScores:
        """Scores `model` with `evaluator` (built by [`AuditContext.evaluator`])."""
        with _quiet():
            result = evaluator.evaluate(model)
        return self.scores_of(result.logs[FORGET_KEY])

    # ---- Prompts ----

    def prompt_support(self) -> str | None:
        """Why the forget rows' prompts cannot be rewritten, or `None` when they can."""
        if self.forget_format not in PROMPT_FORMATS:
            return (
                f"the forget rows are in the {self.forget_format!r} format; prompt attacks need string prompts "
                f"({' + '.join(SUPPORTED_FORMATS['question_answer'])} or "
                f"{' + '.join(SUPPORTED_FORMATS['prompt_completion'])} rows)"
            )
        if self.forget_format == "prompt_completion" and not isinstance(self.forget[0]["prompt"], str):
            return "the forget rows are conversational; prompt attacks need string prompts"
        return None

    def question_of(self, row: dict) -> str:
        """The part of a forget row an attack may reword: its question, or its whole prompt."""
        return row["question"] if self.forget_format == "question_answer" else row["prompt"]

    def format_prompt(self, question: str) -> str:
        """`question` in the model's prompt format (the QA template; prompt/completion prompts are already one)."""
        if self.forget_format == "question_answer":
            return self.qa_prompt_template.format(question=question)
        return question

    def prompt_rows(self, make_prompt: Callable[[int, dict], str], rows: Sequence[int]) -> list[dict]:
        """Forget rows `rows` with their whole prompt replaced by `make_prompt(index, row)`, answers unchanged.

        Question/answer rows keep their paraphrased and perturbed answers (so the truth ratio is still scored);
        they carry the finished prompt in `question`, for an evaluator built with `rewritten=True`.
        """
        rewritten = []
        for index in rows:
            row = self.forget[index]
            prompt = make_prompt(index, row)
            if self.forget_format == "question_answer":
                kept = {key: row[key] for key in ("answer", "paraphrased_answer", "perturbed_answer") if key in row}
                rewritten.append({"question": prompt, **kept})
            else:
                rewritten.append({"prompt": prompt, "completion": row["completion"]})
        return rewritten

    def prompt_attack(
        self, name: str, probe: str, make_prompt: Callable[[int, dict], str], rows: Sequence[int], settings=None
    ) -> Attack:
        """The attack that scores forget rows `rows` with prompts rewritten by `make_prompt` (see `prompt_rows`)."""
        evaluator = self.evaluator(self.prompt_rows(make_prompt, rows), rewritten=True)
        return Attack(
            name=name,
            probe=probe,
            rows=list(rows),
            run=lambda model: self.score(model, evaluator),
            settings=settings or {},
            evaluator=evaluator,
        )

    def demonstration(self, row: dict, fmt: str) -> str | None:
        """One solved example (prompt and answer) as text in the prompt format, or `None` for other formats."""
        if fmt == "question_answer":
            return self.qa_prompt_template.format(question=row["question"]) + " " + row["answer"]
        if fmt == "prompt_completion" and isinstance(row["prompt"], str) and isinstance(row["completion"], str):
            return row["prompt"] + row["completion"]
        return None

    # ---- Training data ----

    def training_rows(self, data: datasets.Dataset | list[dict], name: str) -> datasets.Dataset:
        """`input_ids` + `labels` of `data`, tokenized as the unlearning trainer does (answer tokens only)."""
        return prepare_dataset(
            data, self.tokenizer, name=name, max_length=self.max_length, qa_prompt_template=self.qa_prompt_template
        )


def as_rows(data: Any, name: str) -> datasets.Dataset:
    """A `datasets.Dataset` of `data` (a dataset, list of dicts or dict of lists), refused when empty."""
    dataset = as_dataset(data, name)
    if len(dataset) == 0:
        raise ValueError(f"The {name} set is empty; it needs at least one row.")
    detect_format(dataset.column_names, name)
    return dataset

"""What every probe of the robustness audit shares: the attack interface, the audit context, copies of models.

A *probe* (one class per attack family) turns the audit context into one or more *attacks*. An attack names the
forget rows it scores and scores one model under attack; the auditor runs it, with the same seed, on the
unlearned, original and retain models, and puts the result between the original (1) and the retain model (0).

Every score comes from [`UnlearningEvaluator`] (answer probability, ROUGE-L recall of greedy answers, truth ratio
where the rows have perturbed answers): an attack changes the prompts or the model, never the scoring.
"""

from __future__ import annotations

import copy
import dataclasses
import logging as std_logging
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets
import torch

from ...data.formatting import SUPPORTED_FORMATS, as_dataset, detect_format, is_conversational, prepare_dataset
from ...logprobs import IGNORE_INDEX
from .. import EVAL_LOG_KEYS


SCORES = ("rougeL_recall", "probability", "truth_ratio")
"""Forget-set scores reported per model, before and after each attack (names of the evaluator's summary)."""

FORGET_KEY = EVAL_LOG_KEYS["forget"]

PROMPT_FORMATS = ("question_answer", "prompt_completion", "messages")
"""Row formats whose prompt an attack can rewrite: a string prompt, or a conversation (through the chat template)."""


def last_user_turn(prompt: Sequence[dict]) -> int | None:
    """Index of the last user turn of the turns before an answer (the turn a prompt attack rewrites), or `None`."""
    return next((i for i in reversed(range(len(prompt))) if prompt[i].get("role") == "user"), None)


@dataclass(frozen=True)
class Rewrite:
    """How an attack rewrites the prompt of one forget row; the answer scored is never changed.

    [`AuditContext.rewritten_rows`] applies it to string prompts (question/answer, prompt/completion rows) and to
    conversations (`messages` and conversational prompt/completion rows, through the tokenizer's chat template).

    Args:
        question (`str`, *optional*):
            The question's new text: it replaces the row's question (question/answer), whole prompt
            (prompt/completion), or the content of the conversation's last user turn. `None` keeps it.
        before (`str`, *optional*, defaults to `""`):
            Text before the whole prompt (string prompts), or before the question inside the last user turn
            (conversations): a preamble the model reads first.
        shots (`list[dict]`, *optional*, defaults to `()`):
            Solved example rows (question/answer, prompt/completion or `messages`), in the format `shots_format`:
            text demonstrations before the prompt, each followed by `separator` (string prompts), or earlier
            user/assistant turns, after any system turn (conversations).
        shots_format (`str`, *optional*):
            Format of `shots` (see `SUPPORTED_FORMATS`).
        separator (`str`, *optional*, defaults to `"\\n\\n"`):
            Text after each demonstration of a string prompt.
        after (`str`, *optional*, defaults to `""`):
            The start of the answer: put after a string prompt, or prefilled at the start of the assistant turn of a
            conversation. Either way it is prompt: the scored answer tokens are the clean row's.
        prompt_messages (`list[dict]`, *optional*):
            Conversations only: the turns before the answer, replacing the row's (a paraphrase column of
            conversations).
    """

    question: str | None = None
    before: str = ""
    shots: Sequence[dict] = ()
    shots_format: str | None = None
    separator: str = "\n\n"
    after: str = ""
    prompt_messages: Sequence[dict] | None = None


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
        seed (`int`, *optional*):
            The seed this run of the attack was drawn with, when the attack is repeated (see `repeats`).
        trained_rows (`list[int]`, *optional*):
            Forget rows the attack trains on (relearning on forget rows); never among `rows`.
        repeats (`list[Attack]`, *optional*, defaults to `[]`):
            Further runs of the same attack, each with its own seed (and, for relearning on forget rows, its own
            split): the auditor runs this attack and each repeat on every model, and reports the median and the
            spread of their recoveries. Empty: the attack runs once.
    """

    name: str
    probe: str
    rows: list[int]
    run: Callable[[torch.nn.Module], AttackScores] | None = None
    before: Callable[[torch.nn.Module], AttackScores] | None = None
    skipped: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    evaluator: Any = field(default=None, repr=False)
    seed: int | None = None
    trained_rows: list[int] | None = field(default=None, repr=False)
    repeats: list[Attack] = field(default_factory=list, repr=False)

    @property
    def runs(self) -> list[Attack]:
        """This attack and its repeats, in order: the first is the attack as it runs without repeats."""
        return [self, *self.repeats]


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
        self.conversational = is_conversational(forget[0], self.forget_format)
        for name, data in (("forget", forget), ("retain", retain)):
            if data is not None and is_conversational(data[0], detect_format(data.column_names, name)):
                check_chat_template(tokenizer, name)
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

        `rewritten` rows (from [`AuditContext.rewritten_rows`]) hold their whole prompt in `question` when they are
        question/answer rows, so their template is `"{question}"`; they are not truncated, since cutting an attack's
        longer prompt at `max_length` would cut the answer that is scored.
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
                f"the forget rows are in the {self.forget_format!r} format; prompt attacks need a prompt to rewrite "
                f"({' + '.join(SUPPORTED_FORMATS['question_answer'])}, "
                f"{' + '.join(SUPPORTED_FORMATS['prompt_completion'])} or {SUPPORTED_FORMATS['messages'][0]} rows)"
            )
        if self.conversational:
            without = [i for i, row in enumerate(self.forget) if last_user_turn(self.conversation(row)[0]) is None]
            if without:
                return (
                    f"{len(without)} forget conversation(s) (row {without[0]} first) have no user turn before the "
                    "answer for a prompt attack to rewrite"
                )
        return None

    def conversation(self, row: dict) -> tuple[list[dict], list[dict]]:
        """A conversational forget row as its turns before the answer and its answer turn(s)."""
        if self.forget_format == "messages":
            messages = list(row["messages"])
            return messages[:-1], messages[-1:]
        return list(row["prompt"]), list(row["completion"])

    def question_of(self, row: dict) -> str:
        """The part of a forget row an attack may reword: its question, its whole prompt, or (conversations) the
        content of its last user turn."""
        if self.conversational:
            prompt, _ = self.conversation(row)
            return prompt[last_user_turn(prompt)]["content"]
        return row["question"] if self.forget_format == "question_answer" else row["prompt"]

    def format_prompt(self, question: str) -> str:
        """`question` in the model's prompt format (the QA template; prompt/completion prompts are already one)."""
        if self.forget_format == "question_answer":
            return self.qa_prompt_template.format(question=question)
        return question

    def _rewrite_text(self, row: dict, rewrite: Rewrite) -> str:
        """The whole string prompt of `row` under `rewrite`."""
        demonstrations = [self.demonstration(shot, rewrite.shots_format) for shot in rewrite.shots]
        question = self.question_of(row) if rewrite.question is None else rewrite.question
        shots = "".join(demonstration + rewrite.separator for demonstration in demonstrations)
        return rewrite.before + shots + self.format_prompt(question) + rewrite.after

    def _rewrite_conversation(self, row: dict, rewrite: Rewrite) -> list[dict]:
        """The turns of `row` before its answer under `rewrite`: new message lists, the row's own are not changed."""
        prompt, _ = self.conversation(row)
        if rewrite.prompt_messages is not None:
            prompt = list(rewrite.prompt_messages)
        prompt = [dict(message) for message in prompt]
        user = last_user_turn(prompt)
        if user is not None and (rewrite.before or rewrite.question is not None):
            question = prompt[user]["content"] if rewrite.question is None else rewrite.question
            prompt[user]["content"] = rewrite.before + question
        # Earlier turns go after the system turns (a template puts those first) and before the conversation.
        system = next((i for i, message in enumerate(prompt) if message.get("role") != "system"), len(prompt))
        shots = [turn for shot in rewrite.shots for turn in self.demonstration_turns(shot, rewrite.shots_format)]
        return prompt[:system] + shots + prompt[system:]

    def rewritten_rows(self, rewrites: Sequence[Rewrite], rows: Sequence[int]) -> list[dict]:
        """Forget rows `rows` with their prompts rewritten by `rewrites` (one per row), answers unchanged.

        String prompts: question/answer rows keep their paraphrased and perturbed answers (so the truth ratio is still
        scored) and carry the finished prompt in `question`, for an evaluator built with `rewritten=True`.
        Conversations keep their format (`messages`, or conversational prompt/completion) with new turns before
        the answer; a prefilled answer start (`Rewrite.after`) is added by [`AuditContext.rewritten_evaluator`].
        """
        rewritten = []
        for index, rewrite in zip(rows, rewrites):
            row = self.forget[index]
            if self.conversational:
                prompt, answer = self._rewrite_conversation(row, rewrite), self.conversation(row)[1]
                if self.forget_format == "messages":
                    rewritten.append({"messages": prompt + answer})
                else:
                    rewritten.append({"prompt": prompt, "completion": answer})
            elif self.forget_format == "question_answer":
                kept = {key: row[key] for key in ("answer", "paraphrased_answer", "perturbed_answer") if key in row}
                rewritten.append({"question": self._rewrite_text(row, rewrite), **kept})
            else:
                rewritten.append({"prompt": self._rewrite_text(row, rewrite), "completion": row["completion"]})
        return rewritten

    def rewritten_evaluator(self, rewrites: Sequence[Rewrite], rows: Sequence[int]):
        """An evaluator on forget rows `rows` rewritten by `rewrites` (see [`AuditContext.rewritten_rows`]).

        A conversation's answer start (`Rewrite.after`) is prefilled: its tokens are put at the start of the
        assistant turn, after the template's generation prompt, as prompt tokens (labelled `-100`), so that the
        scored answer tokens stay exactly the clean row's and greedy generation continues after the start. The
        start is tokenized on its own, ending in a line break, so the answer keeps its own tokens.
        """
        evaluator = self.evaluator(self.rewritten_rows(rewrites, rows), rewritten=True)
        if self.conversational and any(rewrite.after for rewrite in rewrites):
            eval_set = evaluator.sets["forget"]
            for position, rewrite in enumerate(rewrites):
                start = rewrite.after.strip()
                if start:
                    ids = self.tokenizer(start + "\n", add_special_tokens=False)["input_ids"]
                    eval_set.rows[position] = prefilled(eval_set.rows[position], ids)
        return evaluator

    def prompt_attack(
        self, name: str, probe: str, rewrites: Sequence[Rewrite], rows: Sequence[int], settings=None
    ) -> Attack:
        """The attack that scores forget rows `rows` with prompts rewritten by `rewrites` (one per row)."""
        evaluator = self.rewritten_evaluator(rewrites, rows)
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

    @staticmethod
    def demonstration_turns(row: dict, fmt: str) -> list[dict] | None:
        """One solved example as user/assistant turns (system turns left out), or `None` for rows without a prompt
        and an answer (`text`, `tokenized`)."""
        if fmt == "question_answer":
            return [{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["answer"]}]
        if fmt == "prompt_completion":
            prompt, completion = row["prompt"], row["completion"]
            if isinstance(prompt, str):
                return [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion.strip()}]
            turns = list(prompt) + list(completion)
        elif fmt == "messages":
            turns = list(row["messages"])
        else:
            return None
        return [dict(turn) for turn in turns if turn.get("role") != "system"]

    # ---- Training data ----

    def training_rows(self, data: datasets.Dataset | list[dict], name: str) -> datasets.Dataset:
        """`input_ids` + `labels` of `data`, tokenized as the unlearning trainer does (answer tokens only)."""
        return prepare_dataset(
            data, self.tokenizer, name=name, max_length=self.max_length, qa_prompt_template=self.qa_prompt_template
        )


def prefilled(row, start_ids: list[int]):
    """An evaluator row (`EvalRow`) with `start_ids` put between its prompt and its answer, as prompt tokens."""
    input_ids, labels = row.answer
    cut = len(row.prompt_ids)
    if input_ids[:cut] != row.prompt_ids or any(label != IGNORE_INDEX for label in labels[:cut]):
        raise RuntimeError("An evaluator row's prompt is not the start of its scored sequence; cannot prefill it.")
    labels = labels[:cut] + [IGNORE_INDEX] * len(start_ids) + labels[cut:]
    answer = (input_ids[:cut] + start_ids + input_ids[cut:], labels)
    return dataclasses.replace(row, answer=answer, prompt_ids=row.prompt_ids + start_ids)


def check_chat_template(tokenizer, name: str) -> None:
    """Refuses, in one line, conversational `name` rows with a tokenizer that has no chat template."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            f"The {name} rows are conversations, but the tokenizer has no chat template to render them: use the "
            "chat model's own tokenizer (the `tokenizer` option), set `tokenizer.chat_template`, or give the rows as "
            "question/answer or prompt/completion strings."
        )


def as_rows(data: Any, name: str) -> datasets.Dataset:
    """A `datasets.Dataset` of `data` (a dataset, list of dicts or dict of lists), refused when empty."""
    dataset = as_dataset(data, name)
    if len(dataset) == 0:
        raise ValueError(f"The {name} set is empty; it needs at least one row.")
    detect_format(dataset.column_names, name)
    return dataset

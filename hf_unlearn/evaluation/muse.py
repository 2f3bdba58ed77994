r"""MUSE: loading `muse-bench/MUSE-News` / `muse-bench/MUSE-Books` and scoring a model on its measured criteria.

MUSE (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation for Language Models",
https://arxiv.org/abs/2407.06460; code https://github.com/swj0419/muse_bench) evaluates unlearning on news articles
(BBC) and on the Harry Potter books. Its six criteria:

- C1, no verbatim memorisation, `verbmem_f`: ROUGE-L F1 of the greedy continuation of a forget-text prompt against
  its true continuation (cut to the generation budget, 128 tokens); mean x 100.
- C2, no knowledge memorisation, `knowmem_f`: ROUGE-L F1 of greedy answers to questions on the forget set (few-shot
  prompt, 32 tokens, answer cut where the model starts the next question); mean x 100.
- C3, no privacy leakage, `privleak`: the Min-K% (k = 0.4) AUC of forget vs holdout texts, relative to the retrained
  model's AUC ([`~hf_unlearn.metrics.privleak`]).
- C4, utility preservation, `knowmem_r`: KnowMem on questions on the retain set.
- C5, scalability, and C6, sustainability, are protocols: the four criteria against the forget-set size (`scal`
  folds, News), and after each of successive requests (`sust` folds, News; see [`~hf_unlearn.history.RequestChain`]).

ROUGE is `rouge_score`'s ROUGE-L F1 without the stemmer, as in MUSE's code (TOFU, and [`UnlearningEvaluator`], report
the recall with the stemmer). The scorers are the evaluator's: [`greedy_generate`] for both generations,
[`~hf_unlearn.metrics.rouge_scores`] for ROUGE, and the evaluator itself for PrivLeak (the three privleak splits are
scored as text sets, Min-K% with k = 0.4, written as a TOFU-format log next to the MUSE summary).

The datasets on the Hub (or a local copy of the dataset repository, e.g. from `huggingface-cli download --repo-type
dataset muse-bench/MUSE-News --local-dir DIR`):

- `raw`: `forget`, `retain1`, `retain2`, `holdout`; `text` (the corpora to unlearn from and to keep).
- `verbmem`: `forget`; `prompt`, `gt` (the true continuation).
- `knowmem`: `forget_qa`, `retain_qa` (`retain2_qa` in older revisions) and their few-shot examples `*_qa_icl`;
  `question`, `answer`.
- `privleak`: `forget`, `retain` (`retain2` in older revisions), `holdout`; `text`.
- `scal`, `sust` (News only): `forget_1` ... `forget_4`; `text`.

No text of any set leaves this module: logs and summaries hold numbers, counts and fingerprints.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from ..data.formatting import content_fingerprint
from ..metrics import rouge_scores
from ..utils import write_json_atomic
from .evaluator import EvaluationResult, UnlearningEvaluator
from .scoring import greedy_generate


logger = logging.get_logger(__name__)

MUSE_BENCHMARKS = {"muse_news": "muse-bench/MUSE-News", "muse_books": "muse-bench/MUSE-Books"}
"""Benchmark name -> its Hub dataset."""

MUSE_SUMMARY_FILE = "muse_summary.json"
MUSE_LOG_FILE = "muse_log.json"

SPLIT_NAMES = {
    ("knowmem", "retain_qa"): ("retain_qa", "retain2_qa"),
    ("knowmem", "retain_qa_icl"): ("retain_qa_icl", "retain2_qa_icl"),
    ("privleak", "retain"): ("retain", "retain2"),
}
"""Splits renamed between revisions of the datasets: the name asked for -> the names tried, in order."""

CONFIG_COLUMNS = {"verbmem": ("prompt", "gt"), "knowmem": ("question", "answer")}
"""Columns each config must have; every other config (`raw`, `privleak`, `scal`, `sust`) has `text`."""

KNOWMEM_STOPS = ("\n\n", "\nQuestion", "Question:")
"""A KnowMem answer ends before the first of these (the model starting the next few-shot question)."""

CRITERIA = ("verbmem_f", "knowmem_f", "knowmem_r", "privleak")
"""The criteria in the MUSE summary, under MUSE's names."""


def resolve_benchmark(name: str) -> str:
    """The Hub dataset of a benchmark name.

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if name not in MUSE_BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}; known benchmarks: {', '.join(sorted(MUSE_BENCHMARKS))}.")
    return MUSE_BENCHMARKS[name]


def load_muse_split(source: str, config: str, split: str) -> datasets.Dataset:
    """One split of a MUSE dataset, checked for its columns.

    Args:
        source (`str`):
            A benchmark name (`"muse_news"`, `"muse_books"`), a Hub id, or a local copy of the dataset repository.
        config (`str`):
            `"raw"`, `"verbmem"`, `"knowmem"`, `"privleak"`, `"scal"` or `"sust"` (see the module docstring).
        split (`str`):
            A split of that config; `retain_qa` / `retain_qa_icl` / privleak's `retain` also find the `retain2*` names
            of older revisions.

    Raises:
        ValueError: the config or split does not exist (the message lists the splits found), or the columns are not
            the config's.
    """
    source = MUSE_BENCHMARKS.get(source, source)
    # A local copy is read afresh each time, unchecked against cached split sizes: `datasets` keys its cache by the
    # folder's name, so another folder of the same name (an older copy) would otherwise give stale rows or a split
    # size error. Rebuilding from local parquet files is cheap.
    fresh = {"download_mode": "force_redownload"} if os.path.isdir(source) else {}
    try:
        available = datasets.get_dataset_split_names(source, config, **fresh)
    except Exception as error:  # noqa: BLE001 - datasets raises many types; all mean "not there"
        raise ValueError(
            f"MUSE data {source!r}, config {config!r} could not be read ({type(error).__name__}: {error}). Give a "
            f"benchmark name ({', '.join(sorted(MUSE_BENCHMARKS))}), a Hub id or a local copy of the dataset "
            "repository."
        ) from error
    candidates = SPLIT_NAMES.get((config, split), (split,))
    found = next((name for name in candidates if name in available), None)
    if found is None:
        raise ValueError(
            f"MUSE data {source!r}, config {config!r} has no split {split!r}; it has {sorted(available)}."
        )
    unchecked = {"verification_mode": "no_checks"} if fresh else {}
    dataset = datasets.load_dataset(source, config, split=found, **fresh, **unchecked)
    needed = CONFIG_COLUMNS.get(config, ("text",))
    missing = [column for column in needed if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"MUSE data {source!r}, {config}/{found} lacks the column(s) {missing}; it has {dataset.column_names}."
        )
    return dataset


@dataclass
class MuseData:
    """The evaluation splits of one MUSE corpus.

    Args:
        name (`str`):
            Benchmark name (`"muse_news"`, ...) or the source it was loaded from.
        verbmem (`Dataset`):
            `verbmem/forget`: `prompt` and true continuation `gt`.
        knowmem_forget, knowmem_retain (`Dataset`):
            `knowmem/forget_qa`, `knowmem/retain_qa`: `question` and `answer`.
        knowmem_forget_icl, knowmem_retain_icl (`Dataset` or `None`):
            Their few-shot examples (`*_qa_icl`); `None` asks the questions without examples.
        privleak (`dict[str, Dataset]`):
            `privleak/forget`, `retain` and `holdout`: `text`.
    """

    name: str
    verbmem: datasets.Dataset
    knowmem_forget: datasets.Dataset
    knowmem_retain: datasets.Dataset
    privleak: dict[str, datasets.Dataset]
    knowmem_forget_icl: datasets.Dataset | None = None
    knowmem_retain_icl: datasets.Dataset | None = None

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Row count and SHA-256 of each part: what the summary says about the data (never its text)."""
        parts = {
            "verbmem_forget": self.verbmem.select_columns(["prompt", "gt"]).rename_columns(
                {"gt": "completion"}
            ),  # prompt/completion: a format `content_fingerprint` hashes
            "knowmem_forget": self.knowmem_forget,
            "knowmem_retain": self.knowmem_retain,
            **{f"privleak_{name}": rows for name, rows in self.privleak.items()},
        }
        return {
            name: {key: value for key, value in content_fingerprint(rows, name).items() if key != "columns"}
            for name, rows in parts.items()
        }


def load_muse(benchmark: str, source: str | None = None, *, icl: bool = True) -> MuseData:
    """The evaluation splits of a MUSE corpus, from the Hub or a local copy.

    Args:
        benchmark (`str`):
            `"muse_news"` or `"muse_books"` (with `source`, any name: it labels the summary).
        source (`str`, *optional*):
            Where to read it: a Hub id or a local copy of the dataset repository. Defaults to the benchmark's Hub
            dataset.
        icl (`bool`, *optional*, defaults to `True`):
            Load the few-shot examples of KnowMem (MUSE prompts with them).

    Raises:
        ValueError: an unknown benchmark name (the known ones are listed) or data without MUSE's layout.
    """
    source = source or resolve_benchmark(benchmark)  # with a source, the name only labels the summary

    def split(config: str, name: str) -> datasets.Dataset:
        return load_muse_split(source, config, name)

    return MuseData(
        name=benchmark,
        verbmem=split("verbmem", "forget"),
        knowmem_forget=split("knowmem", "forget_qa"),
        knowmem_retain=split("knowmem", "retain_qa"),
        knowmem_forget_icl=split("knowmem", "forget_qa_icl") if icl else None,
        knowmem_retain_icl=split("knowmem", "retain_qa_icl") if icl else None,
        privleak={name: split("privleak", name) for name in ("forget", "retain", "holdout")},
    )


def few_shot_prefix(examples: datasets.Dataset | None) -> str:
    """MUSE's KnowMem prompt prefix: `Question: {q}\\nAnswer: {a}\\n\\n` for each few-shot example."""
    if examples is None:
        return ""
    return "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in zip(examples["question"], examples["answer"]))


def cut_answer(text: str) -> str:
    """A generated KnowMem answer up to the first of `KNOWMEM_STOPS` (MUSE's post-processing)."""
    for stop in KNOWMEM_STOPS:
        text = text.split(stop)[0]
    return text


@dataclass
class _Prompts:
    """Token ids of the prompts of one generated criterion, with their references (in memory only)."""

    prompt_ids: list[list[int]]
    references: list[str]
    max_new_tokens: int
    stop_at_question: bool
    cut: int = 0  # prompts shortened from the left to fit `max_length`


@dataclass
class MuseResult(EvaluationResult):
    """What [`MuseEvaluator.evaluate`] returns: the evaluator's result on the privleak texts, plus MUSE's criteria.

    Args:
        logs, summary, stats:
            As in [`EvaluationResult`], for the privleak forget / retain / holdout texts; `summary["muse"]` holds the
            MUSE summary too.
        muse (`dict`):
            The MUSE summary (see [`MuseEvaluator`]).
        muse_logs (`dict`):
            Per row, the ROUGE-L F1 of each generated criterion: `{criterion: {str(row): value}}`.
    """

    muse: dict = field(default_factory=dict)
    muse_logs: dict = field(default_factory=dict)

    def metrics(self, prefix: str = "eval") -> dict[str, float]:
        """The evaluator's flat metrics plus `{prefix}_muse_{criterion}` for each defined MUSE criterion."""
        flat = super().metrics(prefix)
        for criterion in CRITERIA:
            value = self.muse.get(criterion)
            if value is not None and math.isfinite(value):
                flat[f"{prefix}_muse_{criterion}"] = float(value)
        return flat

    def save(self, output_dir: str | os.PathLike) -> dict:
        """Writes the evaluator's log and summary, `muse_summary.json` and `muse_log.json`, atomically.

        Returns:
            `dict[str, Path]`: the paths written, under `logs`, `summary`, `muse_summary` and `muse_log`.
        """
        paths = super().save(output_dir)
        paths["muse_summary"] = paths["summary"].with_name(MUSE_SUMMARY_FILE)
        paths["muse_log"] = paths["summary"].with_name(MUSE_LOG_FILE)
        write_json_atomic(paths["muse_summary"], self.muse)
        write_json_atomic(paths["muse_log"], self.muse_logs)
        return paths


class MuseEvaluator:
    r"""
    Scores a causal LM on MUSE's measured criteria: VerbMem on the forget set (C1), KnowMem on forget (C2) and retain
    (C4) questions, and PrivLeak (C3) against a retrained model's log.

    The MUSE summary (`muse_summary.json`) holds, on MUSE's 0-100 scale and under its names: `verbmem_f`,
    `knowmem_f`, `knowmem_r` (mean ROUGE-L F1 x 100) and `privleak` (percent; about 0 for a model like the
    retrained one, towards -100 when the forget texts are still recognised, positive when over-unlearned; `None`
    without a retrained model's log); `privleak_auc` and `privleak_auc_retrain` (the Min-K% AUC of forget as members
    against holdout, as [`~hf_unlearn.metrics.mia_auc`] defines it: 1 = every forget text recognised); row counts,
    settings, and the fingerprints of the data. No text.

    Args:
        tokenizer ([`~transformers.PreTrainedTokenizerBase`]):
            Tokenizer of the model.
        data ([`MuseData`] or `str`):
            The splits, or a benchmark name to load from the Hub ([`load_muse`]).
        retain_logs (`dict` or `str` or `os.PathLike`, *optional*):
            The evaluator's log (`eval_log_aggregated.json`) of the *retrained* model (never trained on the forget
            set) on the same data, e.g. written by this class: enables PrivLeak.
        batch_size (`int`, *optional*, defaults to `16`):
            Sequences per teacher-forced forward pass.
        generation_batch_size (`int`, *optional*):
            Prompts per `generate` call. Defaults to `batch_size`.
        max_length (`int` or `None`, *optional*, defaults to `2048`):
            Truncation length of the privleak texts, and the longest prompt + generation (longer prompts lose their
            beginning). MUSE scores whole texts (its unlearning runs use 2048 tokens); a warning counts what is cut.
        verbmem_max_new_tokens (`int`, *optional*, defaults to `128`):
            Tokens generated per VerbMem prompt; the true continuation is cut to as many tokens (MUSE's setting).
        knowmem_max_new_tokens (`int`, *optional*, defaults to `32`):
            Tokens generated per KnowMem question (MUSE's setting).
        mia_k (`float`, *optional*, defaults to `0.4`):
            Fraction of tokens kept by Min-K% (MUSE's PrivLeak uses Min-40%).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        data: MuseData | str,
        *,
        retain_logs: dict | str | os.PathLike | None = None,
        batch_size: int = 16,
        generation_batch_size: int | None = None,
        max_length: int | None = 2048,
        verbmem_max_new_tokens: int = 128,
        knowmem_max_new_tokens: int = 32,
        mia_k: float = 0.4,
    ):
        if isinstance(data, str):
            data = load_muse(data)
        self.data = data
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.generation_batch_size = generation_batch_size or batch_size
        # C3 through the evaluator: the privleak texts as text sets (every token scored), Min-K% on forget / holdout.
        # Its warning that text sets have no truth ratio (so no TOFU utility) is beside the point for MUSE: quieted.
        evaluator_logger = logging.get_logger(UnlearningEvaluator.__module__)
        level = evaluator_logger.level
        evaluator_logger.setLevel(logging.ERROR)
        try:
            self.evaluator = UnlearningEvaluator(
                tokenizer,
                data.privleak,
                retain_logs=retain_logs,
                batch_size=batch_size,
                max_length=max_length,
                generate=False,
                mia_k=mia_k,
            )
        finally:
            evaluator_logger.setLevel(level)
        self._warn_cut_texts()
        self.prompts = {
            "verbmem_f": self._verbmem_prompts(verbmem_max_new_tokens),
            "knowmem_f": self._knowmem_prompts(data.knowmem_forget, data.knowmem_forget_icl, knowmem_max_new_tokens),
            "knowmem_r": self._knowmem_prompts(data.knowmem_retain, data.knowmem_retain_icl, knowmem_max_new_tokens),
        }
        cut = {name: prompts.cut for name, prompts in self.prompts.items() if prompts.cut}
        if cut:
            logger.warning(
                f"Prompts longer than max_length={max_length} minus the generation budget lost their beginning: "
                + ", ".join(
                    f"{count} of {len(self.prompts[name].prompt_ids)} for {name}" for name, count in cut.items()
                )
                + ". MUSE gives the whole prompt: raise max_length if the model's context allows."
            )
        self.settings = {
            "verbmem_max_new_tokens": verbmem_max_new_tokens,
            "knowmem_max_new_tokens": knowmem_max_new_tokens,
            "knowmem_icl_examples": {
                "forget": 0 if data.knowmem_forget_icl is None else len(data.knowmem_forget_icl),
                "retain": 0 if data.knowmem_retain_icl is None else len(data.knowmem_retain_icl),
            },
            "rouge": "ROUGE-L F1, no stemmer (rouge_score), mean x 100",
            "mia": f"Min-K% with k={mia_k}, forget (members) vs holdout",
            "max_length": max_length,
            "prompts_cut": cut,
        }

    def _warn_cut_texts(self) -> None:
        if self.max_length is None:
            return
        lengths = {
            name: [len(ids) for ids in self.tokenizer(list(rows["text"]))["input_ids"]]
            for name, rows in self.data.privleak.items()
        }
        cut = {name: sum(n + 1 > self.max_length for n in values) for name, values in lengths.items()}
        if any(cut.values()):
            longest = max(max(values) for values in lengths.values()) + 1
            logger.warning(
                f"max_length={self.max_length} cuts privleak texts ("
                + ", ".join(f"{count} of {len(lengths[name])} {name}" for name, count in cut.items() if count)
                + f"); MUSE scores whole texts: max_length={longest} keeps them whole, if the model's context allows."
            )

    def _fit(self, prompt_ids: list[int], max_new_tokens: int) -> tuple[list[int], bool]:
        """The prompt, cut from the left so that prompt + generation fit in `max_length` (its end is what matters)."""
        if self.max_length is None:
            return prompt_ids, False
        room = max(1, self.max_length - max_new_tokens)
        return (prompt_ids[-room:], True) if len(prompt_ids) > room else (prompt_ids, False)

    def _prompts(self, texts, references, max_new_tokens: int, stop_at_question: bool) -> _Prompts:
        prompts = _Prompts([], list(references), max_new_tokens, stop_at_question)
        for ids in self.tokenizer(list(texts))["input_ids"]:
            ids, was_cut = self._fit(ids, max_new_tokens)
            prompts.prompt_ids.append(ids)
            prompts.cut += was_cut
        return prompts

    def _verbmem_prompts(self, max_new_tokens: int) -> _Prompts:
        """VerbMem prompts; each reference is the first `max_new_tokens` tokens of the true continuation."""
        rows = self.data.verbmem
        truths = self.tokenizer(list(rows["gt"]), add_special_tokens=False)["input_ids"]
        references = self.tokenizer.batch_decode([ids[:max_new_tokens] for ids in truths], skip_special_tokens=True)
        return self._prompts(rows["prompt"], references, max_new_tokens, stop_at_question=False)

    def _knowmem_prompts(self, rows, examples, max_new_tokens: int) -> _Prompts:
        """KnowMem: few-shot examples, then `Question: {q}\\nAnswer: ` (MUSE's prompt, trailing space included)."""
        prefix = few_shot_prefix(examples)
        texts = [f"{prefix}Question: {question}\nAnswer: " for question in rows["question"]]
        return self._prompts(texts, rows["answer"], max_new_tokens, stop_at_question=True)

    def evaluate(self, model: torch.nn.Module) -> MuseResult:
        """Scores `model`: the evaluator on the privleak texts, then the generated criteria.

        Args:
            model (`torch.nn.Module`):
                Causal LM or PEFT model (unwrapped). Put in eval mode, and back in its mode afterwards.

        Returns:
            [`MuseResult`]: the evaluator's log and summary, the MUSE summary and the per-row ROUGE-L F1.
        """
        base = self.evaluator.evaluate(model)
        was_training = model.training
        model.eval()
        start = time.perf_counter()
        calls = 0
        try:
            per_row = {}
            for name, prompts in self.prompts.items():
                f1, made = self._rouge_f1(model, prompts, f"evaluating MUSE {name}: answers")
                per_row[name], calls = f1, calls + made
        finally:
            model.train(was_training)
        stats = {**base.stats, "muse_generate_calls": calls, "muse_generation_seconds": time.perf_counter() - start}
        muse = self._summary(per_row, base.summary)
        summary = {**base.summary, "muse": muse}
        logs = {
            name: {"rougeL_f1": {str(i): float(v) for i, v in enumerate(values)}} for name, values in per_row.items()
        }
        return MuseResult(logs=base.logs, summary=summary, stats=stats, muse=muse, muse_logs=logs)

    def _rouge_f1(self, model, prompts: _Prompts, progress: str | None = None) -> tuple[np.ndarray, int]:
        generated, calls = greedy_generate(
            model,
            prompts.prompt_ids,
            batch_size=self.generation_batch_size,
            max_new_tokens=prompts.max_new_tokens,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            progress=progress,
        )
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        if prompts.stop_at_question:
            texts = [cut_answer(text) for text in texts]
        return rouge_scores(texts, prompts.references, use_stemmer=False)["rougeL_f1"], calls

    def _summary(self, per_row: Mapping[str, np.ndarray], summary: dict) -> dict:
        mia = summary.get("mia") or {}
        auc = (mia.get("auc") or {}).get("min_k")
        retrain_auc = (mia.get("retain_auc") or {}).get("min_k")
        privleak = (mia.get("privleak") or {}).get("min_k")
        result: dict[str, Any] = {
            "benchmark": self.data.name,
            **{name: float(100 * values.mean()) for name, values in per_row.items()},
            "privleak": privleak,
            "privleak_auc": auc,
            "privleak_auc_retrain": retrain_auc,
        }
        if privleak is None:
            result["privleak_undefined"] = (
                "no retrained-model log: evaluate the retrained model the same way and pass its "
                "eval_log_aggregated.json as retain_logs"
                if self.evaluator.retain_logs is None
                else "the retrained model's AUC is undefined or 1 (see summary.json, mia)"
            )
        result["rows"] = {name: len(values) for name, values in per_row.items()}
        result["rows"].update({f"privleak_{name}": len(rows) for name, rows in self.data.privleak.items()})
        result["settings"] = self.settings
        result["data"] = self.data.fingerprints()
        return result

"""`UnlearningEvaluator`: per-sample statistics of a model on named eval sets, TOFU-format logs and aggregates.

The per-sample log has the layout of TOFU's official eval logs (Maini et al. 2024,
https://arxiv.org/abs/2401.06121), so that [`hf_unlearn.metrics.tofu_aggregate`] reads a log written here
and one written by TOFU's own code alike. Per set (`eval_log.json` = retain, `eval_log_forget.json`,
`eval_real_author_wo_options.json`, `eval_real_world_wo_options.json`, our `eval_log_holdout.json`, and
`eval_log_{name}.json` for a set of any other name), each field maps `str(row index)` to a value:

| field | value |
|---|---|
| `gt_loss`, `num_token_gt`, `avg_gt_loss` | answer: sum of token NLLs, answer tokens (EOS included), their ratio |
| `paraphrased_loss`, `num_token_paraphrased`, `avg_paraphrased_loss` | same for the paraphrase (else the answer) |
| `perturb_loss`, `num_token_perturb`, `average_perturb_loss` | lists, one entry per perturbed answer (or empty) |
| `truth_ratio` | `exp(avg_paraphrased_loss - mean(average_perturb_loss))`; `null` without perturbed answers |
| `rouge1_recall`, `rougeL_recall` | greedy generation vs the answer (sets with a prompt and an answer text) |
| `answer_accuracy` | ours: 1 when an accepted alias (the row's `aliases`) is in the greedy generation, else 0 |
| `normalized_gt_loss` | real authors / world facts: `-log` of the answer's probability normalised over the options |

Fields of ours, ignored by TOFU's aggregation: `answer_accuracy` (sets with an `aliases` column),
`exact_memorization`, `extraction_strength` (every set) and the membership-inference scores `mia_loss`, `mia_zlib`,
`mia_min_k`, `mia_min_k_plus_plus` (forget and holdout).

Generation: greedy, from the row's prompt; for chat rows, the prompt rendered by the tokenizer's chat template with
its generation prompt, and the answer stops at EOS, at the EOS ids of the model's generation config, and (chat rows)
at the template's turn end ([`~hf_unlearn.evaluation.sets.turn_end_token_ids`]); none of these stop tokens is part of
the decoded answer. Its budget (`max_new_tokens`) is by default sized per set to the answers scored (see
[`generation_budget`]).

Left out on purpose: TOFU's `generated_text`. The forget set is sensitive, and a log is an artefact that gets
copied around; so no text (question, answer, or generation) is ever written, only numbers.
"""

from __future__ import annotations

import contextlib
import logging as pylogging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging

from ..data.formatting import DEFAULT_QA_PROMPT_TEMPLATE, ensure_pad_token
from ..metrics import (
    answer_accuracy,
    exact_memorization,
    extraction_strength,
    forget_quality,
    loss_score,
    mia_auc,
    min_k_plus_plus_score,
    min_k_score,
    model_utility,
    normalized_answer_probability,
    privleak,
    rouge_scores,
    tofu_forget_truth_ratios,
    tofu_set_scores,
    truth_ratio,
    zlib_score,
)
from ..metrics.tofu import OPTION_SETS, TOFU_LOG_KEYS, UTILITY_SETS, load_tofu_log
from ..utils import write_json_atomic
from . import EVAL_LOG_KEYS, eval_log_key, eval_set_name, tofu_role
from .scoring import greedy_generate, score_sequences
from .sets import EvalSet, prepare_eval_set, turn_end_token_ids


logger = logging.get_logger(__name__)

MIA_ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus")
"""Membership-inference scores computed on the MIA sets (logged as `mia_<attack>`)."""

_COUNT_KEYS = ("num_rows", "truth_ratio_skipped")

LOG_FILE = "eval_log_aggregated.json"

GENERATION_MARGIN = 32
"""Tokens generated past the longest reference answer of a set, at least (see [`generation_budget`])."""

GENERATION_CAP = 256
"""Most tokens the default budget generates per answer (see [`generation_budget`])."""


def generation_budget(longest_reference: int) -> int:
    """The default `max_new_tokens` of a set whose longest reference answer has `longest_reference` tokens.

    `longest_reference + max(GENERATION_MARGIN, longest_reference // 2)`, at most `GENERATION_CAP`: room for the
    longest answer said in other words after a sentence of preamble (a chat model's "Sure! ..."), not for all that a
    chat model adds after its answer. A batch generates until its last row stops, so one talkative row costs the
    whole batch every token of the budget; and a fixed budget shorter than a set's answers cuts them (TOFU's
    answers run past 60 tokens).
    """
    return min(GENERATION_CAP, longest_reference + max(GENERATION_MARGIN, longest_reference // 2))


SUMMARY_FILE = "summary.json"


@dataclass
class EvaluationResult:
    """What [`UnlearningEvaluator.evaluate`] returns.

    Args:
        logs (`dict`):
            Per-sample log in TOFU's format (see the module docstring): TOFU key -> field -> `{str(row): value}`.
        summary (`dict`):
            Aggregates: `sets` (per set: `num_rows`, `nll`, `probability`, `rouge1_recall`, `rougeL_recall`,
            `answer_accuracy` (sets with aliases only), `truth_ratio` score, `truth_ratio_skipped`,
            `exact_memorization`, `extraction_strength`),
            `model_utility` and `model_utility_sets`, `forget_quality` (with a retain-model log), `mia` (AUC per
            attack forget vs holdout, and `privleak` when the retain-model log has MIA scores). `None` where
            undefined.
        stats (`dict`):
            Cost of this process's share: `forward_passes`, `generate_calls`, `sequences`, `rows`,
            `teacher_forced_seconds`, `generation_seconds`, and `max_new_tokens` (the budget of each generating
            set).
    """

    logs: dict
    summary: dict
    stats: dict = field(default_factory=dict)

    def metrics(self, prefix: str = "eval") -> dict[str, float]:
        """Flat scalar metrics for `Trainer.log`, e.g. `eval_forget_rougeL_recall`, `eval_forget_quality`.

        Args:
            prefix (`str`, *optional*, defaults to `"eval"`):
                Prefix of every key.

        Returns:
            `dict[str, float]`: `{prefix}_{set}_{score}` per set score, plus `{prefix}_model_utility`,
            `{prefix}_forget_quality`, `{prefix}_mia_auc_{attack}` and `{prefix}_mia_privleak_{attack}` when defined.
        """
        flat = {}
        for set_name, scores in self.summary["sets"].items():
            # Row counts do not change during a run; they stay in the summary only.
            flat.update(
                {f"{prefix}_{set_name}_{key}": value for key, value in scores.items() if key not in _COUNT_KEYS}
            )
        for key in ("model_utility", "forget_quality"):
            flat[f"{prefix}_{key}"] = self.summary.get(key)
        mia = self.summary.get("mia") or {}
        for group in ("auc", "privleak"):
            flat.update({f"{prefix}_mia_{group}_{attack}": value for attack, value in (mia.get(group) or {}).items()})
        return {key: float(value) for key, value in flat.items() if value is not None and math.isfinite(value)}

    def save(self, output_dir: str | os.PathLike) -> dict[str, Path]:
        """Writes the per-sample log (`eval_log_aggregated.json`, TOFU's name) and `summary.json`, atomically.

        Returns:
            `dict[str, Path]`: the paths written, under `logs` and `summary`.
        """
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        paths = {"logs": output_dir / LOG_FILE, "summary": output_dir / SUMMARY_FILE}
        write_json_atomic(paths["logs"], self.logs)
        write_json_atomic(paths["summary"], self.summary)
        return paths


def _number(value) -> float | None:
    """A JSON-safe float: `None` for nan / inf."""
    value = float(value)
    return value if math.isfinite(value) else None


def _mean(values) -> float | None:
    array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    array = array[~np.isnan(array)]
    return _number(array.mean()) if array.size else None


class UnlearningEvaluator:
    r"""
    Scores a causal LM on named eval sets: teacher-forced losses of answers, paraphrases and perturbed answers
    (truth ratio, probability), greedy generation and ROUGE, exact memorization, extraction strength and
    membership-inference scores; writes TOFU-format per-sample logs and aggregates them.

    All sequences of all sets are scored together, sorted by length, `batch_size` per forward pass; all prompts
    are generated on together, `generation_batch_size` per `generate` call. Sets are tokenized once, here, so one
    evaluator can score many models or checkpoints.

    Args:
        tokenizer ([`~transformers.PreTrainedTokenizerBase`]):
            Tokenizer of the model; needs an EOS token (EOS pads when there is no pad token).
        eval_sets (`dict[str, Dataset | list[dict] | dict[str, list]]`):
            Sets by name, all scored in one pass (sequences of every set batched together; generations of the sets
            with the same budget too): TOFU's `"forget"`, `"retain"`, `"holdout"`, `"real_authors"`,
            `"world_facts"`, and any other name of letters, digits and underscores (e.g. `"forget_paraphrase"`,
            `"neighbours"`; aggregated by TOFU's forget rules when it starts with `forget`, else by its retain
            rules; logged as `eval_log_{name}.json`). Rows in any supported format; `question`/`answer` rows may
            add `paraphrased_answer` and `perturbed_answer` (TOFU's `*_perturbed` configs). Real-authors /
            world-facts rows without a paraphrase use their answer for it, as TOFU does. Rows with a prompt may
            add `aliases` (accepted answers, a list of strings) for answer accuracy.
        retain_logs (`dict` or `str` or `os.PathLike`, *optional*):
            TOFU-format log of the retain model (never trained on the forget set) on the same forget set, or its
            path. Enables forget quality, and PrivLeak when it holds MIA scores for forget and holdout.
        batch_size (`int`, *optional*, defaults to `16`):
            Sequences per teacher-forced forward pass.
        generation_batch_size (`int`, *optional*):
            Prompts per `generate` call. Defaults to `batch_size`.
        max_new_tokens (`int`, *optional*):
            Most tokens generated per answer, for every set. By default each set gets [`generation_budget`] of
            its longest reference answer: its longest answer plus 32 tokens (or half of it, when that is more), at
            most 256.
        max_length (`int` or `None`, *optional*, defaults to `512`):
            Truncation length of each scored sequence (prompt + answer + EOS), as in training.
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\nAnswer:"`):
            Prompt of `question`/`answer` rows; use the training run's.
        generate (`bool`, *optional*, defaults to `True`):
            Whether to generate and compute ROUGE and answer accuracy (the slow part). Without it, logs have no
            ROUGE fields, so `tofu_aggregate` cannot read them.
        answer_accuracy (`bool`, *optional*):
            Answer accuracy ([`~hf_unlearn.metrics.answer_accuracy`] of the greedy answer against the row's
            `aliases`, from the generations ROUGE uses) is computed on every set with an `aliases` column. `True`
            asks for it: a warning, once, names the sets that cannot have it (no `aliases` column, or no
            generation). `False` turns it off.
        mia_sets (`tuple[str, ...]`, *optional*, defaults to `("forget", "holdout")`):
            Sets on which membership-inference scores are computed.
        mia_k (`float`, *optional*, defaults to `0.4`):
            Fraction of tokens kept by Min-K% and Min-K%++ (0.4 as in MUSE's PrivLeak).
        progress (`str`, *optional*, defaults to `"evaluating"`):
            Start of the description of the progress bars shown while scoring and generating (e.g. "evaluating
            forget, retain: answers"); `None` shows none. Bars are also off on all but the main process, and
            everywhere after `transformers.utils.logging.disable_progress_bar()`.

    Raises:
        ValueError: unknown set names, no sets, a bad set (see [`prepare_eval_set`]), or a retain-model log
            without a forget set.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        eval_sets: Mapping[str, Any],
        *,
        retain_logs: dict | str | os.PathLike | None = None,
        batch_size: int = 16,
        generation_batch_size: int | None = None,
        max_new_tokens: int | None = None,
        max_length: int | None = 512,
        qa_prompt_template: str = DEFAULT_QA_PROMPT_TEMPLATE,
        generate: bool = True,
        answer_accuracy: bool | None = None,
        mia_sets: tuple[str, ...] = ("forget", "holdout"),
        mia_k: float = 0.4,
        progress: str | None = "evaluating",
    ):
        if not eval_sets:
            raise ValueError(f"No eval sets given; pass at least one of {list(EVAL_LOG_KEYS)} (or other names).")
        for name in eval_sets:
            eval_log_key(name)  # a name that cannot be a log key is refused here, before any tokenizing
        for name, value in (("batch_size", batch_size), ("max_new_tokens", max_new_tokens)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        ensure_pad_token(tokenizer)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.generation_batch_size = generation_batch_size or batch_size
        self.max_new_tokens = max_new_tokens
        self.generate = generate
        self.mia_k = mia_k
        self.progress = progress
        self.mia_sets = tuple(name for name in mia_sets if name in eval_sets)
        if isinstance(retain_logs, (str, os.PathLike)):
            retain_logs = load_tofu_log(retain_logs)
        if retain_logs is not None and TOFU_LOG_KEYS["forget"] not in retain_logs:
            raise ValueError(
                f"The retain-model log has no forget set ({TOFU_LOG_KEYS['forget']!r}); found {sorted(retain_logs)}. "
                "Forget quality compares forget-set truth ratios, so the retain model must be evaluated on the forget "
                "set."
            )
        self.retain_logs = retain_logs
        # Row text stays in memory, in these objects only: it is needed for generation, ROUGE and zlib.
        self.sets: dict[str, EvalSet] = {
            name: prepare_eval_set(data, name, tokenizer, max_length=max_length, qa_prompt_template=qa_prompt_template)
            for name, data in eval_sets.items()
        }
        # An explicit setting wins; by default each set's budget fits its own answers.
        self.budgets = {
            name: max_new_tokens or generation_budget(eval_set.longest_reference)
            for name, eval_set in self.sets.items()
            if eval_set.generates
        }
        # Chat rows end at the template's turn end, which need not be EOS (Llama 3's <|eot_id|>, Gemma's
        # <end_of_turn>): a stop token of their generation, found once here.
        self.turn_end_ids = turn_end_token_ids(tokenizer) if any(s.chat for s in self.sets.values()) else []
        self.accuracy_sets = (
            [name for name, s in self.sets.items() if s.has_aliases and s.generates and generate]
            if answer_accuracy is not False
            else []
        )
        self._once = OnceFilter()
        if answer_accuracy:
            without = [name for name in self.sets if name not in self.accuracy_sets]
            if without:
                with said_once(self._once):
                    logger.warning(
                        f"Answer accuracy is not computed for {', '.join(without)}: it needs an `aliases` column "
                        "(a list of accepted answers per row), rows with a prompt, and generation on"
                        + (" (generate=False)." if not generate else ".")
                    )
        # Sets without perturbed answers have no truth ratio: said once here, rather than by every metric call of
        # every evaluation (`_said_undefined` then quiets those repeats when it covers every set).
        self._without_truth_ratio = [name for name, s in self.sets.items() if not any(row.perturbed for row in s.rows)]
        if self._without_truth_ratio:
            consequences = []
            if set(self._without_truth_ratio) & set(UTILITY_SETS):
                consequences.append("model utility (it needs the truth ratio of the retain and utility sets)")
            if "forget" in self._without_truth_ratio and retain_logs is not None:
                consequences.append("forget quality (it compares forget-set truth ratios)")
            names = self._without_truth_ratio
            sets = f"the {names[0]} set" if len(names) == 1 else f"the {', '.join(names[:-1])} and {names[-1]} sets"
            with said_once(self._once):
                logger.warning(
                    f"Truth ratio is undefined for {sets}: no row has perturbed answers (a `perturbed_answer` list, "
                    "as in TOFU's *_perturbed configs) to compare the answer with"
                    + (f"; so is {' and '.join(consequences)}." if consequences else ".")
                )

    # ---- Computing ----

    def evaluate(self, model: torch.nn.Module, accelerator=None) -> EvaluationResult:
        """Scores `model` on every set.

        The model is put in eval mode, and back in the mode it was in afterwards; no gradient is computed.

        Under several processes (an `accelerate.Accelerator` with `num_processes > 1`), each process scores every
        `num_processes`-th row (interleaved, so that every process gets its share of every set), the per-row
        numbers are gathered with `gather_object`, and every process aggregates the same, complete result. Each
        process needs the whole model (plain, DDP); engines that shard the parameters (FSDP, DeepSpeed ZeRO-3)
        are not supported.

        Args:
            model (`torch.nn.Module`):
                Causal LM or PEFT model (unwrapped: not the DDP wrapper).
            accelerator (`accelerate.Accelerator`, *optional*):
                The run's accelerator; only its process index / count and `gather_object` are used.

        Returns:
            [`EvaluationResult`]: per-sample log, summary, and this process's cost.
        """
        units = [(name, row) for name, eval_set in self.sets.items() for row in range(len(eval_set.rows))]
        distributed = accelerator is not None and accelerator.num_processes > 1
        if distributed:
            units = units[accelerator.process_index :: accelerator.num_processes]
        was_training = model.training
        model.eval()
        show = self.progress is not None and (accelerator is None or accelerator.is_main_process)
        progress = f"{self.progress} {', '.join(self.sets)}" if show else None
        try:
            records, stats = self._score_units(model, units, progress)
        finally:
            model.train(was_training)
        if distributed:
            from accelerate.utils import gather_object

            records = gather_object(records)
        # Evaluated at every eval step of a run, the same sets give the same warnings: each is said once.
        with _said_undefined(set(self._without_truth_ratio) == set(self.sets)), said_once(self._once):
            logs = self._build_logs(records)
            summary = summarize_logs(logs, self.retain_logs, sets=list(self.sets), mia_k=self.mia_k)
        return EvaluationResult(logs=logs, summary=summary, stats=stats)

    def _score_units(
        self, model, units: list[tuple[str, int]], progress: str | None = None
    ) -> tuple[list[tuple[str, int, dict]], dict]:
        """Per-row numbers of the `(set, row)` units, with the per-set metrics that need token data or text.

        `progress` starts the descriptions of the progress bars (none when it is `None`)."""
        sequences, owners = [], []  # owners[i] = (unit position, kind) of sequences[i]
        token_stats, moments = set(), set()
        for position, (name, row_index) in enumerate(units):
            row = self.sets[name].rows[row_index]
            token_stats.add(len(sequences))
            if name in self.mia_sets:
                moments.add(len(sequences))
            owned = [("answer", row.answer)]
            if row.paraphrase is not None:
                owned.append(("paraphrase", row.paraphrase))
            owned += [("perturbed", sequence) for sequence in row.perturbed]  # in order: slot j stays slot j
            for kind, sequence in owned:
                sequences.append(sequence)
                owners.append((position, kind))

        start = time.perf_counter()
        scores = score_sequences(
            model,
            sequences,
            batch_size=self.batch_size,
            pad_token_id=self.tokenizer.pad_token_id,
            token_stats=token_stats,
            moments=moments,
            progress=progress and f"{progress}: scores",
        )
        teacher_forced_seconds = time.perf_counter() - start

        records = [{"perturb_loss": [], "num_token_perturb": []} for _ in units]
        for index, (position, kind) in enumerate(owners):
            record, nll, count = records[position], float(scores.nll[index]), int(scores.num_tokens[index])
            if kind == "answer":
                record.update(gt_loss=nll, num_token_gt=count, token_stats=scores.token_stats[index])
            elif kind == "paraphrase":
                record.update(paraphrased_loss=nll, num_token_paraphrased=count)
            else:
                record["perturb_loss"].append(nll)
                record["num_token_perturb"].append(count)

        start = time.perf_counter()
        generate_calls = self._add_rouge(model, units, records, progress and f"{progress}: answers")
        generation_seconds = time.perf_counter() - start
        self._add_token_metrics(units, records)
        stats = {
            "rows": len(units),
            "sequences": len(sequences),
            "forward_passes": scores.forward_passes,
            "generate_calls": generate_calls,
            "teacher_forced_seconds": teacher_forced_seconds,
            "generation_seconds": generation_seconds,
            "max_new_tokens": dict(self.budgets) if self.generate else {},
        }
        return [(name, row, record) for (name, row), record in zip(units, records)], stats

    def _add_rouge(self, model, units, records, progress: str | None = None) -> int:
        """Greedy generation on every unit of a generating set, its ROUGE recall against the answer, and its answer
        accuracy against the row's aliases (sets in `accuracy_sets`): one generation serves both.

        Sets with the same budget are generated on together (one sorted, batched pass)."""
        if not self.generate:
            return 0
        groups: dict[int, list[int]] = {}
        for position, (name, _) in enumerate(units):
            if self.sets[name].generates:
                groups.setdefault(self.budgets[name], []).append(position)
        stop_ids = [self.tokenizer.eos_token_id, *self.turn_end_ids]
        calls = 0
        for budget, positions in sorted(groups.items()):
            rows = [self.sets[units[position][0]].rows[units[position][1]] for position in positions]
            generated, group_calls = greedy_generate(
                model,
                [row.prompt_ids for row in rows],
                batch_size=self.generation_batch_size,
                max_new_tokens=budget,
                eos_token_id=stop_ids,
                pad_token_id=self.tokenizer.pad_token_id,
                progress=progress,
            )
            calls += group_calls
            # Generation stops before its stop tokens; other special tokens (a template's markers) are not answer.
            predictions = [text.strip() for text in self.tokenizer.batch_decode(generated, skip_special_tokens=True)]
            rouge = rouge_scores(predictions, [row.reference for row in rows])
            scored = [offset for offset, position in enumerate(positions) if units[position][0] in self.accuracy_sets]
            accuracy = answer_accuracy([predictions[o] for o in scored], [rows[o].aliases for o in scored])
            for offset, position in enumerate(positions):
                records[position].update(
                    rouge1_recall=float(rouge["rouge1_recall"][offset]),
                    rougeL_recall=float(rouge["rougeL_recall"][offset]),
                )
            for offset, value in zip(scored, accuracy):
                records[positions[offset]]["answer_accuracy"] = float(value)
        return calls

    def _add_token_metrics(self, units, records) -> None:
        """Exact memorization, extraction strength and MIA scores, per set (the metric functions take a set)."""
        for name, eval_set in self.sets.items():
            positions = [position for position, (unit_set, _) in enumerate(units) if unit_set == name]
            if not positions:
                continue
            stats = [records[position].pop("token_stats") for position in positions]
            values = {
                "exact_memorization": exact_memorization([s.predictions for s in stats], [s.labels for s in stats]),
                "extraction_strength": extraction_strength([s.predictions for s in stats], [s.labels for s in stats]),
            }
            if name in self.mia_sets:
                mean_nll = [records[p]["gt_loss"] / records[p]["num_token_gt"] for p in positions]
                texts = [eval_set.rows[units[p][1]].answer_text for p in positions]
                log_probs = [s.log_probs for s in stats]
                values.update(
                    mia_loss=loss_score(mean_nll),
                    mia_zlib=zlib_score(mean_nll, texts),
                    mia_min_k=min_k_score(log_probs, self.mia_k),
                    mia_min_k_plus_plus=min_k_plus_plus_score(
                        log_probs, [s.mean for s in stats], [s.variance for s in stats], self.mia_k
                    ),
                )
            for field_name, per_row in values.items():
                for offset, position in enumerate(positions):
                    records[position][field_name] = _number(per_row[offset])

    # ---- Logs and aggregates ----

    def _build_logs(self, records: list[tuple[str, int, dict]]) -> dict:
        """TOFU-format log from the per-row records of every set (any order)."""
        by_set: dict[str, dict[int, dict]] = {name: {} for name in self.sets}
        for name, row, record in records:
            by_set[name][row] = record
        logs = {}
        for name, rows in by_set.items():
            ordered = [rows[index] for index in range(len(self.sets[name].rows))]
            logs[eval_log_key(name)] = self._set_log(name, ordered)
        return logs

    @staticmethod
    def _set_log(name: str, records: list[dict]) -> dict:
        columns: dict[str, list] = {}
        columns["avg_gt_loss"] = [r["gt_loss"] / r["num_token_gt"] for r in records]
        columns["gt_loss"] = [r["gt_loss"] for r in records]
        columns["num_token_gt"] = [r["num_token_gt"] for r in records]
        if all("rougeL_recall" in r for r in records):
            columns["rouge1_recall"] = [r["rouge1_recall"] for r in records]
            columns["rougeL_recall"] = [r["rougeL_recall"] for r in records]
        if all("answer_accuracy" in r for r in records):
            columns["answer_accuracy"] = [r["answer_accuracy"] for r in records]
        # Without a paraphrase, the answer is the "paraphrase" (TOFU's rule for real authors / world facts).
        paraphrased_loss = [r.get("paraphrased_loss", r["gt_loss"]) for r in records]
        num_token_paraphrased = [r.get("num_token_paraphrased", r["num_token_gt"]) for r in records]
        average_perturb_loss = [
            [loss / count for loss, count in zip(r["perturb_loss"], r["num_token_perturb"])] for r in records
        ]
        avg_paraphrased_loss = [loss / count for loss, count in zip(paraphrased_loss, num_token_paraphrased)]
        columns["average_perturb_loss"] = average_perturb_loss
        columns["avg_paraphrased_loss"] = avg_paraphrased_loss
        # Rows without perturbed answers get nan here (written as null); `truth_ratio` logs how many.
        columns["truth_ratio"] = [_number(value) for value in truth_ratio(avg_paraphrased_loss, average_perturb_loss)]
        columns["paraphrased_loss"] = paraphrased_loss
        columns["perturb_loss"] = [r["perturb_loss"] for r in records]
        columns["num_token_paraphrased"] = num_token_paraphrased
        columns["num_token_perturb"] = [r["num_token_perturb"] for r in records]
        if name in OPTION_SETS:
            probability = normalized_answer_probability(columns["avg_gt_loss"], average_perturb_loss)
            with np.errstate(divide="ignore"):
                columns["normalized_gt_loss"] = [_number(value) for value in -np.log(probability)]
        for extra in ("exact_memorization", "extraction_strength", *(f"mia_{attack}" for attack in MIA_ATTACKS)):
            if extra in records[0]:
                columns[extra] = [r[extra] for r in records]
        return {
            column: {str(index): value for index, value in enumerate(values)} for column, values in columns.items()
        }


class _RepeatFilter(pylogging.Filter):
    """Drops the truth-ratio and model-utility warnings that the evaluator has already explained once."""

    PREFIXES = ("truth ratio", "Model utility is not computed", "Forget quality is not computed")

    def filter(self, record: pylogging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.PREFIXES)


class OnceFilter(pylogging.Filter):
    """Lets each distinct message through once, however many times it is logged while the filter is on."""

    def __init__(self):
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: pylogging.LogRecord) -> bool:
        message = record.getMessage()
        new = message not in self.seen
        self.seen.add(message)
        return new


@contextlib.contextmanager
def _filtered(log_filter: pylogging.Filter):
    """Within it, every warning of the evaluator (and of the metrics it calls) goes through `log_filter`."""
    loggers = [logger, logging.get_logger(truth_ratio.__module__)]
    for each in loggers:
        each.addFilter(log_filter)
    try:
        yield
    finally:
        for each in loggers:
            each.removeFilter(log_filter)


def said_once(once: OnceFilter):
    """Within it, each distinct warning of the evaluator (and of the metrics it calls) passes `once` only once."""
    return _filtered(once)


def _said_undefined(active: bool):
    """Within it, when `active` (no set has a truth ratio, said once at construction), those warnings stay quiet."""
    return _filtered(_RepeatFilter()) if active else contextlib.nullcontext()


def _set_summary(name: str, set_log: dict) -> dict:
    """Scores of one set by TOFU's rules (`tofu_set_scores`); holdout is scored like any non-forget set."""
    has_rouge = "rougeL_recall" in set_log
    if not has_rouge:
        # Generation was off: a placeholder ROUGE column lets TOFU's one implementation give probability and truth
        # ratio; the ROUGE score itself is reported as undefined.
        set_log = {**set_log, "rougeL_recall": dict.fromkeys(set_log["avg_gt_loss"], 0.0)}
    scores = tofu_set_scores(set_log, tofu_role(name))
    if not has_rouge:
        scores["rougeL_recall"] = None
    summary: dict[str, Any] = {
        "num_rows": len(set_log["avg_gt_loss"]),
        "nll": _mean(set_log["avg_gt_loss"].values()),
        "probability": _number(scores["probability"]),
        "rouge1_recall": _mean(set_log["rouge1_recall"].values()) if has_rouge else None,
        "rougeL_recall": None if scores["rougeL_recall"] is None else _number(scores["rougeL_recall"]),
    }
    if "answer_accuracy" in set_log:  # only sets with aliases: absent, not a default, elsewhere
        summary["answer_accuracy"] = _mean(set_log["answer_accuracy"].values())
    summary |= {
        "truth_ratio": _number(scores["truth_ratio"]),
        "truth_ratio_skipped": sum(value is None for value in set_log["truth_ratio"].values()),
    }
    for extra in ("exact_memorization", "extraction_strength"):
        if extra in set_log:
            summary[extra] = _mean(set_log[extra].values())
    return summary


def _model_utility(scores: dict[str, dict]) -> tuple[float | None, list[str]]:
    """TOFU model utility over the utility sets present, or `None` when a component is undefined."""
    used = [name for name in UTILITY_SETS if name in scores]
    components = {
        f"{metric}/{name}": scores[name][metric]
        for name in used
        for metric in ("probability", "rougeL_recall", "truth_ratio")
    }
    missing = sorted(key for key, value in components.items() if value is None)
    if "retain" not in used or missing:
        logger.warning(
            "Model utility is not computed: "
            + ("there is no retain set" if "retain" not in used else f"undefined component(s) {missing}")
        )
        return None, used
    return model_utility(components), used


def _mia_summary(logs: dict, retain_logs: dict | None, mia_k: float) -> dict | None:
    """AUC of each attack, forget (members) vs holdout (non-members), and PrivLeak against the retain model."""
    forget_key, holdout_key = EVAL_LOG_KEYS["forget"], EVAL_LOG_KEYS["holdout"]

    def auc(log: dict, attack: str) -> float | None:
        field_name = f"mia_{attack}"
        if field_name not in log.get(forget_key, {}) or field_name not in log.get(holdout_key, {}):
            return None
        members = [np.nan if v is None else v for v in log[forget_key][field_name].values()]
        nonmembers = [np.nan if v is None else v for v in log[holdout_key][field_name].values()]
        return mia_auc(members, nonmembers)

    aucs = {attack: auc(logs, attack) for attack in MIA_ATTACKS}
    if all(value is None for value in aucs.values()):
        return None
    summary: dict[str, Any] = {"k": mia_k, "auc": aucs}
    if retain_logs is not None:
        leaks = {}
        for attack, value in aucs.items():
            reference = auc(retain_logs, attack)
            leaks[attack] = privleak(value, reference) if value is not None and reference not in (None, 1.0) else None
        summary["retain_auc"] = {attack: auc(retain_logs, attack) for attack in MIA_ATTACKS}
        summary["privleak"] = leaks
    return summary


def summarize_logs(logs: dict, retain_logs: dict | None = None, *, sets=None, mia_k: float | None = None) -> dict:
    """Aggregates of a TOFU-format log written by [`UnlearningEvaluator`] (see [`EvaluationResult`]).

    Args:
        logs (`dict`):
            The per-sample log.
        retain_logs (`dict`, *optional*):
            TOFU-format log of the retain model: adds forget quality (and PrivLeak when it has MIA scores).
        sets (`list[str]`, *optional*):
            Set names to summarise; defaults to every set found in `logs`.
        mia_k (`float`, *optional*):
            The Min-K% fraction the MIA scores were computed with, recorded in the summary.

    Returns:
        `dict`: the summary.
    """
    names = sets or [name for name in map(eval_set_name, logs) if name is not None]
    scores = {name: _set_summary(name, logs[eval_log_key(name)]) for name in names}
    utility, utility_sets = _model_utility(scores)
    summary: dict[str, Any] = {"sets": scores, "model_utility": utility, "model_utility_sets": utility_sets}
    summary["forget_quality"] = None
    if retain_logs is not None and "forget" in scores:
        try:
            value = forget_quality(tofu_forget_truth_ratios(logs), tofu_forget_truth_ratios(retain_logs))
            summary["forget_quality"] = _number(value)
        except ValueError as error:  # e.g. no forget row has perturbed answers: report, do not stop a training run
            logger.warning(f"Forget quality is not computed: {error}")
    mia = _mia_summary(logs, retain_logs, mia_k)
    if mia is not None:
        summary["mia"] = mia
    summary["left_out_fields"] = {"generated_text": "never written: no text of any set leaves the evaluator"}
    return summary

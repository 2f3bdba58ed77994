"""Relearning attacks: a few fine-tuning steps on a copy of the model, then the forget set is scored again."""

from __future__ import annotations

import json
import math
import tempfile
from typing import Any

import datasets
import torch
from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

from ...data.collator import UnlearningCollator
from ...data.formatting import SUPPORTED_FORMATS
from ...reference import peft_checkpointing_alias_quiet
from .base import Attack, AuditContext, Probe, as_rows, plain_copy


REPEAT_SEED_STEP = 1000
"""Repeat `r` of a relearning attack runs with seed `seed + REPEAT_SEED_STEP * r`: repeat 0 is the audit's own seed
(the single run of `repeats=1`), and audits with seeds 0 to 999 never share the seed of any repeat."""


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of repeat `repeat` (from 0) of a relearning attack in an audit seeded `seed`."""
    return seed + REPEAT_SEED_STEP * repeat


def _row_key(row: dict, columns: tuple[str, ...]) -> str:
    return json.dumps({column: row[column] for column in columns}, sort_keys=True, default=str)


class RelearnProbe(Probe):
    r"""
    Relearning (Hu et al. 2024, "Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks",
    https://arxiv.org/abs/2406.13356; Lynch et al. 2024, https://arxiv.org/abs/2402.16835; Doshi & Stickland 2024,
    https://arxiv.org/abs/2411.12103 for unrelated data).

    The attacker gets the model's weights and a small fine-tuning budget. A *copy* of the model (any PEFT adapter
    merged into it) is fine-tuned with `transformers.Trainer`, loss on answer tokens only (the rows are tokenized
    as for unlearning: prompt tokens labelled `-100`), by default through a fresh LoRA adapter; the audited model
    is never modified.

    - `relearn_forget`: the attacker knows part of the forget set. The forget rows are split with the seed into A
      (`relearn_rows` rows, trained on) and B (the rest, scored): what comes back on B was not shown.
    - `relearn_unrelated`: the attacker has only data without any forget row (the retain set, or `unrelated`);
      the whole forget set is scored.

    Both attacks run `repeats` times (3 by default), repeat `r` with seed `seed + 1000 r` (see `repeat_seed`): a
    fresh adapter initialisation and data order each time and, for `relearn_forget`, another split of the forget
    rows into A and B (drawn from that seed; no two repeats score the same B). `relearn_unrelated` trains on the
    same unrelated rows each time. The auditor reports the median recovery over the repeats and its range, so that
    a difference between two models can be read against the spread of the attack itself. Each repeat costs one
    more fine-tuning and scoring of every audited model; `repeats=1` is the single run (repeat 0) of earlier
    versions, with the same numbers.

    Args:
        modes (`tuple[str, ...]`, *optional*, defaults to `("forget", "unrelated")`):
            Which of the two attacks to run.
        relearn_rows (`int` or `float`, *optional*, defaults to `0.5`):
            Size of split A: a row count (`int`), or a fraction of the forget rows (`float`, rounded). Must leave
            at least one row on each side.
        unrelated (`datasets.Dataset` or `list[dict]`, *optional*):
            Data for `relearn_unrelated`; defaults to the retain set. Must hold no forget row.
        unrelated_rows (`int`, *optional*):
            Rows of the unrelated data used (its first rows); defaults to as many as there are forget rows.
        steps (`int`, *optional*, defaults to `20`):
            Optimizer steps.
        learning_rate (`float`, *optional*, defaults to `1e-3`):
            Constant learning rate (AdamW).
        batch_size (`int`, *optional*, defaults to `4`):
            Rows per step.
        lora (`bool`, *optional*, defaults to `True`):
            Train a fresh LoRA adapter (`lora_r`, `lora_alpha`, all linear layers); `False` fine-tunes every weight
            of the copy.
        lora_r (`int`, *optional*, defaults to `8`):
            LoRA rank.
        lora_alpha (`int`, *optional*, defaults to `16`):
            LoRA scaling numerator.
        repeats (`int`, *optional*, defaults to `3`):
            Runs of each attack, each with its own seed and (`relearn_forget`) split; multiplies the probe's cost.
    """

    name = "relearn"
    MODES = ("forget", "unrelated")

    def __init__(
        self,
        modes: tuple[str, ...] = MODES,
        relearn_rows: int | float = 0.5,
        unrelated: Any = None,
        unrelated_rows: int | None = None,
        steps: int = 20,
        learning_rate: float = 1e-3,
        batch_size: int = 4,
        lora: bool = True,
        lora_r: int = 8,
        lora_alpha: int = 16,
        repeats: int = 3,
    ):
        unknown = sorted(set(modes) - set(self.MODES))
        if unknown or not modes:
            raise ValueError(
                f"RelearnProbe modes {list(modes)}: accepted modes are {list(self.MODES)} (at least one)."
            )
        for option, value in (("steps", steps), ("batch_size", batch_size), ("lora_r", lora_r)):
            if value < 1:
                raise ValueError(f"RelearnProbe {option} must be >= 1, got {value}.")
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ValueError(
                f"RelearnProbe repeats (relearn_repeats) must be a whole number >= 1, got {repeats!r}: 1 runs each "
                "relearning attack once, N > 1 runs it N times with other seeds and splits and reports the median "
                "and the range."
            )
        if unrelated_rows is not None and unrelated_rows < 1:
            raise ValueError(f"RelearnProbe unrelated_rows must be >= 1, got {unrelated_rows}.")
        self.modes = tuple(modes)
        self.relearn_rows = relearn_rows
        self.unrelated = as_rows(unrelated, "unrelated") if unrelated is not None else None
        self.unrelated_rows = unrelated_rows
        self.steps = steps
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.lora = lora
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.repeats = repeats

    # ---- Checks ----

    def split_size(self, num_forget: int) -> int:
        """Rows of split A for a forget set of `num_forget` rows (a count, or a rounded fraction)."""
        value = self.relearn_rows
        return round(value * num_forget) if isinstance(value, float) else int(value)

    def check(self, context: AuditContext) -> None:
        if "forget" in self.modes:
            size, total = self.split_size(len(context.forget)), len(context.forget)
            if not 0 < size < total:
                raise ValueError(
                    f"The relearn split has {size} of the {total} forget rows (relearn_rows={self.relearn_rows!r}); "
                    f"it must train on at least 1 row and leave at least 1 to score: give a count from 1 to "
                    f"{total - 1} or a fraction strictly between 0 and 1."
                )
            distinct = math.comb(total, size)
            if self.repeats > distinct:
                raise ValueError(
                    f"relearn_repeats={self.repeats}, but {total} forget rows split {size} / {total - size} have only "
                    f"{distinct} distinct splits, and each repeat scores a split of its own: give at most {distinct} "
                    "repeats (or more forget rows)."
                )
        source = self.unrelated if self.unrelated is not None else context.retain
        if "unrelated" in self.modes and source is not None:
            self._check_no_forget_row(context, source)

    @staticmethod
    def _check_no_forget_row(context: AuditContext, data: datasets.Dataset) -> None:
        columns = SUPPORTED_FORMATS[context.forget_format]
        if not all(column in data.column_names for column in columns):
            return  # another format: rows cannot coincide
        forget = {_row_key(row, columns) for row in context.forget.select_columns(list(columns))}
        shared = [i for i, row in enumerate(data.select_columns(list(columns))) if _row_key(row, columns) in forget]
        if shared:
            raise ValueError(
                f"The unrelated relearning data holds {len(shared)} forget row(s) (e.g. its row {shared[0]}); "
                "relearn_unrelated must see no forget row. Remove them, or use relearn_forget for that attack."
            )

    # ---- Attacks ----

    def splits(self, total: int, seed: int) -> list[tuple[int, list[int], list[int]]]:
        """`(seed, trained rows, scored rows)` of each repeat of `relearn_forget` on `total` forget rows.

        Repeat `r` draws a permutation from its seed (`repeat_seed`): its first `split_size` rows are trained on,
        the others scored. A permutation whose scored rows an earlier repeat already scored is drawn again from the
        same generator, so the repeats score distinct splits and repeat 0 is the split of a single run.
        """
        size, seen, result = self.split_size(total), set(), []
        for repeat in range(self.repeats):
            run_seed = repeat_seed(seed, repeat)
            generator = torch.Generator().manual_seed(run_seed)
            while True:
                order = torch.randperm(total, generator=generator).tolist()
                scored = tuple(sorted(order[size:]))
                if scored not in seen:  # `check` made sure there are enough distinct splits
                    break
            seen.add(scored)
            result.append((run_seed, sorted(order[:size]), list(scored)))
        return result

    def attacks(self, context: AuditContext) -> list[Attack]:
        total = len(context.forget)
        result = []
        settings = {
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "adapter": "lora" if self.lora else "full",
        }
        if self.lora:
            settings.update(lora_r=self.lora_r, lora_alpha=self.lora_alpha)
        settings["repeats"] = self.repeats
        if "forget" in self.modes:
            runs = []
            for seed, train, scored in self.splits(total, context.seed):
                data = context.training_rows(context.forget.select(train), "relearn split")
                evaluator = context.evaluator(context.forget.select(scored))
                runs.append(
                    Attack(
                        name="relearn_forget",
                        probe=self.name,
                        rows=scored,
                        run=lambda model, d=data, e=evaluator, s=seed: context.score(
                            self.relearned(model, d, context, seed=s), e
                        ),
                        settings={**settings, "train_rows": len(train)},
                        evaluator=evaluator,
                        seed=seed,
                        trained_rows=train,
                    )
                )
            runs[0].repeats = runs[1:]
            result.append(runs[0])
        if "unrelated" in self.modes:
            source = self.unrelated if self.unrelated is not None else context.retain
            if source is None:
                result.append(
                    Attack(
                        name="relearn_unrelated",
                        probe=self.name,
                        rows=list(range(total)),
                        skipped="no unrelated data: give a retain set (or RelearnProbe(unrelated=...))",
                    )
                )
            else:
                count = min(len(source), self.unrelated_rows or total)
                data = context.training_rows(source.select(range(count)), "unrelated relearning")
                evaluator = context.evaluator(context.forget)
                runs = [  # the same rows each time: a repeat changes the adapter initialisation and the data order
                    Attack(
                        name="relearn_unrelated",
                        probe=self.name,
                        rows=list(range(total)),
                        run=lambda model, d=data, e=evaluator, s=seed: context.score(
                            self.relearned(model, d, context, seed=s), e
                        ),
                        settings={**settings, "train_rows": count},
                        evaluator=evaluator,
                        seed=seed,
                    )
                    for seed in (repeat_seed(context.seed, repeat) for repeat in range(self.repeats))
                ]
                runs[0].repeats = runs[1:]
                result.append(runs[0])
        return result

    def relearned(
        self, model: torch.nn.Module, data: datasets.Dataset, context: AuditContext, seed: int | None = None
    ) -> torch.nn.Module:
        """A copy of `model` fine-tuned on `data` (tokenized rows) with this probe's budget, seeded `seed` (by
        default the audit's)."""
        seed = context.seed if seed is None else seed
        duplicate = plain_copy(model)
        set_seed(seed)  # same adapter initialisation and data order for every audited model
        if self.lora:
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                r=self.lora_r, lora_alpha=self.lora_alpha, target_modules="all-linear", lora_dropout=0.0
            )
            with peft_checkpointing_alias_quiet():
                duplicate = get_peft_model(duplicate, config)
        device = next(model.parameters()).device
        with tempfile.TemporaryDirectory(prefix="hf_unlearn_relearn_") as output_dir:
            args = TrainingArguments(
                output_dir=output_dir,
                max_steps=self.steps,
                per_device_train_batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                lr_scheduler_type="constant",
                weight_decay=0.0,
                logging_strategy="no",
                save_strategy="no",
                report_to="none",
                remove_unused_columns=False,
                use_cpu=device.type == "cpu",
                seed=seed,
                disable_tqdm=True,
            )
            trainer = Trainer(
                model=duplicate,
                args=args,
                train_dataset=data,
                data_collator=UnlearningCollator(context.tokenizer.pad_token_id),
            )
            trainer.remove_callback(PrinterCallback)  # its end-of-training line would land in the audit's table
            trainer.train()
        return duplicate.eval()

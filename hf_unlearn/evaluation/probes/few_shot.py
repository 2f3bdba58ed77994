"""Few-shot attack: solved examples in the prompt before each forget question."""

from __future__ import annotations

from typing import Any

import torch

from ...data.formatting import detect_format
from .base import Attack, AuditContext, Probe, Rewrite, as_rows


class FewShotProbe(Probe):
    r"""
    In-context examples (Doshi & Stickland 2024, "Does Unlearning Truly Unlearn? A Black Box Evaluation of LLM
    Unlearning Methods", https://arxiv.org/abs/2411.12103: 5-shot prompts bring WMDP accuracy back after
    unlearning; Lynch et al. 2024, https://arxiv.org/abs/2402.16835).

    The attacker may write anything before the question. Each forget prompt is preceded by `k` solved examples
    (question and answer in the same prompt format, separated by a blank line), drawn with the seed from the
    retain set (or `shots`), different ones per forget row. On conversations (`messages` or conversational
    prompt/completion forget rows, through the tokenizer's chat template) the examples are earlier user/assistant
    turns instead, after any system turn. Only the forget answer is scored: the examples are part of the prompt
    (labelled `-100`) and greedy generation starts after the forget prompt.

    Args:
        k (`int`, *optional*, defaults to `3`):
            Examples per prompt.
        shots (`datasets.Dataset` or `list[dict]`, *optional*):
            Where the examples come from; defaults to the retain set. Question/answer or prompt/completion rows, or
            `messages` rows when the forget rows are conversations.
        separator (`str`, *optional*, defaults to `"\n\n"`):
            Text between examples, and between the last example and the forget prompt (string prompts).
    """

    name = "few_shot"

    def __init__(self, k: int = 3, shots: Any = None, separator: str = "\n\n"):
        if k < 1:
            raise ValueError(f"FewShotProbe k must be >= 1, got {k}.")
        self.k = k
        self.shots = as_rows(shots, "few-shot examples") if shots is not None else None
        self.separator = separator

    def attacks(self, context: AuditContext) -> list[Attack]:
        settings = {"k": self.k}
        source = self.shots if self.shots is not None else context.retain
        skipped = context.prompt_support()
        if skipped is None and source is None:
            skipped = "no rows for the examples: give a retain set (or FewShotProbe(shots=...))"
        if skipped is None and len(source) < self.k:
            skipped = f"k={self.k} examples asked for, but the example set has {len(source)} rows"
        fmt = None
        if skipped is None:
            fmt = detect_format(source.column_names, "few-shot examples")
            render = context.demonstration_turns if context.conversational else context.demonstration
            if any(render(row, fmt) is None for row in source):
                kind = "user/assistant turns" if context.conversational else "string prompts and answers"
                skipped = f"the example rows are in the {fmt!r} format; examples need {kind}"
        rows = list(range(len(context.forget)))
        if skipped is not None:
            return [Attack(name="few_shot", probe=self.name, rows=rows, skipped=skipped, settings=settings)]
        generator = torch.Generator().manual_seed(context.seed)
        chosen = [torch.randperm(len(source), generator=generator)[: self.k].tolist() for _ in rows]
        rewrites = [
            Rewrite(shots=[source[j] for j in chosen[index]], shots_format=fmt, separator=self.separator)
            for index in rows
        ]
        return [context.prompt_attack("few_shot", self.name, rewrites, rows, settings)]

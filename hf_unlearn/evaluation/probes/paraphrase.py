"""Paraphrase attack: the forget questions asked in other words."""

from __future__ import annotations

from .base import Attack, AuditContext, Probe, Rewrite


class ParaphraseProbe(Probe):
    r"""
    Paraphrased questions (Doshi & Stickland 2024, "Does Unlearning Truly Unlearn? A Black Box Evaluation of LLM
    Unlearning Methods", https://arxiv.org/abs/2411.12103; Lynch et al. 2024, https://arxiv.org/abs/2402.16835).

    The attacker asks the same question in other words: a method that only learned to avoid the exact wording
    fails here. Each forget row's question (question/answer rows) or prompt (prompt/completion rows) is replaced by
    the text of `column`, in the same prompt format, and the original answer is scored. On conversations
    (`messages` or conversational prompt/completion forget rows), a string in `column` replaces the content of the
    last user turn, and a list of messages replaces every turn before the answer. Rows whose `column` is empty are
    left out; without the column, the attack is skipped and says so.

    Args:
        column (`str`, *optional*, defaults to `"paraphrased_question"`):
            Column with the reworded question (TOFU's and the demo generator's name), or, for conversations, the
            reworded user turn (a string) or turns before the answer (a list of `role` / `content` messages).
    """

    name = "paraphrase"

    def __init__(self, column: str = "paraphrased_question"):
        self.column = column

    def attacks(self, context: AuditContext) -> list[Attack]:
        settings = {"column": self.column}
        skipped = context.prompt_support()
        if skipped is None and self.column not in context.forget.column_names:
            skipped = f"the forget set has no {self.column!r} column"
        rows = []
        if skipped is None:
            values = context.forget[self.column]
            rows = [index for index, value in enumerate(values) if _given(value, context.conversational)]
            if not rows:
                skipped = f"every value of the forget set's {self.column!r} column is empty"
        if skipped is not None:
            return [Attack(name="paraphrase", probe=self.name, rows=[], skipped=skipped, settings=settings)]
        rewrites = [
            Rewrite(prompt_messages=value) if isinstance(value, list) else Rewrite(question=value)
            for value in (context.forget[index][self.column] for index in rows)
        ]
        return [context.prompt_attack("paraphrase", self.name, rewrites, rows, settings)]


def _given(value, conversational: bool) -> bool:
    """Whether a paraphrase value is there: a non-blank string, or (conversations) a non-empty list of messages."""
    if isinstance(value, str):
        return bool(value.strip())
    return conversational and isinstance(value, list) and bool(value)

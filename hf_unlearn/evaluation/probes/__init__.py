"""Probes of the robustness audit: one class per attack family (see [`UnlearningAuditor`]).

| name | class | attacks |
|---|---|---|
| `relearn` | [`RelearnProbe`] | `relearn_forget`, `relearn_unrelated` |
| `quantize` | [`QuantizeProbe`] | `quantize_8bit`, `quantize_4bit` |
| `paraphrase` | [`ParaphraseProbe`] | `paraphrase` |
| `few_shot` | [`FewShotProbe`] | `few_shot` |
| `prompt_attacks` | [`PromptAttackProbe`] | `prompt_roleplay`, `prompt_affirmative_prefix`, `prompt_fill_in_blank` |
| `logit_lens` | [`LogitLensProbe`] | `logit_lens` |
"""

from __future__ import annotations

from .base import SCORES, Attack, AttackScores, AuditContext, Probe, Rewrite
from .few_shot import FewShotProbe
from .logit_lens import LogitLensProbe, layer_answer_logps
from .paraphrase import ParaphraseProbe
from .prompt_attacks import PROMPT_TRANSFORMS, PromptAttackProbe, PromptTransform
from .quantize import QuantizeProbe
from .relearn import RelearnProbe


PROBES: dict[str, type[Probe]] = {
    probe.name: probe
    for probe in (RelearnProbe, QuantizeProbe, ParaphraseProbe, FewShotProbe, PromptAttackProbe, LogitLensProbe)
}
"""Probe name -> class, in the order the audit runs them."""


def make_probes(probes: str | list) -> list[Probe]:
    """Probe objects from `"all"`, a comma-separated string of names, or a list of names and `Probe` objects.

    Raises:
        ValueError: an unknown name (the message lists the known ones), a repeated probe, or an empty list.
    """
    if isinstance(probes, str):
        names = [name.strip() for name in probes.split(",") if name.strip()]
        probes = list(PROBES) if names == ["all"] else names
    made = []
    for probe in probes:
        if isinstance(probe, Probe):
            made.append(probe)
        elif probe in PROBES:
            made.append(PROBES[probe]())
        else:
            raise ValueError(f"Unknown probe {probe!r}; known probes: {', '.join(PROBES)} (or 'all').")
    if not made:
        raise ValueError(f"No probe given; known probes: {', '.join(PROBES)} (or 'all').")
    names = [probe.name for probe in made]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Probe(s) {repeated} given more than once; give each probe once.")
    return made


__all__ = [
    "PROBES",
    "PROMPT_TRANSFORMS",
    "SCORES",
    "Attack",
    "AttackScores",
    "AuditContext",
    "FewShotProbe",
    "LogitLensProbe",
    "ParaphraseProbe",
    "Probe",
    "PromptAttackProbe",
    "PromptTransform",
    "QuantizeProbe",
    "RelearnProbe",
    "Rewrite",
    "layer_answer_logps",
    "make_probes",
]

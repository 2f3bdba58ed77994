from __future__ import annotations

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, token_mean_logps
from .registry import Paper, TrainerAlias, register_objective


@register_objective(
    "idknll",
    role="forget",
    help="NLL of an alternative answer (a refusal) to each forget prompt",
    paper=Paper(
        "Maini, Feng, Schwarzschild, Lipton, Kolter 2024, TOFU: A Task of Fictitious Unlearning for LLMs",
        "https://huggingface.co/papers/2401.06121",
    ),
    default_retain_loss="nll",
    trainers=(
        TrainerAlias(
            "IdkNLLTrainer",
            doc="IdkNLL: train the model to answer the forget questions with a refusal (or the row's `alternative` "
            'answer), plus a retain NLL term: TOFU\'s "preference optimization" baseline (`idk` in its code). See '
            "[`~hf_unlearn.losses.IdkNLLLoss`].",
        ),
    ),
)
class IdkNLLLoss(UnlearningObjective):
    r"""IdkNLL: the language-modelling loss of an alternative answer (a refusal by default) to each forget prompt.

    $$\mathcal{L}_{\mathrm{IdkNLL}} = \frac{1}{B}\sum_{i=1}^{B} -\frac{1}{m_i}\sum_t
    \log\pi_\theta(a_{i,t}\mid x_i, a_{i,<t})$$

    with $a_i$ the alternative answer to forget prompt $x_i$ and $m_i$ its number of tokens. It teaches the model to
    answer the forget questions with the refusal; it does not push the forget answers down (their NLL is logged as
    `nll/forget`, as for every objective). With the retain NLL, it is TOFU's "preference optimization" baseline
    (`idk` in its code).

    TOFU's code concatenates the refusal and retain batches and takes one token-mean NLL over both, so longer answers
    weigh more and the two sets' weights depend on their token counts; we average per sequence and per set (the
    retain term is added by the trainer with `retain_weight`), so that a batch's loss does not depend on how it is
    split into micro-batches.

    Paper: Maini, Feng, Schwarzschild, Lipton, Kolter 2024, "TOFU: A Task of Fictitious Unlearning for LLMs",
    https://huggingface.co/papers/2401.06121.
    """

    requires = frozenset({"alt_logps"})

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence the alternative answer's per-token NLL; no extra statistics (it is the loss)."""
        return -token_mean_logps(inputs.alt_logps, inputs.alt_n_tokens), {}

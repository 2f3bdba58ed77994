"""`evaluate` module: membership-inference AUC and PrivLeak. Wraps `hf_unlearn.metrics.mia_auc` / `privleak`."""

import datasets
import evaluate
import numpy as np

from hf_unlearn.metrics import mia_auc, privleak


_CITATION = """\
@misc{shi2024muse,
  title={MUSE: Machine Unlearning Six-Way Evaluation for Language Models},
  author={Weijia Shi and Jaechan Lee and Yangsibo Huang and Sadhika Malladi and Jieyu Zhao and Ari Holtzman
          and Daogao Liu and Luke Zettlemoyer and Noah A. Smith and Chiyuan Zhang},
  year={2024}, eprint={2407.06460}, archivePrefix={arXiv}
}
"""

_DESCRIPTION = """\
ROC-AUC of a membership-inference score (LOSS, zlib, Min-K%, Min-K%++ from hf_unlearn.metrics; all
loss-oriented: lower = more likely a member) separating forget-set rows (members) from holdout rows
(non-members): 1 = every forget row recognised, 0.5 = chance. Given the retain model's AUC on the same
sets, also PrivLeak in percent with MUSE's sign (arXiv 2407.06460): ~0 = as private as the retain model,
negative = under-unlearning, positive = over-unlearning.
"""

_KWARGS_DESCRIPTION = """
Args:
    scores (`list[float]`): per-row attack scores (lower = more likely a member).
    is_member (`list[bool]`): True for forget-set rows, False for holdout rows.
    retain_auc (`float`, *optional*): the retain model's AUC on the same sets; adds `privleak`.
Returns:
    auc (`float`): the ROC-AUC.
    privleak (`float`, only with `retain_auc`): PrivLeak in percent.
Examples:
    >>> metric = evaluate.load("path/to/hf_unlearn/metrics/modules/mia")
    >>> metric.compute(scores=[0.1, 0.2, 0.9], is_member=[True, True, False])
    {'auc': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MIA(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"scores": datasets.Value("float64"), "is_member": datasets.Value("bool")}),
            reference_urls=["https://arxiv.org/abs/2407.06460", "https://arxiv.org/abs/2404.02936"],
        )

    def _compute(self, scores, is_member, retain_auc=None):
        scores = np.asarray(scores, dtype=np.float64)
        is_member = np.asarray(is_member, dtype=bool)
        result = {"auc": mia_auc(scores[is_member], scores[~is_member])}
        if retain_auc is not None:
            result["privleak"] = privleak(result["auc"], retain_auc)
        return result

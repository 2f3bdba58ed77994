"""`evaluate` module: TOFU forget quality. Wraps `hf_unlearn.metrics.forget_quality`."""

import datasets
import evaluate

from hf_unlearn.metrics import forget_quality


_CITATION = """\
@misc{maini2024tofu,
  title={TOFU: A Task of Fictitious Unlearning for LLMs},
  author={Pratyush Maini and Zhili Feng and Avi Schwarzschild and Zachary C. Lipton and J. Zico Kolter},
  year={2024}, eprint={2401.06121}, archivePrefix={arXiv}
}
"""

_DESCRIPTION = """\
Forget quality (TOFU, arXiv 2401.06121): p-value of the two-sample Kolmogorov-Smirnov test
(scipy.stats.ks_2samp) between the forget-set truth ratios of the model under test and those of a
retain model (trained without the forget set). Near 1: indistinguishable from the retain model. The
rows are the tested model's truth ratios; the retain model's are passed as `retain_truth_ratios`
(their count may differ: the test still runs and a warning says so). nan rows are dropped.
"""

_KWARGS_DESCRIPTION = """
Args:
    truth_ratios (`list[float]`): per-sample forget-set truth ratios of the model under test.
    retain_truth_ratios (`list[float]`): per-sample forget-set truth ratios of the retain model.
Returns:
    forget_quality (`float`): the KS-test p-value in [0, 1].
Examples:
    >>> metric = evaluate.load("path/to/hf_unlearn/metrics/modules/forget_quality")
    >>> metric.compute(truth_ratios=[0.1, 0.2, 0.3], retain_truth_ratios=[0.1, 0.2, 0.3])
    {'forget_quality': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ForgetQuality(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"truth_ratios": datasets.Value("float64")}),
            reference_urls=["https://arxiv.org/abs/2401.06121"],
        )

    def _compute(self, truth_ratios, retain_truth_ratios=None):
        if retain_truth_ratios is None:
            raise ValueError("forget_quality needs retain_truth_ratios: the retain model's forget-set truth ratios")
        return {"forget_quality": forget_quality(truth_ratios, retain_truth_ratios)}

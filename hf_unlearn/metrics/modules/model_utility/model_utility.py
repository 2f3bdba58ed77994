"""`evaluate` module: TOFU model utility. Wraps `hf_unlearn.metrics.model_utility`."""

import datasets
import evaluate

from hf_unlearn.metrics import model_utility


_CITATION = """\
@misc{maini2024tofu,
  title={TOFU: A Task of Fictitious Unlearning for LLMs},
  author={Pratyush Maini and Zhili Feng and Avi Schwarzschild and Zachary C. Lipton and J. Zico Kolter},
  year={2024}, eprint={2401.06121}, archivePrefix={arXiv}
}
"""

_DESCRIPTION = """\
Model utility (TOFU, arXiv 2401.06121): harmonic mean (scipy.stats.hmean) of component scores in
[0, 1]. TOFU uses nine: probability, ROUGE-L recall and truth-ratio score on the retain, real-authors
and world-facts sets. One near-zero component pulls the utility down; a missing (nan) or negative
component is an error.
"""

_KWARGS_DESCRIPTION = """
Args:
    scores (`list[float]`): the component scores, one per row.
Returns:
    model_utility (`float`): their harmonic mean.
Examples:
    >>> metric = evaluate.load("path/to/hf_unlearn/metrics/modules/model_utility")
    >>> metric.compute(scores=[0.5, 1.0])
    {'model_utility': 0.6666666666666666}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ModelUtility(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"scores": datasets.Value("float64")}),
            reference_urls=["https://arxiv.org/abs/2401.06121"],
        )

    def _compute(self, scores):
        return {"model_utility": model_utility(scores)}

"""`evaluate` module: TOFU truth-ratio score. Wraps `hf_unlearn.metrics.truth_ratio` / `truth_ratio_score`."""

import datasets
import evaluate
import numpy as np

from hf_unlearn.metrics import truth_ratio, truth_ratio_score


_CITATION = """\
@misc{maini2024tofu,
  title={TOFU: A Task of Fictitious Unlearning for LLMs},
  author={Pratyush Maini and Zhili Feng and Avi Schwarzschild and Zachary C. Lipton and J. Zico Kolter},
  year={2024}, eprint={2401.06121}, archivePrefix={arXiv}
}
"""

_DESCRIPTION = """\
Truth ratio (TOFU, arXiv 2401.06121): per sample R = exp(nll_paraphrased - mean_j nll_perturbed_j) from
mean per-token NLLs, i.e. the geometric-mean probability of the perturbed (wrong) answers over the
probability of the paraphrased (correct) answer. Aggregated as TOFU does: on the forget set
mean(min(R, 1/R)) (1 = cannot tell right from wrong, as a never-trained model), elsewhere
mean(max(0, 1 - R)) (1 = strongly prefers the correct answer). Rows without perturbed answers are
skipped and counted.
"""

_KWARGS_DESCRIPTION = """
Args:
    paraphrased_nll (`list[float]`): per-sample mean per-token NLL of the paraphrased correct answer.
    perturbed_nll (`list[list[float]]`): per sample, the mean per-token NLLs of its perturbed answers.
    aggregation (`str`, *optional*, defaults to `"retain"`): `"forget"` for the forget set, `"retain"` for
        the retain, real-authors and world-facts sets.
Returns:
    truth_ratio (`float`): the aggregated score in [0, 1] (nan if no row has perturbed answers).
    num_skipped (`int`): rows skipped because their truth ratio is undefined.
Examples:
    >>> metric = evaluate.load("path/to/hf_unlearn/metrics/modules/truth_ratio")
    >>> metric.compute(paraphrased_nll=[1.0], perturbed_nll=[[2.0, 2.0]], aggregation="retain")
    {'truth_ratio': 0.6321205588285577, 'num_skipped': 0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TruthRatio(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "paraphrased_nll": datasets.Value("float64"),
                    "perturbed_nll": datasets.Sequence(datasets.Value("float64")),
                }
            ),
            reference_urls=["https://arxiv.org/abs/2401.06121"],
        )

    def _compute(self, paraphrased_nll, perturbed_nll, aggregation="retain"):
        ratios = truth_ratio(paraphrased_nll, perturbed_nll)
        return {"truth_ratio": truth_ratio_score(ratios, aggregation), "num_skipped": int(np.isnan(ratios).sum())}

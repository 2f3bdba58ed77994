"""`evaluate` module: ROUGE recall / F1 of generated answers. Wraps `hf_unlearn.metrics.rouge_scores`."""

import datasets
import evaluate
import numpy as np

from hf_unlearn.metrics import rouge_scores


_CITATION = """\
@inproceedings{lin2004rouge,
  title={ROUGE: A Package for Automatic Evaluation of Summaries},
  author={Chin-Yew Lin}, booktitle={Text Summarization Branches Out}, year={2004}, pages={74--81}
}
@misc{maini2024tofu,
  title={TOFU: A Task of Fictitious Unlearning for LLMs},
  author={Pratyush Maini and Zhili Feng and Avi Schwarzschild and Zachary C. Lipton and J. Zico Kolter},
  year={2024}, eprint={2401.06121}, archivePrefix={arXiv}
}
"""

_DESCRIPTION = """\
Mean ROUGE-1 and ROUGE-L recall and F1 of generated answers against reference answers, computed by
`rouge_score` with the Porter stemmer on (as TOFU, arXiv 2401.06121, reports ROUGE-L recall). An empty
generation scores 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): generated answers.
    references (`list[str]`): reference answers.
    use_stemmer (`bool`, *optional*, defaults to `True`): Porter stemming before matching.
Returns:
    rougeL_recall, rougeL_f1, rouge1_recall, rouge1_f1 (`float`): means over the samples.
Examples:
    >>> metric = evaluate.load("path/to/hf_unlearn/metrics/modules/rouge_recall")
    >>> metric.compute(predictions=["the cat sat"], references=["the cat sat down"])["rougeL_recall"]
    0.75
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RougeRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://aclanthology.org/W04-1013/", "https://arxiv.org/abs/2401.06121"],
        )

    def _compute(self, predictions, references, use_stemmer=True):
        scores = rouge_scores(predictions, references, use_stemmer=use_stemmer)
        return {name: float(np.mean(values)) for name, values in scores.items()}

"""hf_unlearn: machine unlearning for causal language models on the Hugging Face trainer stack.

The public names are imported on first use, so that `import hf_unlearn.metrics` (or an `evaluate` module that uses
it) does not pay for importing the trainer stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING


__version__ = "0.1.0.dev0"

_EXPORTS = {
    "UnlearningConfig": ".config",
    "GradientAscentLoss": ".losses",
    "KLRetainLoss": ".losses",
    "NLLRetainLoss": ".losses",
    "NPOLoss": ".losses",
    "SimNPOLoss": ".losses",
    "GradientAscentTrainer": ".trainer",
    "GradientDifferenceTrainer": ".trainer",
    "NPOTrainer": ".trainer",
    "SimNPOTrainer": ".trainer",
    "UnlearningTrainer": ".trainer",
    "EvaluationResult": ".evaluation",
    "UnlearningEvalCallback": ".evaluation",
    "UnlearningEvaluator": ".evaluation",
    "UnlearningAuditor": ".evaluation",
    "UnlearningStopCallback": ".callbacks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'hf_unlearn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .callbacks import UnlearningStopCallback
    from .evaluation import EvaluationResult, UnlearningAuditor, UnlearningEvalCallback, UnlearningEvaluator
    from .config import UnlearningConfig
    from .losses import GradientAscentLoss, KLRetainLoss, NLLRetainLoss, NPOLoss, SimNPOLoss
    from .trainer import GradientAscentTrainer, GradientDifferenceTrainer, NPOTrainer, SimNPOTrainer, UnlearningTrainer

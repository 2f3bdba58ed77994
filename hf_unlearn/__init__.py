"""hf_unlearn: machine unlearning for causal language models on the Hugging Face trainer stack.

The public names are imported on first use, so that `import hf_unlearn.metrics` (or an `evaluate` module that uses
it) does not pay for importing the trainer stack.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING


__version__ = "0.1.0.dev0"


class _MissingKernelsNotice(logging.Filter):
    """Drops bitsandbytes' start-up warning that the optional `kernels` package is not installed.

    peft imports bitsandbytes whenever both are installed, and transformers imports peft with `TrainingArguments`,
    so without this filter every command prints "Failed to load CPU gemm_4bit_forward from kernels-community: No
    module named 'kernels'" (on CPUs with AVX512-BF16). It concerns only 4-bit matmuls on a CPU, which run without
    that kernel, more slowly; other failures to load it are still shown.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Failed to load CPU gemm_4bit_forward") and "No module named 'kernels'" in message
        )


# Set before bitsandbytes exists: `getLogger` hands it this same logger, filter included.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_MissingKernelsNotice())

_EXPORTS = {
    "UnlearningConfig": ".config",
    "DPOLoss": ".losses",
    "GradientAscentLoss": ".losses",
    "IdkNLLLoss": ".losses",
    "KLRetainLoss": ".losses",
    "NLLRetainLoss": ".losses",
    "NPOLoss": ".losses",
    "RMUForgetLoss": ".losses",
    "RMURetainLoss": ".losses",
    "SimNPOLoss": ".losses",
    "SatImpLoss": ".losses",
    "UNDIALLoss": ".losses",
    "WGALoss": ".losses",
    "GradientAscentTrainer": ".trainer",
    "GradientDifferenceTrainer": ".trainer",
    "IdkDPOTrainer": ".trainer",
    "IdkNLLTrainer": ".trainer",
    "NPOTrainer": ".trainer",
    "RMUTrainer": ".trainer",
    "SimNPOTrainer": ".trainer",
    "SatImpTrainer": ".trainer",
    "UNDIALTrainer": ".trainer",
    "WGATrainer": ".trainer",
    "TaskVectorConfig": ".task_vector",
    "TaskVectorTrainer": ".task_vector",
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
    from .config import UnlearningConfig
    from .evaluation import EvaluationResult, UnlearningAuditor, UnlearningEvalCallback, UnlearningEvaluator
    from .losses import (
        DPOLoss,
        GradientAscentLoss,
        IdkNLLLoss,
        KLRetainLoss,
        NLLRetainLoss,
        NPOLoss,
        RMUForgetLoss,
        RMURetainLoss,
        SatImpLoss,
        SimNPOLoss,
        UNDIALLoss,
        WGALoss,
    )
    from .task_vector import TaskVectorConfig, TaskVectorTrainer
    from .trainer import (
        GradientAscentTrainer,
        GradientDifferenceTrainer,
        IdkDPOTrainer,
        IdkNLLTrainer,
        NPOTrainer,
        RMUTrainer,
        SatImpTrainer,
        SimNPOTrainer,
        UNDIALTrainer,
        UnlearningTrainer,
        WGATrainer,
    )

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
    """Drops bitsandbytes' start-up warnings that its optional CPU kernel was not loaded, for the expected reasons.

    peft imports bitsandbytes whenever both are installed (`import peft` runs `import bitsandbytes`, so it cannot
    wait until a quantize probe runs), and transformers imports peft with `TrainingArguments`. On CPUs with
    AVX512-BF16, bitsandbytes then asks the `kernels` package for the Hub kernel
    `kernels-community/quantization-bitsandbytes`, and without this filter every command prints "Failed to load CPU
    gemm_4bit_forward from kernels-community: ..." when `kernels` is missing, when the kernel's publisher cannot be
    trusted (this library never sets `trust_remote_code` or allowlists a kernel on the user's behalf), or, offline,
    when the kernel is not cached (after `kernels` has said it skips the trust check). The kernel only speeds up
    4-bit matmuls on a CPU, which run without it; other failures to load it are still shown.
    """

    KERNEL = "kernels-community/quantization-bitsandbytes"
    EXPECTED = (
        "No module named 'kernels'",
        "could not verify publisher trust status",
        "is not available in the local cache and Hugging Face Hub is in offline mode",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(f"Skipping publisher trust check for '{self.KERNEL}'"):
            return False
        expected = any(reason in message for reason in self.EXPECTED)
        return not (message.startswith("Failed to load CPU gemm_4bit_forward") and expected)


# Set before bitsandbytes and kernels exist: `getLogger` hands them these same loggers, filter included.
for _name in ("bitsandbytes.backends.cpu.ops", "kernels._internals.hf_hub"):
    logging.getLogger(_name).addFilter(_MissingKernelsNotice())
del _name

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
    "Hyperparameter": ".losses",
    "ObjectiveInputs": ".losses",
    "UnlearningObjective": ".losses",
    "get_objective": ".losses",
    "objectives": ".losses",
    "register_objective": ".losses",
    "GradientAscentTrainer": ".method_trainers",
    "GradientDifferenceTrainer": ".method_trainers",
    "IdkDPOTrainer": ".method_trainers",
    "IdkNLLTrainer": ".method_trainers",
    "NPOTrainer": ".method_trainers",
    "RMUTrainer": ".method_trainers",
    "SimNPOTrainer": ".method_trainers",
    "SatImpTrainer": ".method_trainers",
    "UNDIALTrainer": ".method_trainers",
    "WGATrainer": ".method_trainers",
    "DistillConfig": ".distill",
    "DistillTrainer": ".distill",
    "TaskVectorConfig": ".task_vector",
    "TaskVectorTrainer": ".task_vector",
    "UnlearningTrainer": ".trainer",
    "EvaluationResult": ".evaluation",
    "UnlearningEvalCallback": ".evaluation",
    "UnlearningEvaluator": ".evaluation",
    "UnlearningAuditor": ".evaluation",
    "UnlearningStopCallback": ".callbacks",
    "UnlearningRecord": ".record",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    if name.endswith("Loss"):  # an objective class added to `hf_unlearn.losses` after this list was written
        losses = importlib.import_module(".losses", __name__)
        if name in getattr(losses, "__all__", ()):
            return getattr(losses, name)
    if name.endswith("Trainer"):  # a method trainer of an objective registered later than this list was written
        trainers = importlib.import_module(".method_trainers", __name__).METHOD_TRAINERS
        if name in trainers:
            return trainers[name]
    raise AttributeError(f"module 'hf_unlearn' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .callbacks import UnlearningStopCallback
    from .config import UnlearningConfig
    from .distill import DistillConfig, DistillTrainer
    from .evaluation import EvaluationResult, UnlearningAuditor, UnlearningEvalCallback, UnlearningEvaluator
    from .losses import (
        DPOLoss,
        GradientAscentLoss,
        Hyperparameter,
        IdkNLLLoss,
        KLRetainLoss,
        NLLRetainLoss,
        NPOLoss,
        ObjectiveInputs,
        RMUForgetLoss,
        RMURetainLoss,
        SatImpLoss,
        SimNPOLoss,
        UNDIALLoss,
        UnlearningObjective,
        WGALoss,
        get_objective,
        objectives,
        register_objective,
    )
    from .method_trainers import (
        GradientAscentTrainer,
        GradientDifferenceTrainer,
        IdkDPOTrainer,
        IdkNLLTrainer,
        NPOTrainer,
        RMUTrainer,
        SatImpTrainer,
        SimNPOTrainer,
        UNDIALTrainer,
        WGATrainer,
    )
    from .record import UnlearningRecord
    from .task_vector import TaskVectorConfig, TaskVectorTrainer
    from .trainer import UnlearningTrainer

"""Unlearning objectives: one small class per formula, pure functions of per-sequence log-probs.

`FORGET_LOSSES` and `RETAIN_LOSSES` map the names accepted by `UnlearningConfig.forget_loss` and
`UnlearningConfig.retain_loss` to their classes. A new objective is a new file plus one entry here.
"""

from .gradient_ascent import GradientAscentLoss
from .npo import NPOLoss
from .retain_kl import KLRetainLoss
from .retain_nll import NLLRetainLoss
from .rmu import RMUForgetLoss, RMURetainLoss
from .simnpo import SimNPOLoss


FORGET_LOSSES = {"ga": GradientAscentLoss, "npo": NPOLoss, "simnpo": SimNPOLoss, "rmu": RMUForgetLoss}
RETAIN_LOSSES = {"nll": NLLRetainLoss, "kl": KLRetainLoss, "rmu": RMURetainLoss}

__all__ = [
    "FORGET_LOSSES",
    "RETAIN_LOSSES",
    "GradientAscentLoss",
    "KLRetainLoss",
    "NLLRetainLoss",
    "NPOLoss",
    "RMUForgetLoss",
    "RMURetainLoss",
    "SimNPOLoss",
]

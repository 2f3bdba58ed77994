"""Unlearning objectives: one small class per formula, pure functions of per-sequence log-probs.

`FORGET_LOSSES` and `RETAIN_LOSSES` map the names accepted by `UnlearningConfig.forget_loss` and
`UnlearningConfig.retain_loss` to their classes. A new objective is a new file plus one entry here.
"""

from .dpo import DPOLoss
from .gradient_ascent import GradientAscentLoss
from .idknll import IdkNLLLoss
from .npo import NPOLoss
from .retain_kl import KLRetainLoss
from .retain_nll import NLLRetainLoss
from .rmu import RMUForgetLoss, RMURetainLoss
from .satimp import SatImpLoss
from .simnpo import SimNPOLoss
from .undial import UNDIALLoss
from .wga import WGALoss


FORGET_LOSSES = {
    "ga": GradientAscentLoss,
    "npo": NPOLoss,
    "simnpo": SimNPOLoss,
    "undial": UNDIALLoss,
    "wga": WGALoss,
    "satimp": SatImpLoss,
    "dpo": DPOLoss,
    "idknll": IdkNLLLoss,
    "rmu": RMUForgetLoss,
}
RETAIN_LOSSES = {"nll": NLLRetainLoss, "kl": KLRetainLoss, "rmu": RMURetainLoss}

__all__ = [
    "FORGET_LOSSES",
    "RETAIN_LOSSES",
    "DPOLoss",
    "GradientAscentLoss",
    "IdkNLLLoss",
    "KLRetainLoss",
    "NLLRetainLoss",
    "NPOLoss",
    "RMUForgetLoss",
    "RMURetainLoss",
    "SatImpLoss",
    "SimNPOLoss",
    "UNDIALLoss",
    "WGALoss",
]

"""Unlearning objectives: one small class per formula, pure functions of per-sequence log-probs.

Each objective is registered once, in its own file, with [`register_objective`]: its name, role, hyperparameters,
paper, help and method trainers (see `hf_unlearn.losses.registry`). `FORGET_LOSSES` and `RETAIN_LOSSES` are live
`{name: class}` views of that registry, by role (`FORGET_OBJECTIVES` / `RETAIN_OBJECTIVES` are the same views under
the objective-named spelling). A new built-in objective is a new file here plus one import below.
"""

from .base import ObjectiveInputs, UnlearningObjective
from .ceu import CEULoss
from .dpo import DPOLoss
from .gradient_ascent import GradientAscentLoss
from .idknll import IdkNLLLoss
from .npo import NPOLoss
from .registry import (
    Hyperparameter,
    ObjectiveClasses,
    ObjectiveSpec,
    Paper,
    Recipe,
    TrainerAlias,
    get_objective,
    objective_names,
    objectives,
    register_objective,
    unregister_objective,
)
from .retain_kl import KLRetainLoss
from .retain_nll import NLLRetainLoss
from .rmu import RMUForgetLoss, RMURetainLoss
from .satimp import SatImpLoss
from .simnpo import SimNPOLoss
from .undial import UNDIALLoss
from .wga import WGALoss


FORGET_OBJECTIVES = FORGET_LOSSES = ObjectiveClasses("forget")
RETAIN_OBJECTIVES = RETAIN_LOSSES = ObjectiveClasses("retain")

__all__ = [
    "CEULoss",
    "FORGET_LOSSES",
    "FORGET_OBJECTIVES",
    "RETAIN_LOSSES",
    "RETAIN_OBJECTIVES",
    "DPOLoss",
    "GradientAscentLoss",
    "Hyperparameter",
    "IdkNLLLoss",
    "KLRetainLoss",
    "NLLRetainLoss",
    "NPOLoss",
    "ObjectiveInputs",
    "ObjectiveSpec",
    "Paper",
    "RMUForgetLoss",
    "RMURetainLoss",
    "Recipe",
    "SatImpLoss",
    "SimNPOLoss",
    "TrainerAlias",
    "UNDIALLoss",
    "UnlearningObjective",
    "WGALoss",
    "get_objective",
    "objective_names",
    "objectives",
    "register_objective",
    "unregister_objective",
]

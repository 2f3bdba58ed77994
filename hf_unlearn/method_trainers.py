"""The method trainers: [`UnlearningTrainer`] with one forget objective fixed and its paper's retain term.

Each plain one (`NPOTrainer`, `GradientDifferenceTrainer`, ...) is made here from the objective registry: an objective
registered with `trainers=(TrainerAlias("NPOTrainer", ...),)` gets a subclass of that name, with the alias's
docstring, `default_forget_loss = fixed_forget_loss = <objective>` and `default_retain_loss` (the alias's, or the
objective's `default_retain_loss`). [`RMUTrainer`] is written out below, because it also restricts which parameters
train. The docs' method tables list them all (a test checks them against the registry).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from transformers.utils import logging

from .layers import decoder_layers
from .losses.registry import TrainerAlias, objectives
from .trainer import UnlearningTrainer


logger = logging.get_logger(__name__)


class RMUTrainer(UnlearningTrainer):
    r"""RMU (Li et al. 2024): steer layer `rmu_layer` to noise on the forget set, hold it on the retain set, and train
    only a few parameters. See [`~hf_unlearn.losses.RMUForgetLoss`] and [`~hf_unlearn.losses.RMURetainLoss`].

    Every parameter outside `rmu_trainable_params` (default: the MLPs of layers `rmu_layer - 2` to `rmu_layer`, as in
    the paper) is frozen when the trainer is built. Under PEFT the restriction applies to the adapter: only adapter
    weights inside the set train, and an adapter with none there (e.g. LoRA on attention only) is refused; give the
    adapter those modules, e.g. `LoraConfig(target_modules=["gate_proj", "up_proj", "down_proj"])` on llama-style
    models. The reference activations come from the frozen copy or the adapter-off model, as for NPO.

    Attributes:
        trainable_parameter_names (`list[str]`): The parameters that train, as named by `model.named_parameters()`.
    """

    default_forget_loss = fixed_forget_loss = "rmu"
    default_retain_loss = "rmu"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Frozen here, before `train` wraps the model (DDP, FSDP, DeepSpeed register only trainable parameters) and
        # before the optimizer is built from the parameters that require a gradient.
        self.trainable_parameter_names = self._restrict_trainable_parameters()

    def _layer_stack_name(self) -> str:
        layers = decoder_layers(self.model)
        return next(name for name, module in self.model.named_modules() if module is layers)

    def trainable_patterns(self) -> list[str]:
        """`rmu_trainable_params`, or the paper's default: the MLPs of layers `rmu_layer - 2` to `rmu_layer`."""
        if self.args.rmu_trainable_params is not None:
            return list(self.args.rmu_trainable_params)
        layer, layers = self.args.rmu_layer, decoder_layers(self.model)
        indices = range(max(0, layer - 2), layer + 1)
        missing = [i for i in indices if not isinstance(getattr(layers[i], "mlp", None), torch.nn.Module)]
        if missing:
            raise ValueError(
                f"Decoder layers {missing} of {type(layers[missing[0]]).__name__} have no `mlp` module, so RMU's "
                "default trainable set (the MLPs of layers rmu_layer-2 to rmu_layer) is undefined here; set "
                "rmu_trainable_params to regular expressions matching the parameters to train."
            )
        stack = re.escape(self._layer_stack_name())
        return [rf"^{stack}\.{i}\.mlp\." for i in indices]

    def _restrict_trainable_parameters(self) -> list[str]:
        patterns = self.trainable_patterns()
        compiled = [re.compile(pattern) for pattern in patterns]
        matched, trainable = [], []
        for name, parameter in self.model.named_parameters():
            if any(pattern.search(name) for pattern in compiled):
                matched.append(name)
                if parameter.requires_grad:
                    trainable.append(name)
            else:
                parameter.requires_grad_(False)
        if not matched:
            stack = self._layer_stack_name()
            examples = [name for name, _ in self.model.named_parameters() if name.startswith(stack)][:4]
            raise ValueError(
                f"rmu_trainable_params={patterns} matches no parameter of the model; its parameter names look like "
                f"{examples}."
            )
        if not trainable:
            raise ValueError(
                f"rmu_trainable_params={patterns} matches only frozen parameters ({len(matched)}, e.g. "
                f"{matched[0]!r}). Under PEFT only adapter weights train: give the adapter modules inside that set "
                "(e.g. LoRA target_modules=['gate_proj', 'up_proj', 'down_proj'] on llama-style models), or widen the "
                "set."
            )
        count = sum(p.numel() for name, p in self.model.named_parameters() if p.requires_grad)
        logger.info(f"RMU trains {len(trainable)} tensors ({count} parameters) matching {patterns}.")
        return trainable

    def unlearning_record(self, model_name: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        record = super().unlearning_record(model_name, tags)
        record["hyperparameters"].update(
            rmu_layer=self.args.rmu_layer,
            rmu_steering_coeff=self.forget_loss.steering_coeff,
            rmu_alpha=getattr(self.retain_loss, "alpha", None),
            rmu_seed=self.forget_loss.seed,
            rmu_trainable_params=self.trainable_patterns(),
            rmu_trainable_tensors=len(self.trainable_parameter_names),
        )
        return record


def _method_trainer(objective: str, alias: TrainerAlias, retain_loss: str) -> type[UnlearningTrainer]:
    """An `UnlearningTrainer` subclass named `alias.name` that trains `objective` with `retain_loss` by default."""
    return type(
        alias.name,
        (UnlearningTrainer,),
        {
            "__doc__": alias.doc,
            "__module__": __name__,
            "__qualname__": alias.name,
            "default_forget_loss": objective,
            "fixed_forget_loss": objective,
            "default_retain_loss": retain_loss,
        },
    )


def _build_method_trainers() -> dict[str, type[UnlearningTrainer]]:
    written_out = {"RMUTrainer": RMUTrainer}
    built: dict[str, type[UnlearningTrainer]] = {}
    for spec in objectives("forget"):
        for alias in spec.trainers:
            if alias.name in written_out:
                built[alias.name] = written_out[alias.name]
            else:
                built[alias.name] = _method_trainer(spec.name, alias, alias.retain_loss)
    return built


METHOD_TRAINERS: dict[str, type[UnlearningTrainer]] = _build_method_trainers()
"""Every method trainer by class name, from the built-in objectives' registrations."""
globals().update(METHOD_TRAINERS)


def trainer_class(forget_loss: str | None) -> type[UnlearningTrainer]:
    """The trainer that runs `forget_loss` as its method: the one its registration marks as required ([`RMUTrainer`]
    for `"rmu"`, which restricts the trained parameters, as the objective alone cannot), [`UnlearningTrainer`] for
    every other objective."""
    if forget_loss is not None:
        for spec in objectives("forget"):
            if spec.name == forget_loss:
                for alias in spec.trainers:
                    if alias.required:
                        return METHOD_TRAINERS[alias.name]
    return UnlearningTrainer


__all__ = ["METHOD_TRAINERS", *METHOD_TRAINERS, "trainer_class"]

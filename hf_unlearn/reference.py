"""Where reference log-probs come from: one interface, three sources.

| source | class | memory |
|---|---|---|
| the PEFT model with its adapter disabled | `AdapterOffReference` | none extra |
| a frozen copy of the initial model, or a user `ref_model` | `ModelReference` | one more model |
| computed once before training, read from the data | `precompute_ref_log_probs=True` | one pass over the forget set |

A live source is a context manager, `with reference.active(policy) as module:`, yielding the module to run without
gradients; the trainer scores it with the same code as the policy (`hf_unlearn.logprobs`), so precomputed and live
values come from one place.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator

import torch
from accelerate import Accelerator


class AdapterOffReference:
    """The reference is the base model under a PEFT adapter: run the policy with the adapter disabled.

    Args:
        accelerator (`accelerate.Accelerator`):
            Used to reach the PEFT model inside DDP / FSDP / DeepSpeed wrappers.
        gradient_checkpointing_kwargs (`dict`, *optional*):
            The run's gradient-checkpointing settings, restored after the no-grad forward.
    """

    source = "adapter"

    def __init__(self, accelerator: Accelerator, gradient_checkpointing_kwargs: dict | None = None):
        self.accelerator = accelerator
        self.gradient_checkpointing_kwargs = gradient_checkpointing_kwargs

    @contextlib.contextmanager
    def active(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Yield the module that computes the reference: the policy itself, with its adapter off inside the block.

        Args:
            model (`torch.nn.Module`):
                The (possibly wrapped) PEFT policy; the forward goes through the wrapper so that sharded engines
                gather their parameters as usual.
        """
        peft_model = self.accelerator.unwrap_model(model)
        with (
            torch.no_grad(),
            peft_model.disable_adapter(),
            gradient_checkpointing_off(peft_model, self.gradient_checkpointing_kwargs),
        ):
            yield model


class ModelReference:
    """The reference is a separate frozen model (a copy of the initial policy, or a model the user passed).

    Args:
        model (`torch.nn.Module`):
            The reference model, already prepared for the run's engine (DeepSpeed / FSDP / device placement).
    """

    source = "model"

    def __init__(self, model: torch.nn.Module):
        self.model = model

    @contextlib.contextmanager
    def active(self, model: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Yield the reference model (under `torch.no_grad`); `model`, the policy, is not used."""
        with torch.no_grad():
            yield self.model


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Put a reference model in eval mode with gradients off."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def disable_dropout(model: torch.nn.Module) -> None:
    """Set every dropout probability to 0, so that two forward passes of the same sequence agree exactly."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


@contextlib.contextmanager
def gradient_checkpointing_off(model: torch.nn.Module, gradient_checkpointing_kwargs: dict | None = None) -> Iterator:
    """Turn gradient checkpointing off for a no-grad forward pass, and back on (with the run's settings) after it.

    A checkpointed forward under `torch.no_grad()` saves nothing and warns; PEFT models also re-enable input grads
    when it is switched on, so the state is restored exactly as the run set it.
    """
    # transformers 5 names it activation checkpointing; the gradient_* names are deprecated aliases.
    was_on = getattr(model, "is_activation_checkpointing", False)
    if was_on:
        model.activation_checkpointing_disable()
    try:
        yield
    finally:
        if was_on:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=gradient_checkpointing_kwargs)


@contextlib.contextmanager
def peft_checkpointing_alias_quiet() -> Iterator:
    """Hides the `is_gradient_checkpointing is deprecated` FutureWarning that wrapping a model in PEFT causes.

    PEFT 0.21's `PeftModel.__init__` (run by `get_peft_model` and `PeftModel.from_pretrained`) reads transformers
    5's deprecated `is_gradient_checkpointing` alias, which warns on every wrap; this library reads the new name,
    `is_activation_checkpointing`, itself. Only that message is ignored, and only inside this block, so the
    same warning from the user's own code still shows.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def prepare_reference_model(model: torch.nn.Module, accelerator: Accelerator) -> torch.nn.Module:
    """Freeze a reference model and place it for the run's engine, without registering it for training.

    - DeepSpeed: an inference engine; sharded like the policy under ZeRO-3, a whole copy per device under ZeRO-1/2
      (they shard optimizer state and gradients, which a frozen model does not have).
    - FSDP (1 or 2): wrapped / sharded at the root with the run's plugin settings.
    - Anything else (one device, DDP): moved to the device, with accelerate's mixed precision; no DDP wrapper,
      since a model without gradients has nothing to synchronise.

    The DeepSpeed and FSDP branches need GPUs and are covered by `benchmarks/gpu_check.sh`, not by the CPU tests.
    """
    freeze(model)
    state = accelerator.state
    if getattr(state, "deepspeed_plugin", None) is not None:
        return _deepspeed_inference_engine(model, state.deepspeed_plugin.deepspeed_config)
    if getattr(state, "fsdp_plugin", None) is not None:
        return _fsdp_shard(model, state.fsdp_plugin, accelerator.device)
    return accelerator.prepare_model(model, evaluation_mode=True)


def _deepspeed_inference_engine(model: torch.nn.Module, training_config: dict) -> torch.nn.Module:
    import deepspeed  # imported here: only DeepSpeed runs need it installed

    config = copy.deepcopy(training_config)
    # No optimizer is attached, so the training-only blocks would fail (or build an optimizer with nothing to do).
    for key in ("optimizer", "scheduler"):
        config.pop(key, None)
    zero = config.setdefault("zero_optimization", {})
    zero.pop("offload_optimizer", None)
    if zero.get("stage", 0) == 3:
        # transformers resolves these "auto" values only when training starts; a reference is built before that.
        hidden_size = getattr(getattr(model, "config", None), "hidden_size", None)
        if hidden_size:
            defaults = {
                "reduce_bucket_size": hidden_size * hidden_size,
                "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
                "stage3_param_persistence_threshold": 10 * hidden_size,
            }
            for key, value in defaults.items():
                if zero.get(key, "auto") == "auto":
                    zero[key] = value
    else:
        zero["stage"] = 0
    engine, *_ = deepspeed.initialize(model=model, config=config)
    engine.eval()
    return engine


def _fsdp_shard(model: torch.nn.Module, plugin, device: torch.device) -> torch.nn.Module:
    if plugin.fsdp_version == 2:
        from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

        if not isinstance(model, FSDPModule):
            fully_shard(
                model,
                reshard_after_forward=plugin.reshard_after_forward,
                offload_policy=plugin.cpu_offload,
                mp_policy=plugin.mixed_precision_policy or MixedPrecisionPolicy(),
            )
    else:
        from torch.distributed.fsdp import FullyShardedDataParallel

        if not isinstance(model, FullyShardedDataParallel):
            plugin.set_auto_wrap_policy(model)
            model = FullyShardedDataParallel(
                model,
                sharding_strategy=plugin.sharding_strategy or plugin.reshard_after_forward,
                cpu_offload=plugin.cpu_offload,
                auto_wrap_policy=plugin.auto_wrap_policy,
                mixed_precision=plugin.mixed_precision_policy,
                sync_module_states=plugin.sync_module_states,
                use_orig_params=plugin.use_orig_params,
                limit_all_gathers=plugin.limit_all_gathers,
                device_id=device,
            )
    model.eval()
    return model

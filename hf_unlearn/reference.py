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
import os
import warnings
from collections.abc import Iterator

import torch
from accelerate import Accelerator
from transformers.utils import logging

from .utils import atomic_write


logger = logging.get_logger(__name__)


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


def resolve_ref_source(ref_source: str, model: torch.nn.Module, ref_model: torch.nn.Module | None) -> str:
    """Where the reference comes from: `"adapter"` (the PEFT policy with its adapter off) or `"model"` (`ref_model`,
    or a frozen copy of the initial policy).

    Args:
        ref_source (`str`):
            `UnlearningConfig.ref_source`: `"auto"` (the adapter for a PEFT model without a `ref_model`, else a
            model), `"adapter"` or `"model"`.
        model (`torch.nn.Module`):
            The policy.
        ref_model (`torch.nn.Module`, *optional*):
            The reference model the user passed.
    """
    from peft import PeftModel

    is_peft = isinstance(model, PeftModel)
    if ref_source == "adapter":
        if not is_peft:
            raise ValueError(
                f"ref_source='adapter' needs a PEFT model (pass peft_config= or a PeftModel), but the model is a "
                f"{type(model).__name__}. Use ref_source='model' for a frozen copy or a ref_model."
            )
        if ref_model is not None:
            raise ValueError("ref_source='adapter' and a ref_model were both given; pick one.")
        return "adapter"
    if ref_source == "model":
        return "model"
    return "adapter" if is_peft and ref_model is None else "model"


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the initial policy, to serve as the reference (frozen by `prepare_reference_model`)."""
    if getattr(model, "is_loaded_in_8bit", False) or getattr(model, "is_loaded_in_4bit", False):
        raise ValueError(
            "A quantized model cannot be copied into a frozen reference. Train a LoRA adapter on it "
            "(peft_config=...) so that the reference is the base model with the adapter disabled."
        )
    logger.info("Keeping a frozen copy of the initial model as the reference (one more model in memory).")
    return copy.deepcopy(model)


def check_precompute_engine(ref_source: str | None, deepspeed: bool = False, fsdp: bool = False) -> None:
    """Refuse the adapter-off precompute under DeepSpeed / FSDP, where the policy is not placed or sharded yet when
    the trainer is built."""
    if ref_source == "adapter" and (deepspeed or fsdp):
        engine = "DeepSpeed" if deepspeed else "FSDP"
        raise ValueError(
            f"precompute_ref_log_probs=True with the adapter-off reference is not supported under {engine}: the "
            "reference pass runs when the trainer is built, before the engine places or shards the policy. The "
            "adapter-off reference keeps no second model, so set precompute_ref_log_probs=False (it costs one "
            "no-grad forward per step), or pass a ref_model (ref_source='model'), which is prepared for the "
            "engine and can be precomputed."
        )


REF_LOGPS_FILE = "hf_unlearn_ref_logps.safetensors"
"""The file of a checkpoint that keeps the forget set's precomputed reference log-probs."""


def save_precomputed(checkpoint: str | os.PathLike, columns: dict[str, list[float]], forget_fingerprint: str) -> None:
    """Write the forget set's precomputed reference log-probs (column -> one value per row) into a checkpoint folder,
    atomically, with the fingerprint of the tokenized forget set they belong to."""
    from safetensors.torch import save_file

    tensors = {f"forget_{column}": torch.tensor(values, dtype=torch.float32) for column, values in columns.items()}
    with atomic_write(os.path.join(checkpoint, REF_LOGPS_FILE)) as temporary:
        save_file(tensors, str(temporary), metadata={"forget_fingerprint": forget_fingerprint})


def load_precomputed(checkpoint: str | os.PathLike, forget_fingerprint: str) -> dict[str, list[float]] | None:
    """The precomputed reference log-probs a checkpoint keeps (column -> values), or `None` (with a warning) when it
    keeps none.

    Raises:
        ValueError: they belong to another forget set (another fingerprint of the tokenized rows).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = os.path.join(checkpoint, REF_LOGPS_FILE)
    if not os.path.isfile(path):
        logger.warning(f"{checkpoint} holds no precomputed reference log-probs; keeping the ones computed at start.")
        return None
    with safe_open(path, framework="pt") as handle:
        saved_fingerprint = handle.metadata().get("forget_fingerprint")
    if saved_fingerprint != forget_fingerprint:
        raise ValueError(
            f"The checkpoint {checkpoint} was trained on a different forget set (fingerprint "
            f"{saved_fingerprint[:12] if saved_fingerprint else None}... vs {forget_fingerprint[:12]}...); "
            "resume with the same forget set and max_length."
        )
    return {name.removeprefix("forget_"): values.tolist() for name, values in load_file(path).items()}


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

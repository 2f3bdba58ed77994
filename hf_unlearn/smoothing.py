"""Smoothness-aware unlearning: a forget term that stays high in a neighbourhood of the weights, not only at them.

Fan et al. 2025, "Towards LLM Unlearning Resilient to Relearning Attacks: A Sharpness-Aware Minimization Perspective
and Beyond" (ICML 2025, arXiv 2502.05374) cast relearning resistance as a min-max problem: the forget objective is
minimised at the worst weights within a ball of radius `rho` around the current ones (sharpness-aware minimisation,
SAM, on the forget term only), while the retain term is taken at the current weights. Their section on smoothing
beyond SAM adds randomized smoothing (the forget gradient averaged over Gaussian perturbations of the weights),
gradient penalty, curvature regularization and weight averaging. Three of them are here, each an option of
[`~hf_unlearn.UnlearningConfig`] that wraps any forget objective:

- `sam_rho`: SAM on the forget term ([`SmoothedStep`]);
- `randomized_smoothing_std` / `randomized_smoothing_samples`: randomized smoothing of the forget term
  ([`SmoothedStep`]);
- `weight_averaging_start` / `weight_averaging_interval`: the final weights are the mean of snapshots taken during the
  last part of the run ([`WeightAveraging`]).

Gradient penalty and curvature regularization need a second derivative (a backward through a backward), which is the
most expensive of the paper's options and does not run under reentrant gradient checkpointing; they are left out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import logging


logger = logging.get_logger(__name__)

SMOOTHING_FIELDS = (
    "sam_rho",
    "randomized_smoothing_std",
    "randomized_smoothing_samples",
    "weight_averaging_start",
    "weight_averaging_interval",
)
"""The fields of [`~hf_unlearn.UnlearningConfig`] that choose a smoothing option."""
WEIGHT_AVERAGE_FILE = "weight_average.safetensors"
"""The running weight average and its snapshot count, saved with each checkpoint so that a resumed run continues it."""


def smooths_forget_term(args: Any) -> bool:
    """Whether the run's step computes the forget gradient away from the current weights (SAM or randomized
    smoothing)."""
    return args.sam_rho > 0 or args.randomized_smoothing_std > 0


def averages_weights(args: Any) -> bool:
    return args.weight_averaging_start is not None


def forget_passes(args: Any) -> int:
    """Forward-backward passes of the forget batch per micro-batch: 1 for a plain step, 2 with SAM, `samples` with
    randomized smoothing (plus a gradient-free forward at the current weights for the logged statistics), and
    `1 + samples` with both."""
    samples = args.randomized_smoothing_samples if args.randomized_smoothing_std > 0 else 1
    return samples + (1 if args.sam_rho > 0 else 0)


def check_smoothing_fields(args: Any) -> None:
    """Refuse smoothing settings that are out of range or cannot do what they say (called by `UnlearningConfig`)."""
    if args.sam_rho < 0:
        raise ValueError(
            f"sam_rho must be >= 0, got {args.sam_rho}: it is the radius of the ball around the weights in which SAM "
            "takes the worst forget loss (0 turns SAM off; Fan et al. 2025's code uses 0.01 and 0.1)."
        )
    if args.randomized_smoothing_std < 0:
        raise ValueError(
            f"randomized_smoothing_std must be >= 0, got {args.randomized_smoothing_std}: it is the standard "
            "deviation of the Gaussian noise added to the trainable weights (0 turns randomized smoothing off)."
        )
    if args.randomized_smoothing_samples < 1:
        raise ValueError(
            f"randomized_smoothing_samples must be >= 1, got {args.randomized_smoothing_samples}: the number of noise "
            "draws the forget gradient is averaged over."
        )
    start = args.weight_averaging_start
    if start is not None and (start < 0 or (start >= 1 and start != int(start))):
        raise ValueError(
            f"weight_averaging_start must be a fraction of the run in [0, 1) or a whole step number >= 1, got {start}."
        )
    if args.weight_averaging_interval < 1:
        raise ValueError(
            f"weight_averaging_interval must be a whole number of steps >= 1, got {args.weight_averaging_interval}."
        )
    if smooths_forget_term(args) and args.forget_weight == 0:
        option = "sam_rho" if args.sam_rho > 0 else "randomized_smoothing_std"
        raise ValueError(
            f"{option} smooths the forget term, which forget_weight=0 switches off: set forget_weight > 0 or leave "
            f"{option} at 0."
        )
    if averages_weights(args) and args.load_best_model_at_end:
        raise ValueError(
            "weight_averaging_start and load_best_model_at_end both choose the final weights (the average of the last "
            "steps, or the best checkpoint); set one of them."
        )


def smoothing_hyperparameters(args: Any) -> dict[str, Any]:
    """The smoothing settings for the run's record: empty when no option is on, so plain records are unchanged."""
    if not (smooths_forget_term(args) or averages_weights(args)):
        return {}
    return {name: getattr(args, name) for name in SMOOTHING_FIELDS}


def install_smoothing(trainer: Any, guard: Callable) -> SmoothedStep | None:
    """Set up the run's smoothing options on `trainer`: the weight-averaging callback, the smoothed step (returned;
    `None` when neither SAM nor randomized smoothing is on), and one log line on what they cost.

    Args:
        guard (`Callable`):
            The trainer's finite-loss guard, `guard(trainer, parts)`, run on every pass.
    """
    args = trainer.args
    if not (smooths_forget_term(args) or averages_weights(args)):
        return None
    if trainer.is_deepspeed_enabled or trainer.is_fsdp_enabled:
        raise ValueError(
            "sam_rho, randomized_smoothing_std and weight_averaging_start work on whole, unsharded parameters and "
            "gradients (single process or DDP); DeepSpeed and FSDP shard them. Run without DeepSpeed / FSDP or "
            "turn the smoothing options off."
        )
    if averages_weights(args):
        trainer.add_callback(WeightAveraging(args.weight_averaging_start, args.weight_averaging_interval))
    if not smooths_forget_term(args):
        return None
    passes = forget_passes(args)
    live_reference = trainer.engine.forget.objective.needs_reference() and not trainer.reference_precomputed
    message = f"each step runs {passes} forward-backward passes of the forget batch, where a plain step runs 1"
    if live_reference:
        message += (
            f", and the reference scores the forget batch {passes + (args.sam_rho == 0)} times "
            "(precompute_ref_log_probs=True scores it once, before training)"
        )
    if args.sam_rho > 0 and args.randomized_smoothing_std > 0:
        logger.warning(f"sam_rho and randomized_smoothing_std are both on: {message}.")
    else:
        logger.warning(f"Smoothing the forget term: {message}.")
    return SmoothedStep(trainer, guard)


# ---- The smoothed step: SAM and randomized smoothing of the forget term ----


@contextmanager
def shifted(params: list[torch.nn.Parameter], offsets: list[torch.Tensor | None]) -> Iterator[None]:
    """The parameters moved by `offsets` inside the block, and restored bit for bit after it, also on an error (a copy
    of the weights, not a subtraction, which would round)."""
    kept = []
    with torch.no_grad():
        for param, offset in zip(params, offsets):
            kept.append(param.detach().clone() if offset is not None else None)
            if offset is not None:
                param.add_(offset)
    try:
        yield
    finally:
        with torch.no_grad():
            for param, saved in zip(params, kept):
                if saved is not None:
                    param.copy_(saved)


class SmoothedStep:
    r"""
    One micro-batch of unlearning with the forget gradient taken away from the current weights `w`.

    With `sam_rho` (SAM): `g` is the gradient of the forget term at `w`, `e = rho * g / ||g||` (the norm over every
    trainable parameter, so under LoRA only the adapter weights move, and frozen parameters, such as those RMU leaves
    untouched, never do); the forget gradient is taken at `w + e`. With `randomized_smoothing_std` `s`: it is the mean
    of the forget gradients at `w + e + n_k`, `n_k ~ N(0, s^2 I)` for `k = 1..randomized_smoothing_samples` (`e = 0`
    without SAM). The retain terms' gradient is always taken at `w`, and the weights are restored exactly after each
    pass. The logged statistics and loss are those at `w`, as in a plain step.

    Gradient accumulation: the perturbation is computed per micro-batch, from that micro-batch's forget gradient,
    not from the gradient of the whole step; the step's gradient is the mean of the micro-batches' smoothed gradients.
    Data parallelism: `g` is averaged over the processes before its norm is taken, and the noise is drawn from a
    generator seeded by (seed, step, micro-batch, draw), so that every process perturbs the same way and the step
    equals a one-process step on the same global batch; this also makes a resumed run draw the same noise.
    """

    def __init__(self, trainer: Any, guard: Callable):
        self.trainer = trainer
        self.guard = guard
        args = trainer.args
        self.rho = args.sam_rho
        self.noise_std = args.randomized_smoothing_std
        self.samples = args.randomized_smoothing_samples if self.noise_std > 0 else 1
        self.seed = args.seed
        self._step, self._micro_batch = -1, 0

    def __call__(self, model: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        trainer = self.trainer
        accelerator = trainer.accelerator
        model.train()
        inputs = trainer._prepare_inputs(inputs)
        if self._step != trainer.state.global_step:
            self._step, self._micro_batch = trainer.state.global_step, 0
        micro_batch, self._micro_batch = self._micro_batch, self._micro_batch + 1
        scale = 1.0 / trainer.current_gradient_accumulation_steps
        forget = {key: value for key, value in inputs.items() if key.startswith("forget_")}
        retain = {key: value for key, value in inputs.items() if not key.startswith("forget_")}
        has_retain = any(role != "forget" and f"{role}_input_ids" in retain for role in trainer.engine.terms)
        params = [param for param in model.parameters() if param.requires_grad]

        with trainer.compute_loss_context_manager():
            # At w: the forget term (its statistics logged, its gradient the SAM direction) and the retain terms. No
            # gradient is synchronised across processes before the last backward of the micro-batch.
            with accelerator.no_sync(model):
                if self.rho > 0:
                    forget_loss = trainer.compute_loss(model, forget)
                    offsets = self.sam_offsets(forget_loss, params)
                else:
                    with torch.no_grad():
                        forget_loss = trainer.compute_loss(model, forget)
                    offsets = [None] * len(params)
                retain_loss = torch.zeros_like(forget_loss)
                if has_retain:
                    retain_loss = trainer.compute_loss(model, retain)
                    accelerator.backward(retain_loss * scale)
            # Away from w: the forget term's gradient, the one the optimizer uses.
            for sample in range(self.samples):
                sync = nullcontext() if sample == self.samples - 1 else accelerator.no_sync(model)
                noisy = self.add_noise(offsets, params, micro_batch, sample)
                with sync, shifted(params, noisy):
                    loss, parts, _ = trainer.engine.loss(model, forget, "train")
                    self.guard(trainer, parts)
                    accelerator.backward(loss * (scale / self.samples))
        return (forget_loss + retain_loss).detach() * scale

    def sam_offsets(self, forget_loss: torch.Tensor, params: list[torch.nn.Parameter]) -> list[torch.Tensor | None]:
        """`rho * g / ||g||` for each parameter, `g` the gradient of `forget_loss` (averaged over processes), kept
        apart from the gradients the micro-batches accumulate."""
        accelerator = self.trainer.accelerator
        accumulated = [param.grad for param in params]
        for param in params:
            param.grad = None
        accelerator.backward(forget_loss)
        grads = [param.grad for param in params]
        for param, grad in zip(params, accumulated):
            param.grad = grad
        present = [index for index, grad in enumerate(grads) if grad is not None]
        if accelerator.num_processes > 1:
            reduced = accelerator.reduce([grads[index] for index in present], reduction="mean")
            for index, grad in zip(present, reduced):
                grads[index] = grad
        if not present:
            return [None] * len(params)
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(grads[i].float()) for i in present]))
        self.guard(self.trainer, {"forget (SAM gradient norm)": norm})
        if norm == 0:
            return [None] * len(params)
        return [None if grad is None else (grad.float() * (self.rho / norm)).to(grad.dtype) for grad in grads]

    def add_noise(
        self, offsets: list[torch.Tensor | None], params: list[torch.nn.Parameter], micro_batch: int, sample: int
    ) -> list[torch.Tensor | None]:
        """`offsets` plus one Gaussian draw per trainable parameter, from a generator seeded by the run's seed, the
        step, the micro-batch and the draw (the same on every process and on resume); `offsets` as they are without
        randomized smoothing."""
        if self.noise_std == 0:
            return offsets
        seed = ((self.seed * 1_000_003 + self._step) * 1_009 + micro_batch) * 101 + sample
        generators: dict[torch.device, torch.Generator] = {}
        noisy = []
        for param, offset in zip(params, offsets):
            if param.device not in generators:
                generators[param.device] = torch.Generator(device=param.device).manual_seed(seed % 2**63)
            noise = torch.randn(param.shape, generator=generators[param.device], device=param.device)
            noise = (noise * self.noise_std).to(param.dtype)
            noisy.append(noise if offset is None else offset + noise)
        return noisy


# ---- Weight averaging ----


class WeightAveraging(TrainerCallback):
    r"""
    Replaces the trained weights at the end of training by the mean of snapshots of them taken during the run.

    A snapshot of every trainable parameter (the adapter weights under LoRA) is taken at the end of each optimizer
    step `t` with `t >= start` and `t % interval == 0`, where `start` is a step number, or a fraction of the run's
    steps when below 1. The mean is kept in float32 on the parameters' device (one more copy of the trainable
    weights) and saved with each checkpoint, so that a resumed run continues it.

    Args:
        start (`float`):
            First step that may be averaged: a step number >= 1, or a fraction of `max_steps` in [0, 1).
        interval (`int`):
            Steps between snapshots.
    """

    def __init__(self, start: float, interval: int):
        self.start = start
        self.interval = interval
        self.average: dict[str, torch.Tensor] = {}
        self.count = 0

    def first_step(self, max_steps: int) -> int:
        return math.ceil(self.start * max_steps) if self.start < 1 else int(self.start)

    def resume_from(self, checkpoint: str) -> None:
        """Continue the average saved in `checkpoint` (a fresh one when it has none)."""
        path = os.path.join(checkpoint, WEIGHT_AVERAGE_FILE)
        self.average, self.count = {}, 0
        if os.path.isfile(path):
            from safetensors import safe_open

            with safe_open(path, framework="pt") as handle:
                self.count = int(handle.metadata()["count"])
            self.average = load_file(path)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if step < self.first_step(state.max_steps) or step % self.interval:
            return
        with torch.no_grad():
            for name, param in model.named_parameters():
                if not param.requires_grad:
                    continue
                if name not in self.average:
                    self.average[name] = param.detach().float().clone()
                else:
                    self.average[name] = self.average[name].to(param.device)
                    self.average[name].add_((param.detach().float() - self.average[name]) / (self.count + 1))
        self.count += 1

    def on_save(self, args, state, control, **kwargs):
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if self.count and args.should_save and os.path.isdir(folder):
            tensors = {name: value.contiguous().cpu() for name, value in self.average.items()}
            save_file(tensors, os.path.join(folder, WEIGHT_AVERAGE_FILE), metadata={"count": str(self.count)})

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not self.count:
            logger.warning(
                f"Weight averaging took no snapshot (first step {self.first_step(state.max_steps)}, every "
                f"{self.interval} steps, in a run of {state.max_steps} steps): the final weights are kept."
            )
            return
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in self.average:
                    param.copy_(self.average[name].to(device=param.device, dtype=param.dtype))
        logger.info(f"The weights are now the mean of {self.count} snapshots taken during training.")

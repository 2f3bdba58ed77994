"""`UnlearningEvalCallback`: the evaluator inside a training run, logged through the Trainer's own `log`."""

from __future__ import annotations

import os
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.utils import logging

from .evaluator import EvaluationResult, UnlearningEvaluator


logger = logging.get_logger(__name__)


class UnlearningEvalCallback(TrainerCallback):
    r"""
    Runs an [`UnlearningEvaluator`] whenever the trainer evaluates, and logs its aggregates through `trainer.log`,
    so that they reach the console, `state.log_history` and every `report_to` integration (TensorBoard, W&B, ...).

    It follows the trainer's evaluation schedule (`eval_strategy`, `eval_steps`, epoch ends, explicit
    `trainer.evaluate()` calls), so the trainer needs an `eval_dataset` for scheduled evaluations. Logged keys
    are `{prefix}_{set}_{score}` (`eval_forget_probability`, `eval_forget_rougeL_recall`,
    `eval_forget_truth_ratio`, `eval_retain_...`, `eval_forget_exact_memorization`, ...),
    `{prefix}_model_utility`, `{prefix}_forget_quality` (with `retain_logs`) and `{prefix}_mia_auc_{attack}`
    (with forget and holdout sets). They are also added to the metrics that `trainer.evaluate()` returns, so
    `metric_for_best_model="eval_forget_quality"` works.

    Under several processes the rows are split across them and the results gathered (see
    [`UnlearningEvaluator.evaluate`]); every process logs the same values, as the Trainer does with its own.
    The evaluation runs once per global step: when the trainer evaluates several named eval sets (one
    `on_evaluate` each) or is asked again at the same step, the step's result is reused.

    Args:
        trainer ([`~transformers.Trainer`]):
            The trainer to evaluate the model of and to log through (its tokenizer, accelerator and arguments
            are used). Add the callback with `trainer.add_callback(callback)`.
        eval_sets (`dict[str, Dataset | list[dict] | dict[str, list]]`):
            Named sets, as for [`UnlearningEvaluator`] (`"forget"`, `"retain"`, `"holdout"`, `"real_authors"`,
            `"world_facts"`).
        retain_logs (`dict` or `str`, *optional*):
            TOFU-format log of the retain model, or its path; enables forget quality.
        prefix (`str`, *optional*, defaults to `"eval"`):
            Prefix of the logged keys.
        log_dir (`str`, *optional*):
            When set, the main process also writes each evaluation's per-sample log and summary to
            `{log_dir}/step-{global_step}/` (numbers only; see [`EvaluationResult.save`]).
        **evaluator_kwargs:
            Passed to [`UnlearningEvaluator`]. `batch_size` defaults to `args.per_device_eval_batch_size`;
            `max_length` and `qa_prompt_template` to the run's, when its arguments have them.

    Raises:
        ValueError: for a trainer whose engine shards the parameters (FSDP, DeepSpeed ZeRO-3), which the
            evaluator's per-process forward and `generate` calls do not support; or as [`UnlearningEvaluator`].

    Example:

    ```python
    trainer = NPOTrainer(model, args=config, forget_dataset=forget, retain_dataset=retain,
                         eval_dataset={"forget": forget, "retain": retain})
    trainer.add_callback(UnlearningEvalCallback(trainer, {"forget": forget_perturbed, "retain": retain_perturbed}))
    trainer.train()
    ```
    """

    def __init__(
        self,
        trainer: Trainer,
        eval_sets: dict[str, Any],
        *,
        retain_logs: dict | str | None = None,
        prefix: str = "eval",
        log_dir: str | None = None,
        **evaluator_kwargs,
    ):
        deepspeed_plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
        if trainer.is_fsdp_enabled or getattr(deepspeed_plugin, "zero_stage", None) == 3:
            raise ValueError(
                "UnlearningEvalCallback needs the whole model on every process (plain or DDP runs); this run shards "
                "the parameters (FSDP or DeepSpeed ZeRO-3). Evaluate the saved model with `hf-unlearn eval` instead."
            )
        self.trainer = trainer
        self.prefix = prefix
        self.log_dir = log_dir
        defaults: dict[str, Any] = {
            "batch_size": trainer.args.per_device_eval_batch_size,
            "progress": None if trainer.args.disable_tqdm else "evaluating",  # the run's bars on or off
        }
        for name in ("max_length", "qa_prompt_template"):
            if hasattr(trainer.args, name):
                defaults[name] = getattr(trainer.args, name)
        self.evaluator = UnlearningEvaluator(
            trainer.processing_class, eval_sets, retain_logs=retain_logs, **{**defaults, **evaluator_kwargs}
        )
        self.last_result: EvaluationResult | None = None
        self._last_step: int | None = None
        self._last_metrics: dict[str, float] = {}

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self._last_step != state.global_step:
            self.last_result = self.evaluator.evaluate(self.trainer.model, accelerator=self.trainer.accelerator)
            self._last_step = state.global_step
            self._last_metrics = self.last_result.metrics(self.prefix)
            self.trainer.log(dict(self._last_metrics))
            if self.log_dir is not None and state.is_world_process_zero:
                self.last_result.save(os.path.join(self.log_dir, f"step-{state.global_step}"))
        if metrics is not None:
            # The dict `trainer.evaluate()` returns: this is what best-model selection and HP search read.
            metrics.update(self._last_metrics)

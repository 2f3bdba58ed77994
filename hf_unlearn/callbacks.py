"""Callbacks for unlearning runs, all in this module: stopping rules, labelled progress bars, skipping the final
checkpoint, the retain pairing of each epoch, and the evaluator inside a run ([`UnlearningEvalCallback`], also
importable from `hf_unlearn.evaluation`)."""

from __future__ import annotations

import operator
import os
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm
from transformers import ProgressCallback, TrainerCallback
from transformers.trainer_utils import has_length
from transformers.utils import logging


if TYPE_CHECKING:
    from transformers import Trainer

    from .data import ForgetRetainDataset
    from .evaluation import EvaluationResult


logger = logging.get_logger(__name__)

COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class UnlearningStopCallback(TrainerCallback):
    r"""
    Stop unlearning when utility collapses or when the forget target is reached.

    Gradient ascent drives a model's utility to zero within an epoch or two on TOFU (Maini et al. 2024,
    https://huggingface.co/papers/2401.06121); NPO slows the collapse but does not forbid it. This callback watches
    logged metrics (the trainer's eval metrics and those of the evaluator) and ends training at the first rule that
    holds. To come back to the best state rather than the last, pair it with `load_best_model_at_end=True`,
    `metric_for_best_model` and a save at every evaluation: the Trainer then keeps and reloads the best checkpoint.

    Args:
        stop_if (`list[tuple[str, str, float]]`):
            Rules `(metric, comparison, value)`, comparison one of `<`, `<=`, `>`, `>=`. E.g.
            `("eval_retain_nll/retain", ">", 0.5)` (a utility floor) or `("eval_forget_rougeL_recall", "<=", 0.1)`
            (a forget target).

    Example:

    ```python
    trainer.add_callback(UnlearningStopCallback([("eval_retain_nll/retain", ">", 0.5)]))
    ```
    """

    def __init__(self, stop_if: list[tuple[str, str, float]]):
        if not stop_if:
            raise ValueError("stop_if needs at least one rule (metric, comparison, value).")
        for rule in stop_if:
            if len(rule) != 3 or rule[1] not in COMPARISONS:
                raise ValueError(
                    f"Rule {rule!r} is not (metric, comparison, value) with a comparison in {sorted(COMPARISONS)}."
                )
        self.stop_if = [(metric, comparison, float(value)) for metric, comparison, value in stop_if]
        self.triggered: tuple[str, str, float, float] | None = None
        self._seen: set[str] = set()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        for metric, comparison, value in self.stop_if:
            if metric not in logs:
                continue
            self._seen.add(metric)
            if COMPARISONS[comparison](logs[metric], value):
                self.triggered = (metric, comparison, value, logs[metric])
                logger.warning(
                    f"Stopping at step {state.global_step}: {metric} = {logs[metric]:.4g} {comparison} {value:g}."
                )
                control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        never_seen = sorted({metric for metric, _, _ in self.stop_if} - self._seen)
        if never_seen and state.global_step > 0:
            # A rule on a metric nobody logs guards nothing: say so rather than pass in silence.
            logger.warning(f"UnlearningStopCallback never saw {never_seen}: check the names against the eval logs.")


class PhaseProgressCallback(ProgressCallback):
    """transformers' progress bars, labelled with what the run is doing: `label` on the training bar (e.g.
    "unlearning (npo)"), "evaluating" on the evaluation bar. Only the bars' descriptions change.

    Args:
        label (`str`):
            Description of the training bar.
    """

    def __init__(self, label: str, **kwargs):
        super().__init__(**kwargs)
        self.label = label

    # The bars are made here with their label, as `ProgressCallback` makes them: a label set afterwards would leave
    # an unlabelled first frame in logs and notebooks.
    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar = tqdm(total=state.max_steps, desc=self.label, dynamic_ncols=True)
        self.current_step = 0

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if state.is_world_process_zero and has_length(eval_dataloader) and self.prediction_bar is None:
            self.prediction_bar = tqdm(
                total=len(eval_dataloader), desc="evaluating", leave=self.training_bar is None, dynamic_ncols=True
            )
        super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)


def label_progress(trainer: Trainer, label: str) -> None:
    """Replaces `trainer`'s plain `ProgressCallback` by a [`PhaseProgressCallback`] with `label`.

    Nothing changes when the trainer shows no bar (`disable_tqdm`, which prints logs instead) or another one (the
    notebook bar of Jupyter, or a progress callback of the user's).
    """
    plain = [callback for callback in trainer.callback_handler.callbacks if type(callback) is ProgressCallback]
    for callback in plain:
        trainer.remove_callback(callback)
        trainer.add_callback(PhaseProgressCallback(label, max_str_len=callback.max_str_len))


class NoFinalCheckpointCallback(TrainerCallback):
    r"""
    Skip the checkpoint that the Trainer writes at the last step, for a caller that saves the final model itself.

    With `save_strategy="steps"` (transformers' default) the Trainer saves a checkpoint when training ends, whatever
    the step: the weights plus the optimizer state (AdamW keeps two float32 copies of every trainable weight, so 1.6 GB
    for a 135M-parameter model). `hf-unlearn unlearn` and `hf-unlearn task-vector` save the final model to
    `output_dir` right after training, so that checkpoint only adds a copy of it. Checkpoints inside the run (every
    `save_steps` steps, or at each epoch end but the last) are kept: they are what a long run resumes from. Nothing
    is skipped with `load_best_model_at_end`, which needs the last checkpoint.
    """

    def _skip_at_end(self, args, state, control):
        if state.global_step >= state.max_steps and not args.load_best_model_at_end:
            control.should_save = False
        return control

    def on_step_end(self, args, state, control, **kwargs):
        return self._skip_at_end(args, state, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        return self._skip_at_end(args, state, control)


class RetainPairingCallback(TrainerCallback):
    """Move a [`~hf_unlearn.data.ForgetRetainDataset`] to the epoch the Trainer is about to run, so that retain pairs
    change per epoch.

    Uses the public callback event rather than the data loader: accelerate forwards `set_epoch` to the dataset only
    when the sampler has no `set_epoch` of its own (multi-process runs and the loader that skips batches on resume
    do have one), and a skipped call would silently pair every epoch like epoch 0.

    At `on_epoch_begin` the state holds the epochs completed so far: `0` at the start, a whole number between
    epochs, and the fraction reached when resuming in the middle of an epoch; its integer part is the epoch to run.

    Args:
        dataset (`ForgetRetainDataset`):
            The trainer's training dataset.
    """

    def __init__(self, dataset: ForgetRetainDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        # `state.epoch` is `epoch + steps / steps_in_epoch`, exact at epoch ends; the margin guards float rounding.
        self.dataset.set_epoch(int((state.epoch or 0.0) + 1e-6))


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
        from .evaluation import UnlearningEvaluator  # here: the evaluation package loads only when it is used

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

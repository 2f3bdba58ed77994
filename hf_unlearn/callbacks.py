"""Callbacks for unlearning runs."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from tqdm.auto import tqdm
from transformers import ProgressCallback, TrainerCallback
from transformers.trainer_utils import has_length
from transformers.utils import logging


if TYPE_CHECKING:
    from transformers import Trainer


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

"""A complete unlearning experiment at CPU size: tokenizer, original and retain models trained from scratch,
unlearning,
evaluation of all three.

Used by `hf-unlearn demo` (generated fictitious people) and `benchmarks/tofu_tiny.py` (real TOFU rows, protocols
`tofu-tiny-01` / `tofu-tiny-10`). The *original* model is trained on forget + retain rows until it knows them; the
*retain* model on retain rows only: it is the model that never saw the forget set, the target of unlearning.

Trained models are cached under `cache_dir` with a fingerprint of everything they depend on (rows, tokenizer,
recipe, library version); a cache made with other settings is retrained, never reused, and every cache entry is
written to a temporary folder first and renamed into place, so an interrupted run leaves no half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging

from .. import __version__, models
from ..data import UnlearningCollator, content_fingerprint, prepare_dataset
from ..utils import LORA_LEARNING_RATE_FACTOR, replace_folder
from .methods import METHODS
from .toy import tiny_causal_lm, train_bpe_tokenizer


logger = logging.get_logger(__name__)

FINGERPRINT_FILE = "hf_unlearn_cache.json"


@dataclass
class ModelRecipe:
    """How the original and retain models are built and trained (protocol `tofu-tiny` in BENCHMARKS.md).

    Args:
        vocab_size (`int`, *optional*, defaults to `2048`): byte-level BPE vocabulary.
        hidden_size, num_layers, num_heads, intermediate_size (`int`, *optional*): llama-style model, 4 x 192 by
            default (about 3 M parameters).
        learning_rate (`float`, *optional*, defaults to `2e-3`): AdamW peak learning rate, cosine decay to zero over
            `max_epochs` (a constant rate leaves the loss hovering above the target).
        batch_size (`int`, *optional*, defaults to `16`): rows per step.
        max_epochs (`int`, *optional*, defaults to `50`): upper bound on epochs, and the length of the decay.
        target_loss (`float`, *optional*, defaults to `0.02`): training stops after the first epoch whose mean
            training loss is below this.
        max_length (`int`, *optional*, defaults to `128`): tokens per row.
        seed (`int`, *optional*, defaults to `0`): model initialisation and data order.
    """

    vocab_size: int = 2048
    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    learning_rate: float = 2e-3
    batch_size: int = 16
    max_epochs: int = 50
    target_loss: float = 0.02
    max_length: int = 128
    seed: int = 0


def all_texts(*row_sets) -> list[str]:
    """Every question and answer text of the rows (paraphrased and perturbed ones too), for the tokenizer."""
    texts = []
    for rows in row_sets:
        for row in rows:
            texts += [
                row["question"],
                row["answer"],
                row.get("paraphrased_question") or "",
                row.get("paraphrased_answer") or "",
                *(row.get("perturbed_answer") or []),
            ]
    return [text for text in texts if text]


def question_answer(rows) -> list[dict]:
    """Only the `question` / `answer` columns of rows: what the models are trained and unlearned on."""
    return [{"question": row["question"], "answer": row["answer"]} for row in rows]


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _cached(directory: Path, fingerprint: str) -> bool:
    marker = directory / FINGERPRINT_FILE
    if not marker.is_file():
        return False
    if json.loads(marker.read_text()).get("fingerprint") == fingerprint:
        return True
    logger.warning(f"{directory} was made with other data or settings: building it again.")
    return False


def _replace(temporary: Path, directory: Path) -> None:
    """Rename a finished temporary folder into place, over an older `directory`."""
    replace_folder(temporary, directory)


def _publish(temporary: Path, directory: Path, fingerprint: str, info: dict) -> None:
    """Mark a finished temporary folder with its fingerprint and rename it into place."""
    (temporary / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint, **info}, indent=2))
    _replace(temporary, directory)


def _temporary(directory: Path) -> Path:
    """A fresh temporary folder beside `directory`; leftovers of interrupted runs are removed first."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    for leftover in directory.parent.glob(f".{directory.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    temporary = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    temporary.mkdir()
    return temporary


def cached_tokenizer(directory: Path, texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts`, cached in `directory`."""
    fingerprint = _digest(
        {"texts": hashlib.sha256("\n".join(texts).encode()).hexdigest(), "vocab": vocab_size, "version": __version__}
    )
    if not _cached(directory, fingerprint):
        temporary = _temporary(directory)
        train_bpe_tokenizer(texts, vocab_size=vocab_size).save_pretrained(temporary)
        _publish(temporary, directory, fingerprint, {"vocab_size": vocab_size})
    return AutoTokenizer.from_pretrained(directory)


class PhaseProgress(TrainerCallback):
    """One progress bar for one training phase, in place of Trainer's bars and printed log dicts.

    The logs stay in `trainer.state.log_history` (the demo writes them to its report). When training stops before
    `max_steps` (a stopping callback), the bar ends at 100% of the steps run and says "stopped early at step N of M",
    so that a finished phase never looks aborted.

    Args:
        description (`str`):
            Shown left of the bar, e.g. `"training the original model"`.
        early_stop_reason (`str`, *optional*):
            Why training may stop early, added to the "stopped early" note.
    """

    def __init__(self, description: str, early_stop_reason: str | None = None):
        self.description = description
        self.early_stop_reason = early_stop_reason
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, desc=self.description, unit="step", dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is None:
            return
        if state.global_step < state.max_steps:
            reason = f": {self.early_stop_reason}" if self.early_stop_reason else ""
            self.bar.set_postfix_str(
                f"stopped early at step {state.global_step} of {state.max_steps}{reason}", refresh=False
            )
            self.bar.total = state.global_step
        self.bar.close()
        self.bar = None


def show_progress(trainer: Trainer, description: str, early_stop_reason: str | None = None) -> None:
    """Replace `trainer`'s progress bars and printed logs with one [`PhaseProgress`] bar."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # what Trainer prints logs with when its bars are disabled
    trainer.add_callback(PhaseProgress(description, early_stop_reason))


class _StopAtLoss(TrainerCallback):
    """End training after the first epoch whose mean training loss is below the target."""

    def __init__(self, target: float):
        self.target = target
        self.epochs = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.epochs = round(state.epoch)
            if logs["loss"] < self.target:
                control.should_training_stop = True


def cached_model(directory: Path, name: str, rows, tokenizer, recipe: ModelRecipe) -> tuple[Path, dict]:
    """Train a model from scratch on `rows` until it knows them (see `ModelRecipe`), cached in `directory`.

    Returns:
        `tuple[Path, dict]`: the model folder and its training info (epochs, final loss, seconds, cached or not).
    """
    fingerprint = _digest(
        {
            "rows": content_fingerprint(rows, name),
            "vocab": tokenizer.get_vocab(),
            "recipe": asdict(recipe),
            "version": __version__,
        }
    )
    if _cached(directory, fingerprint):
        info = json.loads((directory / FINGERPRINT_FILE).read_text())
        return directory, {**{k: v for k, v in info.items() if k != "fingerprint"}, "cached": True}
    temporary = _temporary(directory)
    data = prepare_dataset(rows, tokenizer, name=name, max_length=recipe.max_length)
    model = tiny_causal_lm(
        len(tokenizer),
        hidden_size=recipe.hidden_size,
        num_layers=recipe.num_layers,
        num_heads=recipe.num_heads,
        intermediate_size=recipe.intermediate_size,
        max_positions=recipe.max_length,
        seed=recipe.seed,
    )
    # Saved with the tokenizer's special tokens, so that later trainers and `generate` agree with it.
    for config in (model.config, model.generation_config):
        config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    stop = _StopAtLoss(recipe.target_loss)
    args = TrainingArguments(
        output_dir=str(temporary / "run"),
        per_device_train_batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate,
        num_train_epochs=recipe.max_epochs,
        lr_scheduler_type="cosine",
        warmup_steps=20,
        weight_decay=0.0,
        logging_strategy="epoch",
        save_strategy="no",
        report_to="none",
        remove_unused_columns=False,
        use_cpu=True,
        seed=recipe.seed,
        disable_tqdm=False,
    )
    start = time.perf_counter()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        callbacks=[stop],
        data_collator=UnlearningCollator(tokenizer.pad_token_id),
    )
    show_progress(trainer, f"training the {name} model", f"training loss below {recipe.target_loss}")
    trainer.train()
    final_loss = next(log["loss"] for log in reversed(trainer.state.log_history) if "loss" in log)
    info = {
        "name": name,
        "rows": len(data),
        "epochs": stop.epochs,
        "final_train_loss": final_loss,
        "seconds": round(time.perf_counter() - start, 1),
        "parameters": model.num_parameters(),
    }
    if final_loss >= recipe.target_loss:
        logger.warning(
            f"The {name} model stopped at {recipe.max_epochs} epochs with loss {final_loss:.3f}, above "
            f"the target {recipe.target_loss}: it may not know every row."
        )
    model.save_pretrained(temporary)
    tokenizer.save_pretrained(temporary)
    shutil.rmtree(temporary / "run", ignore_errors=True)
    _publish(temporary, directory, fingerprint, info)
    return directory, {**info, "cached": False}


def load_model(directory: str | os.PathLike):
    # An absolute path, so that an adapter trained on this model finds its base from any working directory.
    return models.load_model(Path(directory).resolve())


@dataclass
class Baselines:
    """The tokenizer and the two reference models of an experiment."""

    tokenizer: Any
    original_dir: Path
    retain_dir: Path
    training: dict = field(default_factory=dict)


def train_baselines(
    cache_dir: str | os.PathLike, forget_rows, retain_rows, recipe: ModelRecipe, extra_texts: list[str] | None = None
) -> Baselines:
    """Tokenizer, original model (forget + retain) and retain model (retain only), each cached.

    Args:
        cache_dir (`str` or `os.PathLike`): where the three are cached.
        forget_rows, retain_rows (`datasets.Dataset` or `list[dict]`): question/answer rows to train on (extra
            columns such as `paraphrased_answer` are ignored for training).
        recipe ([`ModelRecipe`]): model and training settings.
        extra_texts (`list[str]`, *optional*): more text for the tokenizer (e.g. the holdout rows).
    """
    cache_dir = Path(cache_dir)
    qa, retain_qa = question_answer(forget_rows), question_answer(retain_rows)
    tokenizer = cached_tokenizer(
        cache_dir / "tokenizer", all_texts(forget_rows, retain_rows) + (extra_texts or []), recipe.vocab_size
    )
    original_dir, original_info = cached_model(cache_dir / "original", "original", qa + retain_qa, tokenizer, recipe)
    retain_dir, retain_info = cached_model(cache_dir / "retain", "retain", retain_qa, tokenizer, recipe)
    return Baselines(tokenizer, original_dir, retain_dir, {"original": original_info, "retain": retain_info})


def set_threads() -> None:
    """Use every core for the math, one thread per core (more only adds contention on small models)."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))


# ---- Unlearning and evaluation ----


@dataclass
class UnlearningRun:
    """Settings of one unlearning run of an experiment.

    Args:
        method (`str`, *optional*, defaults to `"npo"`): a key of `METHODS`.
        lora (`bool`, *optional*, defaults to `False`): train a LoRA adapter (r=16, all linear layers) instead.
        steps (`int`, *optional*, defaults to `50`): optimizer steps.
        batch_size (`int`, *optional*, defaults to `8`): forget rows (and as many retain rows) per step.
        eval_steps (`int`, *optional*, defaults to `5`): steps between the evaluations of the curve.
        overrides (`dict`, *optional*): more `UnlearningConfig` fields, e.g. `{"learning_rate": 1e-4}`.
    """

    method: str = "npo"
    lora: bool = False
    steps: int = 50
    batch_size: int = 8
    eval_steps: int = 5
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is not known; accepted: {sorted(METHODS)}.")

    @property
    def name(self) -> str:
        return self.method + ("_lora" if self.lora else "")

    def config_fields(self) -> dict[str, Any]:
        fields = dict(METHODS[self.method])
        if self.lora:
            fields["learning_rate"] *= LORA_LEARNING_RATE_FACTOR
        return {**fields, **self.overrides}


def evaluator_for(tokenizer, eval_sets: dict, retain_logs: dict | None = None, max_length: int = 128):
    from ..evaluation import UnlearningEvaluator

    return UnlearningEvaluator(tokenizer, eval_sets, retain_logs=retain_logs, batch_size=32, max_length=max_length)


def unlearn(
    baselines: Baselines,
    forget_rows,
    retain_rows,
    run: UnlearningRun,
    output_dir: str | os.PathLike,
    curve_sets: dict,
    retain_logs: dict,
    recipe: ModelRecipe,
):
    """Unlearn the original model; evaluate `curve_sets` every `run.eval_steps` steps for the curve.

    The unlearned model (or LoRA adapter), its tokenizer, model card and `unlearning_record.json` are saved to
    `output_dir`, written to a temporary folder first and renamed into place, so that `hf-unlearn eval` can score it.

    Returns:
        `tuple`: the trainer (its model is the unlearned one), the curve (list of per-step metric dicts) and the
        wall time in seconds.
    """
    if run.method == "task_vector":  # a fine-tune and a negation, not an unlearning objective
        return unlearn_by_task_vector(baselines, forget_rows, run, output_dir, curve_sets, retain_logs, recipe)

    from ..config import UnlearningConfig
    from ..evaluation import UnlearningEvalCallback
    from ..trainer import trainer_class

    output_dir = Path(output_dir)
    temporary = _temporary(output_dir)
    args = UnlearningConfig(
        eval_strategy="steps", eval_steps=run.eval_steps, eval_on_start=True, **_run_arguments(run, recipe, temporary)
    )
    trainer = trainer_class(args.forget_loss)(
        load_model(baselines.original_dir),
        args=args,
        processing_class=baselines.tokenizer,
        forget_dataset=question_answer(forget_rows),
        retain_dataset=question_answer(retain_rows) if args.retain_loss != "none" else None,
        eval_dataset={"forget": question_answer(forget_rows)},
        peft_config=_demo_adapter(run),
    )
    trainer.add_callback(UnlearningEvalCallback(trainer, curve_sets, retain_logs=retain_logs, batch_size=32))
    show_progress(trainer, f"unlearning with {run.name}")
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    _save_unlearned(trainer, temporary, output_dir)
    curve: dict[int, dict] = {}
    for entry in trainer.state.log_history:
        if any(key.endswith("rougeL_recall") for key in entry):
            curve.setdefault(entry["step"], {}).update(entry)
    return trainer, [curve[step] for step in sorted(curve)], seconds


def unlearn_by_task_vector(
    baselines: Baselines,
    forget_rows,
    run: UnlearningRun,
    output_dir: str | os.PathLike,
    curve_sets: dict,
    retain_logs: dict,
    recipe: ModelRecipe,
):
    """`unlearn` for `method="task_vector"`: fine-tune the original on the forget rows for `run.steps` steps, then
    negate (see [`~hf_unlearn.task_vector.TaskVectorTrainer`]); saved as `unlearn` saves.

    The curve has two points, the original (step 0) and the negated model (last step): the models in between are
    the fine-tune's, which know the forget set better, not partly unlearned ones.
    """

    from ..task_vector import TaskVectorConfig, TaskVectorTrainer

    output_dir = Path(output_dir)
    temporary = _temporary(output_dir)
    trainer = TaskVectorTrainer(
        load_model(baselines.original_dir),
        args=TaskVectorConfig(**_run_arguments(run, recipe, temporary)),
        processing_class=baselines.tokenizer,
        forget_dataset=question_answer(forget_rows),
        peft_config=_demo_adapter(run),
    )
    evaluator = evaluator_for(baselines.tokenizer, curve_sets, retain_logs, recipe.max_length)
    curve = [{"step": 0, **evaluator.evaluate(trainer.model).metrics()}]
    show_progress(trainer, f"fine-tuning on the forget set, then negating ({run.name})")
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    curve.append({"step": trainer.state.global_step, **evaluator.evaluate(trainer.model).metrics()})
    _save_unlearned(trainer, temporary, output_dir)
    return trainer, curve, seconds


def _run_arguments(run: UnlearningRun, recipe: ModelRecipe, output_dir: Path) -> dict[str, Any]:
    """The training arguments every demo run shares, with the run's own fields (`UnlearningConfig` or
    `TaskVectorConfig` takes them)."""
    fields = run.config_fields()
    # an override (`--set npo:seed=1`) changes the unlearning run's seed only
    seed = fields.pop("seed", recipe.seed)
    return dict(
        output_dir=str(output_dir),
        max_steps=run.steps,
        per_device_train_batch_size=run.batch_size,
        per_device_eval_batch_size=32,
        lr_scheduler_type="constant",
        logging_steps=run.eval_steps,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=seed,
        max_length=recipe.max_length,
        disable_tqdm=False,
        **fields,
    )


def _demo_adapter(run: UnlearningRun):
    """The demo's LoRA adapter for a LoRA run, `None` otherwise."""
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0) if run.lora else None


def _save_unlearned(trainer, temporary: Path, output_dir: Path) -> None:
    """Save the model and its card to `temporary`, then swap it in for `output_dir` (never a half-written run)."""
    trainer.save_model(str(temporary))
    _write_card(trainer, output_dir.name)
    _replace(temporary, output_dir)
    trainer.args.output_dir = str(output_dir)  # later saves go where the model now is


def _write_card(trainer, run_name: str) -> None:
    trainer.create_model_card(model_name=f"{run_name}-unlearned", tags=["hf_unlearn-demo"])


def record_scores(trainer, before: dict[str, float], after: dict[str, float]) -> None:
    """Rewrite the saved unlearned model's card and record with these before / after scores.

    Until then they hold the training-time evaluations of the curve, whose retain rows are a sample (as many as the
    forget rows, to keep the curve cheap); the demo passes the full-set evaluations its table prints, so that the
    card and the table show the same numbers.

    Args:
        trainer: the trainer `unlearn` returned (its output folder is the saved model's).
        before, after (`dict[str, float]`): flat scores (`UnlearningEvaluator` results' `metrics()`) of the
            original and the unlearned model.
    """
    trainer.unlearning_metrics = {"before": dict(before), "after": dict(after)}
    _write_card(trainer, Path(trainer.args.output_dir).name)


SUMMARY_KEYS = {
    "forget_rougeL_recall": ("sets", "forget", "rougeL_recall"),
    "forget_probability": ("sets", "forget", "probability"),
    "forget_truth_ratio": ("sets", "forget", "truth_ratio"),
    "retain_rougeL_recall": ("sets", "retain", "rougeL_recall"),
    "retain_probability": ("sets", "retain", "probability"),
    "retain_truth_ratio": ("sets", "retain", "truth_ratio"),
    "model_utility": ("model_utility",),
    "forget_quality": ("forget_quality",),
    "mia_auc_min_k_plus_plus": ("mia", "auc", "min_k_plus_plus"),
    "mia_auc_loss": ("mia", "auc", "loss"),
}


def headline(summary: dict) -> dict[str, float | None]:
    """The numbers of an evaluator summary that the demo and the benchmark tables show."""
    values = {}
    for name, path in SUMMARY_KEYS.items():
        value: Any = summary
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        values[name] = value
    return values

"""Multiple-choice benchmarks (WMDP, MMLU, any lm-evaluation-harness task) on an in-memory model.

EleutherAI's lm-evaluation-harness (`pip install "hf_unlearn[lm-eval]"`) scores a multiple-choice question by
the log-likelihood of each option's text after the question, and counts the question right when the correct option
scores highest (`acc`), or highest per byte of its text (`acc_norm`). [`evaluate_lm_eval`] hands it the model object
and tokenizer you already hold (a full model or a PEFT model: the harness's HF wrapper accepts both), so that an
unlearned model is scored without saving and reloading it; `hf-unlearn eval --lm_eval_tasks` does it from the shell.

What this module keeps of the harness's output: numbers per task (accuracies, their standard errors, sample counts
and shots) and the settings. Never a question, an option or a model output: the harness is asked not to log samples.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import math
import numbers
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from transformers import PreTrainedTokenizerBase, Trainer, TrainerCallback

from ..data.formatting import DEFAULT_QA_PROMPT_TEMPLATE
from ..utils import write_text_atomic


LM_EVAL_INSTALL = 'pip install "hf_unlearn[lm-eval]"'
"""The command that installs the harness at the versions this library is tested with."""

HEADLINE_METRICS = ("acc", "acc_norm")
"""Metrics the card shows per task; every other numeric metric the harness reports stays in the record."""


def require_lm_eval() -> None:
    """Imports the harness, or raises `ImportError` naming the command that installs it."""
    try:
        import lm_eval  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"Multiple-choice benchmarks (WMDP, MMLU, ...) run through lm-evaluation-harness, which is not installed: "
            f"{LM_EVAL_INSTALL}"
        ) from error


def parse_task_names(tasks: str | Sequence[str]) -> list[str]:
    """Task names from a comma-separated string or a list, stripped, empty items dropped, first occurrence kept."""
    items = tasks.split(",") if isinstance(tasks, str) else list(tasks)
    names = list(dict.fromkeys(item.strip() for item in items if item and item.strip()))
    if not names:
        raise ValueError(f"No lm-evaluation-harness task was named (got {tasks!r}); e.g. wmdp_bio,wmdp_cyber,mmlu.")
    return names


@functools.lru_cache(maxsize=4)
def _task_manager(include_paths: tuple[str, ...]):
    from lm_eval.tasks import TaskManager

    # Indexing the harness's few thousand task files takes seconds: one index per set of folders, per process.
    return TaskManager(include_path=list(include_paths) or None)


def task_manager(include_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None):
    """The harness's `TaskManager` over its own tasks and the task YAML files under `include_path`.

    Built once per process for a given set of folders (task files added to a folder later are not seen).

    Args:
        include_path (`str`, `os.PathLike` or a list of them, *optional*):
            Folders (or one folder) of task YAML files of your own, indexed after the harness's own tasks.

    Raises:
        ImportError: the harness is not installed (the message names the install command).
        FileNotFoundError: an include folder does not exist.
    """
    require_lm_eval()
    if include_path is None:
        paths = []
    else:
        paths = [include_path] if isinstance(include_path, (str, os.PathLike)) else list(include_path)
    resolved = []
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"lm-evaluation-harness include path {str(path)!r} does not exist.")
        resolved.append(str(Path(path).resolve()))
    return _task_manager(tuple(resolved))


def check_tasks(tasks: Sequence[str], manager) -> None:
    """Raises `ValueError` with the harness's own message (on one line) for the first task name it does not know.

    Cheap: names the index knows, and paths of task YAML files, are not loaded here (loading a task fetches its
    data), and an unknown name is refused by the harness before it loads anything.
    """
    for name in tasks:
        if name in manager.all_tasks or Path(name).is_file():
            continue
        try:
            manager.load([name])
        except KeyError as error:  # the harness reports an unknown name as a KeyError carrying its message
            message = " ".join(str(error.args[0] if error.args else error).split())
            raise ValueError(
                f"lm-evaluation-harness: {message}. Give a task, group or tag it knows (`lm-eval ls tasks` lists "
                "them), a task YAML path, or a folder of your own task YAML files (include_path; lm_eval_include in "
                "hf-unlearn eval)."
            ) from error


def write_multiple_choice_task(
    rows: Sequence[dict],
    directory: str | os.PathLike,
    name: str,
    prompt_template: str = DEFAULT_QA_PROMPT_TEMPLATE,
) -> Path:
    r"""Writes a local multiple-choice task for the harness: `name.jsonl` (the rows) and `name.yaml` (the task).

    Each option is scored as the text that follows the prompt (a "cloze" question, as the harness's ARC and MMLU-cloze
    tasks do, and as the trainer's `question`/`answer` rows are trained: prompt, a space, the answer). The task reads
    the local file, so it runs offline; pass `directory` as `include_path` (or `--lm_eval_include`) and `name` as the
    task.

    Args:
        rows (`list[dict]`):
            Questions: `question` (`str`), `choices` (`list[str]`, at least two) and `label` (index of the correct
            choice).
        directory (`str` or `os.PathLike`):
            Folder to write the two files into (created if needed).
        name (`str`):
            The task's name, and the files' stem.
        prompt_template (`str`, *optional*, defaults to `"Question: {question}\nAnswer:"`):
            The prompt, with `{question}`; use the one the model was trained with.

    Returns:
        `Path`: the task's YAML file.

    Raises:
        ValueError: no rows, a row without the three fields, fewer than two choices or a label out of range (the
            message names the row's index, never its text), or a template without `{question}`.
    """
    if "{question}" not in prompt_template:
        raise ValueError(f"prompt_template must contain '{{question}}'; got {prompt_template!r}.")
    if not rows:
        raise ValueError(f"The multiple-choice task {name!r} has no rows.")
    for index, row in enumerate(rows):
        choices, label = row.get("choices"), row.get("label")
        if not isinstance(row.get("question"), str) or not isinstance(choices, list) or len(choices) < 2:
            raise ValueError(
                f"Row {index} of task {name!r} needs 'question' (a string) and 'choices' (a list of at least two "
                f"strings); it has the fields {sorted(row)}."
            )
        if not isinstance(label, int) or not 0 <= label < len(choices):
            raise ValueError(f"Row {index} of task {name!r}: 'label' must be a choice index, 0 to {len(choices) - 1}.")
    directory = Path(directory)
    data = (directory / f"{name}.jsonl").resolve()
    fields = ("question", "choices", "label")
    write_text_atomic(data, "".join(json.dumps({key: row[key] for key in fields}) + "\n" for row in rows))
    accuracy = [{"metric": metric, "aggregation": "mean", "higher_is_better": True} for metric in HEADLINE_METRICS]
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        # The harness renders these with Jinja: {question} of the template becomes the row's field.
        "doc_to_text": prompt_template.replace("{question}", "{{question}}"),
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "label",
        "metric_list": accuracy,
        "metadata": {"version": 1},
    }
    path = directory / f"{name}.yaml"
    write_text_atomic(path, yaml.safe_dump(config, sort_keys=False))
    return path


class _PassedModelNotices(logging.Filter):
    """Drops the harness's two warnings about a model passed as an object: that is how this module uses it, on one
    process (they advise against `accelerate launch` and `parallelize`, which do not apply here)."""

    PREFIXES = ("`pretrained` model kwarg is not of type `str`", "Passed an already-initialized model")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.PREFIXES)


def _random_states() -> tuple:
    """Python's, NumPy's and torch's (CPU and CUDA) random states: the harness reseeds all of them."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return random.getstate(), np.random.get_state(), torch.random.get_rng_state(), cuda


def _restore_random_states(states: tuple) -> None:
    python, numpy_state, torch_state, cuda = states
    random.setstate(python)
    np.random.set_state(numpy_state)
    torch.random.set_rng_state(torch_state)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


def _number(value: Any) -> float | None:
    """A JSON-safe float, or `None` for the harness's "N/A", nan and inf."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy scalars are Real too
        return None
    return float(value) if math.isfinite(value) else None


def _metrics(row: dict[str, Any]) -> dict[str, float | None]:
    """`{"acc,none": 0.5, "acc_stderr,none": 0.1, "alias": ...}` -> `{"acc": 0.5, "acc_stderr": 0.1}`.

    Metrics of a filter other than the default `none` keep its name as a suffix (`exact_match_strict-match`).
    """
    metrics = {}
    for key, value in row.items():
        if "," not in key:  # alias, name, sample_len: not metrics
            continue
        metric, filter_name = key.split(",", 1)
        metrics[metric if filter_name == "none" else f"{metric}_{filter_name}"] = _number(value)
    return metrics


def _samples(name: str, harness_output: dict) -> int | None:
    """Questions scored under a task or group: a group's are its leaf tasks' (each counted once)."""
    counts = harness_output.get("n-samples", {})
    children = harness_output.get("group_subtasks", {})
    leaves, pending, seen = [], [name], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in counts:
            leaves.append(counts[current]["effective"])
        pending.extend(children.get(current, []))
    return sum(leaves) if leaves else None


@dataclass
class LMEvalResult:
    """What [`evaluate_lm_eval`] returns: the harness's numbers, no text.

    Args:
        tasks (`dict`):
            Each requested task or group -> its metrics (`acc`, `acc_stderr`, `acc_norm`, `acc_norm_stderr`, ... as
            the task defines them; a group's are the harness's aggregate over its tasks) and `samples` (questions
            scored).
        subtasks (`dict`):
            The same for every task and group under a requested group (MMLU's 57 subjects, ...).
        settings (`dict`):
            Task list, include paths, `limit`, shots per task, task versions, batch size, seed, harness version.
    """

    tasks: dict[str, dict[str, Any]]
    subtasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Tasks, subtasks and settings: what `hf-unlearn eval` puts under `lm_eval` in `summary.json`."""
        return {"tasks": self.tasks, "subtasks": self.subtasks, "settings": self.settings}

    def record_summary(self) -> dict[str, Any]:
        """What goes into an unlearning record: the requested tasks' metrics and the settings (no subtasks)."""
        return {"tasks": self.tasks, "settings": self.settings}

    def metrics(self, prefix: str = "lm_eval") -> dict[str, float]:
        """Flat scalars for a logger, e.g. `lm_eval_wmdp_bio_acc`, `lm_eval_mmlu_acc_stderr` (requested tasks)."""
        flat = {}
        for task, metrics in self.tasks.items():
            for metric, value in metrics.items():
                if value is not None:
                    flat[f"{prefix}_{task}_{metric}"] = float(value)
        return flat

    def record_in(self, model_dir: str | os.PathLike, repo_id: str | None = None) -> dict[str, Any]:
        """Adds these scores to a saved unlearned model's record and card (opt-in; scoring never does it itself).

        Writes [`LMEvalResult.record_summary`] under `lm_eval` in the folder's `unlearning_record.json` and
        regenerates its `README.md` card from the record, with a "Multiple-choice benchmarks" section. Nothing else
        in the folder is touched; both files are rendered before either is written, each atomically. A second call
        replaces the section of the first. Record the scores of the model in that folder: the card says they are
        its own.

        Args:
            model_dir (`str` or `os.PathLike`):
                The folder of the unlearned model (or adapter), as saved by `UnlearningTrainer` with its card and
                `unlearning_record.json`.
            repo_id (`str`, *optional*):
                The Hub repository the card's loading snippet names; without it, a placeholder.

        Returns:
            `dict`: the updated record.

        Raises:
            ValueError: the folder has no `unlearning_record.json` (it was not saved by an unlearning run).
        """
        from ..hub import load_record, save_card_and_record

        record = {**load_record(model_dir, "multiple-choice benchmark scores"), "lm_eval": self.record_summary()}
        save_card_and_record(record, str(Path(model_dir)), repo_id=repo_id)
        return record


def evaluate_lm_eval(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    tasks: str | Sequence[str],
    *,
    include_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    limit: int | float | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    seed: int = 1234,
) -> LMEvalResult:
    r"""
    Runs lm-evaluation-harness tasks (e.g. `wmdp_bio`, `wmdp_cyber`, `mmlu`) on an in-memory model.

    The model is scored where it is (its device and dtype), in eval mode and without gradients; its training mode
    and the random states the harness reseeds (Python, NumPy, torch) are restored afterwards, so the call fits in a
    training loop. Nothing is downloaded but the tasks' data (from the
    Hub, unless cached or offline), and no question, option or output is kept.

    Args:
        model (`torch.nn.Module`):
            A causal LM (`transformers` model or PEFT model, e.g. a LoRA adapter on its base).
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer.
        tasks (`str` or `list[str]`):
            Task, group or tag names the harness knows (`"wmdp_bio,wmdp_cyber,mmlu"` or a list), or names defined
            in YAML files under `include_path`, or paths of task YAML files.
        include_path (`str`, `os.PathLike` or a list of them, *optional*):
            Folders of task YAML files of your own (a local JSON dataset works offline: see the guide).
        limit (`int` or `float`, *optional*):
            Score only the first `limit` questions of each task (a fraction of each task when below 1): for quick
            checks; the paper's numbers use every question.
        num_fewshot (`int`, *optional*):
            Shots per question; by default each task's own (WMDP and MMLU in the harness: 0).
        batch_size (`int`, *optional*, defaults to `8`):
            Sequences per forward pass.
        seed (`int`, *optional*, defaults to `1234`):
            Seed of Python, NumPy, torch and the few-shot sampler (the harness's default is 1234 for the last three
            and 0 for Python's; one seed here).

    Returns:
        [`LMEvalResult`]: per requested task, accuracies with standard errors and sample counts.

    Raises:
        ImportError: the harness is not installed (the message names `pip install "hf_unlearn[lm-eval]"`).
        ValueError: a task name the harness does not know (its message), or an empty task list.
    """
    names = parse_task_names(tasks)
    manager = task_manager(include_path)
    check_tasks(names, manager)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    was_training, random_states = model.training, _random_states()
    notices = _PassedModelNotices()
    harness_logger = logging.getLogger("lm_eval.models.huggingface")
    harness_logger.addFilter(notices)
    try:
        harness_model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        output = simple_evaluate(
            harness_model,
            tasks=names,
            task_manager=manager,
            limit=limit,
            num_fewshot=num_fewshot,
            log_samples=False,  # the per-question records hold the questions and options: never kept
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
        )
    finally:
        harness_logger.removeFilter(notices)
        model.train(was_training)
        _restore_random_states(random_states)
    rows = output["results"]
    # The requested tasks are the rows under no group (a YAML path given as a task is reported under its task name).
    children = {child for group in output.get("group_subtasks", {}).values() for child in group}
    scores = {name: {**_metrics(row), "samples": _samples(name, output)} for name, row in rows.items()}
    requested = {name: values for name, values in scores.items() if name not in children}
    subtasks = {name: values for name, values in scores.items() if name in children}
    settings = {
        "tasks": names,
        "include_path": [str(path) for path in getattr(manager, "include_path", None) or []],
        "limit": limit,
        "num_fewshot": {name: output.get("n-shot", {}).get(name) for name in requested},
        "versions": {name: output.get("versions", {}).get(name) for name in requested},
        "batch_size": batch_size,
        "seed": seed,
        "lm_eval_version": importlib.metadata.version("lm_eval"),
    }
    return LMEvalResult(tasks=requested, subtasks=subtasks, settings=settings)


class LMEvalCallback(TrainerCallback):
    r"""
    Runs lm-evaluation-harness tasks at chosen optimizer steps of a training run, and logs their accuracies.

    At each step in `steps` (and at the end of training, with `at_end`), the main process scores the model with
    [`evaluate_lm_eval`] and logs `{prefix}_{task}_{metric}` (`lm_eval_wmdp_bio_acc`, `lm_eval_mmlu_acc_stderr`, ...)
    through `trainer.log`, so that they reach the console, `state.log_history` and every `report_to` integration.
    The results are kept in `results` (step -> [`LMEvalResult`]; `None` on the other processes). A task's full pass
    is slow on a large benchmark: choose few steps, or a `limit` for a rough curve.

    The task names are checked when the callback is built, so a typo fails before training starts.

    Under several data-parallel processes the main process scores the whole model while the others wait at a
    barrier (raise `ddp_timeout` for long evaluations); runs that shard the parameters (FSDP, DeepSpeed ZeRO-3) are
    refused: score the saved model with `hf-unlearn eval --lm_eval_tasks` instead.

    Args:
        trainer ([`~transformers.Trainer`]):
            The trainer whose model is scored (with its tokenizer) and through which the scores are logged. Add the
            callback with `trainer.add_callback(callback)`.
        tasks (`str` or `list[str]`):
            As for [`evaluate_lm_eval`].
        steps (`list[int]`):
            Optimizer steps (`state.global_step`) after which to score.
        at_end (`bool`, *optional*, defaults to `True`):
            Also score at the end of training (once, if the last step is already in `steps`).
        prefix (`str`, *optional*, defaults to `"lm_eval"`):
            Prefix of the logged keys.
        **evaluate_kwargs:
            Passed to [`evaluate_lm_eval`] (`include_path`, `limit`, `num_fewshot`, `batch_size`, `seed`);
            `batch_size` defaults to `args.per_device_eval_batch_size`.

    Raises:
        ImportError: the harness is not installed (the message names the install command).
        ValueError: a task the harness does not know (its message), a negative step, or a sharded run.

    Example:

    ```python
    trainer = NPOTrainer(model, args=config, forget_dataset=forget, retain_dataset=retain)
    trainer.add_callback(LMEvalCallback(trainer, "wmdp_bio,mmlu", steps=[50, 100], limit=200))
    trainer.train()
    ```
    """

    def __init__(
        self,
        trainer: Trainer,
        tasks: str | Sequence[str],
        steps: Sequence[int],
        *,
        at_end: bool = True,
        prefix: str = "lm_eval",
        **evaluate_kwargs,
    ):
        deepspeed_plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
        if trainer.is_fsdp_enabled or getattr(deepspeed_plugin, "zero_stage", None) == 3:
            raise ValueError(
                "LMEvalCallback needs the whole model on the main process (plain or DDP runs); this run shards the "
                "parameters (FSDP or DeepSpeed ZeRO-3). Score the saved model with `hf-unlearn eval --lm_eval_tasks`."
            )
        if any(step < 0 for step in steps):
            raise ValueError(f"LMEvalCallback steps must be optimizer steps (>= 0); got {list(steps)}.")
        self.trainer = trainer
        self.tasks = parse_task_names(tasks)
        check_tasks(self.tasks, task_manager(evaluate_kwargs.get("include_path")))
        self.steps = set(steps)
        self.at_end = at_end
        self.prefix = prefix
        self.evaluate_kwargs = {"batch_size": trainer.args.per_device_eval_batch_size, **evaluate_kwargs}
        self.results: dict[int, LMEvalResult | None] = {}

    def _score(self, state) -> None:
        if state.global_step in self.results:
            return
        if state.is_world_process_zero:
            result = evaluate_lm_eval(
                self.trainer.model, self.trainer.processing_class, self.tasks, **self.evaluate_kwargs
            )
            self.results[state.global_step] = result
            self.trainer.log(result.metrics(self.prefix))
        else:
            self.results[state.global_step] = None  # scored on the main process
        self.trainer.accelerator.wait_for_everyone()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            self._score(state)

    def on_train_end(self, args, state, control, **kwargs):
        if self.at_end:
            self._score(state)

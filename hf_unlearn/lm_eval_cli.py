"""`hf-unlearn eval --lm_eval_tasks ...`: the options of the multiple-choice benchmarks (lm-evaluation-harness)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path


def _limit(value: str) -> int | float:
    """`--lm_eval_limit`: a question count (`100`) or a fraction of each task (`0.1`)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count like 100 or a fraction like 0.1, got {value!r}") from None
    if number <= 0 or (number >= 1 and not number.is_integer()):
        raise argparse.ArgumentTypeError(f"expected a count >= 1 or a fraction in (0, 1), got {value!r}")
    return int(number) if number >= 1 else number


def add_lm_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `--lm_eval_*` option group (and `--repo_id`) to the `eval` subcommand's parser."""
    group = parser.add_argument_group(
        'multiple-choice benchmarks (lm-evaluation-harness; needs: pip install "hf_unlearn[lm-eval]")'
    )
    group.add_argument(
        "--lm_eval_tasks",
        "--lm-eval-tasks",
        dest="lm_eval_tasks",
        metavar="TASKS",
        help="comma-separated harness tasks, groups or task YAML paths, e.g. wmdp_bio,wmdp_cyber,mmlu; accuracies go "
        "into summary.json under lm_eval",
    )
    group.add_argument(
        "--lm_eval_include",
        "--lm-eval-include",
        dest="lm_eval_include",
        action="append",
        metavar="DIR",
        help="folder of task YAML files of your own (repeatable)",
    )
    group.add_argument(
        "--lm_eval_limit",
        "--lm-eval-limit",
        dest="lm_eval_limit",
        type=_limit,
        metavar="N",
        help="score only the first N questions of each task (or a fraction below 1): quick checks, not paper numbers",
    )
    group.add_argument(
        "--lm_eval_num_fewshot",
        "--lm-eval-num-fewshot",
        dest="lm_eval_num_fewshot",
        type=int,
        metavar="K",
        help="shots per question (default: each task's own; 0 for WMDP and MMLU)",
    )
    group.add_argument(
        "--lm_eval_record_in_model",
        "--lm-eval-record-in-model",
        dest="lm_eval_record_in_model",
        action="store_true",
        help="also write the accuracies into the unlearning_record.json of the --adapter folder (else --model) and "
        "regenerate its README.md card",
    )
    group.add_argument(
        "--repo_id",
        "--repo-id",
        dest="repo_id",
        metavar="USER/NAME",
        help="with --lm_eval_record_in_model: the Hub repository the regenerated card's loading snippet names",
    )


def prepare_lm_eval(args: argparse.Namespace) -> Callable | None:
    """Checks the `--lm_eval_*` options before any model loads; returns the step that scores the model, or `None`.

    The returned callable takes `(model, tokenizer)`, runs the harness, records the scores in the model folder with
    `--lm_eval_record_in_model`, and returns the `lm_eval` section of `summary.json`.

    Raises:
        ValueError: the `lm-eval` extra is not installed (the message names the install command), a task name the
            harness does not know (its message), or `--lm_eval_record_in_model` on a folder without a record.
        FileNotFoundError: an include folder does not exist.
    """
    if args.lm_eval_tasks is None:
        options = (args.lm_eval_include, args.lm_eval_limit, args.lm_eval_num_fewshot)
        if args.lm_eval_record_in_model or any(value is not None for value in options):
            raise ValueError("The --lm_eval_* options need --lm_eval_tasks (e.g. --lm_eval_tasks wmdp_bio,mmlu).")
        return None
    from .evaluation.lm_eval_harness import check_tasks, parse_task_names, require_lm_eval, task_manager
    from .hub import RECORD_FILE, load_record

    try:
        require_lm_eval()
    except ImportError as error:  # a user error here (one line, exit code 2), not a crash
        raise ValueError(str(error)) from error
    tasks = parse_task_names(args.lm_eval_tasks)
    check_tasks(tasks, task_manager(args.lm_eval_include))
    record_dir = Path(args.adapter or args.model)
    if args.lm_eval_record_in_model:
        load_record(record_dir, "multiple-choice benchmark scores")  # refused before the model runs, not after

    def run(model, tokenizer) -> dict:
        from .evaluation.lm_eval_harness import evaluate_lm_eval

        result = evaluate_lm_eval(
            model,
            tokenizer,
            tasks,
            include_path=args.lm_eval_include,
            limit=args.lm_eval_limit,
            num_fewshot=args.lm_eval_num_fewshot,
            batch_size=args.batch_size,
        )
        if args.lm_eval_record_in_model:
            result.record_in(record_dir, repo_id=args.repo_id)
            print(f"hf-unlearn eval: recorded the accuracies in {record_dir / RECORD_FILE}", file=sys.stderr)
        return result.to_dict()

    return run


def run_lm_eval_only(args: argparse.Namespace, score: Callable, load_model_and_tokenizer: Callable) -> int:
    """`hf-unlearn eval` with `--lm_eval_tasks` and no sets: loads the model, writes and prints `summary.json`.

    Args:
        args (`argparse.Namespace`):
            The `eval` command's arguments.
        score (`Callable`):
            The step [`prepare_lm_eval`] returned.
        load_model_and_tokenizer (`Callable`):
            The `eval` command's loader (model folder, Hub id or adapter folder, and its tokenizer).

    Returns:
        `int`: exit code, 0 on success.
    """
    from .evaluation.evaluator import SUMMARY_FILE
    from .utils import write_json_atomic

    model, tokenizer = load_model_and_tokenizer(args)
    summary = {"lm_eval": score(model, tokenizer), "run": {"model": args.model, "adapter": args.adapter}}
    path = Path(args.output_dir) / SUMMARY_FILE
    write_json_atomic(path, summary)
    print(json.dumps(summary, indent=2))
    print(f"hf-unlearn eval: wrote {path}", file=sys.stderr)
    return 0

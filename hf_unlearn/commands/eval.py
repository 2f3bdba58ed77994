"""`hf-unlearn eval`: score a model or a PEFT adapter on forget / retain / ... sets (or a benchmark's own sets, or the
multiple-choice tasks of lm-evaluation-harness); write a TOFU-format log and a summary."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..evaluation import EVAL_SET_NAMES, eval_log_key
from ..utils import SPEC_HELP, check_model_source, resolve_dtype, score_table
from .options import SHARED_OPTIONS
from .parser import CommandParser


PROG = "hf-unlearn eval"
DESCRIPTION = (
    "Scores a causal LM (a local folder, a Hub id, or a PEFT adapter folder) on the given sets: answer "
    "probability, greedy-generation ROUGE, truth ratio, memorization and membership-inference scores. "
    "Writes OUTPUT_DIR/eval_log_aggregated.json (TOFU's per-sample log format, numbers only: no text of "
    "any set, so TOFU's generated_text field is left out) and OUTPUT_DIR/summary.json, and prints the "
    "headline scores, their direction of good and a verdict line (--json: the summary). With --retain_logs, "
    "also forget quality (TOFU) and PrivLeak (MUSE). With --benchmark, the benchmark's own sets, and its summary "
    "(OUTPUT_DIR/muse_summary.json for MUSE). With --lm_eval_tasks, also (or, without sets, only) multiple-choice "
    "accuracies (WMDP, MMLU, ...) from lm-evaluation-harness. Give --forget and --retain, --benchmark, or "
    "--lm_eval_tasks alone."
)


@dataclass
class EvalOptions:
    """`eval`'s own options, after the shared model, set and scoring options."""

    adapter: str | None = field(
        default=None, metadata={"help": "PEFT adapter folder to load on top of --model", "metavar": "DIR"}
    )
    holdout: str | None = field(
        default=None, metadata={"help": f"holdout set (optional): {SPEC_HELP}", "metavar": "SPEC"}
    )
    real_authors: str | None = field(
        default=None, metadata={"help": f"real authors set (optional): {SPEC_HELP}", "metavar": "SPEC"}
    )
    world_facts: str | None = field(
        default=None, metadata={"help": f"world facts set (optional): {SPEC_HELP}", "metavar": "SPEC"}
    )
    eval_set: list[str] | None = field(
        default=None,
        metadata={
            "help": "another named set to score (repeatable), e.g. forget_paraphrase=FILE, neighbours=FILE; NAME is "
            "letters, digits and underscores; names starting with forget are aggregated as forget sets, others as "
            "retain sets",
            "metavar": "NAME=SPEC",
            "action": "append",
        },
    )
    benchmark: str | None = field(
        default=None,
        metadata={
            "help": "evaluate on a benchmark's own sets instead: muse_news or muse_books (MUSE's VerbMem, KnowMem and "
            "PrivLeak, written to OUTPUT_DIR/muse_summary.json; PrivLeak needs --retain_logs of the retrained model)",
            "metavar": "NAME",
        },
    )
    benchmark_data: str | None = field(
        default=None,
        metadata={
            "help": "where --benchmark's dataset is read: a local copy of its Hub repository (default: the Hub)",
            "metavar": "PATH_OR_HUB_ID",
        },
    )
    retain_logs: Path | None = field(
        default=None,
        metadata={
            "help": "TOFU-format log of the retain model on the same forget set (enables forget quality)",
            "metavar": "RETAIN_LOGS.json",
        },
    )
    generation_batch_size: int | None = field(
        default=None, metadata={"help": "prompts per generate call (default: --batch_size)"}
    )
    answer_accuracy: bool = field(
        default=False,
        metadata={
            "help": "ask for answer accuracy (an accepted alias in the greedy answer): computed anyway on sets with "
            "an `aliases` column; with this flag, the sets without one are named"
        },
    )
    no_generation: bool = field(
        default=False, metadata={"help": "skip generation and ROUGE (faster; no TOFU aggregate)"}
    )
    json: bool = field(default=False, metadata={"help": "print summary.json instead of the table of headline scores"})

    def __post_init__(self):
        # `--eval_set a=x b=y` and `--eval_set a=x --eval_set b=y` alike
        if self.eval_set is not None:
            self.eval_set = [value for values in self.eval_set for value in values]


@dataclass
class LmEvalOptions:
    """Multiple-choice benchmarks (lm-evaluation-harness; needs: pip install "hf_unlearn[lm-eval]")."""

    _argument_group_name = (
        'multiple-choice benchmarks (lm-evaluation-harness; needs: pip install "hf_unlearn[lm-eval]")'
    )

    lm_eval_tasks: str | None = field(
        default=None,
        metadata={
            "help": "comma-separated harness tasks, groups or task YAML paths, e.g. wmdp_bio,wmdp_cyber,mmlu; "
            "accuracies go into summary.json under lm_eval",
            "metavar": "TASKS",
        },
    )
    lm_eval_include: list[str] | None = field(
        default=None,
        metadata={"help": "folder of task YAML files of your own (repeatable)", "metavar": "DIR", "action": "append"},
    )
    lm_eval_limit: str | None = field(
        default=None,
        metadata={
            "help": "score only the first N questions of each task (or a fraction below 1): quick checks, not paper "
            "numbers",
            "metavar": "N",
        },
    )
    lm_eval_num_fewshot: int | None = field(
        default=None,
        metadata={"help": "shots per question (default: each task's own; 0 for WMDP and MMLU)", "metavar": "K"},
    )
    lm_eval_record_in_model: bool = field(
        default=False,
        metadata={
            "help": "also write the accuracies into the unlearning_record.json of the --adapter folder (else --model) "
            "and regenerate its README.md card"
        },
    )

    def __post_init__(self):
        if self.lm_eval_include is not None:
            self.lm_eval_include = [value for values in self.lm_eval_include for value in values]
        if self.lm_eval_limit is not None:
            self.lm_eval_limit = lm_eval_limit(self.lm_eval_limit)


def lm_eval_limit(value: str | int | float) -> int | float:
    """`--lm_eval_limit`: a question count (`100`) or a fraction of each task (`0.1`)."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"lm_eval_limit: expected a count like 100 or a fraction like 0.1, got {value!r}") from None
    if number <= 0 or (number >= 1 and not number.is_integer()):
        raise ValueError(f"lm_eval_limit: expected a count >= 1 or a fraction in (0, 1), got {value!r}")
    return int(number) if number >= 1 else number


def make_parser() -> CommandParser:
    """The parser of `hf-unlearn eval`: the shared model / set / scoring options, then `eval`'s own."""
    parser = CommandParser((*SHARED_OPTIONS, EvalOptions, LmEvalOptions), prog=PROG, description=DESCRIPTION)
    return parser


def run(argv: list[str]) -> int:
    """`hf-unlearn eval ARGV`."""
    return run_eval(make_parser().parse_namespace(argv))


def load_model_and_tokenizer(args: argparse.Namespace):
    """The model to score (plain, adapter folder, or base + `--adapter`), on its device, and its tokenizer.

    The tokenizer comes from `--tokenizer`, else from the adapter or model folder when it holds one, else from the
    base model.
    """
    from transformers import AutoTokenizer

    from ..models import load_model, resolve_device, tokenizer_source

    kwargs = {"trust_remote_code": args.trust_remote_code, "dtype": resolve_dtype(args.dtype)}
    model = load_model(args.model, adapter=args.adapter, **kwargs)
    paths = (args.adapter, args.model) if args.adapter is not None else (args.model,)
    source = tokenizer_source(*paths, tokenizer=args.tokenizer, fallback=args.model if args.adapter else None)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=args.trust_remote_code)
    return model.to(resolve_device(args.device)), tokenizer


def run_eval(args: argparse.Namespace) -> int:
    """Runs `eval` on parsed arguments: writes the log and `summary.json`, prints the headline scores as a table
    with a verdict line (with `--json`, or for a benchmark's own summary, the summary as JSON).

    Returns:
        `int`: exit code, 0 on success. Bad input raises `ValueError` / `OSError` (see `hf_unlearn.commands`).
    """
    from ..data.loading import load_dataset_spec
    from ..evaluation import UnlearningEvaluator
    from ..metrics.tofu import load_tofu_log

    specs = {name: getattr(args, name) for name in EVAL_SET_NAMES if getattr(args, name) is not None}
    specs.update(_named_sets(args.eval_set or [], specs))
    lm_eval = prepare_lm_eval(args)  # None without --lm_eval_tasks; its checks run before any model loads
    lm_eval_only = not specs and args.benchmark is None and lm_eval is not None
    benchmark = None if lm_eval_only else _benchmark_data(args, specs)
    check_model_source(args.model, "model")  # after the checks of the arguments: it may ask the Hub
    if lm_eval_only:
        return run_lm_eval_only(args, lm_eval, load_model_and_tokenizer)
    eval_sets = {name: load_dataset_spec(spec, name) for name, spec in specs.items()}
    retain_logs = load_tofu_log(args.retain_logs) if args.retain_logs is not None else None
    model, tokenizer = load_model_and_tokenizer(args)
    evaluator = _benchmark_evaluator(args, benchmark, tokenizer, retain_logs) or UnlearningEvaluator(
        tokenizer,
        eval_sets,
        retain_logs=retain_logs,
        batch_size=args.batch_size,
        generation_batch_size=args.generation_batch_size,
        max_new_tokens=args.max_new_tokens,
        max_length=args.max_length,
        qa_prompt_template=args.qa_prompt_template,
        generate=not args.no_generation,
        answer_accuracy=args.answer_accuracy or None,
    )
    result = evaluator.evaluate(model)
    if lm_eval is not None:
        result.summary["lm_eval"] = lm_eval(model, tokenizer)
    # Where the numbers come from (paths and settings; no row text).
    result.summary["run"] = {
        "model": args.model,
        "adapter": args.adapter,
        "sets": specs,
        "benchmark": args.benchmark,
        "retain_logs": str(args.retain_logs) if args.retain_logs is not None else None,
        # Per set: the budget given, or the one sized to the set's answers.
        "max_new_tokens": result.stats.get("max_new_tokens", args.max_new_tokens),
        "max_length": args.max_length,
        "qa_prompt_template": args.qa_prompt_template,
    }
    paths = result.save(args.output_dir)
    # A benchmark's own summary (MUSE) has none of the headline scores: it is printed whole.
    lines = None if args.json else score_table(result.metrics())
    if lines is None:
        print(json.dumps(result.summary, indent=2))
        print(f"{PROG}: wrote {paths['logs']} and {paths['summary']}", file=sys.stderr)
    else:
        others = {
            name: scores["answer_accuracy"]
            for name, scores in result.summary["sets"].items()
            if name not in ("forget", "retain") and scores.get("answer_accuracy") is not None
        }
        if others:  # forget / retain are in the table; the other sets' accuracy on one line
            lines.insert(-1, "answer accuracy: " + ", ".join(f"{name} {value:.3f}" for name, value in others.items()))
        print("\n".join(lines))
        print(f"Every score in {paths['summary']}, per row in {paths['logs']} (--json prints the summary).")
    return 0


def _named_sets(values: list[str], specs: dict) -> dict[str, str]:
    """The `--eval_set NAME=SPEC` options as `{NAME: SPEC}`, checked."""
    named = {}
    for value in values:
        name, separator, spec = value.partition("=")
        if not separator or not spec:
            raise ValueError(f"--eval_set {value!r} is not NAME=SPEC (e.g. --eval_set neighbours=neighbours.jsonl).")
        eval_log_key(name)  # a name that cannot be a log key: one message saying what names are accepted
        if name in EVAL_SET_NAMES:
            raise ValueError(f"--eval_set {name}=...: give the {name} set with --{name}.")
        if name in named:
            raise ValueError(f"--eval_set {name} is given twice.")
        named[name] = spec
    return named


def _benchmark_data(args: argparse.Namespace, specs: dict):
    """The `--benchmark` data (MUSE's splits), or `None`; checks that the set options fit with it."""
    if args.benchmark is None:
        missing = [f"--{name}" for name in ("forget", "retain") if name not in specs]
        if missing:
            raise ValueError(
                "Give --forget and --retain (forget / retain scores; the other sets need both), --benchmark (its "
                f"own sets) or --lm_eval_tasks alone: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "missing."
            )
        return None
    from ..evaluation.muse import load_muse, resolve_benchmark

    resolve_benchmark(args.benchmark)  # an unknown name fails here, listing the known ones
    if specs:
        options = ", ".join(f"--{name}" if name in EVAL_SET_NAMES else f"--eval_set {name}" for name in specs)
        raise ValueError(f"--benchmark {args.benchmark} brings its own sets; drop {options}.")
    return load_muse(args.benchmark, args.benchmark_data)


def _benchmark_evaluator(args: argparse.Namespace, data, tokenizer, retain_logs):
    """A `MuseEvaluator` on the `--benchmark` data (its summary goes to `muse_summary.json`), or `None`."""
    if data is None:
        return None
    from ..evaluation.muse import MuseEvaluator

    return MuseEvaluator(
        tokenizer,
        data,
        retain_logs=retain_logs,
        batch_size=args.batch_size,
        generation_batch_size=args.generation_batch_size,
        max_length=args.max_length,
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
    from ..evaluation.lm_eval_harness import check_tasks, parse_task_names, require_lm_eval, task_manager
    from ..hub import RECORD_FILE, load_record

    try:
        require_lm_eval()
    except ImportError as error:  # a user error here (one line, exit code 2), not a crash
        raise ValueError(str(error)) from error
    tasks = parse_task_names(args.lm_eval_tasks)
    check_tasks(tasks, task_manager(args.lm_eval_include))
    record_dir = Path(args.adapter or args.model)
    if args.lm_eval_record_in_model:
        load_record(record_dir, "multiple-choice benchmark scores")  # refused before the model runs, not after

    def score(model, tokenizer) -> dict:
        from ..evaluation.lm_eval_harness import evaluate_lm_eval

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
            print(f"{PROG}: recorded the accuracies in {record_dir / RECORD_FILE}", file=sys.stderr)
        return result.to_dict()

    return score


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
    from ..evaluation.evaluator import SUMMARY_FILE
    from ..utils import write_json_atomic

    model, tokenizer = load_model_and_tokenizer(args)
    summary = {"lm_eval": score(model, tokenizer), "run": {"model": args.model, "adapter": args.adapter}}
    path = Path(args.output_dir) / SUMMARY_FILE
    write_json_atomic(path, summary)
    print(json.dumps(summary, indent=2))
    print(f"{PROG}: wrote {path}", file=sys.stderr)
    return 0

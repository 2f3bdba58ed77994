"""`hf-unlearn eval`: score a model or a PEFT adapter on forget / retain / ... sets; write a TOFU-format log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .evaluation import EVAL_SET_NAMES, eval_log_key
from .lm_eval_cli import add_lm_eval_arguments, prepare_lm_eval, run_lm_eval_only
from .utils import DEFAULT_QA_PROMPT_TEMPLATE, SPEC_HELP, check_model_source, resolve_dtype, score_table


SET_OPTIONS = {name: name.replace("_", "-") for name in EVAL_SET_NAMES}
"""Eval-set name -> its command-line option (`--real-authors`, ...)."""


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file()


def load_model_and_tokenizer(args: argparse.Namespace):
    """The model to score (plain, adapter folder, or base + `--adapter`) and its tokenizer.

    A folder holding `adapter_config.json` is a PEFT adapter: it is loaded on its base model with
    `peft.AutoPeftModelForCausalLM`. The tokenizer comes from `--tokenizer`, else from the adapter or model folder
    when it holds one, else from the base model.
    """
    import torch
    from peft import AutoPeftModelForCausalLM, PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .reference import peft_checkpointing_alias_quiet

    kwargs = {"trust_remote_code": args.trust_remote_code, "dtype": resolve_dtype(args.dtype)}
    model_path = Path(args.model)
    if args.adapter is not None:
        if not (Path(args.adapter) / "adapter_config.json").is_file():
            raise ValueError(
                f"--adapter {args.adapter!r} is not a PEFT adapter folder (it has no adapter_config.json)."
            )
        if (model_path / "adapter_config.json").is_file():
            raise ValueError(f"--model {args.model!r} is itself an adapter folder; give its base model with --model.")
        base_model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
        with peft_checkpointing_alias_quiet():
            model = PeftModel.from_pretrained(base_model, args.adapter)
        candidates = [Path(args.adapter), model_path]
        base = args.model
    elif (model_path / "adapter_config.json").is_file():
        with peft_checkpointing_alias_quiet():
            model = AutoPeftModelForCausalLM.from_pretrained(args.model, **kwargs)
        candidates = [model_path]
        base = PeftConfig.from_pretrained(args.model).base_model_name_or_path
    else:
        model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs)
        candidates, base = [], args.model
    source = args.tokenizer or next((str(folder) for folder in candidates if _has_tokenizer(folder)), base)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=args.trust_remote_code)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device), tokenizer


def run_eval(args: argparse.Namespace) -> int:
    """Runs `eval` on parsed arguments: writes the log and `summary.json`, prints the headline scores as a table
    with a verdict line (with `--json`, or for a benchmark's own summary, the summary as JSON).

    Bad input (a set that does not load, a missing adapter, ...) raises `ValueError` / `OSError`; `hf-unlearn`'s
    `main` prints it as one line with exit code 2.

    Returns:
        `int`: exit code, 0 on success.
    """
    from .data.loading import load_dataset_spec
    from .evaluation import UnlearningEvaluator
    from .metrics.tofu import load_tofu_log

    specs = {name: getattr(args, name) for name in EVAL_SET_NAMES if getattr(args, name) is not None}
    specs.update(_named_sets(args.eval_set or [], specs))
    lm_eval = prepare_lm_eval(args)  # None without --lm_eval_tasks; its checks run before any model loads
    lm_eval_only = not specs and args.benchmark is None and lm_eval is not None
    benchmark = None if lm_eval_only else _benchmark_data(args, specs)
    check_model_source(args.model, "--model")  # after the checks of the arguments: it may ask the Hub
    if lm_eval_only:
        return run_lm_eval_only(args, lm_eval, load_model_and_tokenizer)
    eval_sets = {
        name: load_dataset_spec(spec, f"--{SET_OPTIONS[name]}" if name in SET_OPTIONS else f"--eval_set {name}")
        for name, spec in specs.items()
    }
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
        print(f"hf-unlearn eval: wrote {paths['logs']} and {paths['summary']}", file=sys.stderr)
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
        if name in SET_OPTIONS:
            raise ValueError(f"--eval_set {name}=...: give the {name} set with --{SET_OPTIONS[name]}.")
        if name in named:
            raise ValueError(f"--eval_set {name} is given twice.")
        named[name] = spec
    return named


def _benchmark_data(args: argparse.Namespace, specs: dict):
    """The `--benchmark` data (MUSE's splits), or `None`; checks that the set options fit with it."""
    if args.benchmark is None:
        missing = [f"--{SET_OPTIONS[name]}" for name in ("forget", "retain") if name not in specs]
        if missing:
            raise ValueError(
                "Give --forget and --retain (forget / retain scores; the other sets need both), --benchmark (its "
                f"own sets) or --lm_eval_tasks alone: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                "missing."
            )
        return None
    from .evaluation.muse import load_muse, resolve_benchmark

    resolve_benchmark(args.benchmark)  # an unknown name fails here, listing the known ones
    if specs:
        options = ", ".join(
            f"--{SET_OPTIONS[name]}" if name in SET_OPTIONS else f"--eval_set {name}" for name in specs
        )
        raise ValueError(f"--benchmark {args.benchmark} brings its own sets; drop {options}.")
    return load_muse(args.benchmark, args.benchmark_data)


def _benchmark_evaluator(args: argparse.Namespace, data, tokenizer, retain_logs):
    """A `MuseEvaluator` on the `--benchmark` data (its summary goes to `muse_summary.json`), or `None`."""
    if data is None:
        return None
    from .evaluation.muse import MuseEvaluator

    return MuseEvaluator(
        tokenizer,
        data,
        retain_logs=retain_logs,
        batch_size=args.batch_size,
        generation_batch_size=args.generation_batch_size,
        max_length=args.max_length,
    )


def _add(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """Adds `--name`, with the `--name-with-dashes` spelling too (both are common in the HF ecosystem)."""
    flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*flags, dest=name, **kwargs)


def add_eval_command(subparsers) -> argparse.ArgumentParser:
    """Registers the `eval` subcommand on an `argparse` subparsers object.

    Usage: `hf-unlearn eval --model PATH_OR_HUB_ID [--adapter DIR] [--forget SPEC --retain SPEC] [--holdout SPEC]
    [--real-authors SPEC] [--world-facts SPEC] [--eval_set NAME=SPEC ...] [--retain-logs RETAIN_LOGS.json]
    [--lm_eval_tasks TASKS ...] --output_dir DIR`: forget and retain sets, multiple-choice benchmarks
    (lm-evaluation-harness), or both; or with `--benchmark muse_news|muse_books [--benchmark_data DIR]` in place of
    the sets. The parsed namespace carries `func`, a callable taking it and returning the exit code.

    Args:
        subparsers (`argparse._SubParsersAction`):
            The object returned by `ArgumentParser.add_subparsers()`.

    Returns:
        `argparse.ArgumentParser`: the subcommand's parser.
    """
    parser = subparsers.add_parser(
        "eval",
        help="score a model or adapter on forget / retain sets; write a TOFU-format log and a summary",
        description=(
            "Scores a causal LM (a local folder, a Hub id, or a PEFT adapter folder) on the given sets: answer "
            "probability, greedy-generation ROUGE, truth ratio, memorization and membership-inference scores. "
            "Writes OUTPUT_DIR/eval_log_aggregated.json (TOFU's per-sample log format, numbers only: no text of "
            "any set, so TOFU's generated_text field is left out) and OUTPUT_DIR/summary.json, and prints the "
            "headline scores, their direction of good and a verdict line (--json: the summary). With --retain-logs, "
            "also forget quality (TOFU) and PrivLeak (MUSE). With --benchmark, the "
            "benchmark's own sets, and its summary (OUTPUT_DIR/muse_summary.json for MUSE). With --lm_eval_tasks, "
            "also (or, without sets, only) multiple-choice accuracies (WMDP, MMLU, ...) from lm-evaluation-harness."
        ),
    )
    _add(
        parser, "model", required=True, metavar="PATH_OR_HUB_ID", help="model folder or Hub id, or PEFT adapter folder"
    )
    _add(parser, "adapter", metavar="DIR", help="PEFT adapter folder to load on top of --model")
    _add(parser, "tokenizer", metavar="PATH_OR_HUB_ID", help="tokenizer (default: the adapter's or model's own)")
    for name, option in SET_OPTIONS.items():
        # Not required by the parser: --benchmark brings its own sets, and --lm_eval_tasks alone is a complete
        # command (run_eval checks the combination).
        needed = {"forget": " (with --retain)", "retain": " (with --forget)"}.get(name, " (optional)")
        parser.add_argument(
            f"--{option}",
            *([f"--{name}"] if option != name else []),
            dest=name,
            metavar="SPEC",
            help=f"{name.replace('_', ' ')} set{needed}: {SPEC_HELP}",
        )
    _add(
        parser,
        "benchmark",
        metavar="NAME",
        help="evaluate on a benchmark's own sets instead: muse_news or muse_books (MUSE's VerbMem, KnowMem and "
        "PrivLeak, written to OUTPUT_DIR/muse_summary.json; PrivLeak needs --retain-logs of the retrained model)",
    )
    _add(
        parser,
        "benchmark_data",
        metavar="PATH_OR_HUB_ID",
        help="where --benchmark's dataset is read: a local copy of its Hub repository (default: the Hub)",
    )
    _add(
        parser,
        "retain_logs",
        type=Path,
        metavar="RETAIN_LOGS.json",
        help="TOFU-format log of the retain model on the same forget set (enables forget quality)",
    )
    _add(parser, "output_dir", required=True, type=Path, metavar="DIR", help="where the log and summary.json go")
    _add(parser, "batch_size", type=int, default=16, help="sequences per teacher-forced forward pass (default: 16)")
    _add(parser, "generation_batch_size", type=int, help="prompts per generate call (default: --batch_size)")
    _add(
        parser,
        "eval_set",
        action="append",
        metavar="NAME=SPEC",
        help="another named set to score (repeatable), e.g. forget_paraphrase=FILE, neighbours=FILE; NAME is letters, "
        "digits and underscores; names starting with forget are aggregated as forget sets, others as retain sets",
    )
    _add(
        parser,
        "max_new_tokens",
        type=int,
        help="most tokens generated per answer (default: per set, its longest reference answer + 32 tokens or half "
        "of it, at most 256)",
    )
    _add(
        parser,
        "answer_accuracy",
        action="store_true",
        help="ask for answer accuracy (an accepted alias in the greedy answer): computed anyway on sets with an "
        "`aliases` column; with this flag, the sets without one are named",
    )
    _add(parser, "max_length", type=int, default=512, help="truncation length of scored sequences (default: 512)")
    _add(
        parser,
        "qa_prompt_template",
        default=DEFAULT_QA_PROMPT_TEMPLATE,
        help=f"prompt of question/answer rows; use the training run's (default: {DEFAULT_QA_PROMPT_TEMPLATE!r})",
    )
    _add(parser, "no_generation", action="store_true", help="skip generation and ROUGE (faster; no TOFU aggregate)")
    _add(parser, "dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help="model dtype")
    _add(parser, "device", help="device to run on (default: cuda when available, else cpu)")
    _add(
        parser,
        "trust_remote_code",
        action="store_true",
        help="allow model / tokenizer code from the model repository to run (off by default)",
    )
    _add(parser, "json", action="store_true", help="print summary.json instead of the table of headline scores")
    add_lm_eval_arguments(parser)
    parser.set_defaults(func=run_eval)
    return parser

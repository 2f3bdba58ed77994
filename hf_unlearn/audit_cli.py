"""`hf-unlearn audit`: attack an unlearned model and its original / retain models; write audit.json and audit.png."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .eval_cli import _add, _has_tokenizer
from .utils import DEFAULT_QA_PROMPT_TEMPLATE, SPEC_HELP, check_model_source, resolve_dtype


PROBE_HELP = "relearn, quantize, paraphrase, few_shot, prompt_attacks, logit_lens"


def _tokenizer_source(args: argparse.Namespace) -> str:
    """`--tokenizer`, else the first of the unlearned, original and retain folders that holds one, else the
    unlearned adapter's base model."""
    from peft import PeftConfig

    if args.tokenizer:
        return args.tokenizer
    folders = [Path(path) for path in (args.model, args.original, args.retain_model) if path]
    found = next((str(folder) for folder in folders if _has_tokenizer(folder)), None)
    if found:
        return found
    if (Path(args.model) / "adapter_config.json").is_file():
        return PeftConfig.from_pretrained(args.model).base_model_name_or_path
    return args.model


def _model_options(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The models given, `(option, path or Hub id)`."""
    models = (("--model", args.model), ("--original", args.original), ("--retain_model", args.retain_model))
    return [(option, path) for option, path in models if path]


def _check_output_dir(args: argparse.Namespace) -> None:
    """The model folders are never written to: the audit goes into a folder outside each of them."""
    output = Path(args.output_dir).resolve()
    for option, path in _model_options(args):
        if Path(path).is_dir() and output.is_relative_to(Path(path).resolve()):
            raise ValueError(
                f"--output_dir {str(args.output_dir)!r} is inside the {option} folder {path!r}; the audit never "
                f"writes into a model folder. Give a folder outside it, e.g. {str(Path(path).resolve()) + '_audit'!r}."
            )


def resolve_probes(args: argparse.Namespace) -> list:
    """The probes `--probes` names, with the budgets of the command line.

    `all` means every probe that can run here: without bitsandbytes, quantize is left out and recorded as skipped,
    with the reason (the audit logs it); named in `--probes`, quantize is required and its absence an error.
    """
    from .evaluation.probes import FewShotProbe, ParaphraseProbe, QuantizeProbe, RelearnProbe, make_probes
    from .evaluation.probes.base import Attack, Probe
    from .evaluation.probes.quantize import require_bitsandbytes

    class LeftOut(Probe):
        """A probe of `--probes all` that cannot run here: one skipped attack that carries the reason."""

        def __init__(self, name: str, reason: str):
            self.name, self.reason = name, reason

        def attacks(self, context) -> list:
            return [Attack(name=self.name, probe=self.name, rows=[], skipped=self.reason)]

    def quantize():
        if "quantize" not in args.probes.replace(" ", "").split(","):
            try:
                require_bitsandbytes()
            except ImportError as error:
                return LeftOut("quantize", f"{error} Left out of --probes all; name it in --probes to require it.")
        return QuantizeProbe(bits=tuple(args.quantize_bits))

    options = {
        "relearn": lambda: RelearnProbe(
            relearn_rows=args.relearn_rows,
            steps=args.relearn_steps,
            learning_rate=args.relearn_learning_rate,
            batch_size=args.relearn_batch_size,
            lora=not args.relearn_full,
            lora_r=args.lora_r,
            lora_alpha=args.lora_alpha,
        ),
        "quantize": quantize,
        "paraphrase": lambda: ParaphraseProbe(column=args.paraphrase_column),
        "few_shot": lambda: FewShotProbe(k=args.few_shot_k),
    }
    return [options[probe.name]() if probe.name in options else probe.name for probe in make_probes(args.probes)]


def run_audit(args: argparse.Namespace) -> int:
    """Runs `audit` on parsed arguments: prints the table, writes `audit.json` and `audit.png`.

    Returns:
        `int`: exit code, 0 on success, 2 on bad input (the reason goes to stderr).
    """
    import torch
    from transformers import AutoTokenizer

    from .data.loading import load_dataset_spec
    from .evaluation.audit import UnlearningAuditor, check_record, load_model

    try:
        _check_output_dir(args)
        for option, path in _model_options(args):
            check_model_source(path, option)
        probes = resolve_probes(args)
        forget = load_dataset_spec(args.forget, "--forget")
        retain = load_dataset_spec(args.retain, "--retain") if args.retain else None
        tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(args), trust_remote_code=args.trust_remote_code)
        auditor = UnlearningAuditor(
            tokenizer,
            forget,
            retain,
            probes=probes,
            seed=args.seed,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            max_length=args.max_length,
            qa_prompt_template=args.qa_prompt_template,
            recovery_min_gap=args.recovery_min_gap,
        )
        if args.record_in_model:  # refused before any model runs, not after the audit
            check_record(args.model, auditor.settings["forget_set"])
        kwargs = {"trust_remote_code": args.trust_remote_code, "dtype": resolve_dtype(args.dtype)}
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        models = {
            role: load_model(path, option, **kwargs).to(device)
            for role, option, path in (
                ("model", "--model", args.model),
                ("original", "--original", args.original),
                ("retain_model", "--retain_model", args.retain_model),
            )
            if path
        }
    except (OSError, ValueError, TypeError, ImportError) as error:
        print(f"hf-unlearn audit: error: {error}", file=sys.stderr)
        return 2
    result = auditor.audit(models["model"], original=models.get("original"), retain_model=models.get("retain_model"))
    result.settings["run"] = {"model": args.model, "original": args.original, "retain_model": args.retain_model}
    paths = result.save(args.output_dir, plot=not args.no_plot)
    print(result.table())
    print(f"hf-unlearn audit: wrote {', '.join(str(path) for path in paths.values())}", file=sys.stderr)
    if args.record_in_model:
        result.record_in(args.model, repo_id=args.repo_id)
        print(
            f"hf-unlearn audit: recorded the robustness summary in {Path(args.model) / 'unlearning_record.json'} "
            f"and the card {Path(args.model) / 'README.md'}",
            file=sys.stderr,
        )
    return 0


def add_audit_command(subparsers) -> argparse.ArgumentParser:
    """Registers the `audit` subcommand on an `argparse` subparsers object.

    Usage: `hf-unlearn audit --model OUT [--original BASE] [--retain_model RETAIN] --forget SPEC [--retain SPEC]
    [--probes all|relearn,quantize,...] --output_dir DIR`.

    Args:
        subparsers (`argparse._SubParsersAction`):
            The object returned by `ArgumentParser.add_subparsers()`.

    Returns:
        `argparse.ArgumentParser`: the subcommand's parser.
    """
    parser = subparsers.add_parser(
        "audit",
        help="attack an unlearned model (relearning, quantization, paraphrase, few-shot, prompts, logit lens)",
        description=(
            "Robustness audit: runs each probe on the unlearned model and, when given, on the original model "
            "(before unlearning) and the retain model (never saw the forget set), with the same seed, and reports "
            "per attack the forget score before and after and the recovery (U - R) / (O - R) on ROUGE-L. Without a "
            "retain model (pretrained knowledge has none), the recovery reported is the share regained, (U_attacked - "
            "U_clean) / (O_clean - U_clean): how much of the forget score lost by unlearning the attack brings back "
            "(both are reported when both models are given); an attack that also lowers the original's own score a "
            "lot is said to damage the model. Chat rows (messages, conversational prompt/completion) are attacked "
            "through the tokenizer's chat template. Models may "
            "be folders, Hub ids or PEFT adapter folders; the models are never modified. Writes OUTPUT_DIR/audit.json "
            "(numbers only: no text of any set) and OUTPUT_DIR/audit.png, and prints a table; --record_in_model adds "
            "the summary to the unlearned model's card and unlearning record."
        ),
    )
    _add(parser, "model", required=True, metavar="PATH", help="the unlearned model: folder, Hub id or adapter folder")
    _add(
        parser,
        "original",
        metavar="PATH",
        help="the model before unlearning (recovery 1); needed for any recovery, the share regained included",
    )
    _add(
        parser,
        "retain_model",
        metavar="PATH",
        help="a model trained without the forget set (recovery 0); without it, only the share regained is reported",
    )
    _add(
        parser,
        "tokenizer",
        metavar="PATH_OR_HUB_ID",
        help="tokenizer, with a chat template for chat rows (default: the first model folder holding one)",
    )
    _add(parser, "forget", required=True, metavar="SPEC", help=f"forget set: {SPEC_HELP}")
    _add(
        parser,
        "retain",
        metavar="SPEC",
        help=f"retain set (unrelated relearning data, few-shot examples): {SPEC_HELP}",
    )
    _add(
        parser,
        "probes",
        default="all",
        help=f"'all' or a comma-separated list of: {PROBE_HELP} (default: all; without bitsandbytes, 'all' leaves "
        "quantize out and records it as skipped)",
    )
    _add(parser, "output_dir", required=True, type=Path, metavar="DIR", help="where audit.json and audit.png go")
    _add(parser, "seed", type=int, default=0, help="seed of splits, examples, adapters and data order (default: 0)")
    _add(
        parser,
        "relearn_rows",
        type=lambda text: float(text) if "." in text else int(text),
        default=0.5,
        help="rows of the forget set relearned on: a count, or a fraction with a dot (default: 0.5)",
    )
    _add(parser, "relearn_steps", type=int, default=20, help="relearning optimizer steps (default: 20)")
    _add(parser, "relearn_learning_rate", type=float, default=1e-3, help="relearning learning rate (default: 1e-3)")
    _add(parser, "relearn_batch_size", type=int, default=4, help="relearning rows per step (default: 4)")
    _add(parser, "relearn_full", action="store_true", help="relearn every weight instead of a fresh LoRA adapter")
    _add(parser, "lora_r", type=int, default=8, help="LoRA rank of the relearning adapter (default: 8)")
    _add(parser, "lora_alpha", type=int, default=16, help="LoRA alpha of the relearning adapter (default: 16)")
    _add(
        parser, "quantize_bits", type=int, nargs="+", default=[8, 4], choices=[8, 4], help="bit widths (default: 8 4)"
    )
    _add(
        parser,
        "paraphrase_column",
        default="paraphrased_question",
        help="forget-set column with reworded questions; on chat rows, the reworded user turn or the turns before "
        "the answer (default: paraphrased_question)",
    )
    _add(
        parser,
        "few_shot_k",
        type=int,
        default=3,
        help="retain examples before each forget question, as earlier turns on chat rows (default: 3)",
    )
    _add(
        parser,
        "recovery_min_gap",
        type=float,
        default=0.05,
        help="smallest |original - retain| score gap for which a recovery is computed, and smallest drop of the "
        "forget score by unlearning for which the share regained is (default: 0.05)",
    )
    _add(parser, "batch_size", type=int, default=16, help="sequences per forward pass (default: 16)")
    _add(
        parser,
        "max_new_tokens",
        type=int,
        default=None,
        help="most tokens generated per answer (default: sized to the longest forget answer, as hf-unlearn eval)",
    )
    _add(parser, "max_length", type=int, default=512, help="truncation length of sequences (default: 512)")
    _add(
        parser,
        "qa_prompt_template",
        default=DEFAULT_QA_PROMPT_TEMPLATE,
        help="prompt of question/answer rows; use the training run's",
    )
    _add(parser, "no_plot", action="store_true", help="do not write audit.png")
    _add(
        parser,
        "record_in_model",
        action="store_true",
        help=(
            "also write the robustness summary into the --model folder's unlearning_record.json and regenerate its "
            "README.md card with a Robustness section (refused unless the record's forget-set fingerprint is the "
            "audit's); without it the audit never writes into a model folder"
        ),
    )
    _add(
        parser,
        "repo_id",
        metavar="USER/NAME",
        help="with --record_in_model: the Hub repository the regenerated card's loading snippet names",
    )
    _add(parser, "dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help="model dtype")
    _add(parser, "device", help="device to run on (default: cuda when available, else cpu)")
    _add(
        parser,
        "trust_remote_code",
        action="store_true",
        help="allow model / tokenizer code from the model repository to run (off by default)",
    )
    parser.set_defaults(func=run_audit)
    return parser

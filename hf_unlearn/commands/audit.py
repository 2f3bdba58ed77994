"""`hf-unlearn audit`: attack an unlearned model and its original / retain models; write audit.json and audit.png."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..utils import check_model_source, resolve_dtype
from .options import SHARED_OPTIONS
from .parser import CommandParser


PROG = "hf-unlearn audit"
PROBE_HELP = "relearn, quantize, paraphrase, few_shot, prompt_attacks, logit_lens"
DESCRIPTION = (
    "Robustness audit: runs each probe on the unlearned model and, when given, on the original model "
    "(before unlearning) and the retain model (never saw the forget set), with the same seed, and reports "
    "per attack the forget score before and after and the recovery (U - R) / (O - R) on ROUGE-L. Without a "
    "retain model (pretrained knowledge has none), the recovery reported is the share regained, (U_attacked - "
    "U_clean) / (O_clean - U_clean): how much of the forget score lost by unlearning the attack brings back "
    "(both are reported when both models are given); an attack that also lowers the original's own score a "
    "lot is said to damage the model. Chat rows (messages, conversational prompt/completion) are attacked "
    "through the tokenizer's chat template. Models may be folders, Hub ids or PEFT adapter folders; the models are "
    "never modified. Writes OUTPUT_DIR/audit.json (numbers only: no text of any set) and OUTPUT_DIR/audit.png, and "
    "prints a table; --record_in_model adds the summary to the unlearned model's card and unlearning record."
)


@dataclass
class AuditOptions:
    """`audit`'s own options, after the shared model, set and scoring options."""

    original: str | None = field(
        default=None,
        metadata={
            "help": "the model before unlearning (recovery 1); needed for any recovery, the share regained included",
            "metavar": "PATH",
        },
    )
    retain_model: str | None = field(
        default=None,
        metadata={
            "help": "a model trained without the forget set (recovery 0); without it, only the share regained is "
            "reported",
            "metavar": "PATH",
        },
    )
    probes: str = field(
        default="all",
        metadata={
            "help": f"'all' or a comma-separated list of: {PROBE_HELP} (default: all; without bitsandbytes, 'all' "
            "leaves quantize out and records it as skipped)"
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of splits, examples, adapters and data order (default: 0)"})
    relearn_rows: str = field(
        default="0.5",
        metadata={"help": "rows of the forget set relearned on: a count, or a fraction with a dot (default: 0.5)"},
    )
    relearn_steps: int = field(default=20, metadata={"help": "relearning optimizer steps (default: 20)"})
    relearn_learning_rate: float = field(default=1e-3, metadata={"help": "relearning learning rate (default: 1e-3)"})
    relearn_batch_size: int = field(default=4, metadata={"help": "relearning rows per step (default: 4)"})
    relearn_repeats: int = field(
        default=3,
        metadata={
            "help": "runs of each relearning attack, each with its own seed and split of the forget rows; the "
            "recovery is their median, with the range in audit.json, the table and the card. Each repeat costs one "
            "more relearning of every model: N repeats cost N times one run; 1 runs them once (default: 3)",
            "metavar": "N",
        },
    )
    relearn_full: bool = field(
        default=False, metadata={"help": "relearn every weight instead of a fresh LoRA adapter"}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank of the relearning adapter (default: 8)"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha of the relearning adapter (default: 16)"})
    quantize_bits: list[int] = field(
        default_factory=lambda: [8, 4], metadata={"help": "bit widths (default: 8 4)", "choices": [8, 4]}
    )
    paraphrase_column: str = field(
        default="paraphrased_question",
        metadata={
            "help": "forget-set column with reworded questions; on chat rows, the reworded user turn or the turns "
            "before the answer (default: paraphrased_question)"
        },
    )
    few_shot_k: int = field(
        default=3,
        metadata={"help": "retain examples before each forget question, as earlier turns on chat rows (default: 3)"},
    )
    recovery_min_gap: float = field(
        default=0.05,
        metadata={
            "help": "smallest |original - retain| score gap for which a recovery is computed, and smallest drop of "
            "the forget score by unlearning for which the share regained is (default: 0.05)"
        },
    )
    no_plot: bool = field(default=False, metadata={"help": "do not write audit.png"})
    record_in_model: bool = field(
        default=False,
        metadata={
            "help": "also write the robustness summary into the --model folder's unlearning_record.json and "
            "regenerate its README.md card with a Robustness section (refused unless the record's forget-set "
            "fingerprint is the audit's); without it the audit never writes into a model folder"
        },
    )

    def __post_init__(self):
        if self.relearn_repeats < 1:  # said before any model or set is loaded
            raise ValueError(
                f"relearn_repeats {self.relearn_repeats}: give a whole number >= 1 (1 runs each relearning attack "
                "once; N > 1 runs it N times, with other seeds and splits, for the median and the range)."
            )
        text = str(self.relearn_rows)
        try:
            self.relearn_rows = float(text) if "." in text else int(text)
        except ValueError:
            raise ValueError(
                f"relearn_rows {text!r} is neither a count (e.g. 10) nor a fraction with a dot (e.g. 0.5)."
            ) from None


def make_parser() -> CommandParser:
    """The parser of `hf-unlearn audit`: the shared model / set / scoring options, then `audit`'s own."""
    parser = CommandParser((*SHARED_OPTIONS, AuditOptions), prog=PROG, description=DESCRIPTION)
    parser.require("forget")
    return parser


def run(argv: list[str]) -> int:
    """`hf-unlearn audit ARGV`."""
    return run_audit(make_parser().parse_namespace(argv))


MODEL_ROLES = ("model", "original", "retain_model")
"""The audit's models, by option name: the unlearned model, the original and the retain model."""


def _models(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The models given, `(option, path or Hub id)`."""
    return [(name, getattr(args, name)) for name in MODEL_ROLES if getattr(args, name)]


def _check_output_dir(args: argparse.Namespace) -> None:
    """The model folders are never written to: the audit goes into a folder outside each of them."""
    output = Path(args.output_dir).resolve()
    for option, path in _models(args):
        if Path(path).is_dir() and output.is_relative_to(Path(path).resolve()):
            raise ValueError(
                f"--output_dir {str(args.output_dir)!r} is inside the --{option} folder {path!r}; the audit never "
                f"writes into a model folder. Give a folder outside it, e.g. {str(Path(path).resolve()) + '_audit'!r}."
            )


def resolve_probes(args: argparse.Namespace) -> list:
    """The probes `--probes` names, with the budgets of the command line.

    `all` means every probe that can run here: without bitsandbytes, quantize is left out and recorded as skipped,
    with the reason (the audit logs it); named in `--probes`, quantize is required and its absence an error
    (a `ValueError`: a missing optional extra is the user's to install).
    """
    from ..evaluation.probes import FewShotProbe, ParaphraseProbe, QuantizeProbe, RelearnProbe, make_probes
    from ..evaluation.probes.base import Attack, Probe
    from ..evaluation.probes.quantize import require_bitsandbytes

    class LeftOut(Probe):
        """A probe of `--probes all` that cannot run here: one skipped attack that carries the reason."""

        def __init__(self, name: str, reason: str):
            self.name, self.reason = name, reason

        def attacks(self, context) -> list:
            return [Attack(name=self.name, probe=self.name, rows=[], skipped=self.reason)]

    def quantize():
        try:
            require_bitsandbytes()
        except ImportError as error:
            if "quantize" in args.probes.replace(" ", "").split(","):
                raise ValueError(str(error)) from error
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
            repeats=args.relearn_repeats,
        ),
        "quantize": quantize,
        "paraphrase": lambda: ParaphraseProbe(column=args.paraphrase_column),
        "few_shot": lambda: FewShotProbe(k=args.few_shot_k),
    }
    return [options[probe.name]() if probe.name in options else probe.name for probe in make_probes(args.probes)]


def run_audit(args: argparse.Namespace) -> int:
    """Runs `audit` on parsed arguments: prints the table, writes `audit.json` and `audit.png`.

    Returns:
        `int`: exit code, 0 on success. Bad input raises `ValueError` / `OSError` (see `hf_unlearn.commands`).
    """
    from transformers import AutoTokenizer

    from ..data.loading import load_dataset_spec
    from ..evaluation.audit import UnlearningAuditor, check_record
    from ..models import load_model, resolve_device, tokenizer_source

    _check_output_dir(args)
    for option, path in _models(args):
        check_model_source(path, option)
    probes = resolve_probes(args)
    forget = load_dataset_spec(args.forget, "forget")
    retain = load_dataset_spec(args.retain, "retain") if args.retain else None
    source = tokenizer_source(args.model, args.original, args.retain_model, tokenizer=args.tokenizer)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=args.trust_remote_code)
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
    device = resolve_device(args.device)
    models = {role: load_model(path, name=role, **kwargs).to(device) for role, path in _models(args)}
    result = auditor.audit(models["model"], original=models.get("original"), retain_model=models.get("retain_model"))
    result.settings["run"] = {"model": args.model, "original": args.original, "retain_model": args.retain_model}
    paths = result.save(args.output_dir, plot=not args.no_plot)
    print(result.table())
    print(f"{PROG}: wrote {', '.join(str(path) for path in paths.values())}", file=sys.stderr)
    if args.record_in_model:
        result.record_in(args.model, repo_id=args.repo_id)
        print(
            f"{PROG}: recorded the robustness summary in {Path(args.model) / 'unlearning_record.json'} "
            f"and the card {Path(args.model) / 'README.md'}",
            file=sys.stderr,
        )
    return 0

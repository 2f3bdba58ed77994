"""`hf-unlearn demo`: unlearning end to end on a fresh machine, offline, on a CPU, in minutes.

1. generates fictitious people (forget / retain / holdout), trains a byte-level BPE tokenizer on them;
2. trains an *original* model on forget + retain until it knows them, and a *retain* model on retain only (the model
   that never saw the forget set), both cached in the output folder (a rerun with another `--method` reuses them);
3. unlearns the original with the chosen method, evaluating the forget and retain sets along the way, and saves the
   unlearned model (with its card and unlearning record) to `runs/<method>/`;
4. evaluates the original, retain and unlearned models, prints a table, writes `report.json` and `curves.png` (with
   the target band), and says whether unlearning reached the retain model, went past it (forgot more) or fell
   short, by how much, and whether that is success (see `assess`);
5. unless `--no-audit`, attacks the three models (relearning, quantization, paraphrase, few-shot, prompt framings,
   logit lens), prints the audit table and one sentence on relearning, writes `audit.json` and `audit.png`, and adds
   a Robustness section to the unlearned model's card and record.

The generated rows are written to `data/` and the retain model's scores to `retain_model_eval/`, so that
`hf-unlearn eval` can score the unlearned model again (the demo prints the command).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from ..utils import KEPT as UTILITY_KEPT
from ..utils import MIN_FORGET_QUALITY
from .report import ROUGE_GAP, SIZES, assess, headline_words, print_table, verdict


SCORE_NAMES = {"rougeL_recall": "ROUGE-L", "probability": "answer probability"}
AUDIT_SIZES = {
    # name: (RelearnProbe fields, QuantizeProbe bits, UnlearningAuditor fields). The demo's answers are at most 13
    # tokens, so 16 new tokens score them in full; relearning keeps the library's budget (half the forget rows,
    # 20 steps of 4 rows) but runs once, not the library's 3 repeats: the demo shows the attack in minutes on a
    # laptop, and a range over repeats is for comparing methods (`hf-unlearn audit`, `benchmarks/audit_tiny.py`).
    # The tiny models are too narrow for bitsandbytes' CPU 4-bit kernels (widths of 64).
    "default": ({"steps": 20, "batch_size": 4, "repeats": 1}, (8, 4), {"max_new_tokens": 16, "batch_size": 32}),
    "tiny": ({"steps": 2, "batch_size": 2, "repeats": 1}, (8,), {"max_new_tokens": 4, "batch_size": 8}),
}


def draw_curves(curve: list[dict], rows: dict[str, dict], method: str):
    """The unlearning curves with the targets of [`assess`] drawn in, and the verdict (from the same `rows`) in the
    title.

    Left: forget and retain ROUGE-L over the steps, the retain model's forget ROUGE-L (dashed), the target band
    (+-`ROUGE_GAP` around it, shaded) and the "went past" region below it (hatched). Right: forget quality, with
    the region at or above `MIN_FORGET_QUALITY` shaded.

    Args:
        curve (`list[dict]`): the evaluations along the run (`step`, `eval_forget_rougeL_recall`, ...).
        rows (`dict[str, dict]`): the headline scores of the `original`, `retain` and `unlearned` models.
        method (`str`): the run's name, for the title.

    Returns:
        `matplotlib.figure.Figure`: the figure (the caller saves and closes it).
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in curve]
    reference = rows["retain"]["forget_rougeL_recall"]
    figure, (rouge_axis, quality_axis) = plt.subplots(1, 2, figsize=(11, 5.6))
    result = assess(rows["original"], rows["retain"], rows["unlearned"])
    figure.suptitle(
        f"Unlearning with {method}. Target, the retain model: forget quality in the green region, retain ROUGE-L at "
        f"least {UTILITY_KEPT} x the original's,\nforget ROUGE-L in the grey band (reached) or below it (went past: "
        f"forgot more; not a failure).\n"
        f"Result: {headline_words(result)}.\n"
        f"Final scores: forget ROUGE-L {result['forget_rouge']:.2f} (retain model: "
        f"{result['retain_model_forget_rouge']:.2f}), forget quality {result['forget_quality']:.3g}, retain ROUGE-L "
        f"kept at {result['kept']:.2f} x.",
        fontsize=10,
    )
    rouge_axis.axhspan(
        max(reference - ROUGE_GAP, 0.0),
        reference + ROUGE_GAP,
        color="tab:gray",
        alpha=0.25,
        label=f"reached (retain model +- {ROUGE_GAP})",
    )
    rouge_axis.axhspan(
        -0.02,
        max(reference - ROUGE_GAP, -0.02),
        facecolor="none",
        edgecolor="tab:gray",
        hatch="//",
        linewidth=0,
        label="went past (below the band)",
    )
    for key, label in (("eval_forget_rougeL_recall", "forget"), ("eval_retain_rougeL_recall", "retain (sample)")):
        rouge_axis.plot(steps, [entry.get(key) for entry in curve], marker="o", label=f"unlearned: {label}")
    rouge_axis.axhline(reference, linestyle="--", color="gray", label="retain model: forget")
    # the legend goes above the curves, which start at 1
    rouge_axis.set(xlabel="unlearning step", ylabel="ROUGE-L recall of greedy answers", ylim=(-0.02, 1.4))
    rouge_axis.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    rouge_axis.legend(fontsize=8, loc="upper center", ncol=2)
    quality = [max(entry.get("eval_forget_quality") or 1e-30, 1e-30) for entry in curve]
    quality_axis.axhspan(
        MIN_FORGET_QUALITY, 1.0, color="tab:green", alpha=0.15, label=f"target: forget quality >= {MIN_FORGET_QUALITY}"
    )
    quality_axis.semilogy(steps, quality, marker="o", color="tab:green", label="forget quality (KS p-value)")
    quality_axis.set(
        xlabel="unlearning step", ylabel="forget quality vs the retain model", ylim=(min(quality + [1e-3]) / 2, 2.0)
    )
    quality_axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def plot_curves(curve: list[dict], rows: dict[str, dict], path: Path, method: str) -> None:
    """Write [`draw_curves`]'s figure to `path` (a PNG, written to a temporary file first)."""
    import matplotlib.pyplot as plt

    from ..utils import atomic_write

    figure = draw_curves(curve, rows, method)
    with atomic_write(path) as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)


def run_audit(baselines, model, forget, retain, recipe, seed: int, size: str, output_dir: Path, run_dir: Path):
    """Audit the unlearned `model` against the original and retain models (every probe, demo-sized budgets).

    Writes `audit.json` and `audit.png` into `output_dir`, and records the robustness summary in the model folder
    `run_dir` (its card and unlearning record), which is the folder this run saved the model to.

    Returns:
        `tuple`: the [`AuditResult`], its wall and CPU seconds, and the names of probes left out (with the reason).
    """
    from ..evaluation import UnlearningAuditor
    from ..evaluation.probes import PROBES, QuantizeProbe, RelearnProbe
    from ..evaluation.probes.quantize import require_bitsandbytes
    from ..evaluation.scoring import progress_bars
    from .experiment import load_model

    relearn_fields, bits, auditor_fields = AUDIT_SIZES[size]
    probes, left_out = [], {}
    for name in PROBES:
        if name == "relearn":
            probes.append(RelearnProbe(**relearn_fields))
        elif name == "quantize":
            try:
                require_bitsandbytes()
                probes.append(QuantizeProbe(bits=bits))
            except ImportError as error:  # an optional extra: the other attacks still run
                left_out[name] = str(error)
        else:
            probes.append(name)
    wall, cpu = time.perf_counter(), time.process_time()
    auditor = UnlearningAuditor(
        baselines.tokenizer, forget, retain, probes=probes, seed=seed, max_length=recipe.max_length, **auditor_fields
    )
    original, retain_model = load_model(baselines.original_dir), load_model(baselines.retain_dir)
    with progress_bars(enabled=True):
        result = auditor.audit(model.eval(), original=original, retain_model=retain_model)
    result.save(output_dir)
    result.record_in(run_dir)
    return result, time.perf_counter() - wall, time.process_time() - cpu, left_out


def audit_sentence(result) -> str:
    """One plain-language sentence on the relearning attack, and the worst attack of the audit."""
    entry = result.attacks.get("relearn_forget")
    summary = result.robustness_summary()
    worst = summary["worst"]
    worst_part = (
        f"the worst attack is {worst['attack']} (recovery {worst['recovery']:.2f}; 0 = no more than the retain "
        "model, 1 = all the original knew)"
        if worst
        else "no attack has a defined recovery"
    )
    if entry is None or entry["status"] != "ok":
        return f"Audit: {worst_part}."
    settings, models, score = entry["settings"], entry["models"], entry["headline"]["score"]
    unlearned, retain = models["unlearned"], models["retain"]
    moves = (
        f"the unlearned model's forget {SCORE_NAMES.get(score, score)} goes {unlearned['before'][score]:.2f} -> "
        f"{unlearned['after'][score]:.2f}, the retain model's, which never saw them, {retain['before'][score]:.2f} "
        f"-> {retain['after'][score]:.2f} under the same attack"
    )
    relearning = f"Relearning on {settings['train_rows']} forget rows for {settings['steps']} steps"
    value = entry["headline"]["recovery"]
    if value is None:
        note = entry["recovery_notes"][score].removeprefix("undefined: ")
        return (
            f"{relearning} brings back an unmeasurable share of the forgotten answers on the other "
            f"{entry['scored_rows']} rows ({moves}; recovery undefined: {note}); {worst_part}."
        )
    # A negative recovery (the unlearned model gains less than the retain model) reads as "none", not "-4 %".
    share = f"{value:.0%} of" if value > 0 else f"none (recovery {value:.2f}) of"
    return (
        f"{relearning} brings back {share} the forgotten answers on the other {entry['scored_rows']} rows "
        f"({moves}); {worst_part}."
    )


def quiet_libraries() -> None:
    """Keep the demo's output to its own lines and one bar per phase: no per-file loading, writing or mapping bars."""
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()


def save_rows(splits, directory: Path) -> dict[str, Path]:
    """Write each split as JSON lines (fictitious people only), for `hf-unlearn eval`; returns the paths."""
    from ..utils import write_text_atomic

    paths = {}
    for name in ("forget", "retain", "holdout"):
        paths[name] = directory / f"{name}.jsonl"
        write_text_atomic(paths[name], "".join(json.dumps(row) + "\n" for row in splits[name]))
    return paths


def run_demo(args: argparse.Namespace) -> int:
    from ..evaluation import summarize_logs
    from ..evaluation.scoring import progress_bars
    from ..utils import write_json_atomic
    from .experiment import (
        ModelRecipe,
        UnlearningRun,
        all_texts,
        evaluator_for,
        headline,
        load_model,
        record_scores,
        set_threads,
        train_baselines,
        unlearn,
    )
    from .synthetic import SyntheticConfig, generate_synthetic_splits

    quiet_libraries()
    set_threads()
    start = time.perf_counter()
    data_fields, recipe_fields, run_fields = SIZES[args.size]
    data_config = SyntheticConfig(seed=args.seed, **data_fields)
    recipe = ModelRecipe(seed=args.seed, **recipe_fields)
    run = UnlearningRun(
        method=args.method, lora=args.lora, **{**run_fields, **({"steps": args.steps} if args.steps else {})}
    )
    output_dir = Path(args.output_dir)
    splits = generate_synthetic_splits(data_config)
    forget, retain, holdout = (list(splits[name]) for name in ("forget", "retain", "holdout"))
    data_paths = save_rows(splits, output_dir / "data")
    phases = 5 if args.audit else 4
    print(
        f"[1/{phases}] Data: {len(forget)} forget, {len(retain)} retain, {len(holdout)} holdout rows about "
        f"{data_config.num_people} fictitious people (seed {args.seed}).",
        flush=True,
    )

    print(
        f"[2/{phases}] Original (forget + retain) and retain (retain only) models: trained once, then cached.",
        flush=True,
    )
    baselines = train_baselines(
        output_dir / "cache" / data_config.fingerprint()[:16], forget, retain, recipe, extra_texts=all_texts(holdout)
    )
    for name, info in baselines.training.items():
        how = "from cache" if info["cached"] else f"trained in {info['seconds']:.0f} s"
        print(
            f"      {name}: {info['parameters'] / 1e6:.1f}M parameters, {info['epochs']} epochs, final training "
            f"loss {info['final_train_loss']:.3f} ({how})",
            flush=True,
        )

    print(f"[3/{phases}] Evaluating the retain and original models.", flush=True)
    eval_sets = {"forget": forget, "retain": retain, "holdout": holdout}
    retain_model, original_model = load_model(baselines.retain_dir), load_model(baselines.original_dir)
    # The library's bars are off since `quiet_libraries`: on for the phases that would run for tens of seconds in
    # silence (evaluation, the audit), while loading and saving stay quiet.
    with progress_bars(enabled=True):
        retain_result = evaluator_for(baselines.tokenizer, eval_sets, max_length=recipe.max_length).evaluate(
            retain_model
        )
        evaluator = evaluator_for(baselines.tokenizer, eval_sets, retain_result.logs, max_length=recipe.max_length)
        original_result = evaluator.evaluate(original_model)
    del retain_model, original_model
    retain_logs = retain_result.logs
    retain_log_path = retain_result.save(output_dir / "retain_model_eval")["logs"]

    print(f"[4/{phases}] Unlearning with {run.name} for {run.steps} steps.", flush=True)
    curve_sets = {"forget": forget, "retain": retain[: len(forget)]}
    run_dir = output_dir / "runs" / run.name
    trainer, curve, unlearn_seconds = unlearn(baselines, forget, retain, run, run_dir, curve_sets, retain_logs, recipe)
    with progress_bars(enabled=True):
        unlearned_result = evaluator.evaluate(trainer.model)
    unlearned_result.save(run_dir / "evaluation")
    # the card's before / after table from the same full-set evaluations as the table printed below
    record_scores(trainer, original_result.metrics(), unlearned_result.metrics())
    rows = {
        "original": headline(original_result.summary),
        "retain": headline(summarize_logs(retain_logs, retain_logs, sets=list(eval_sets))),
        "unlearned": headline(unlearned_result.summary),
    }
    print()
    print_table(rows)
    success, sentence = verdict(rows["original"], rows["retain"], rows["unlearned"])
    print()
    print(sentence)

    audit = None
    if args.audit:
        print("\n[5/5] Robustness audit: every attack on the unlearned, original and retain models.", flush=True)
        result, audit_wall, audit_cpu, left_out = run_audit(
            baselines, trainer.model, forget, retain, recipe, args.seed, args.size, output_dir, run_dir
        )
        print(result.table())
        for name, reason in left_out.items():
            print(f"(probe {name} left out: {reason})")
        print()
        print(audit_sentence(result))
        audit = {
            "file": str(output_dir / "audit.json"),
            "summary": result.robustness_summary(),
            "left_out": left_out,
            "wall_seconds": round(audit_wall, 1),
            "cpu_seconds": round(audit_cpu, 1),
            "load_average": [round(value, 2) for value in os.getloadavg()],
        }

    plot_path = output_dir / "curves.png"
    plot_curves(curve, rows, plot_path, run.name)
    report = {
        "method": run.name,
        "config": run.config_fields(),
        "steps": run.steps,
        "size": args.size,
        "seed": args.seed,
        "data": {
            "forget": len(forget),
            "retain": len(retain),
            "holdout": len(holdout),
            "fingerprint": data_config.fingerprint(),
        },
        "models": rows,
        "success": success,
        "targets": assess(rows["original"], rows["retain"], rows["unlearned"]),
        "verdict": sentence,
        "training": baselines.training,
        "unlearning_seconds": round(unlearn_seconds, 1),
        "audit": audit,
        "model_dir": str(run_dir),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "curve": [
            {key: value for key, value in entry.items() if key.startswith("eval_") or key == "step"} for entry in curve
        ],
        # the training log the trainer would have printed: loss, gradient norm, per-role statistics
        "unlearning_log": [entry for entry in trainer.state.log_history if "loss" in entry],
    }
    write_json_atomic(output_dir / "report.json", report)
    written = f"{output_dir / 'report.json'} and {plot_path}"
    if audit:
        written = f"{output_dir / 'report.json'}, {plot_path}, {output_dir / 'audit.json'} and audit.png"
    print(f"Wrote {written} ({report['wall_seconds']:.0f} s in all).")
    print(
        f"The unlearned model, its card and unlearning record are in {run_dir}; score it again with\n"
        f"  hf-unlearn eval --model {run_dir} --forget {data_paths['forget']} --retain {data_paths['retain']} "
        f"--holdout {data_paths['holdout']} --retain_logs {retain_log_path} --output_dir {run_dir / 'evaluation'}"
    )
    return 0

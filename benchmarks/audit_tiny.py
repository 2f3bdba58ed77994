"""Protocol `audit-tiny` (BENCHMARKS.md): did the `tofu-tiny-01` unlearning runs really forget?

    python benchmarks/audit_tiny.py --data path/to/TOFU --output docs/benchmarks/audit_tiny.json

On the `tofu-tiny-01` original (O) and retain (R) models and on the unlearned model (U) of each method (the
`tofu-tiny-01` table's settings, trained by `benchmarks/tofu_tiny.py`'s own functions and cached in the same
folder), every probe of `UnlearningAuditor` runs with the protocol's budgets, which are the probes' defaults:
relearning on forget split A (20 of the 40 rows, seed) scored on B and on retain rows 0..39 of `retain_perturbed`
(fresh LoRA r 8, alpha 16, all linear layers, lr 1e-3, batch 4, 20 steps), 8-bit and 4-bit NF4 reloads (fp32
compute), paraphrased questions, 3 retain examples before each question, the three prompt attacks, the logit lens.
Recovery = (U - R) / (O - R) on the attacked forget ROUGE-L.

O and R do not depend on the method: they are audited once per seed, and their scores are reused in every method's
recovery (the audit seeds the split, the adapter initialisation and the data order, so the reused numbers are the
ones an audit of the three together would give). Each audit and each unlearning run is a fresh process.

    --methods ga,npo            a subset (keys of hf_unlearn.demo.methods.METHODS; add _lora for the LoRA variant)
    --seeds 0,1,2               more seeds: each seeds the audit and the unlearning run (the O / R models stay
                                those of tofu-tiny-01, trained with seed 0); the summary takes the median
    --jobs 2                    processes side by side, one thread each
    --relearn_repeats 3         runs of each relearning attack, each with its own seed and split (default 3, the
                                library's): the recovery is their median; audit.json keeps every repeat's values
    --variant npo_sam=npo:sam_rho=0.01
                                a method of your own: a METHODS key with more UnlearningConfig fields (KEY=VALUE,
                                several joined by ';'); run it by its label in --methods (repeatable). Keys
                                distill_alpha, distill_steps, distill_learning_rate add an UNDO step after unlearning
                                (the distilled model is the one scored and audited)
    --reuse_audits              reuse the O / R audits an earlier run saved in the cache (same seed, same models,
                                same relearn repeats)
    --smoke                     a toy-size pass through every step, for CI
    --combine a.json b.json     merge earlier outputs' seeds into one report with the medians (no run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from tofu_tiny import method_spec, parse_overrides, prepare_protocol, run_worker  # noqa: E402
from tofu_tiny import worker as unlearning_worker  # noqa: E402

from hf_unlearn.demo.experiment import FINGERPRINT_FILE  # noqa: E402
from hf_unlearn.evaluation.audit import range_text  # noqa: E402
from hf_unlearn.utils import write_json_atomic, write_text_atomic  # noqa: E402


PROTOCOL = "tofu-tiny-01"
DEFAULT_METHODS = "ga,gd,npo,simnpo,npo_lora"
TITLES = {"ga": "GA", "gd": "GD", "npo": "NPO", "npo_kl": "NPO + KL", "simnpo": "SimNPO", "wga": "WGA"}
STRETCH = {
    "recovery": 0.25,
    "forget_quality": 0.05,
    "utility_ratio": 0.9,
    "attacks": ("relearn_forget", "quantize_4bit"),
}


def parse_variants(items: list[str]) -> dict[str, tuple[str, dict]]:
    """`--variant LABEL=METHOD:KEY=VALUE;KEY=VALUE` -> {LABEL: (METHOD, {KEY: VALUE})} (values read as JSON when
    they look like numbers, lists or booleans, as `tofu_tiny.py --set` reads them)."""
    variants = {}
    for item in items:
        label, _, definition = item.partition("=")
        method, _, assignments = definition.partition(":")
        if not label or not method or not assignments:
            raise SystemExit(
                f"--variant {item!r}: expected LABEL=METHOD:KEY=VALUE[;KEY=VALUE], e.g. npo_sam=npo:sam_rho=0.01"
            )
        fields = parse_overrides([f"{method}:{assignment}" for assignment in assignments.split(";")])[method]
        variants[label] = (method, fields)
    return variants


def distill_step(spec: dict, report: dict, model_dir: Path) -> tuple[dict, Path]:
    """UNDO after unlearning (`--variant LABEL=METHOD:...;distill_alpha=0.3;distill_steps=200`): noise the unlearned
    model's weights by `alpha`, distill it into that copy on the retain rows for `steps` steps (lr `learning_rate`,
    default 1e-3, batch 16), and score the copy as the method's result."""
    from transformers import AutoTokenizer

    from hf_unlearn import DistillConfig, DistillTrainer
    from hf_unlearn.demo.experiment import evaluator_for, headline

    cache, rows, options = Path(spec["cache"]), spec["rows"], spec["distill"]
    tokenizer = AutoTokenizer.from_pretrained(cache / "tokenizer")
    output_dir = model_dir.with_name(f"{model_dir.name}_undo")
    args = DistillConfig(
        output_dir=str(output_dir),
        alpha=float(options["alpha"]),
        max_steps=int(options.get("steps", 200)),
        learning_rate=float(options.get("learning_rate", 1e-3)),
        per_device_train_batch_size=16,
        max_length=spec["unlearning"]["recipe"]["max_length"],
        seed=spec["seed"],
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    start = time.perf_counter()
    retain = rows["retain_train"]
    trainer = DistillTrainer(str(model_dir), args=args, retain_dataset=retain, processing_class=tokenizer)
    trainer.train()
    trainer.save_model()
    seconds = time.perf_counter() - start
    retain_logs = json.loads((cache / "retain_eval_logs.json").read_text())
    eval_sets = {"forget": rows["forget"], "retain": rows["retain_eval"]}
    result = evaluator_for(tokenizer, eval_sets, retain_logs, args.max_length).evaluate(trainer.model)
    distilled = {**report, "scores": headline(result.summary), "before_distill": report["scores"]}
    distilled["settings"] = {**report["settings"], **{f"distill_{key}": value for key, value in options.items()}}
    distilled["unlearning_seconds"] = round(report["unlearning_seconds"] + seconds, 1)
    return distilled, output_dir


def title(method: str) -> str:
    base = method.removesuffix("_lora")
    return TITLES.get(base, base) + (" LoRA" if method.endswith("_lora") else "")


def make_auditor(spec: dict):
    """The protocol's auditor: every probe at its default budget (the protocol's), toy budgets in smoke mode."""
    from transformers import AutoTokenizer

    from hf_unlearn.evaluation import UnlearningAuditor
    from hf_unlearn.evaluation.probes import PROBES, RelearnProbe

    relearn, max_new_tokens = {"repeats": spec.get("relearn_repeats", 3)}, 60
    if spec["smoke"]:  # an untrained toy model generates to the limit: keep every step short
        relearn, max_new_tokens = {**relearn, "steps": 2}, 4
    probes = [RelearnProbe(**relearn) if name == "relearn" else name for name in PROBES]
    tokenizer = AutoTokenizer.from_pretrained(Path(spec["cache"]) / "tokenizer")
    rows = spec["rows"]
    return UnlearningAuditor(
        tokenizer,
        forget=rows["forget"],
        retain=rows["retain_eval"],
        probes=probes,
        seed=spec["seed"],
        max_new_tokens=max_new_tokens,
    )


def audit_worker(spec: dict) -> dict:
    """In this process: audit one baseline model alone, or unlearn with one method and audit its model."""
    import torch

    from hf_unlearn.evaluation.audit import with_baselines

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    start = time.perf_counter()
    if spec["role"] != "unlearned":
        result = make_auditor(spec).audit(spec["model"])
        return {"role": spec["role"], "audit": result.to_dict(), "seconds": round(time.perf_counter() - start, 1)}

    report = unlearning_worker(spec["unlearning"])
    model_dir = Path(spec["unlearning"]["output_dir"]) / report["method"]
    if spec.get("distill"):  # UNDO: the unlearned model distilled into a noised copy of itself; that copy is audited
        report, model_dir = distill_step(spec, report, model_dir)
    unlearned_seconds = time.perf_counter() - start
    auditor = make_auditor(spec)
    audit_start = time.perf_counter()
    own = auditor.audit(str(model_dir))
    audit_seconds = time.perf_counter() - audit_start
    baselines = {role: json.loads(Path(path).read_text())["audit"] for role, path in spec["baseline_audits"].items()}
    merged = with_baselines(own, baselines)  # the recoveries a joint audit of O, R and U gives
    merged.save(model_dir.with_name(f"{model_dir.name}_audit_seed{spec['seed']}"))
    print(f"{report['method']} (seed {spec['seed']}):\n{merged.table()}", file=sys.stderr)
    return {
        **report,
        "method": spec.get("label", report["method"]),
        "seed": spec["seed"],
        "audit": merged.to_dict(),
        "audit_seconds": round(audit_seconds, 1),
        "worker_seconds": round(time.perf_counter() - start, 1),
        "unlearning_and_evaluation_seconds": round(unlearned_seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def is_fresh(audit_path: Path, model_dir: Path) -> bool:
    """An audit file written after its model was (re)trained: `--reuse_audits` may use it."""
    marker = model_dir / FINGERPRINT_FILE
    return audit_path.is_file() and marker.is_file() and audit_path.stat().st_mtime > marker.stat().st_mtime


def reused_audit(script: str, spec: dict, spec_path: Path) -> dict:
    """The saved audit of a baseline model, in `run_worker`'s place (same arguments, same result)."""
    path = Path(spec["cache"]) / f"audit_{spec['role']}_seed{spec['seed']}.json"
    result = json.loads(path.read_text())
    if result["audit"]["settings"]["seed"] != spec["seed"]:
        raise ValueError(f"{path} holds an audit with seed {result['audit']['settings']['seed']}, not {spec['seed']}.")
    relearn = result["audit"]["attacks"].get("relearn_forget", {}).get("settings", {})
    if relearn.get("repeats", 1) != spec["relearn_repeats"]:
        repeats = relearn.get("repeats", 1)
        raise ValueError(
            f"{path} holds an audit with {repeats} relearn repeat(s), not {spec['relearn_repeats']}: run without "
            "--reuse_audits."
        )
    return {**result, "reused": True}


def stretch_check(method: dict, original_utility: float) -> dict:
    """Issue 10's stretch target on one run: relearn-forget and quantize-4bit recovery <= 0.25, forget quality
    >= 0.05, model utility >= 0.9 x the original's."""
    recoveries = {name: method["audit"]["attacks"][name]["headline"]["recovery"] for name in STRETCH["attacks"]}
    scores = method["scores"]
    ratio = scores["model_utility"] / original_utility
    met = (
        all(value is not None and value <= STRETCH["recovery"] for value in recoveries.values())
        and scores["forget_quality"] >= STRETCH["forget_quality"]
        and ratio >= STRETCH["utility_ratio"]
    )
    return {
        "recovery": recoveries,
        "forget_quality": scores["forget_quality"],
        "utility_ratio": round(ratio, 3),
        "met": met,
    }


def median(values: list):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def summarize(report: dict) -> dict:
    """Per method, the median over seeds of each attack's recovery and of the stretch target's quantities."""
    original_utility = report["baselines"]["original"]["model_utility"]
    summary = {}
    for method in dict.fromkeys(run["method"] for seed in report["seeds"] for run in seed["methods"]):
        runs = [run for seed in report["seeds"] for run in seed["methods"] if run["method"] == method]
        checks = [stretch_check(run, original_utility) for run in runs]
        attacks = runs[0]["audit"]["attacks"]
        summary[method] = {
            "seeds": [run["seed"] for run in runs],
            "recovery_median": {
                name: median([run["audit"]["attacks"][name].get("headline", {}).get("recovery") for run in runs])
                for name in attacks
            },
            # Every relearning repeat's headline recovery, per seed: the spread the medians come from.
            "recovery_repeats": {
                name: [
                    [run_["headline"]["recovery"] for run_ in run["audit"]["attacks"][name]["repeats"]] for run in runs
                ]
                for name, entry in attacks.items()
                if entry.get("repeats")
            },
            "forget_quality_median": median([check["forget_quality"] for check in checks]),
            "utility_ratio_median": median([check["utility_ratio"] for check in checks]),
        }
        stretch = summary[method]
        stretch["stretch_target_met"] = (
            all(
                stretch["recovery_median"][name] is not None
                and stretch["recovery_median"][name] <= STRETCH["recovery"]
                for name in STRETCH["attacks"]
            )
            and stretch["forget_quality_median"] >= STRETCH["forget_quality"]
            and stretch["utility_ratio_median"] >= STRETCH["utility_ratio"]
        )
    return summary


def _score(entry: dict, role: str, stage: str) -> str:
    value = entry["models"][role][stage][entry["headline"]["score"]]
    return "-" if value is None else f"{value:.2f}"


def markdown(report: dict) -> str:
    """Per seed, one table of attacks x models (O, R, then each method's U with its recovery), and one table of
    per-method efficacy, wall time and the stretch target."""
    lines = []
    for seed in report["seeds"]:
        methods = seed["methods"]
        if not methods:
            continue
        first = methods[0]["audit"]["attacks"]
        lines += [
            f"Seed {seed['seed']}. Forget score before -> after the attack (ROUGE-L; probability for the logit lens); "
            "for U, the recovery in parentheses; for the relearning attacks, the median over their repeats with "
            "[lowest, highest], and the median scores.",
            "",
            "| attack | score | O | R | " + " | ".join(title(m["method"]) for m in methods) + " |",
            "|---|---|---|---|" + "---|" * len(methods),
        ]
        for name, entry in first.items():
            if entry["status"] != "ok":
                lines.append(f"| {name} | skipped: {entry['reason']} |" + " |" * (2 + len(methods)))
                continue
            cells = [
                f"{_score(entry, role, 'before')} -> {_score(entry, role, 'after')}" for role in ("original", "retain")
            ]
            for method in methods:
                attack = method["audit"]["attacks"][name]
                value = attack["headline"]["recovery"]
                spread = range_text(attack.get("spread", {}).get("recovery", {}).get(attack["headline"]["score"]))
                cells.append(
                    f"{_score(attack, 'unlearned', 'before')} -> {_score(attack, 'unlearned', 'after')} "
                    f"({'n/a' if value is None else f'{value:.2f}{spread}'})"
                )
            score = "prob" if entry["headline"]["score"] == "probability" else "ROUGE-L"
            lines.append(f"| {name} | {score} | " + " | ".join(cells) + " |")
        seconds = seed["baseline_seconds"]
        lines += [
            "",
            f"O and R audited once for seed {seed['seed']} and reused for every method "
            f"({seconds['original']:.0f} s and {seconds['retain']:.0f} s).",
            "",
        ]
    original_utility = report["baselines"]["original"]["model_utility"]
    lines += [
        "| method | seed | forget quality | model utility (x O) | relearn-forget rec. | quantize-4bit rec. | "
        "stretch target | unlearning s | audit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for seed in report["seeds"]:
        for method in seed["methods"]:
            check = stretch_check(method, original_utility)
            recoveries = ["n/a" if value is None else f"{value:.2f}" for value in check["recovery"].values()]
            lines.append(
                f"| {title(method['method'])} | {seed['seed']} | {check['forget_quality']:.3g} | "
                f"{check['utility_ratio']:.2f} | {recoveries[0]} | {recoveries[1]} | "
                f"{'met' if check['met'] else 'not met'} | {method['unlearning_seconds']:.0f} | "
                f"{method['audit_seconds']:.0f} |"
            )
    if len(report["seeds"]) > 1:
        lines += ["", "Medians over seeds (relearn-forget recovery also per seed):", "", *median_table(report)]
    return "\n".join(lines) + "\n"


def median_table(report: dict) -> list[str]:
    """Markdown lines: per method, the medians over its seeds of forget quality, forget ROUGE-L, model utility as a
    fraction of O's, the relearn-forget (each seed's too), relearn-unrelated and quantize-4bit recoveries, the
    unlearned model's answer probability at its best logit-lens layer and the unlearning seconds, and whether the
    medians meet the stretch target. The table of docs/benchmarks.md, from `--combine` of the runs' outputs."""
    original_utility = report["baselines"]["original"]["model_utility"]
    runs: dict[str, list[dict]] = {}
    for seed in report["seeds"]:
        for method in seed["methods"]:
            runs.setdefault(method["method"], []).append(method)

    def recovery_of(method: dict, attack: str) -> float | None:
        entry = method["audit"]["attacks"][attack]
        return entry["headline"]["recovery"] if entry["status"] == "ok" else None

    def cell(value: float | None, digits: str = ".2f") -> str:
        return "n/a" if value is None else f"{value:{digits}}"

    lines = [
        "| method | seeds | forget quality | forget ROUGE-L | model utility (x O) | relearn-forget rec. (per seed) | "
        "relearn-unrelated rec. | quantize-4bit rec. | logit-lens best-layer prob. | unlearning s | stretch target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, summary in report["summary"].items():
        methods = runs[name]
        per_seed = ", ".join(cell(recovery_of(method, "relearn_forget")) for method in methods)
        lens = [m["audit"]["attacks"]["logit_lens"]["models"]["unlearned"]["after"]["probability"] for m in methods]
        lines.append(
            f"| {title(name)} | {','.join(map(str, summary['seeds']))} "
            f"| {cell(summary['forget_quality_median'], '.3g')} "
            f"| {cell(median([m['scores']['forget_rougeL_recall'] for m in methods]))} "
            f"| {cell(median([m['scores']['model_utility'] / original_utility for m in methods]))} "
            f"| {cell(summary['recovery_median']['relearn_forget'])} ({per_seed}) "
            f"| {cell(summary['recovery_median']['relearn_unrelated'])} "
            f"| {cell(summary['recovery_median']['quantize_4bit'])} | {cell(median(lens))} "
            f"| {cell(median([m['unlearning_seconds'] for m in methods]), '.0f')} "
            f"| {'met' if summary['stretch_target_met'] else 'not met'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tofu")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2))
    parser.add_argument("--cache_dir", default="outputs/tofu_tiny", help="shared with benchmarks/tofu_tiny.py")
    parser.add_argument("--output", help="write the results as JSON here (and a markdown table beside it)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--relearn_repeats",
        type=int,
        default=3,
        help="runs of each relearning attack (own seed and split each; the recovery is their median); N repeats "
        "cost N times one relearning run (default: 3)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=METHOD:KEY=VALUE[;KEY=VALUE]",
        help="a method of your own, run by its LABEL in --methods, e.g. npo_sam=npo:sam_rho=0.01",
    )
    parser.add_argument(
        "--reuse_audits",
        action="store_true",
        help="reuse O / R audits saved in the cache by an earlier run (same seed)",
    )
    parser.add_argument("--combine", nargs="+", metavar="JSON", help="merge the seeds of earlier outputs (no run)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relearn_repeats < 1:
        parser.error(f"--relearn_repeats {args.relearn_repeats}: give a whole number >= 1.")
    if args.worker:
        print(json.dumps(audit_worker(json.loads(Path(args.worker).read_text()))))
        return
    if args.combine:
        report = combine([json.loads(Path(path).read_text()) for path in args.combine])
        print(markdown(report))
        write_report(report, args.output)
        return
    import torch

    start = time.perf_counter()
    torch.set_num_threads(1 if args.jobs > 1 else max(1, os.cpu_count() or 1))
    prepared = prepare_protocol(PROTOCOL, args.data, args.cache_dir, args.smoke)
    cache = prepared["cache"]
    common = {
        "cache": str(cache),
        "rows": prepared["rows"],
        "smoke": args.smoke,
        "relearn_repeats": args.relearn_repeats,
        "threads": 1 if args.jobs > 1 else None,
    }
    methods = args.methods.split(",")
    variants = parse_variants(args.variant)
    seeds = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for seed in (int(value) for value in args.seeds.split(",")):
            paths = {role: cache / f"audit_{role}_seed{seed}.json" for role in ("original", "retain")}
            baselines = {
                role: pool.submit(
                    reused_audit if args.reuse_audits and is_fresh(path, cache / role) else run_worker,
                    __file__,
                    {**common, "seed": seed, "role": role, "model": str(cache / role)},
                    cache / f"spec_audit_{role}_seed{seed}.json",
                )
                for role, path in paths.items()
            }
            seconds = {}
            for role, future in baselines.items():
                result = future.result()
                write_text_atomic(paths[role], json.dumps(result))
                seconds[role] = result["seconds"]
                print(f"seed {seed}: {role} model audited in {result['seconds']:.0f} s", flush=True)
            futures = []
            for method in methods:
                base, fields = variants.get(method, (method, {}))
                distill = {key.removeprefix("distill_"): fields[key] for key in fields if key.startswith("distill_")}
                fields = {key: value for key, value in fields.items() if not key.startswith("distill_")}
                overrides = {base: {**fields, **({"seed": seed} if seed else {})}}
                unlearning = method_spec(base, prepared, overrides, args.smoke)
                # Curve evaluated at the start and end only: evaluations do not change the run, and they cost time.
                unlearning["run"]["eval_steps"] = unlearning["run"]["steps"]
                unlearning["threads"] = common["threads"]
                unlearning["output_dir"] = str(cache / f"audit_runs_seed{seed}" / method)  # variants side by side
                spec = {
                    **common,
                    "seed": seed,
                    "role": "unlearned",
                    "unlearning": unlearning,
                    "baseline_audits": {role: str(path) for role, path in paths.items()},
                    "label": method,
                    "distill": distill,
                }
                futures.append(pool.submit(run_worker, __file__, spec, cache / f"spec_audit_{method}_seed{seed}.json"))
            results = []
            seeds.append({"seed": seed, "baseline_seconds": seconds, "methods": results})
            for future in futures:
                result = future.result()
                results.append(result)
                recoveries = {
                    name: entry["headline"]["recovery"]
                    for name, entry in result["audit"]["attacks"].items()
                    if entry["status"] == "ok"
                }
                print(
                    f"seed {seed} {result['method']}: FQ {result['scores']['forget_quality']:.3g}, unlearning "
                    f"{result['unlearning_seconds']:.0f} s, audit {result['audit_seconds']:.0f} s, recovery "
                    + ", ".join(f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in recoveries.items()),
                    flush=True,
                )
                # What has finished is written at once: a long run that is stopped keeps its finished methods.
                write_report(build_report(args, prepared, methods, seeds, start), args.output)
    report = build_report(args, prepared, methods, seeds, start)
    print(markdown(report))
    write_report(report, args.output)


def build_report(args, prepared: dict, methods: list[str], seeds: list[dict], start: float) -> dict:
    report = {
        "protocol": "audit-tiny",
        "base_protocol": PROTOCOL,
        "note": "O and R are audited once per seed and their scores reused for every method's recovery",
        "rows": {key: len(value) for key, value in prepared["rows"].items()},
        "recipe": prepared["recipe"].__dict__,
        "training": prepared["baselines"].training,
        "baselines": prepared["baseline_scores"],
        "methods": methods,
        "seeds": seeds,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jobs": args.jobs},
        "date": time.strftime("%Y-%m-%d"),
        "wall_seconds": round(time.perf_counter() - start),
    }
    report["summary"] = summarize(report)
    return report


def combine(reports: list[dict]) -> dict:
    """One report from several runs' outputs (e.g. seed 0 of every method, seeds 1 and 2 of some), for the medians.

    Runs must share the protocol's models (the same `training` record); a method run twice with the same seed is
    refused."""
    first = reports[0]
    seeds: dict[int, dict] = {}

    def models_of(report: dict) -> dict:  # the training record, without whether this run found the models cached
        return {role: {k: v for k, v in entry.items() if k != "cached"} for role, entry in report["training"].items()}

    for report in reports:
        if models_of(report) != models_of(first):
            raise ValueError("The reports were made on different O / R models; combine runs of one model cache only.")
        for seed in report["seeds"]:
            merged = seeds.setdefault(seed["seed"], {**seed, "methods": []})
            known = {method["method"] for method in merged["methods"]}
            for method in seed["methods"]:
                if method["method"] in known:
                    raise ValueError(f"{method['method']} seed {seed['seed']} is in more than one report.")
                merged["methods"].append(method)
    combined = {
        **first,
        "methods": list(dict.fromkeys(m for report in reports for m in report["methods"])),
        "seeds": [seeds[seed] for seed in sorted(seeds)],
        "wall_seconds": sum(report["wall_seconds"] for report in reports),
        "combined_from": len(reports),
    }
    combined["summary"] = summarize(combined)
    return combined


def write_report(report: dict, output: str | None) -> None:
    if not output:
        return
    write_json_atomic(output, report)
    write_text_atomic(Path(output).with_suffix(".md"), markdown(report))


if __name__ == "__main__":
    main()

"""Protocol `step-cost` side by side: `hf_unlearn` against locuslab/open-unlearning's own trainers.

    python benchmarks/step_cost_vs_open_unlearning.py --data ../shared/data/tofu --repetitions 5 \\
        --open_unlearning /work/ou/open-unlearning --open_unlearning_python /work/ou/venv/bin/python \\
        --output docs/benchmarks/step_cost_vs_open_unlearning.json

Protocol `step-cost-128k` is the same with `--vocab_size 128256 --methods GD,GD-KL,NPO,NPO-precomputed` (the
tokenizer's ids stay below 3000; only the embedding and the LM head grow). Without `--open_unlearning`, only
`hf_unlearn` runs. `--profile docs/benchmarks/step_cost_profile.md` profiles `hf_unlearn`'s GD and NPO (frozen copy)
over the timed steps instead (cProfile per function, torch.profiler per operator).

Both sides load one random-init model (seed 0) and one tokenizer, saved once to a temporary folder, and train on
the same token ids (TOFU `forget01` + `retain99`, 4 + 4 rows a step, learning rate 1e-5, constant schedule, each
library's default optimizer). Every (repetition, method, library) runs in a fresh process; methods are interleaved
and within a method the library that goes first alternates per repetition. Step time = (time at step 50 - time at
step 10) / 40; peak memory = peak resident set size minus that after imports.

Methods (our `forget_loss` / `retain_loss`, and open-unlearning's trainer with its config's `method_args`):

| name | hf_unlearn | open-unlearning |
|---|---|---|
| GA | ga / none | GradAscent |
| GD | ga / nll | GradDiff (retain NLL) |
| GD-KL | ga / kl | GradDiff (retain KL) |
| NPO | npo / nll, frozen reference copy | NPO (retain NLL) |
| NPO-precomputed | npo / nll, `precompute_ref_log_probs=True` | compared with its NPO |
| SimNPO | simnpo / nll | SimNPO (retain NLL) |

Prints (and with `--output` writes next to the JSON) a markdown table: medians and min-max of each side, the median
of the per-repetition ratios ours / theirs, each side's step time relative to its own GD, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import step_cost  # noqa: E402


# name: (hf_unlearn spec as in step_cost.METHODS, open-unlearning method it is compared with)
METHODS = {
    "GA": (("ga", "none", False, False), "GA"),
    "GD": (("ga", "nll", False, False), "GD"),
    "GD-KL": (("ga", "kl", False, False), "GD-KL"),
    "NPO": (("npo", "nll", False, False), "NPO"),
    "NPO-precomputed": (("npo", "nll", False, True), "NPO"),
    "SimNPO": (("simnpo", "nll", False, False), "SimNPO"),
}
LABELS = {"NPO": "NPO, frozen reference copy", "NPO-precomputed": "NPO, precomputed reference"}
OURS, THEIRS = "hf_unlearn", "open-unlearning"
WORKER = Path(__file__).resolve().parent / "open_unlearning_worker.py"


def save_shared_model(data: str, directory: str, vocab_size: int) -> None:
    """The tokenizer (3000 ids) and the random-init model (seed 0, `vocab_size` rows), saved once for both sides."""
    step_cost.build_tokenizer(data, directory)
    step_cost.build_model(vocab_size).save_pretrained(directory)


def run_worker(command: list[str], threads: int | None = None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ours_command(method: str, args, model_dir: str, steps: tuple[int, int]) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--data",
        args.data,
        "--model_dir",
        model_dir,
        "--steps",
        ",".join(map(str, steps)),
    ]


def theirs_command(method: str, args, model_dir: str, steps: tuple[int, int]) -> list[str]:
    return [
        args.open_unlearning_python,
        str(WORKER),
        "--open_unlearning",
        args.open_unlearning,
        "--method",
        method,
        "--data",
        args.data,
        "--model_dir",
        model_dir,
        "--steps",
        ",".join(map(str, steps)),
    ]


def _spread(values: list[float], scale: float = 1.0, digits: int = 0) -> dict:
    return {
        "median": round(scale * statistics.median(values), digits + 2),
        "min": round(scale * min(values), digits + 2),
        "max": round(scale * max(values), digits + 2),
    }


def summarize(runs: list[dict], methods: list[str]) -> dict:
    """Medians, min-max and per-repetition ratios; a ratio pairs the runs of one repetition."""

    def series(library: str, method: str, key: str) -> list[float]:
        return [run[key] for run in runs if run["library"] == library and run["method"] == method]

    table = {}
    for method in methods:
        theirs_method = METHODS[method][1]
        ours_step, ours_memory = series(OURS, method, "step_seconds"), series(OURS, method, "peak_rss_mib")
        row = {"ours_step_ms": _spread(ours_step, 1000), "ours_peak_rss_mib": _spread(ours_memory)}
        ours_gd = series(OURS, "GD", "step_seconds")
        if len(ours_gd) == len(ours_step):
            row["ours_step_vs_own_GD"] = statistics.median(a / b for a, b in zip(ours_step, ours_gd))
        theirs_step = series(THEIRS, theirs_method, "step_seconds")
        if theirs_step:
            theirs_memory = series(THEIRS, theirs_method, "peak_rss_mib")
            row.update(
                theirs_method=theirs_method,
                theirs_step_ms=_spread(theirs_step, 1000),
                theirs_peak_rss_mib=_spread(theirs_memory),
                step_ratio_ours_to_theirs=_spread([a / b for a, b in zip(ours_step, theirs_step)], digits=2),
                memory_ratio_ours_to_theirs=_spread([a / b for a, b in zip(ours_memory, theirs_memory)], digits=2),
            )
            theirs_gd = series(THEIRS, "GD", "step_seconds")
            if len(theirs_gd) == len(theirs_step):
                row["theirs_step_vs_own_GD"] = statistics.median(a / b for a, b in zip(theirs_step, theirs_gd))
        table[method] = row
    return table


def markdown_table(table: dict, label: str) -> str:
    def spread(entry: dict | None, digits: int = 0) -> str:
        if entry is None:
            return "-"
        return f"{entry['median']:.{digits}f} [{entry['min']:.{digits}f}-{entry['max']:.{digits}f}]"

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"| method | {OURS} ms/step, median [min-max] | {THEIRS} ms/step | ratio ours / theirs (per-repetition) "
        "| vs own GD: ours / theirs | peak RSS over imports, MiB: ours / theirs |",
        "|---|---|---|---|---|---|",
    ]
    for method, row in table.items():
        theirs = row.get("theirs_step_ms")
        theirs_cell = spread(theirs)
        if theirs and row["theirs_method"] != method:
            theirs_cell = f"(its {row['theirs_method']}) {theirs_cell}"
        memory_theirs = row.get("theirs_peak_rss_mib")
        lines.append(
            f"| {LABELS.get(method, method)} | {spread(row['ours_step_ms'])} | {theirs_cell} "
            f"| {spread(row.get('step_ratio_ours_to_theirs'), 2)} "
            f"| {number(row.get('ours_step_vs_own_GD'))} / {number(row.get('theirs_step_vs_own_GD'))} "
            f"| {row['ours_peak_rss_mib']['median']:.0f} / "
            f"{'-' if memory_theirs is None else format(memory_theirs['median'], '.0f')} |"
        )
    return "\n".join(lines) + f"\n\n({label})"


# Functions whose cumulative time the profile summary reports: (label, file name ending, function name).
PROFILED = [
    ("whole training step (Trainer.training_step)", "transformers/trainer.py", "training_step"),
    ("compute_loss (both forwards, log-probs, losses, checks, statistics)", "hf_unlearn/trainer.py", "compute_loss"),
    ("  model forward (LlamaForCausalLM, all calls)", "modeling_llama.py", "forward"),
    ("  reference forward (frozen copy)", "hf_unlearn/reference.py", "logits"),
    ("  sequence_logps (shift, full-vocab logsumexp, gather)", "hf_unlearn/logprobs.py", "sequence_logps"),
    ("  answer_token_logprobs (full-vocab log_softmax, KL)", "hf_unlearn/logprobs.py", "answer_token_logprobs"),
    ("  token_mean_logps (statistics)", "hf_unlearn/losses/base.py", "token_mean_logps"),
    ("  _stop_if_not_finite (finite check, .item())", "hf_unlearn/trainer.py", "_stop_if_not_finite"),
    ("  _record (stack + gather + .tolist() of statistics)", "hf_unlearn/trainer.py", "_record"),
    ("backward (autograd engine)", "", "'run_backward'"),
    ("optimizer step", "torch/optim/adam.py", "step"),
    ("gradient clipping (max_grad_norm)", "accelerate/accelerator.py", "clip_grad_norm_"),
    ("zero_grad", "torch/optim/optimizer.py", "zero_grad"),
    ("data: next batch from the loader", "torch/utils/data/dataloader.py", "__next__"),
    ("  paired dataset __getitem__", "hf_unlearn/data/pairing.py", "__getitem__"),
    ("  collator", "hf_unlearn/data/collator.py", "__call__"),
    ("Trainer._prepare_inputs (to device)", "transformers/trainer.py", "_prepare_inputs"),
    ("callbacks (on_step_end etc.)", "transformers/trainer_callback.py", "call_event"),
    ("host syncs: Tensor.item", "", "<method 'item' of"),
    ("host syncs: Tensor.tolist", "", "<method 'tolist' of"),
]


def profile_table(stats, window_seconds: float) -> str:
    """Cumulative time of each `PROFILED` function over the window, and its share of the window."""
    lines = ["| function | calls | cumulative s | share of window |", "|---|---|---|---|"]
    for label, file_end, name in PROFILED:
        matches = [
            (calls, cumulative)
            for (file, _, function), (_, calls, _, cumulative, _) in stats.stats.items()
            if ((function == name and file.endswith(file_end)) if file_end else name in function)
        ]
        if not matches:
            continue
        # Recursive or nested entries of one function (e.g. every llama module's `forward`): keep the outermost.
        calls, cumulative = max(matches, key=lambda match: match[1])
        lines.append(f"| {label} | {calls} | {cumulative:.3f} | {100 * cumulative / window_seconds:.1f} % |")
    return "\n".join(lines)


def run_profile(args, output: str) -> None:
    """Profile GD and NPO (frozen copy), each profiler in its own fresh process, and write the summary (markdown)."""
    steps = (1, 3) if args.smoke else parse_steps(args.steps)
    sections = []
    with tempfile.TemporaryDirectory() as model_dir:
        save_shared_model(args.data, model_dir, args.vocab_size)
        for method in ("GD", "NPO"):
            plain = run_worker(ours_command(method, args, model_dir, steps), args.threads)
            parts = [
                f"## {LABELS.get(method, method)}\n\nWithout a profiler: {1000 * plain['step_seconds']:.1f} ms/step."
            ]
            for kind in ("cprofile", "torch"):
                report = Path(model_dir) / f"{method}-{kind}.md"
                command = [*ours_command(method, args, model_dir, steps), "--profile_to", str(report)]
                run = run_worker([*command, "--profile_kind", kind], args.threads)
                parts.append(f"Under {kind}: {1000 * run['step_seconds']:.1f} ms/step.\n\n" + report.read_text())
            sections.append("\n\n".join(parts))
    header = (
        f"# step-cost profile of hf_unlearn\n\nProtocol `step-cost` (vocabulary {args.vocab_size}), steps "
        f"{steps[0]}..{steps[1]}, {time.strftime('%Y-%m-%d')}, {platform.platform()}, {os.cpu_count()} CPUs, "
        f"{args.threads or 'default'} torch thread(s){', ' + args.note if args.note else ''}.\n"
        "Made by `python benchmarks/step_cost_vs_open_unlearning.py --profile <this file>`. Each profiler runs in its "
        "own process over the timed steps and slows them (cProfile: every Python call; torch.profiler: every "
        "operator): read the shares, not the absolute times.\n"
    )
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(header + "\n" + "\n\n".join(sections) + "\n")
    print(f"wrote {output}")


def profiled_worker(method: str, args, steps: tuple[int, int], report: str, kind: str) -> dict:
    """One run of `hf_unlearn` with cProfile or torch.profiler on over the timed steps; its tables go to `report`."""
    import cProfile
    import io
    import pstats

    import torch

    if kind == "cprofile":
        profiler = cProfile.Profile()
        window = (profiler.enable, profiler.disable)
    else:
        profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
        window = (profiler.__enter__, lambda: profiler.__exit__(None, None, None))
    spec = METHODS[method][0]
    result = step_cost.worker(
        method, args.data, args.model_dir, steps, spec=spec, model_dir=args.model_dir, on_window=window
    )
    window_seconds = result["step_seconds"] * (steps[1] - steps[0])
    if kind == "cprofile":
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(30)
        body = (
            f"### cProfile, {steps[1] - steps[0]} steps ({window_seconds:.1f} s)\n\n"
            + profile_table(stats, window_seconds)
            + "\n\n<details><summary>top 30 by cumulative time</summary>\n\n```\n"
            + text.getvalue().strip()
            + "\n```\n</details>\n"
        )
    else:
        operators = profiler.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=50
        )
        body = f"### torch.profiler, operators by self CPU time\n\n```\n{operators.strip()}\n```\n"
    Path(report).write_text(body)
    return result


def parse_steps(value: str) -> tuple[int, int]:
    first, last = (int(part) for part in value.split(","))
    if not 0 < first < last:
        raise ValueError(f"--steps must be FIRST,LAST with 0 < FIRST < LAST, got {value!r}.")
    return first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tofu", help="TOFU dataset folder")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)} (default: all)"
    )
    parser.add_argument("--vocab_size", type=int, default=3000, help="model vocabulary (128256: step-cost-128k)")
    parser.add_argument("--steps", default="10,50", help="FIRST,LAST: step time = (t_LAST - t_FIRST) / (LAST - FIRST)")
    parser.add_argument("--open_unlearning", help="checkout of locuslab/open-unlearning; without it, ours only")
    parser.add_argument("--open_unlearning_python", help="python of open-unlearning's virtual environment")
    parser.add_argument("--output", help="write runs and summary as JSON here, and the table next to it (.md)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads per run (OMP_NUM_THREADS), both sides; default: torch's own (one per core). On a machine "
        "shared with other jobs, 1 avoids the stalls of threads waiting for each other.",
    )
    parser.add_argument("--note", default="", help="label printed under the table (e.g. busy machine)")
    parser.add_argument("--profile", metavar="MARKDOWN", help="profile our GD and NPO runs instead, write here")
    parser.add_argument("--smoke", action="store_true", help="3 steps, 1 repetition: checks the script runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model_dir", help=argparse.SUPPRESS)
    parser.add_argument("--profile_to", help=argparse.SUPPRESS)
    parser.add_argument("--profile_kind", choices=["cprofile", "torch"], default="cprofile", help=argparse.SUPPRESS)
    args = parser.parse_args()

    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; accepted: {', '.join(METHODS)}")
    if bool(args.open_unlearning) != bool(args.open_unlearning_python):
        parser.error("--open_unlearning and --open_unlearning_python go together (checkout and its venv's python).")
    if args.open_unlearning and not (Path(args.open_unlearning) / "src" / "trainer" / "unlearn").is_dir():
        parser.error(
            f"--open_unlearning {args.open_unlearning} has no src/trainer/unlearn: not an open-unlearning checkout."
        )
    steps = parse_steps(args.steps)
    if args.worker:
        if args.profile_to:
            result = profiled_worker(args.worker, args, steps, args.profile_to, args.profile_kind)
        else:
            result = step_cost.worker(
                args.worker, args.data, args.model_dir, steps, spec=METHODS[args.worker][0], model_dir=args.model_dir
            )
        print(json.dumps({**result, "library": OURS}))
        return
    if args.profile:
        run_profile(args, args.profile)
        return

    steps = (1, 3) if args.smoke else steps
    repetitions = 1 if args.smoke else args.repetitions
    libraries = [OURS, THEIRS] if args.open_unlearning else [OURS]
    runs = []
    with tempfile.TemporaryDirectory() as model_dir:
        save_shared_model(args.data, model_dir, args.vocab_size)
        for repetition in range(repetitions):
            theirs_done = set()  # NPO-precomputed is compared with the NPO run of the same repetition
            for method in methods:
                order = libraries if repetition % 2 == 0 else libraries[::-1]
                for library in order:
                    if library == OURS:
                        run = run_worker(ours_command(method, args, model_dir, steps), args.threads)
                    else:
                        theirs_method = METHODS[method][1]
                        if theirs_method in theirs_done:
                            continue
                        theirs_done.add(theirs_method)
                        run = run_worker(theirs_command(theirs_method, args, model_dir, steps), args.threads)
                    run["repetition"] = repetition
                    runs.append(run)
                    print(
                        f"[{repetition + 1}/{repetitions}] {library} {run['method']}: "
                        f"{1000 * run['step_seconds']:.1f} ms/step, {run['peak_rss_mib']:.0f} MiB",
                        flush=True,
                    )
    table = summarize(runs, methods)
    label = f"vocab {args.vocab_size}, {repetitions} rep., steps {steps[0]}..{steps[1]}"
    label += f", {args.threads} thread(s) per run" if args.threads else ""
    label += f", {args.note}" if args.note else ""
    markdown = markdown_table(table, label)
    summary = {
        "protocol": "step-cost" if args.vocab_size == 3000 else f"step-cost, vocab_size={args.vocab_size}",
        "methods": table,
        "repetitions": repetitions,
        "steps": list(steps),
        "threads": args.threads,
        "vocab_size": args.vocab_size,
        "note": args.note,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "open_unlearning": args.open_unlearning and open_unlearning_version(args.open_unlearning_python),
    }
    print(markdown)
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
        output.with_suffix(".md").write_text(markdown + "\n")


def open_unlearning_version(python: str) -> dict:
    """Versions of the libraries open-unlearning ran on (its pins are relaxed to install here)."""
    code = (
        "import json, torch, transformers, accelerate, datasets; print(json.dumps({m.__name__: m.__version__ "
        "for m in (torch, transformers, accelerate, datasets)}))"
    )
    return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)


if __name__ == "__main__":
    main()

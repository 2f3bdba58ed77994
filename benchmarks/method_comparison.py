"""Every unlearning method on protocols `tofu-tiny-01` and `tofu-tiny-10` (BENCHMARKS.md), median of 3 seeds.

    python benchmarks/method_comparison.py --data ../shared/data/tofu --cache_dir ../compare_cache \
        --output docs/benchmarks/method_comparison.jsonl
    python benchmarks/method_comparison.py --report --output docs/benchmarks/method_comparison.jsonl

Per method, with the same budget for each:

1. sweep on `tofu-tiny-01`, seed 0: learning rate = the method's preset (`METHODS[name]["learning_rate"]`) x 1/3,
   1 and 3;
2. selection (the same rule for every method): the highest forget quality among the sweep runs whose model utility
   is >= 0.9 x the original model's; ties go to the higher model utility, then to the smaller learning rate; when no
   run qualifies, the highest model utility;
3. seeds 1 and 2 on `tofu-tiny-01` and seeds 0, 1 and 2 on `tofu-tiny-10` at the chosen rate: 8 runs per method.

The seed is that of the unlearning run only (data order, dropout); the baseline models are the protocol's, trained
once and cached in `--cache_dir`. Each run unlearns for tofu_tiny.py's step count (10 passes over the forget set)
with one curve evaluation at the start and one at the end, then scores the model on the protocol's sets, in its
own process (`tofu_tiny.worker`, one thread, at most `--jobs` side by side, niceness `--nice`).

Each result is appended to the JSONL file as soon as its run ends, so the command resumes where it stopped. The
method list is read again, in a fresh process, before each run is started, so that methods added to
`hf_unlearn.demo.methods.METHODS` meanwhile are run too. A failed run is retried once; a second failure is recorded
with its error and not tried again. `--report` writes the markdown tables beside the JSONL file (`.md`).

    --methods ga,npo     a subset (default: every key of METHODS; LoRA variants are not compared here)
    --smoke              toy sizes (tofu_tiny.py's) and one seed per protocol, for CI
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from types import SimpleNamespace


sys.path.insert(0, str(Path(__file__).resolve().parent))
import tofu_tiny  # noqa: E402  (puts this repository first on sys.path)


# An explicit PYTHONPATH names the code under test (for instance a main checkout, while this script runs from a
# worktree): keep it ahead of the repository root that tofu_tiny puts first, in this process and in the workers.
for _entry in reversed([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]):
    sys.path.insert(0, _entry)

PROTOCOLS = ("tofu-tiny-01", "tofu-tiny-10")
SWEEP_PROTOCOL = "tofu-tiny-01"
LR_FACTORS = {"1": 1.0, "1/3": 1 / 3, "3": 3.0}  # the preset first: with a deadline, the most telling run comes first
SEEDS = (0, 1, 2)
UTILITY_FLOOR = 0.9  # x the original model's utility, for the selection
SCORE_KEYS = ("forget_quality", "model_utility", "forget_rougeL_recall", "retain_rougeL_recall")


# ---- The plan ----


def read_methods(patience: float = 1800) -> tuple[dict[str, dict], dict]:
    """METHODS as the code under test has it now, read in a fresh process (it may have changed since we started),
    and that code's version and commit. A checkout caught mid-edit (a merge in progress) fails to import: wait for
    it, up to `patience` seconds."""
    code = (  # this process's search path, so that the child finds the hf_unlearn that the workers will
        f"import sys, json; sys.path[:0] = json.loads({json.dumps(sys.path)!r}); "
        "import hf_unlearn; from hf_unlearn.demo.methods import METHODS; "
        "print(json.dumps([METHODS, hf_unlearn.__version__, hf_unlearn.__file__]))"
    )
    deadline = time.monotonic() + patience
    while True:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if result.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"hf_unlearn does not import: {result.stderr.strip().splitlines()[-1:]}")
        print("hf_unlearn does not import now (being edited?); waiting", flush=True)
        time.sleep(30)
    methods, version, path = json.loads(result.stdout)
    root = Path(path).parents[1]
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return methods, {"version": version, "code": str(root), "commit": commit.stdout.strip() or None}


def compared_methods(methods: dict[str, dict], wanted: list[str] | None) -> list[str]:
    if wanted:
        unknown = [name for name in wanted if name not in methods]
        if unknown:
            raise SystemExit(f"--methods: {unknown} not in METHODS; accepted: {sorted(methods)}.")
        return wanted
    return [name for name, preset in methods.items() if not name.endswith("_lora") and not preset.get("lora")]


def run_key(protocol: str, method: str, factor: str, seed: int) -> str:
    return f"{protocol}|{method}|lr x {factor}|seed {seed}"


def select(sweep: list[dict], original_utility: float) -> dict | None:
    """The selection rule of the module docstring, on a method's finished sweep records."""
    ok = [r for r in sweep if r["status"] == "ok"]
    if not ok:
        return None
    qualified = [r for r in ok if r["scores"]["model_utility"] >= UTILITY_FLOOR * original_utility]
    if qualified:
        return max(
            qualified,
            key=lambda r: (r["scores"]["forget_quality"], r["scores"]["model_utility"], -r["learning_rate"]),
        )
    return max(ok, key=lambda r: (r["scores"]["model_utility"], -r["learning_rate"]))


def plan(methods: list[str], presets: dict, records: dict, smoke: bool) -> list[dict]:
    """Every job that can start now, most telling first: baselines, the sweep (every method's preset rate before
    any other rate), the remaining seeds on tofu-tiny-01, then tofu-tiny-10. A job whose inputs are not there yet
    (the protocol's baselines, the method's finished sweep) is left for a later call."""
    baselines = ok_baselines(records)
    seeds = SEEDS[:1] if smoke else SEEDS
    jobs: list[dict] = []

    def add_run(protocol, method, factor, seed, learning_rate, phase):
        key = run_key(protocol, method, factor, seed)
        if key not in records or not current(records[key], presets[method]):
            jobs.append(
                {
                    "kind": "run",
                    "key": key,
                    "protocol": protocol,
                    "method": method,
                    "phase": phase,
                    "lr_factor": factor,
                    "learning_rate": learning_rate,
                    "seed": seed,
                    "preset": presets[method],
                }
            )

    def prepare(protocol):  # a baseline job that failed twice is not tried again
        if f"{protocol}|baselines" not in records:
            jobs.append({"kind": "baseline", "key": f"{protocol}|baselines", "protocol": protocol})
        return protocol in baselines

    if prepare(SWEEP_PROTOCOL):
        for factor, scale in LR_FACTORS.items():
            for method in methods:
                preset = presets[method].get("learning_rate")  # None: run_job records that it cannot sweep it
                add_run(SWEEP_PROTOCOL, method, factor, 0, preset and preset * scale, "sweep")
    chosen = {method: best for method in methods if (best := chosen_run(records, method, presets[method]))}
    for protocol in PROTOCOLS:
        if chosen and (protocol == SWEEP_PROTOCOL or prepare(protocol)):
            for method, best in chosen.items():
                for seed in seeds:
                    add_run(protocol, method, best["lr_factor"], seed, best["learning_rate"], "seeds")
    return jobs


def ok_baselines(records: dict[str, dict]) -> dict[str, dict]:
    return {r["protocol"]: r for r in records.values() if r["kind"] == "baseline" and r["status"] == "ok"}


def current(record: dict, preset: dict) -> bool:
    """Whether a run record was made with this preset of its method (the presets may change while the comparison
    runs; records made before `preset` was stored carry it in their settings)."""
    if "preset" in record:
        return record["preset"] == preset
    fields = {k: v for k, v in record.get("settings", {}).items() if k not in ("steps", "batch_size", "seed")}
    base_rate = record["learning_rate"] / LR_FACTORS[record["lr_factor"]]
    return (
        fields.pop("learning_rate", None) == record["learning_rate"]
        and fields == {k: v for k, v in preset.items() if k != "learning_rate"}
        and math.isclose(base_rate, preset.get("learning_rate", float("nan")), rel_tol=1e-6)
    )


def chosen_run(records: dict[str, dict], method: str, preset: dict | None = None) -> dict | None:
    """The method's selected sweep run, once its sweep is finished (None before, or when every sweep run failed);
    with `preset`, only runs made with that preset count."""
    baselines = ok_baselines(records)
    sweep = [records.get(run_key(SWEEP_PROTOCOL, method, factor, 0)) for factor in LR_FACTORS]
    if SWEEP_PROTOCOL not in baselines or not all(sweep):
        return None
    if preset is not None and not all(current(r, preset) for r in sweep):
        return None
    return select(sweep, baselines[SWEEP_PROTOCOL]["baselines"]["original"]["model_utility"])


# ---- Running ----


def load_records(path: Path) -> dict[str, dict]:
    records = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                records[record["key"]] = record
    return records


def child(args, *extra) -> list[str]:
    command = [sys.executable, __file__, "--data", args.data, "--cache_dir", args.cache_dir, *extra]
    return command + (["--smoke"] if args.smoke else [])


def run_job(job: dict, args, retry_delay: float = 60) -> dict:
    """One job in a fresh process (baselines, or one unlearning run); retried once, after `retry_delay` seconds
    (long enough for a checkout being merged into to settle); the record to append."""
    record = dict(job)
    if job["kind"] == "run" and job["learning_rate"] is None:
        return {**record, "status": "error", "attempts": 0, "error": "METHODS gives no learning_rate to scale"}
    cache = Path(args.cache_dir) / job["protocol"]
    cache.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        start = time.perf_counter()
        try:
            if job["kind"] == "baseline":
                output = subprocess.run(
                    child(args, "--prepare", job["protocol"], "--threads", str(args.threads)),
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "HF_HUB_OFFLINE": "1"},
                ).stdout
                record.update(json.loads(output.strip().splitlines()[-1]))
            else:
                spec = run_spec(job, args)
                result = tofu_tiny.run_worker(__file__, spec, cache / f"spec_{file_name(job['key'])}.json")
                record.update({k: v for k, v in result.items() if k != "method"}, steps=spec["run"]["steps"])
            record.update(status="ok", attempts=attempt)
        except subprocess.CalledProcessError as error:
            lines = [line for line in (error.stderr or "").splitlines() if line.strip()]
            record.update(status="error", attempts=attempt, error=(lines[-1] if lines else str(error))[:300])
        record["process_seconds"] = round(time.perf_counter() - start, 1)
        if record["status"] == "ok":
            break
        if attempt == 1:
            time.sleep(retry_delay)
    return record


def run_spec(job: dict, args) -> dict:
    """tofu_tiny's worker spec for one run: the job's rate and seed, curve evaluated at the start and end only."""
    baseline = load_records(Path(args.output))[f"{job['protocol']}|baselines"]
    prepared = {  # what method_spec reads of prepare_protocol's answer; no hf_unlearn import in the driver
        "rows": protocol_rows(job["protocol"], args.data, args.smoke),
        "recipe": SimpleNamespace(**baseline["recipe"]),
        "cache": Path(args.cache_dir) / job["protocol"],
    }
    steps = tofu_tiny.method_spec(job["method"], prepared, {}, args.smoke)["run"]["steps"]
    overrides = {job["method"]: {"learning_rate": job["learning_rate"], "seed": job["seed"], "eval_steps": steps}}
    spec = tofu_tiny.method_spec(job["method"], prepared, overrides, args.smoke)
    spec["threads"] = args.threads
    # one output folder per run: runs of one method go side by side
    spec["output_dir"] = str(prepared["cache"] / "runs" / file_name(job["key"]))
    return spec


_ROWS: dict[tuple, dict] = {}
_ROWS_LOCK = threading.Lock()  # `datasets` loading is not safe from two threads at once (tqdm's lock)


def protocol_rows(*key) -> dict:
    with _ROWS_LOCK:
        if key not in _ROWS:
            _ROWS[key] = tofu_tiny.protocol_rows(*key)
        return _ROWS[key]


def file_name(key: str) -> str:
    return key.replace("|", "_").replace(" ", "").replace("/", "-")


def prepare_baselines(args) -> dict:
    """`--prepare PROTOCOL`: train (or load) the protocol's baselines and score them; the baseline record."""
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    prepared = tofu_tiny.prepare_protocol(args.prepare, args.data, args.cache_dir, args.smoke)
    return {
        "rows": {key: len(value) for key, value in prepared["rows"].items()},
        "recipe": prepared["recipe"].__dict__,
        "training": prepared["baselines"].training,
        "baselines": prepared["baseline_scores"],
        "baseline_seconds": round(time.perf_counter() - start, 1),
    }


def drive(args) -> None:
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    wanted = args.methods.split(",") if args.methods else None
    running: dict = {}  # future -> job
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        while True:
            presets, code = read_methods()
            records = load_records(output)
            busy = {job["key"] for job in running.values()}
            for job in plan(compared_methods(presets, wanted), presets, records, args.smoke):
                if len(running) >= args.jobs:
                    break
                if job["key"] not in busy:
                    job["code"] = code
                    running[pool.submit(run_job, job, args, 2 if args.smoke else 60)] = job
                    busy.add(job["key"])
                    print(f"started {job['key']}", flush=True)
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                record = future.result()
                with output.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(summary_line(record), flush=True)
    print(f"done; `--report` writes the tables. Records: {output}", flush=True)


def summary_line(record: dict) -> str:
    if record["status"] != "ok":
        return f"{record['key']}: FAILED twice: {record['error']}"
    if record["kind"] == "baseline":
        return f"{record['key']}: ready in {record['baseline_seconds']:.0f} s"
    s = record["scores"]
    return (
        f"{record['key']} (lr {record['learning_rate']:.3g}): FQ {s['forget_quality']:.3g}, MU "
        f"{s['model_utility']:.3f}, forget / retain ROUGE-L {s['forget_rougeL_recall']:.2f} / "
        f"{s['retain_rougeL_recall']:.2f}, {record['unlearning_seconds']:.0f} s, {record['peak_rss_mib']} MiB"
    )


# ---- Report ----


def spread(values: list[float], fmt: str) -> str:
    """median [min-max] of the values (just the value when there is one)."""
    if not values:
        return "-"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def report(records: dict[str, dict], note: str = "") -> str:
    baselines = ok_baselines(records)
    runs = [r for r in records.values() if r["kind"] == "run"]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    chosen = {method: best for method in methods if (best := chosen_run(records, method))}
    lines = []
    for protocol in PROTOCOLS:
        if protocol not in baselines:
            continue
        base = baselines[protocol]["baselines"]
        original_mu = base["original"]["model_utility"]
        lines += [
            f"#### {protocol}: median [min-max] over seeds 0, 1, 2 at the chosen learning rate",
            "",
            "| model / method | lr | steps | seeds | forget quality | model utility | x original | forget ROUGE-L | "
            "retain ROUGE-L | wall s | peak MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name in ("original", "retain"):
            s = base[name]
            lines.append(
                f"| {name} model | - | - | - | {s['forget_quality']:.3g} | {s['model_utility']:.3f} | "
                f"{s['model_utility'] / original_mu:.2f} | {s['forget_rougeL_recall']:.2f} | "
                f"{s['retain_rougeL_recall']:.2f} | - | - |"
            )
        for method, best in chosen.items():
            # seed 0 of tofu-tiny-01 is the sweep's run at the chosen rate
            keys = [run_key(protocol, method, best["lr_factor"], seed) for seed in SEEDS]
            done = [records[key] for key in keys if key in records]
            ok = [r for r in done if r["status"] == "ok"]
            s = {key: [r["scores"][key] for r in ok] for key in SCORE_KEYS}
            failed = len(done) - len(ok)
            lines.append(
                f"| {method} | {best['learning_rate']:.3g} | {ok[0]['steps'] if ok else '-'} | "
                f"{len(ok)}{f' ({failed} failed)' if failed else ''} | {spread(s['forget_quality'], '.3g')} | "
                f"{spread(s['model_utility'], '.3f')} | "
                f"{spread([v / original_mu for v in s['model_utility']], '.2f')} | "
                f"{spread(s['forget_rougeL_recall'], '.2f')} | {spread(s['retain_rougeL_recall'], '.2f')} | "
                f"{spread([r['unlearning_seconds'] for r in ok], '.0f')} | "
                f"{spread([r['peak_rss_mib'] for r in ok], '.0f')} |"
            )
        lines.append("")
    if SWEEP_PROTOCOL in baselines:
        original_mu = baselines[SWEEP_PROTOCOL]["baselines"]["original"]["model_utility"]
        lines += [
            f"#### Sweep: {SWEEP_PROTOCOL}, seed 0 (chosen rate in bold)",
            "",
            "| method | lr (x preset) | forget quality | model utility (x original) | forget ROUGE-L | "
            "retain ROUGE-L | wall s |",
            "|---|---|---|---|---|---|---|",
        ]
        for method in methods:
            sweep = [r for r in runs if r["phase"] == "sweep" and r["method"] == method]
            best = chosen.get(method)
            for r in sorted(sweep, key=lambda r: r["learning_rate"]):
                lr = f"{r['learning_rate']:.3g} (x {r['lr_factor']})"
                if best and r["key"] == best["key"]:
                    lr = f"**{lr}**"
                if r["status"] != "ok":
                    lines.append(f"| {method} | {lr} | failed: {r['error']} | | | | |")
                    continue
                s = r["scores"]
                lines.append(
                    f"| {method} | {lr} | {s['forget_quality']:.3g} | {s['model_utility']:.3f} "
                    f"({s['model_utility'] / original_mu:.2f}) | {s['forget_rougeL_recall']:.2f} | "
                    f"{s['retain_rougeL_recall']:.2f} | {r['unlearning_seconds']:.0f} |"
                )
        lines.append("")
    failures = [r for r in records.values() if r["status"] != "ok"]
    if failures:
        lines += ["Failed twice:", ""] + [f"- {r['key']}: {r['error']}" for r in failures] + [""]
    compute = sum(r.get("process_seconds", 0) for r in records.values())
    lines.append(
        f"{len(runs)} runs ({sum(r['status'] == 'ok' for r in runs)} ok), {compute / 3600:.2f} process-hours in all "
        f"(baselines included); {platform.platform()}, {os.cpu_count()} CPUs.{note}"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/tofu")
    parser.add_argument("--cache_dir", default="outputs/method_comparison", help="baseline models, shared by runs")
    parser.add_argument("--output", default="outputs/method_comparison/method_comparison.jsonl")
    parser.add_argument("--methods", help="comma-separated keys of METHODS (default: every one but LoRA variants)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side, one thread each")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--nice", type=int, default=10, help="niceness of this process and its workers")
    parser.add_argument("--report", action="store_true", help="write the markdown tables of --output and stop")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(tofu_tiny.worker(json.loads(Path(args.worker).read_text()))))
    elif args.prepare:
        print(json.dumps(prepare_baselines(args)))
    elif args.report:
        text = report(load_records(Path(args.output)))
        Path(args.output).with_suffix(".md").write_text(text)
        print(text)
    else:
        os.nice(max(0, args.nice - os.nice(0)))  # the workers inherit it
        drive(args)


if __name__ == "__main__":
    main()

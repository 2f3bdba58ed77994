"""Speed of `UnlearningEvaluator` on 400 TOFU-style rows: rows per second, teacher-forced vs generation time.

Each row has an answer, a paraphrase and 5 perturbed answers (7 teacher-forced sequences) and one greedy generation
of up to 60 new tokens (the protocol's `max_new_tokens`). Rows come from `../shared/data/tofu` (`retain_perturbed`,
400 rows) when present, else are generated. The model is the TOFU-tiny llama of BENCHMARKS.md (4 layers, hidden
192, intermediate 512, 4 heads, BPE vocabulary 2048 trained on the rows), randomly initialised: it never emits EOS,
so every generation runs the full 60 tokens (the slowest case).

Reported, as medians (min-max) over the repetitions: total seconds and rows/second, teacher-forced and generation
seconds, forward passes and `generate` calls, and the share of time spent inside the model's forward (the rest is
Python around it: tokenized data handling, padding, metrics). Teacher-forced and generation timings are also given
for one row at a time (`batch_size=1`), the unbatched baseline.

Usage: `python benchmarks/eval_speed.py [--repetitions 5] [--batch_size 32] [--threads 2] [--output result.json]`
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch


TOFU_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tofu"


def load_rows(count: int) -> tuple[list[dict], str]:
    """`count` TOFU-style rows: TOFU's `retain_perturbed` when available, else generated ones."""
    if (TOFU_DIR / "retain_perturbed.json").is_file():
        import datasets

        rows = datasets.load_dataset(str(TOFU_DIR), "retain_perturbed", split="train")
        columns = ("question", "answer", "paraphrased_answer", "perturbed_answer")
        rows = [{key: rows[index % len(rows)][key] for key in columns} for index in range(count)]
        return rows, "tofu retain_perturbed"
    rng = random.Random(0)
    words = "author novel prize city born wrote mother father genre book award series early career".split()

    def sentence(length):
        return " ".join(rng.choice(words) for _ in range(length)).capitalize() + "."

    rows = [
        {
            "question": sentence(12)[:-1] + "?",
            "answer": sentence(25),
            "paraphrased_answer": sentence(25),
            "perturbed_answer": [sentence(25) for _ in range(5)],
        }
        for _ in range(count)
    ]
    return rows, "generated"


class ForwardTimer:
    """Wall time spent inside the model's forward (hooks on the top module), and the number of calls."""

    def __init__(self, model: torch.nn.Module):
        self.seconds, self.calls, self._start = 0.0, 0, 0.0
        model.register_forward_pre_hook(self._before)
        model.register_forward_hook(self._after)

    def _before(self, module, args):
        self._start = time.perf_counter()

    def _after(self, module, args, output):
        self.seconds += time.perf_counter() - self._start
        self.calls += 1

    def reset(self):
        self.seconds, self.calls = 0.0, 0


def median_range(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--generation_batch_size", type=int, default=None)
    parser.add_argument("--max_new_tokens", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no_unbatched", action="store_true", help="skip the one-row-at-a-time baseline")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from hf_unlearn.evaluation import UnlearningEvaluator
    from hf_unlearn.testing_utils import tiny_causal_lm, train_bpe_tokenizer

    rows, source = load_rows(args.rows)
    texts = [row[key] for row in rows for key in ("question", "answer", "paraphrased_answer")]
    texts += [text for row in rows for text in row["perturbed_answer"]]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=2048)
    model = tiny_causal_lm(
        len(tokenizer), "llama", hidden_size=192, num_layers=4, num_heads=4, intermediate_size=512, max_positions=512
    )
    model.eval()
    timer = ForwardTimer(model)

    def run(batch_size: int, generation_batch_size: int, evaluator_rows: list[dict]) -> dict:
        evaluator = UnlearningEvaluator(
            tokenizer,
            {"retain": evaluator_rows},
            batch_size=batch_size,
            generation_batch_size=generation_batch_size,
            max_new_tokens=args.max_new_tokens,
        )
        timer.reset()
        start = time.perf_counter()
        result = evaluator.evaluate(model)
        total = time.perf_counter() - start
        return {**result.stats, "total_seconds": total, "forward_seconds": timer.seconds, "forward_calls": timer.calls}

    generation_batch_size = args.generation_batch_size or args.batch_size
    run(args.batch_size, generation_batch_size, rows[:16])  # warm-up: first-call allocations, lazy imports
    runs = [run(args.batch_size, generation_batch_size, rows) for _ in range(args.repetitions)]
    results = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "setup": {
            "rows": len(rows),
            "source": source,
            "sequences_per_row": 7,
            "max_new_tokens": args.max_new_tokens,
            "batch_size": args.batch_size,
            "generation_batch_size": generation_batch_size,
            "model_parameters": sum(p.numel() for p in model.parameters()),
            "vocab": len(tokenizer),
            "repetitions": args.repetitions,
        },
        "total_seconds": median_range([r["total_seconds"] for r in runs]),
        "rows_per_second": median_range([r["rows"] / r["total_seconds"] for r in runs]),
        "teacher_forced_seconds": median_range([r["teacher_forced_seconds"] for r in runs]),
        "generation_seconds": median_range([r["generation_seconds"] for r in runs]),
        "other_seconds": median_range(
            [r["total_seconds"] - r["teacher_forced_seconds"] - r["generation_seconds"] for r in runs]
        ),
        "forward_passes": runs[0]["forward_passes"],
        "sequences": runs[0]["sequences"],
        "generate_calls": runs[0]["generate_calls"],
        "share_inside_model_forward": median_range([r["forward_seconds"] / r["total_seconds"] for r in runs]),
    }
    if not args.no_unbatched:
        # One row at a time, on a quarter of the rows (it is slow), scaled to rows/second.
        subset = rows[: max(1, len(rows) // 4)]
        single = run(1, 1, subset)
        results["unbatched"] = {
            "rows": len(subset),
            "rows_per_second": len(subset) / single["total_seconds"],
            "teacher_forced_seconds_per_row": single["teacher_forced_seconds"] / len(subset),
            "generation_seconds_per_row": single["generation_seconds"] / len(subset),
            "forward_passes": single["forward_passes"],
        }
        results["batched_per_row"] = {
            "teacher_forced_seconds_per_row": results["teacher_forced_seconds"]["median"] / len(rows),
            "generation_seconds_per_row": results["generation_seconds"]["median"] / len(rows),
        }
    print(json.dumps(results, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

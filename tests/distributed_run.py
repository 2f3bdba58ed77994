"""A short NPO run with a frozen reference copy, written for `accelerate launch` (used by test_distributed.py).

python tests/distributed_run.py OUTPUT_DIR PER_DEVICE_BATCH [CONFIG_JSON]
accelerate launch --multi_gpu --num_processes 2 tests/distributed_run.py OUTPUT_DIR PER_DEVICE_BATCH [CONFIG_JSON]

CONFIG_JSON: more UnlearningConfig fields, e.g. '{"sam_rho": 0.1}'.
"""

import json
import os
import sys
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for `tests.conftest`

from hf_unlearn import NPOTrainer  # noqa: E402
from tests.conftest import FORGET_ROWS, RETAIN_ROWS, all_texts, make_config, tiny_llama, train_tokenizer  # noqa: E402


def main(output_dir: str, per_device_batch: int, fields: dict) -> None:
    tokenizer = train_tokenizer(all_texts())
    # USE_CPU=0 reproduces a user who forgets `use_cpu` on a machine without GPUs.
    args = make_config(
        Path(output_dir),
        per_device_train_batch_size=per_device_batch,
        per_device_eval_batch_size=per_device_batch,
        max_steps=4,
        use_cpu=os.environ.get("USE_CPU", "1") == "1",
        **fields,
    )
    trainer = NPOTrainer(
        tiny_llama(len(tokenizer), seed=3),
        args=args,
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": FORGET_ROWS, "retain": RETAIN_ROWS},
    )  # 10 retain rows: uneven split
    trainer.train()
    metrics = trainer.evaluate()
    if trainer.accelerator.is_main_process:
        result = {
            "processes": trainer.accelerator.num_processes,
            "logs": trainer.state.log_history,
            "eval": metrics,
            "reference": type(trainer.reference.model).__name__,
            "weights": [p.detach().double().sum().item() for p in trainer.model.parameters()],
        }
        (Path(output_dir) / "result.json").write_text(json.dumps(result))
    # A clean end: every rank waits for the others, then the process group is destroyed; a rank that exits with its
    # gloo group alive can abort ("terminate called without an active exception") and fail the launch.
    trainer.accelerator.wait_for_everyone()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})

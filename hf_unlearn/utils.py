"""Small shared helpers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


# Text the command line's help shows, defined here because importing this module costs nothing (no torch,
# transformers or datasets): `hf-unlearn eval --help` stays fast. `hf_unlearn.data` uses and re-exports both.
DEFAULT_QA_PROMPT_TEMPLATE = "Question: {question}\nAnswer:"
"""How `question`/`answer` rows (TOFU's format) become a prompt; the answer follows after one space."""

SPEC_HELP = (
    "a local .json/.jsonl/.csv/.parquet file, or PATH_OR_HUB_ID[:CONFIG[:SPLIT]] for datasets.load_dataset "
    "(SPLIT defaults to train and may be sliced, e.g. locuslab/TOFU:forget10_perturbed:train[:80]; a local copy "
    "of a dataset repository works offline in place of the Hub id)"
)
"""The forms of a dataset SPEC, as `hf_unlearn.data.loading.load_dataset_spec` reads them."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write the file to; when the block ends without error, rename it to
    `path` (readers see the old file or the new one, never half of one), else delete it and keep the old file.

    The temporary name ends with `path`'s suffix, so writers that pick a format by the extension (matplotlib) work.

    Example:

    ```python
    with atomic_write(folder / "audit.png") as temporary:
        figure.savefig(temporary)
    ```
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder (so `os.replace` is an atomic rename), process-unique name, permissions from the umask.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def replace_folder(temporary: str | os.PathLike, directory: str | os.PathLike) -> None:
    """Rename a finished folder `temporary` to `directory`, over an older `directory` (moved aside first, removed
    after), so that `directory` is at every moment either the old folder or the new one."""
    temporary, directory = Path(temporary), Path(directory)
    old = None
    if directory.exists():
        old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(temporary, directory)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(directory: str | os.PathLike, merge: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `directory` to build it in; when the block ends without error, put it in place,
    else delete it and leave `directory` as it was.

    Args:
        directory (`str` or `os.PathLike`):
            The folder to write.
        merge (`bool`, *optional*, defaults to `False`):
            `False`: the new folder replaces `directory` whole ([`replace_folder`]). `True`: each new file is renamed
            into `directory` (each one atomically), and files of `directory` that the block did not write stay (a
            model saved into an output folder that also holds checkpoints).
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        yield temporary
        if not merge:
            replace_folder(temporary, directory)
            return
        directory.mkdir(exist_ok=True)
        for path in sorted(temporary.rglob("*")):
            target = directory / path.relative_to(temporary)
            if path.is_dir():
                target.mkdir(exist_ok=True)
            else:
                os.replace(path, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through [`atomic_write`]: readers never see a half-written file."""
    with atomic_write(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """`write_text_atomic` of indented JSON. Non-finite numbers are refused (`allow_nan=False`): undefined values
    must be written as `null`, so that the file is standard JSON."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False))


def resolve_dtype(dtype: Any) -> Any:
    """A `torch.dtype` from its name (`"bfloat16"`, `"float32"`, ...), as configs and command lines give it.

    `"auto"`, `None` and `torch.dtype` objects are returned unchanged (`from_pretrained` accepts them as they are).

    Raises:
        `ValueError`: when the name is not a floating-point torch dtype.
    """
    import torch

    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype).removeprefix("torch."), None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(
            f"dtype={dtype!r} is not a floating-point torch dtype; accepted: 'auto', 'float32', 'bfloat16', "
            "'float16' (or another torch floating-point dtype name)."
        )
    return resolved


MODEL_SOURCES = "a local model folder, or a Hub id (name or namespace/name)"


def can_only_be_a_path(name: str) -> bool:
    """Whether `name` cannot be a Hub id: it starts with `.`, `/` or `~`, or is no valid repository id (`a/b/c`)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if name.startswith((".", "/", "~")):
        return True
    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    return False


def check_model_source(model: str | os.PathLike | None, option: str, revision: str | None = None) -> None:
    """Refuse, in one line and before anything loads, a model that is neither a local folder nor a usable Hub id.

    Every command checks its models with it, so that a missing path reads the same everywhere. A local folder is
    accepted as it is. A string that can only be a path (it starts with `.`, `/` or `~`, or is no valid Hub id, e.g.
    `a/b/c`) must be a folder. Any other string (`name`, `namespace/name`) may be a Hub id, and is accepted when it
    is in the Hugging Face cache, or, unless `HF_HUB_OFFLINE` is set, when the Hub says that the repository exists.

    Args:
        model (`str` or `os.PathLike`):
            What the user gave.
        option (`str`):
            The parameter it was given as (`model`, `model_name_or_path`, ...), named in the message.
        revision (`str`, *optional*):
            The Hub revision the cache is searched for (the default branch when `None`).

    Raises:
        `FileNotFoundError`: saying that there is no local folder of that name and, for a possible Hub id, why it
            cannot be used (not in the cache while offline, not found on the Hub, or the Hub unreachable).
    """
    import huggingface_hub

    if not model:
        raise FileNotFoundError(f"{option} is required: {MODEL_SOURCES}.")
    model = str(model)
    path = Path(model).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise FileNotFoundError(f"{option} {model!r} is a file, not a model folder; accepted: {MODEL_SOURCES}.")
    if can_only_be_a_path(model):
        raise FileNotFoundError(f"{option} {model!r}: no local folder {model!r}; accepted: {MODEL_SOURCES}.")
    if any(
        isinstance(huggingface_hub.try_to_load_from_cache(model, name, revision=revision), str)
        for name in ("config.json", "adapter_config.json")
    ):
        return
    no_folder = f"{option} {model!r}: no local folder {model!r}, and as a Hub id"
    if huggingface_hub.is_offline_mode():
        raise FileNotFoundError(f"{no_folder} it is not in the local cache (HF_HUB_OFFLINE is set).")
    try:
        exists = huggingface_hub.repo_exists(model)
    except Exception as error:  # noqa: BLE001 - httpx and huggingface_hub raise many types; all mean "unreachable"
        raise FileNotFoundError(
            f"{no_folder} it is not in the local cache and the Hub could not be reached ({type(error).__name__}); "
            "without network, set HF_HUB_OFFLINE=1 and use a cached model or a local folder."
        ) from error
    if not exists:
        raise FileNotFoundError(
            f"{no_folder} it was not found on the Hub (a private or gated repository needs `hf auth login`)."
        )


HEADLINE_SCORES = (
    # metric (as `EvaluationResult.metrics()` names it, without the prefix), row name, direction of good
    ("forget_rougeL_recall", "forget ROUGE-L", "lower is forgetting"),
    ("forget_probability", "forget answer probability", "lower is forgetting"),
    ("forget_answer_accuracy", "forget answer accuracy", "lower is forgetting"),
    ("forget_truth_ratio", "forget truth ratio", "higher is forgetting"),
    ("retain_rougeL_recall", "retain ROUGE-L", "higher is better"),
    ("retain_probability", "retain answer probability", "higher is better"),
    ("retain_answer_accuracy", "retain answer accuracy", "higher is better"),
    ("forget_quality", "forget quality", "higher is better"),
    ("model_utility", "model utility", "higher is better"),
)
# The verdict's thresholds: a forget score that fell by at least FORGOTTEN (relative) is forgetting, a retain score
# kept at KEPT x its value before is utility kept, and forget quality (a KS-test p-value) at MIN_FORGET_QUALITY or
# more means answers that a test cannot tell from the retain model's (the demo's verdict uses the same two).
FORGOTTEN, KEPT, MIN_FORGET_QUALITY = 0.10, 0.90, 0.05
# LoRA adapters start from zero (B = 0) and move only through their low-rank factors: at a full fine-tune's learning
# rate they barely change the model in a short run (on a 135M chat model, 5e-5 left the forget scores where they
# were). The demo's LoRA runs and `hf-unlearn unlearn --use_peft true` without a learning rate use this multiple.
LORA_LEARNING_RATE_FACTOR = 10


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _verdict(after: dict[str, float], before: dict[str, float] | None, prefix: str) -> str:
    """One sentence on the headline scores: forgetting and retain answers kept (with `before`), and forget quality."""
    names = {key: name for key, name, _ in HEADLINE_SCORES}
    parts = []
    for keys, change in (
        (("forget_rougeL_recall", "forget_probability"), "forget"),
        (("retain_rougeL_recall", "retain_probability"), "retain"),
    ):
        key = next((f"{prefix}{key}" for key in keys if f"{prefix}{key}" in after), None)
        if before is None or key is None or not before.get(key):
            continue
        was, now = before[key], after[key]
        name, ratio, values = names[key.removeprefix(prefix)], now / was, f"({was:.3f} -> {now:.3f})"
        if change == "forget":
            verdict = "forgetting" if 1 - ratio >= FORGOTTEN else "little or no forgetting"
            parts.append(f"{verdict}: {name} {'fell' if ratio <= 1 else 'rose'} {abs(1 - ratio):.0%} {values}")
        else:
            verdict = "retain answers kept" if ratio >= KEPT else "retain answers lost"
            parts.append(f"{verdict}: {name} at {ratio:.0%} of its value {values}")
    quality = after.get(f"{prefix}forget_quality")
    if quality is None:
        parts.append("no forget quality (it needs the retain model's eval log: retain_logs)")
    elif quality >= MIN_FORGET_QUALITY:
        parts.append(f"forget quality {quality:.3g} >= {MIN_FORGET_QUALITY}: forget answers like a retain model's")
    else:
        parts.append(f"forget quality {quality:.3g} < {MIN_FORGET_QUALITY}: forget answers unlike a retain model's")
    return "Verdict: " + "; ".join(parts) + "."


def score_table(
    after: dict[str, float], before: dict[str, float] | None = None, prefix: str = "eval_"
) -> list[str] | None:
    """The headline scores as lines of a compact table, then a verdict line; `None` when none is present.

    Args:
        after (`dict[str, float]`):
            Flat metrics, e.g. `{"eval_forget_rougeL_recall": 0.12, ...}`: the scores of the model (after
            unlearning, when `before` is given).
        before (`dict[str, float]`, *optional*):
            The same metrics before unlearning: the table then shows `before -> after`.
        prefix (`str`, *optional*, defaults to `"eval_"`):
            The prefix of the metric names.
    """
    rows = [
        (name, (before or {}).get(f"{prefix}{key}"), after.get(f"{prefix}{key}"), good)
        for key, name, good in HEADLINE_SCORES
        if f"{prefix}{key}" in after or f"{prefix}{key}" in (before or {})
    ]
    if not rows:
        return None
    title = "before -> after" if before is not None else "value"
    lines = [f"{'score':<27}{title:>17}   direction of good"]
    for name, was, now, good in rows:
        cell = f"{_value(was)} -> {_value(now)}" if before is not None else _value(now)
        lines.append(f"{name:<27}{cell:>17}   {good}")
    return [*lines, _verdict(after, before, prefix)]

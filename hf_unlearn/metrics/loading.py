"""Loading the packaged `evaluate` modules by name."""

from pathlib import Path


MODULES_DIR = Path(__file__).resolve().parent / "modules"
"""Folder holding one `evaluate` module per sub-folder (`<name>/<name>.py`)."""


def available_modules() -> list[str]:
    """Names of the `evaluate` modules shipped with `hf_unlearn`, sorted."""
    return sorted(path.parent.name for path in MODULES_DIR.glob("*/*.py") if path.stem == path.parent.name)


def load(name: str, **kwargs):
    """Loads a packaged unlearning metric as an `evaluate` module, offline.

    Resolves `name` to the module folder inside the installed package and calls `evaluate.load` on that
    local path, so no Hub access is needed. The module wraps the same functions as `hf_unlearn.metrics`.

    Example:

    ```python
    >>> from hf_unlearn import metrics
    >>> forget_quality = metrics.load("forget_quality")
    >>> forget_quality.compute(truth_ratios=[0.5, 0.7, 0.9], retain_truth_ratios=[0.6, 0.8, 1.0])
    ```

    Args:
        name (`str`):
            Module name, one of [`available_modules`] (e.g. `"forget_quality"`, `"model_utility"`,
            `"truth_ratio"`, `"rouge_recall"`, `"mia"`).
        **kwargs:
            Passed on to `evaluate.load` (e.g. `keep_in_memory=True`, `experiment_id`).

    Returns:
        `evaluate.EvaluationModule`: the loaded metric.

    Raises:
        ValueError: if `name` is not a packaged module; the message lists the known names.
    """
    known = available_modules()
    if name not in known:
        raise ValueError(f"unknown hf_unlearn metric {name!r}; known metrics: {', '.join(known)}")
    import evaluate  # imported here: it is slow to import and only needed by this door

    return evaluate.load(str(MODULES_DIR / name), **kwargs)

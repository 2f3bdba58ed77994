"""Input checks shared by the metric functions.

Every metric works on per-sample numbers. These helpers turn the accepted inputs (lists, tuples,
numpy arrays) into numpy arrays and reject anything else with an error that says what was wrong and
what is accepted. They never look at, or report, sample text.
"""

from collections.abc import Sequence

import numpy as np


def as_float_array(values, name: str) -> np.ndarray:
    """Converts one value per sample into a 1-D float array.

    Args:
        values (`Sequence[float]` or `np.ndarray`):
            One number per sample.
        name (`str`):
            Argument name, used in error messages.

    Returns:
        `np.ndarray`: 1-D `float64` array (a copy).

    Raises:
        ValueError: if `values` is not one-dimensional or holds non-numbers.
    """
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must be a sequence of numbers (one per sample); got {type(values).__name__}"
        ) from error
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one number per sample); got an array of shape {array.shape}"
        )
    return array


def as_ragged(values, name: str, dtype=np.float64) -> list[np.ndarray]:
    """Converts a per-sample list of per-item values (possibly of different lengths) into 1-D arrays.

    Args:
        values (`Sequence[Sequence[float]]` or `np.ndarray`):
            For each sample, a sequence of numbers (e.g. the losses of its perturbed answers, or its
            per-token log-probabilities). A 2-D array is read row by row.
        name (`str`):
            Argument name, used in error messages.
        dtype (`np.dtype`, *optional*, defaults to `np.float64`):
            Element type of the returned arrays.

    Returns:
        `list[np.ndarray]`: one 1-D array per sample (possibly empty).

    Raises:
        ValueError: if `values` or one of its rows is not a flat sequence of numbers.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ValueError(
            f"{name} must be a sequence with one sequence of numbers per sample; got {type(values).__name__}"
        )
    rows = []
    for index, row in enumerate(values):
        try:
            array = np.array(row, dtype=dtype)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}[{index}] must be a sequence of numbers; got {type(row).__name__}") from error
        if array.ndim != 1:
            raise ValueError(
                f"{name}[{index}] must be a flat sequence of numbers; got an array of shape {array.shape}"
            )
        rows.append(array)
    return rows


def check_same_length(**named) -> int:
    """Checks that per-sample inputs have one entry per sample.

    Args:
        **named (`Sized`):
            The inputs, by argument name.

    Returns:
        `int`: the common length.

    Raises:
        ValueError: naming the first two inputs whose lengths differ, and both lengths.
    """
    items = list(named.items())
    first_name, first = items[0]
    for name, value in items[1:]:
        if len(value) != len(first):
            raise ValueError(
                f"{first_name} has {len(first)} values but {name} has {len(value)}; "
                "per-sample inputs must have exactly one entry per sample"
            )
    return len(first)


def check_not_empty(values, name: str) -> None:
    """Raises a `ValueError` if `values` has no samples."""
    if len(values) == 0:
        raise ValueError(f"{name} is empty; at least one sample is needed")


def check_fraction(value: float, name: str) -> None:
    """Raises a `ValueError` unless `0 < value <= 1`."""
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be a fraction in (0, 1]; got {value}")


def log_undefined(logger, metric: str, count: int, total: int, reason: str) -> None:
    """Logs (at WARNING) how many samples a metric could not score; never logs sample content.

    Args:
        logger (`logging.Logger`):
            Logger of the calling module.
        metric (`str`):
            Metric name, e.g. `"truth ratio"`.
        count (`int`):
            Number of samples left undefined (`nan`) or skipped.
        total (`int`):
            Number of samples given.
        reason (`str`):
            Why they are undefined.
    """
    if count:
        logger.warning(
            "%s undefined for %d of %d samples (%s); they are nan and skipped by aggregates",
            metric,
            count,
            total,
            reason,
        )

"""Shared helpers: dtype names from configs and command lines."""

import pytest
import torch

from hf_unlearn.utils import resolve_dtype


def test_dtype_names_become_torch_dtypes_and_the_rest_passes_through():
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("torch.float16") is torch.float16
    assert resolve_dtype(torch.float32) is torch.float32
    assert resolve_dtype("auto") == "auto"
    assert resolve_dtype(None) is None


@pytest.mark.parametrize("name", ["bf16", "int8", "nn"])
def test_a_name_that_is_not_a_floating_point_dtype_is_refused_with_the_accepted_ones(name):
    with pytest.raises(ValueError, match=rf"dtype='{name}' is not a floating-point torch dtype; accepted: 'auto'"):
        resolve_dtype(name)

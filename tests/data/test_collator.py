"""The collator pads each prefix group on its own and masks padding."""

import pytest
import torch

from hf_unlearn.data import UnlearningCollator
from hf_unlearn.data.collator import pad_sequences


def test_pads_forget_and_retain_separately():
    examples = [
        {
            "forget_input_ids": [5, 6, 7],
            "forget_labels": [-100, 6, 7],
            "retain_input_ids": [8],
            "retain_labels": [8],
            "forget_ref_logps": -1.5,
        },
        {
            "forget_input_ids": [9],
            "forget_labels": [9],
            "retain_input_ids": [1, 2],
            "retain_labels": [-100, 2],
            "forget_ref_logps": -2.5,
        },
    ]
    batch = UnlearningCollator(pad_token_id=0)(examples)
    assert batch["forget_input_ids"].tolist() == [[5, 6, 7], [9, 0, 0]]
    assert batch["forget_attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["forget_labels"].tolist() == [[-100, 6, 7], [9, -100, -100]]
    assert batch["retain_input_ids"].tolist() == [[8, 0], [1, 2]]
    assert batch["retain_labels"].tolist() == [[8, -100], [-100, 2]]
    assert torch.equal(batch["forget_ref_logps"], torch.tensor([-1.5, -2.5]))
    assert "retain_ref_logps" not in batch


def test_pad_to_multiple_of():
    batch = UnlearningCollator(pad_token_id=0, pad_to_multiple_of=4)(
        [{"input_ids": [1, 2, 3, 4, 5], "labels": [1] * 5}]
    )
    assert batch["input_ids"].shape == (1, 8)


def test_pad_sequences_right_left_and_to_a_multiple():
    rows = [torch.tensor([1, 2, 3]), torch.tensor([4])]
    assert pad_sequences(rows, padding_value=0).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert pad_sequences(rows, padding_value=-1, padding_side="left").tolist() == [[1, 2, 3], [-1, -1, 4]]
    assert pad_sequences(rows, padding_value=0, pad_to_multiple_of=4).tolist() == [[1, 2, 3, 0], [4, 0, 0, 0]]
    assert pad_sequences([torch.tensor([0.5])], padding_value=0.0).dtype == torch.float32
    with pytest.raises(ValueError, match="'left' or 'right'"):
        pad_sequences(rows, padding_side="middle")

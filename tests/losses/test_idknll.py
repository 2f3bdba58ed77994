"""IdkNLL: the per-token NLL of each forget prompt's alternative answer."""

import pytest
import torch

from hf_unlearn.losses import IdkNLLLoss
from hf_unlearn.losses.base import ObjectiveInputs


def inputs(alt_logps) -> ObjectiveInputs:
    # The forget answers' own log-probs play no part in the loss.
    return ObjectiveInputs(
        logps=torch.tensor([-40.0, -1.0]),
        n_tokens=torch.tensor([4, 1]),
        alt_logps=alt_logps,
        alt_n_tokens=torch.tensor([3, 1]),
    )


def test_idknll_is_the_per_token_nll_of_the_alternative_answer():
    loss, stats = IdkNLLLoss()(inputs(torch.tensor([-6.0, -3.0])))
    assert loss.tolist() == [2.0, 3.0]
    assert stats == {}


def test_idknll_raises_the_alternative_answer_probability():
    alt_logps = torch.tensor([-6.0, -3.0], requires_grad=True)
    IdkNLLLoss()(inputs(alt_logps))[0].mean().backward()
    # Descending moves alt_logps up; a sequence's weight is 1 / (its tokens x the batch size).
    assert alt_logps.grad.tolist() == pytest.approx([-1 / 6, -1 / 2])


def test_idknll_needs_alternatives_and_no_reference():
    assert IdkNLLLoss.requires == {"alt_logps"}
    assert IdkNLLLoss.needs_alternatives() and not IdkNLLLoss.needs_reference()

"""The per-sequence log-prob helper: shift by one, count answer tokens only."""

import pytest
import torch

from hf_unlearn.logprobs import IGNORE_INDEX, answer_token_logprobs, gathered_log_softmax, sequence_logps


def test_sums_answer_token_log_probs_after_the_shift():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 5)
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, 1]])  # two prompt tokens, answer tokens 3 and 1
    logps, n_tokens = sequence_logps(logits, labels)
    log_softmax = logits.log_softmax(-1)
    # token at position t is predicted by the logits at position t - 1
    expected = log_softmax[0, 1, 3] + log_softmax[0, 2, 1]
    assert logps.item() == pytest.approx(expected.item(), rel=1e-6)
    assert n_tokens.tolist() == [2]


def test_padding_and_prompt_do_not_count():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE_INDEX, 2, 4, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, 1, 6, 5]])
    logps, n_tokens = sequence_logps(logits, labels)
    assert n_tokens.tolist() == [2, 3]
    single, _ = sequence_logps(logits[:1, :3], labels[:1, :3])  # the same row without its padding
    assert logps[0].item() == pytest.approx(single.item(), rel=1e-6)


def test_low_precision_logits_are_upcast():
    logits = torch.randn(1, 3, 5).to(torch.bfloat16)
    logps, _ = sequence_logps(logits, torch.tensor([[IGNORE_INDEX, 1, 2]]))
    assert logps.dtype == torch.float32


def test_answer_token_logprobs_are_normalised_distributions():
    logits = torch.randn(2, 4, 6)
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, 3], [IGNORE_INDEX, IGNORE_INDEX, 4, IGNORE_INDEX]])
    logprobs, mask = answer_token_logprobs(logits, labels)
    assert logprobs.shape == (2, 3, 6)
    assert torch.allclose(logprobs.exp().sum(-1), torch.ones(2, 3))
    assert mask.tolist() == [[True, True, True], [False, True, False]]


def test_gathered_log_softmax_reads_the_full_log_softmax_at_the_index():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11) * 8  # peaked rows, where a naive exp / sum would lose precision
    index = torch.randint(0, 11, (3, 5))
    expected = logits.log_softmax(-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(gathered_log_softmax(logits, index), expected, rtol=0, atol=1e-5)

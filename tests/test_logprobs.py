"""The log-prob helpers: shift by one, count answer tokens only, exact values and gradients in chunks."""

import pytest
import torch

from hf_unlearn import logprobs
from hf_unlearn.logprobs import (
    IGNORE_INDEX,
    answer_logits,
    answer_targets,
    per_sequence_sum,
    predicting_positions,
    reference_kl,
    selected_logps,
    sequence_logps,
)


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


def test_positions_targets_and_sums_line_up():
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, 3], [IGNORE_INDEX, IGNORE_INDEX, 4, IGNORE_INDEX]])
    positions = predicting_positions(labels)
    assert positions.tolist() == [[True, True, True, False], [False, True, False, False]]
    assert answer_targets(labels).tolist() == [1, 2, 3, 4]
    assert per_sequence_sum(torch.tensor([1.0, 2.0, 3.0, 10.0]), positions).tolist() == [6.0, 10.0]


@pytest.mark.parametrize("chunk_elements", [2**24, 7])  # one chunk, and a chunk of one position
def test_selected_logps_match_log_softmax_in_value_and_gradient(monkeypatch, chunk_elements):
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(0)
    logits = (torch.randn(9, 11) * 8).requires_grad_()  # peaked rows, where a naive exp / sum loses precision
    targets = torch.randint(0, 11, (9,))
    weights = torch.randn(9)
    reference = logits.detach().clone().requires_grad_()
    expected = reference.log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
    values = selected_logps(logits, targets)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-5)
    (values * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(logits.grad, reference.grad, rtol=0, atol=1e-6)


@pytest.mark.parametrize("chunk_elements", [2**24, 7])
def test_reference_kl_matches_its_definition_in_value_and_gradient(monkeypatch, chunk_elements):
    monkeypatch.setattr(logprobs, "CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(0)
    logits = torch.randn(6, 13).requires_grad_()
    ref_logits = torch.randn(6, 13)
    weights = torch.rand(6)
    reference = logits.detach().clone().requires_grad_()
    log_q = ref_logits.log_softmax(-1)
    expected = (log_q.exp() * (log_q - reference.log_softmax(-1))).sum(-1)
    values = reference_kl(logits, ref_logits)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-6)
    (values * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(logits.grad, reference.grad, rtol=0, atol=1e-6)


def test_bf16_logits_get_bf16_gradients_from_float32_arithmetic():
    logits = torch.randn(4, 9).to(torch.bfloat16).requires_grad_()
    values = selected_logps(logits, torch.tensor([0, 1, 2, 3]))
    assert values.dtype == torch.float32
    values.sum().backward()
    assert logits.grad.dtype == torch.bfloat16


def test_answer_logits_sliced_in_the_model_equal_the_full_logits_at_answer_positions(tokenizer, llama):
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 5, 6, 7], [IGNORE_INDEX, 8, 9, IGNORE_INDEX, IGNORE_INDEX]])
    input_ids = labels.clamp(min=0) + 3
    attention_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    llama.eval()
    sliced = answer_logits(llama, input_ids, attention_mask, labels, slice_in_model=True)
    full = answer_logits(llama, input_ids, attention_mask, labels, slice_in_model=False)
    assert sliced.shape == (5, llama.config.vocab_size)
    torch.testing.assert_close(sliced, full, rtol=0, atol=1e-5 * full.abs().max().item())

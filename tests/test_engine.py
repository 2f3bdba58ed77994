"""The objective engine in plain torch: no `Trainer`, a tiny model, a `DataLoader`."""

import copy
import math

import pytest
import torch
from torch.utils.data import DataLoader

from hf_unlearn.data import UnlearningCollator, prepare_dataset
from hf_unlearn.engine import ObjectiveEngine, Term, describe, score
from hf_unlearn.losses import GradientAscentLoss, KLRetainLoss, NLLRetainLoss, NPOLoss
from hf_unlearn.reference import ModelReference, freeze

from .conftest import FORGET_ROWS, RETAIN_ROWS, tiny_llama


def rows(tokenizer, data, name):
    return prepare_dataset(data, tokenizer=tokenizer, name=name, max_length=64)


def batch(tokenizer, data, role):
    """One collated batch of `data`, its columns prefixed by `role` as the trainer's pairs are."""
    prepared = rows(tokenizer, data, role)
    collated = UnlearningCollator(tokenizer.pad_token_id)([dict(row) for row in prepared])
    return {f"{role}_{key}": value for key, value in collated.items()}


@pytest.fixture
def policy(tokenizer):
    return tiny_llama(len(tokenizer), seed=4)


def frozen_copy_engine(policy, **terms):
    return ObjectiveEngine(
        {role: Term(name, objective, weight) for role, (name, objective, weight) in terms.items()},
        ModelReference(freeze(copy.deepcopy(policy))),
    )


def test_npo_starts_at_two_over_beta_ln2_with_a_frozen_copy_reference(tokenizer, policy):
    engine = frozen_copy_engine(policy, forget=("npo", NPOLoss(beta=0.5), 1.0))
    loss, parts, stats = engine.loss(policy, batch(tokenizer, FORGET_ROWS, "forget"))
    assert loss.item() == pytest.approx(2 / 0.5 * math.log(2), rel=1e-5)
    assert parts.keys() == {"forget"} and stats["loss/forget"].shape == (len(FORGET_ROWS),)
    loss.backward()  # the policy gets a gradient, the reference none
    assert any(p.grad is not None for p in policy.parameters())
    assert all(p.grad is None for p in engine.ref_model.parameters())


def test_a_precomputed_reference_gives_the_live_loss(tokenizer, policy):
    # a reference other than the policy (another initialisation), so that the log-ratios are not zero
    engine = frozen_copy_engine(tiny_llama(len(tokenizer), seed=5), forget=("npo", NPOLoss(beta=0.1), 1.0))
    loader = DataLoader(rows(tokenizer, FORGET_ROWS, "forget"), batch_size=3, collate_fn=UnlearningCollator(0))
    precomputed = engine.precompute(policy, loader)
    assert list(precomputed) == ["ref_logps"] and len(precomputed["ref_logps"]) == len(FORGET_ROWS)
    inputs = batch(tokenizer, FORGET_ROWS, "forget")
    live, _, _ = engine.loss(policy, inputs)
    inputs["forget_ref_logps"] = torch.tensor(precomputed["ref_logps"])
    engine.reference = None  # the live reference is gone: only the precomputed values can give the loss
    read, _, _ = engine.loss(policy, inputs)
    torch.testing.assert_close(read, live, rtol=1e-5, atol=1e-6)
    assert live.item() != pytest.approx(2 / 0.1 * math.log(2), rel=1e-3)  # the two models differ


def test_terms_are_weighted_and_one_concatenated_forward_gives_the_two_forwards_values(tokenizer, policy):
    inputs = {**batch(tokenizer, FORGET_ROWS[:4], "forget"), **batch(tokenizer, RETAIN_ROWS[:4], "retain")}
    results = []
    for concatenated in (False, True):
        engine = frozen_copy_engine(
            policy, forget=("ga", GradientAscentLoss(), 1.0), retain=("kl", KLRetainLoss(), 3.0)
        )
        engine.concatenated_forward = concatenated
        engine.pad_token_id = tokenizer.pad_token_id
        results.append(engine.loss(policy, inputs))
    (loss, parts, stats), (joint_loss, _, joint_stats) = results
    assert loss.item() == pytest.approx(parts["forget"].item() + 3.0 * parts["retain"].item(), rel=1e-6)
    assert stats["kl/retain"].abs().max().item() < 1e-5  # the policy is still the reference
    torch.testing.assert_close(joint_loss, loss, rtol=1e-5, atol=1e-6)
    assert joint_stats.keys() == stats.keys()


def test_an_eval_set_without_a_term_is_scored_by_nll_and_the_names_describe_the_terms(tokenizer, policy):
    engine = ObjectiveEngine({"forget": Term("ga", GradientAscentLoss(), 1.0)}, eval_weight=2.0)
    assert engine.term("retain", "train") is None
    assert (
        isinstance(engine.term("retain", "eval").objective, NLLRetainLoss)
        and engine.term("retain", "eval").weight == 2
    )
    inputs = batch(tokenizer, RETAIN_ROWS[:3], "retain")
    loss, parts, stats = engine.loss(policy, inputs, "eval")
    assert parts.keys() == {"retain"} and loss.item() == pytest.approx(
        2.0 * stats["nll/retain"].mean().item(), rel=1e-5
    )
    assert describe(engine.terms) == {"forget": "ga", "retain": "none"}
    named = {"forget": Term("ga", GradientAscentLoss(), 1.0), "retain.normal": Term("nll", NLLRetainLoss(), 1.0)}
    assert describe(named) == {"forget": "ga", "retain": {"normal": "nll"}}
    with pytest.raises(ValueError, match="needs a forget term"):
        ObjectiveEngine({"retain": Term("nll", NLLRetainLoss(), 1.0)})


def test_score_gives_per_sequence_sums_of_the_answer_tokens(tokenizer, policy):
    inputs = {key.removeprefix("forget_"): value for key, value in batch(tokenizer, FORGET_ROWS[:2], "forget").items()}
    sliced, full = score(policy, inputs), score(policy, inputs, slice_in_model=False)
    torch.testing.assert_close(sliced["logps"], full["logps"], rtol=1e-5, atol=1e-5)
    assert sliced["n_tokens"].tolist() == (inputs["labels"][:, 1:] != -100).sum(-1).tolist()
    assert sliced["token_logps"].shape == (sliced["n_tokens"].sum().item(),)

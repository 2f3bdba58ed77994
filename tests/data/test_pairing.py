"""Forget/retain pairing: one epoch = one pass over the forget set; retain rows cycle so all are used."""

from collections import Counter

import datasets

from hf_unlearn.data import ForgetRetainDataset


def rows(n, offset=0):
    return datasets.Dataset.from_dict(
        {"input_ids": [[offset + i] for i in range(n)], "labels": [[offset + i] for i in range(n)]}
    )


def retain_ids_of_epoch(pairs, epoch):
    pairs.set_epoch(epoch)
    return [pairs[i]["retain_input_ids"][0] for i in range(len(pairs))]


def test_an_epoch_is_one_pass_over_the_forget_set():
    pairs = ForgetRetainDataset(rows(3), rows(10, offset=100))
    assert len(pairs) == 3
    assert [pairs[i]["forget_input_ids"] for i in range(3)] == [[0], [1], [2]]
    assert set(pairs[0]) == {"forget_input_ids", "forget_labels", "retain_input_ids", "retain_labels"}


def test_every_retain_row_is_used_once_before_any_repeats():
    pairs = ForgetRetainDataset(rows(3), rows(10, offset=100), seed=1)
    first_cycle = sum((retain_ids_of_epoch(pairs, epoch) for epoch in range(4)), [])[:10]
    assert sorted(first_cycle) == list(range(100, 110))


def test_a_short_retain_set_cycles_within_an_epoch():
    pairs = ForgetRetainDataset(rows(9), rows(3, offset=100))
    assert Counter(retain_ids_of_epoch(pairs, 0)) == {100: 3, 101: 3, 102: 3}


def test_pairs_depend_only_on_index_epoch_and_seed():
    a = ForgetRetainDataset(rows(4), rows(10, offset=100), seed=7)
    b = ForgetRetainDataset(rows(4), rows(10, offset=100), seed=7)
    a.set_epoch(2)
    b.set_epoch(2)
    # reading in another order (another batch size, another process) gives the same pairs
    assert [a[i]["retain_input_ids"] for i in (3, 1, 0, 2)] == [b[i]["retain_input_ids"] for i in (3, 1, 0, 2)]
    other_seed = ForgetRetainDataset(rows(4), rows(10, offset=100), seed=8)
    assert retain_ids_of_epoch(other_seed, 0) + retain_ids_of_epoch(other_seed, 1) != retain_ids_of_epoch(
        a, 0
    ) + retain_ids_of_epoch(a, 1)


def test_without_retain_set_items_are_forget_only():
    pairs = ForgetRetainDataset(rows(2))
    assert set(pairs[1]) == {"forget_input_ids", "forget_labels"}

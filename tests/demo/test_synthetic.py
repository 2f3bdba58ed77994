"""Synthetic fictitious writers: deterministic, disjoint splits, valid perturbations and paraphrases, checked sizes."""

import pytest

from hf_unlearn.demo.synthetic import (
    ATTRIBUTES,
    FEATURES,
    MAX_PEOPLE,
    MAX_PERTURBED,
    MAX_QUESTIONS_PER_PERSON,
    POOLS,
    TEMPLATES,
    SyntheticConfig,
    generate_synthetic_splits,
    make_people,
)


SPLITS = ("forget", "retain", "holdout")
SMALL = {"num_forget": 2, "num_retain": 5, "num_holdout": 2, "questions_per_person": MAX_QUESTIONS_PER_PERSON}


@pytest.fixture(scope="module")
def small():
    config = SyntheticConfig(**SMALL, seed=3)
    return config, generate_synthetic_splits(config)


def as_lists(splits):
    return {name: splits[name].to_list() for name in SPLITS}


def test_same_seed_gives_identical_data_and_another_seed_other_data(small):
    _, splits = small
    assert as_lists(generate_synthetic_splits(SyntheticConfig(**SMALL, seed=3))) == as_lists(splits)
    other = as_lists(generate_synthetic_splits(SyntheticConfig(**SMALL, seed=4)))
    for name in SPLITS:
        assert other[name] != as_lists(splits)[name]


def test_splits_have_the_columns_and_sizes_asked_for(small):
    config, splits = small
    assert set(splits) == set(SPLITS)
    people = {"forget": config.num_forget, "retain": config.num_retain, "holdout": config.num_holdout}
    for name in SPLITS:
        assert splits[name].features == FEATURES
        assert len(splits[name]) == people[name] * config.questions_per_person
        assert len(set(splits[name]["person_id"])) == people[name]
        for person_id in set(splits[name]["person_id"]):
            assert splits[name]["person_id"].count(person_id) == config.questions_per_person


def test_splits_are_disjoint_by_person(small):
    _, splits = small
    ids = {name: set(splits[name]["person_id"]) for name in SPLITS}
    assert not ids["forget"] & ids["retain"]
    assert not ids["forget"] & ids["holdout"]
    assert not ids["retain"] & ids["holdout"]
    people = make_people(9, seed=3)
    names = {name: {people[i]["name"] for i in ids[name]} for name in SPLITS}
    assert len(set().union(*names.values())) == 9  # distinct names, so no one hides in two splits under one name


def test_perturbed_answers_are_wrong_distinct_and_as_many_as_asked(small):
    config, splits = small
    for name in SPLITS:
        for row in splits[name]:
            perturbed = row["perturbed_answer"]
            assert len(perturbed) == config.num_perturbed
            assert len(set(perturbed)) == len(perturbed)
            assert row["answer"] not in perturbed and row["paraphrased_answer"] not in perturbed


def test_perturbations_change_the_value_only(small):
    config, splits = small
    people = make_people(config.num_people, config.seed)
    for row in splits["forget"].to_list() + splits["retain"].to_list():
        value = people[row["person_id"]][row["attribute"]]
        prefix, _, suffix = row["paraphrased_answer"].partition(value)
        for wrong in row["perturbed_answer"]:
            # the paraphrased answer's template around another value of the same attribute
            assert wrong.startswith(prefix) and wrong.endswith(suffix)
            wrong_value = wrong[len(prefix) : len(wrong) - len(suffix)]
            assert wrong_value != value and wrong_value in POOLS[row["attribute"]]


def test_paraphrases_use_other_words_for_the_same_value(small):
    config, splits = small
    people = make_people(config.num_people, config.seed)
    for name in SPLITS:
        for row in splits[name]:
            person = people[row["person_id"]]
            value = person[row["attribute"]]
            assert row["paraphrased_question"] != row["question"]
            assert row["paraphrased_answer"] != row["answer"]
            assert value in row["answer"] and value in row["paraphrased_answer"]
            if row["attribute"] != "name":
                assert person["name"] in row["question"] and person["name"] in row["paraphrased_question"]


def test_each_person_gets_the_first_attributes_they_have_and_short_answers(small):
    config, splits = small
    people = make_people(config.num_people, config.seed)
    for name in SPLITS:
        for person_id in set(splits[name]["person_id"]):
            asked = [row["attribute"] for row in splits[name] if row["person_id"] == person_id]
            has = [attribute for attribute in ATTRIBUTES if people[person_id][attribute] is not None]
            assert asked == has[: config.questions_per_person]
    answers = [answer for name in SPLITS for answer in splits[name]["answer"]]
    assert max(len(answer.split()) for answer in answers) <= 16


def test_templates_have_two_phrasings_or_more_and_value_lists_no_repeats():
    for attribute, templates in TEMPLATES.items():
        for kind in ("questions", "answers"):
            assert len(set(templates[kind])) >= 2, (attribute, kind)
        assert len(set(POOLS[attribute])) == len(POOLS[attribute]), attribute  # perturbations rely on it


def test_earlier_people_do_not_depend_on_how_many_there_are():
    assert make_people(3, seed=1) == make_people(30, seed=1)[:3]
    more_retain = generate_synthetic_splits(SyntheticConfig(num_forget=1, num_retain=4, num_holdout=1, seed=1))
    fewer_retain = generate_synthetic_splits(SyntheticConfig(num_forget=1, num_retain=1, num_holdout=1, seed=1))
    assert more_retain["forget"].to_list() == fewer_retain["forget"].to_list()
    assert more_retain["holdout"].to_list() == fewer_retain["holdout"].to_list()


def test_zero_retain_and_holdout_give_empty_sets_with_the_columns():
    config = SyntheticConfig(num_forget=1, num_retain=0, num_holdout=0, questions_per_person=3)
    splits = generate_synthetic_splits(config)
    assert len(splits["forget"]) == 3
    assert len(splits["retain"]) == 0 and splits["retain"].features == FEATURES


@pytest.mark.parametrize(
    "kwargs, parameter, accepted",
    [
        ({"num_forget": 0}, "num_forget", f"[1, {MAX_PEOPLE}]"),
        ({"num_retain": -1}, "num_retain", "[0, "),
        ({"num_holdout": -2}, "num_holdout", "[0, "),
        ({"num_forget": MAX_PEOPLE, "num_retain": 1}, "num_forget + num_retain", f"at most {MAX_PEOPLE}"),
        ({"questions_per_person": 0}, "questions_per_person", f"[1, {MAX_QUESTIONS_PER_PERSON}]"),
        ({"questions_per_person": MAX_QUESTIONS_PER_PERSON + 1}, "questions_per_person", "[1, "),
        ({"num_perturbed": 0}, "num_perturbed", f"[1, {MAX_PERTURBED}]"),
        ({"num_perturbed": MAX_PERTURBED + 1}, "num_perturbed", f"[1, {MAX_PERTURBED}]"),
        ({"seed": -1}, "seed", ">= 0"),
    ],
)
def test_impossible_sizes_name_the_parameter_and_the_range(kwargs, parameter, accepted):
    with pytest.raises(ValueError) as error:
        SyntheticConfig(**kwargs)
    assert f"`{parameter}" in str(error.value) and accepted in str(error.value)


def test_non_integer_sizes_are_refused():
    with pytest.raises(TypeError, match="`num_forget`"):
        SyntheticConfig(num_forget=2.0)
    with pytest.raises(TypeError, match="`seed`"):
        SyntheticConfig(seed="0")
    with pytest.raises(ValueError, match="`num_people`"):
        make_people(MAX_PEOPLE + 1)


def test_the_largest_sizes_work():
    config = SyntheticConfig(num_forget=MAX_PEOPLE, num_retain=0, num_holdout=0, questions_per_person=1)
    people = make_people(MAX_PEOPLE, seed=0)
    assert len({person["name"] for person in people}) == MAX_PEOPLE
    books = [person[key] for person in people for key in ("first_book", "second_book", "third_book") if person[key]]
    assert len(set(books)) == len(books)
    assert len(generate_synthetic_splits(config)["forget"]) == MAX_PEOPLE
    row = generate_synthetic_splits(SyntheticConfig(num_forget=1, num_perturbed=MAX_PERTURBED))["forget"][0]
    assert len(set(row["perturbed_answer"])) == MAX_PERTURBED


def test_fingerprint_is_stable_and_tracks_every_parameter():
    base = SyntheticConfig()
    assert base.fingerprint() == SyntheticConfig().fingerprint() == base.fingerprint()
    assert len(base.fingerprint()) == 64
    changed = [
        SyntheticConfig(seed=1),
        SyntheticConfig(num_forget=3),
        SyntheticConfig(num_retain=21),
        SyntheticConfig(num_holdout=3),
        SyntheticConfig(questions_per_person=10),
        SyntheticConfig(num_perturbed=4),
    ]
    fingerprints = {config.fingerprint() for config in changed}
    assert len(fingerprints) == len(changed) and base.fingerprint() not in fingerprints

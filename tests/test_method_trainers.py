"""The method trainers are made from the objective registry, and keep the names and defaults users import."""

import pytest

import hf_unlearn
from hf_unlearn import UnlearningTrainer
from hf_unlearn.demo.methods import METHODS
from hf_unlearn.losses import RETAIN_LOSSES, get_objective, objectives
from hf_unlearn.method_trainers import METHOD_TRAINERS, RMUTrainer, trainer_class


ALIASES = [(spec, alias) for spec in objectives("forget") for alias in spec.trainers]


def test_every_registered_method_trainer_exists_once():
    assert sorted(METHOD_TRAINERS) == sorted(alias.name for _, alias in ALIASES)
    assert {
        "GradientAscentTrainer",
        "GradientDifferenceTrainer",
        "NPOTrainer",
        "SimNPOTrainer",
        "UNDIALTrainer",
        "WGATrainer",
        "SatImpTrainer",
        "IdkDPOTrainer",
        "IdkNLLTrainer",
        "RMUTrainer",
    } <= set(METHOD_TRAINERS)  # fmt: skip  (names users already import)


@pytest.mark.parametrize(("spec", "alias"), ALIASES, ids=[alias.name for _, alias in ALIASES])
def test_a_method_trainer_fixes_its_objective_and_pairs_the_registered_retain_term(spec, alias):
    cls = METHOD_TRAINERS[alias.name]
    assert issubclass(cls, UnlearningTrainer) and cls.__name__ == alias.name
    assert cls.default_forget_loss == cls.fixed_forget_loss == spec.name
    assert cls.default_retain_loss == alias.retain_loss
    assert alias.retain_loss == "none" or alias.retain_loss in RETAIN_LOSSES
    assert cls.__doc__ and cls.__doc__.strip()
    # The old import paths keep working: the package and `hf_unlearn.trainer`.
    from hf_unlearn import trainer

    assert getattr(hf_unlearn, alias.name) is cls and getattr(trainer, alias.name) is cls


def test_the_papers_retain_terms():
    assert METHOD_TRAINERS["GradientAscentTrainer"].default_retain_loss == "none"
    assert METHOD_TRAINERS["GradientDifferenceTrainer"].default_retain_loss == "nll"
    assert METHOD_TRAINERS["UNDIALTrainer"].default_retain_loss == "none"
    assert RMUTrainer.default_retain_loss == "rmu" and RMUTrainer.fixed_forget_loss == "rmu"


def test_trainer_class_picks_the_trainer_an_objective_requires():
    from hf_unlearn.trainer import trainer_class as old_path

    assert old_path is trainer_class
    assert trainer_class("rmu") is RMUTrainer
    assert trainer_class("npo") is UnlearningTrainer and trainer_class(None) is UnlearningTrainer


def test_an_unknown_trainer_attribute_is_an_attribute_error():
    from hf_unlearn import trainer

    with pytest.raises(AttributeError, match="has no attribute 'NoSuchTrainer'"):
        trainer.NoSuchTrainer  # noqa: B018


def test_the_demo_methods_are_named_as_the_registry_names_them():
    """The demo's presets are measured data; their names and objectives are the registry's (no `dpo` / `idkdpo`
    drift): a key that is a method's short name runs that method's objective and retain term family."""
    by_method = {alias.method: (spec, alias) for spec, alias in ALIASES}
    for key, fields in METHODS.items():
        if key == "task_vector":
            continue
        forget_loss = fields["forget_loss"]
        get_objective(forget_loss)  # registered
        base = key.split("_")[0]  # a variant such as npo_kl names its method first
        assert base in by_method, key
        assert by_method[base][0].name == forget_loss, key
        assert fields["retain_loss"] == "none" or fields["retain_loss"] in RETAIN_LOSSES
    assert METHODS["idkdpo"]["forget_loss"] == "dpo" and by_method["idkdpo"][1].name == "IdkDPOTrainer"

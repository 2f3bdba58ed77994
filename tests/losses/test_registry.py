"""The objective registry: every objective registered once, and the config, the record and the trainers read it."""

import importlib
import inspect
import pkgutil
import re

import pytest
import torch

import hf_unlearn.losses
from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.losses import (
    FORGET_LOSSES,
    RETAIN_LOSSES,
    Hyperparameter,
    UnlearningObjective,
    get_objective,
    objective_names,
    objectives,
    register_objective,
    unregister_objective,
)
from hf_unlearn.losses.registry import hyperparameter_fields

from ..conftest import FORGET_ROWS, RETAIN_ROWS, make_config


def concrete_objective_classes() -> set[type]:
    """Every class in `hf_unlearn.losses` that computes a loss (its own `__call__`, not a shared base)."""
    found = set()
    for module_info in pkgutil.iter_modules(hf_unlearn.losses.__path__):
        module = importlib.import_module(f"hf_unlearn.losses.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, UnlearningObjective)
                and cls is not UnlearningObjective
                and cls.__module__ == module.__name__
            ):
                subclassed = any(
                    other is not cls and issubclass(other, cls)
                    for other in vars(module).values()
                    if isinstance(other, type)
                )
                if not subclassed:
                    found.add(cls)
    return found


@pytest.fixture
def scaled_ga():
    """A user's objective with a hyperparameter of its own, registered for one test."""

    @register_objective("scaled_ga", role="forget", help="gradient ascent times a scale")
    class ScaledGA(UnlearningObjective):
        def __init__(self, scale: float = 1.0):
            self.scale = scale

        def __call__(self, inputs):
            return self.scale * inputs.logps / inputs.n_tokens, {"scale": torch.full_like(inputs.logps, self.scale)}

    yield ScaledGA
    unregister_objective("scaled_ga", "forget")


def test_every_objective_class_of_the_package_is_registered_once():
    registered = [spec.cls for spec in objectives()]
    assert concrete_objective_classes() == set(registered)
    assert len(registered) == len(set(registered))
    assert all(spec.builtin for spec in objectives())


def test_the_dict_views_are_the_registry_by_role():
    assert dict(FORGET_LOSSES) == {spec.name: spec.cls for spec in objectives("forget")}
    assert dict(RETAIN_LOSSES) == {spec.name: spec.cls for spec in objectives("retain")}
    assert FORGET_LOSSES["rmu"] is not RETAIN_LOSSES["rmu"]  # one name, two roles


@pytest.mark.parametrize("spec", objectives(), ids=lambda spec: f"{spec.role}-{spec.name}")
def test_a_registration_says_what_the_docs_need(spec):
    assert spec.help and spec.paper is not None and spec.paper.url.startswith("https://")
    if spec.role == "forget":
        assert spec.default_retain_loss in ["none", *RETAIN_LOSSES]
        assert spec.trainers, "every built-in forget objective has a method trainer"
    else:
        assert spec.default_retain_loss is None and not spec.trainers


@pytest.mark.parametrize("spec", objectives(), ids=lambda spec: f"{spec.role}-{spec.name}")
def test_declared_hyperparameters_are_the_constructor_s_keywords_with_its_defaults(spec):
    parameters = inspect.signature(spec.cls.__init__).parameters
    for hyperparameter in spec.hyperparameters:
        assert hyperparameter.name in parameters
        if hyperparameter.default is not None:  # RMU's seed: None in the config means the run's seed
            assert parameters[hyperparameter.name].default == hyperparameter.default
        assert hyperparameter.help.endswith(".") or not hyperparameter.field


def test_flat_config_fields_take_their_default_and_help_from_the_registry():
    fields = UnlearningConfig.__dataclass_fields__
    assert set(hyperparameter_fields()) == {
        "beta", "simnpo_delta", "undial_gamma", "wga_beta", "satimp_beta1", "satimp_beta2", "rmu_layer",
        "rmu_steering_coeff", "rmu_alpha", "rmu_seed",
    }  # fmt: skip
    for name, (_, hyperparameter) in hyperparameter_fields().items():
        assert fields[name].metadata["help"] == hyperparameter.help
        shared = len({h.default for spec in objectives() for h in spec.hyperparameters if h.field == name}) > 1
        assert fields[name].default == (None if shared else hyperparameter.default), name
        default = "None" if fields[name].default is None else f"defaults to `{fields[name].default}`"
        documented = UnlearningConfig.__doc__.split(f"{name} (`", 1)[1].split("\n", 1)[0]
        assert default in documented or fields[name].default is None, (name, documented)


def test_which_objectives_need_a_reference_or_alternatives():
    assert {s.name for s in objectives("forget") if s.cls.needs_reference()} == {"npo", "undial", "dpo"}
    assert {s.name for s in objectives("forget") if s.cls.reference_is_precomputable()} == {"npo", "dpo"}
    assert not get_objective("undial").cls.reference_is_precomputable()  # full next-token distributions
    assert {s.name for s in objectives("forget") if s.cls.needs_alternatives()} == {"dpo", "idknll"}
    assert {s.name for s in objectives("retain") if s.cls.needs_reference()} == {"kl", "rmu"}


def test_a_hyperparameter_refuses_a_value_out_of_range_or_of_another_type():
    gamma = get_objective("undial").hyperparameter("gamma")
    assert gamma.check(3) == 3
    with pytest.raises(ValueError, match=r"undial_gamma must be >= 0 \(the logit adjustment of UNDIAL\)"):
        gamma.check(-1.0)
    with pytest.raises(ValueError, match="undial_gamma must be of type float, got 'ten'"):
        gamma.check("ten")
    with pytest.raises(ValueError, match=r"beta must be > 0"):
        Hyperparameter("beta", 0.1, minimum=0, strict=True).check(0.0)


def test_unknown_objective_names_list_the_registered_ones(tmp_path):
    accepted = re.escape(str(objective_names("forget")))
    with pytest.raises(ValueError, match=rf"forget_loss='nope' is not known; accepted: {accepted}"):
        UnlearningConfig(output_dir=str(tmp_path), report_to="none", forget_loss="nope")
    with pytest.raises(ValueError, match=r"retain_loss='nope' is not known; accepted: \['none', 'kl'"):
        UnlearningConfig(output_dir=str(tmp_path), report_to="none", retain_loss="nope")


def test_a_name_is_registered_once_per_role():
    with pytest.raises(ValueError, match="A forget objective named 'npo' is already registered"):

        @register_objective("npo")
        class Other(UnlearningObjective):
            def __call__(self, inputs):
                return inputs.logps, {}


def test_a_declared_hyperparameter_must_be_a_constructor_keyword():
    with pytest.raises(TypeError, match=r"does not take the declared hyperparameters \['tau'\]"):

        @register_objective("broken", hyperparameters=(Hyperparameter("tau", 1.0),))
        class Broken(UnlearningObjective):
            def __call__(self, inputs):
                return inputs.logps, {}

    assert "broken" not in FORGET_LOSSES


def test_a_user_objective_registered_after_import_is_accepted_from_a_yaml_like_dict(tmp_path, scaled_ga):
    # What `hf-unlearn unlearn --config run.yaml` hands the config: plain values, kwargs as a mapping or JSON text.
    for kwargs in ({"scale": 0.5}, '{"scale": 0.5}'):
        args = UnlearningConfig(
            **{"output_dir": str(tmp_path), "report_to": "none", "forget_loss": "scaled_ga", "retain_loss": "nll"},
            forget_loss_kwargs=kwargs,
        )
        assert args.forget_loss_kwargs == {"scale": 0.5}
        assert scaled_ga.from_config(args).scale == 0.5
        assert args.method_hyperparameters("scaled_ga") == {"scale": 0.5}  # what the record stores
    assert "scaled_ga" in FORGET_LOSSES and get_objective("scaled_ga").names == ["scale"]  # from its signature
    assert scaled_ga.from_config(UnlearningConfig(output_dir=str(tmp_path), report_to="none")).scale == 1.0


def test_loss_kwargs_name_the_accepted_keys_and_refuse_a_value_set_twice(tmp_path):
    base = {"output_dir": str(tmp_path), "report_to": "none", "retain_loss": "nll"}
    with pytest.raises(ValueError, match=r"forget_loss_kwargs has \['gama'\].*'undial'.*accepted: \['gamma'\]"):
        UnlearningConfig(**base, forget_loss="undial", forget_loss_kwargs={"gama": 3.0})
    with pytest.raises(ValueError, match=r"forget_loss_kwargs\['gamma'\] must be >= 0"):
        UnlearningConfig(**base, forget_loss="undial", forget_loss_kwargs={"gamma": -3.0})
    with pytest.raises(ValueError, match=r"undial_gamma=3.0 and forget_loss_kwargs\['gamma'\]=5.0 both set"):
        UnlearningConfig(**base, forget_loss="undial", undial_gamma=3.0, forget_loss_kwargs={"gamma": 5.0})
    with pytest.raises(ValueError, match=r"forget_loss_kwargs must be a dict \{NAME: VALUE\}, got list"):
        UnlearningConfig(**base, forget_loss="undial", forget_loss_kwargs=[1])
    # A built-in's hyperparameter set either way builds the same objective and records the same value.
    flat = UnlearningConfig(**base, forget_loss="undial", undial_gamma=3.0)
    keyed = UnlearningConfig(**base, forget_loss="undial", forget_loss_kwargs={"gamma": 3.0})
    assert FORGET_LOSSES["undial"].from_config(flat).gamma == FORGET_LOSSES["undial"].from_config(keyed).gamma == 3.0
    assert flat.method_hyperparameters("undial") == keyed.method_hyperparameters("undial") == {"undial_gamma": 3.0}


def test_retain_loss_kwargs_reach_the_retain_objective(tmp_path):
    base = {"output_dir": str(tmp_path), "report_to": "none"}
    args = UnlearningConfig(**base, forget_loss="rmu", retain_loss="rmu", retain_loss_kwargs={"alpha": 7})
    assert RETAIN_LOSSES["rmu"].from_config(args).alpha == 7
    with pytest.raises(ValueError, match=r"retain_loss_kwargs has \['alpha'\].*'nll'.*accepted: \[\]"):
        UnlearningConfig(**base, forget_loss="ga", retain_loss="nll", retain_loss_kwargs={"alpha": 7})


def test_a_flat_field_of_an_unused_objective_warns(tmp_path):
    with pytest.warns(UserWarning, match=r"satimp_beta1=2.0 has no effect: forget_loss='npo', not 'satimp'"):
        UnlearningConfig(
            output_dir=str(tmp_path), report_to="none", forget_loss="npo", retain_loss="nll", satimp_beta1=2.0
        )


def test_a_user_objective_trains_through_unlearning_trainer(tmp_path, tokenizer, llama, scaled_ga):
    trainer = UnlearningTrainer(
        llama,
        args=make_config(tmp_path, forget_loss="scaled_ga", retain_loss="nll", forget_loss_kwargs={"scale": 0.5}),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    assert isinstance(trainer.forget_loss, scaled_ga) and trainer.forget_loss.scale == 0.5
    before = {name: p.detach().clone() for name, p in llama.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[name], p) for name, p in llama.named_parameters())
    logged = [log for log in trainer.state.log_history if "scale/forget" in log]
    assert logged and all(log["scale/forget"] == 0.5 for log in logged)
    record = trainer.unlearning_record()
    assert record["hyperparameters"]["scale"] == 0.5


def test_a_user_objective_is_accepted_by_the_argument_parser_built_after_it(tmp_path, scaled_ga):
    from transformers import HfArgumentParser

    parser = HfArgumentParser(UnlearningConfig)
    (args,) = parser.parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--report_to", "none", "--forget_loss", "scaled_ga"]
        + ["--forget_loss_kwargs", '{"scale": 0.25}']
    )
    assert args.forget_loss == "scaled_ga" and scaled_ga.from_config(args).scale == 0.25
    (args,) = parser.parse_dict(
        {
            "output_dir": str(tmp_path),
            "report_to": "none",
            "forget_loss": "scaled_ga",
            "forget_loss_kwargs": {"scale": 2},
        }
    )
    assert scaled_ga.from_config(args).scale == 2


def test_hyperparameters_read_from_a_signature_take_its_annotations():
    @register_objective("typed", role="retain")
    class Typed(UnlearningObjective):
        def __init__(self, steps: int = 2, scale=1, name: str = "a", flag: bool = False):
            pass

        def __call__(self, inputs):
            return inputs.logps, {}

    try:
        spec = get_objective("typed", "retain")
        assert {h.name: h.type for h in spec.hyperparameters} == {
            "steps": int,
            "scale": float,
            "name": str,
            "flag": bool,
        }
        with pytest.raises(ValueError, match=r"retain_loss_kwargs\['steps'\] must be of type int, got 2.5"):
            spec.check_kwargs({"steps": 2.5}, "retain_loss_kwargs")
    finally:
        unregister_objective("typed", "retain")

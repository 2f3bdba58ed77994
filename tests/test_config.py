"""UnlearningConfig: paper defaults, and invalid settings refused at construction with the field named."""

import re
import warnings

import pytest

from hf_unlearn import UnlearningConfig
from hf_unlearn.losses import FORGET_LOSSES


def config(tmp_path, **kwargs):
    return UnlearningConfig(output_dir=str(tmp_path), report_to="none", **kwargs)


def test_defaults_follow_the_papers(tmp_path):
    args = config(tmp_path)
    assert args.method_hyperparameters("npo") == {"beta": 0.1}
    assert args.method_hyperparameters("dpo") == {"beta": 0.1}  # TOFU's and open-unlearning's IdkDPO
    assert args.method_hyperparameters("idknll") == {}
    assert args.alternative_source == "auto" and args.alternative_seed is None and args.refusal_answers is None
    assert args.method_hyperparameters("simnpo") == {"beta": 2.5, "simnpo_delta": 0.0}
    assert args.method_hyperparameters("ga") == {}
    assert (args.forget_weight, args.retain_weight) == (1.0, 1.0)
    assert args.ref_source == "auto" and args.precompute_ref_log_probs is False
    assert args.disable_dropout is True
    assert args.forget_end_tokens == "auto"  # chat turn ends out of forget objectives, plain EOS in (TOFU parity)


def test_explicit_beta_wins(tmp_path):
    assert config(tmp_path, beta=0.3).method_hyperparameters("npo") == {"beta": 0.3}


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"forget_loss": "orpo"}, "forget_loss='orpo'"),
        ({"retain_loss": "mse"}, "retain_loss='mse'"),
        ({"ref_source": "copy"}, "ref_source='copy'"),
        ({"forget_weight": -1.0}, "forget_weight"),
        ({"retain_weight": -0.5}, "retain_weight"),
        ({"beta": 0.0}, "beta"),
        ({"max_length": 1}, "max_length"),
        ({"qa_prompt_template": "Q: {q}"}, "qa_prompt_template"),
        ({"forget_loss": "ga", "retain_loss": "none", "retain_weight": 0.5}, "retain_weight"),
        ({"precompute_ref_batch_size": 0}, "precompute_ref_batch_size"),
        ({"alternative_source": "idk"}, "alternative_source='idk'"),
        ({"refusal_answers": []}, "refusal_answers"),
        ({"forget_end_tokens": "keep"}, "forget_end_tokens='keep'.*'auto', 'exclude', 'include'"),
    ],
)
def test_invalid_settings_name_the_field(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=field.replace("(", r"\(")):
        config(tmp_path, **kwargs)


def test_unknown_names_list_the_accepted_ones(tmp_path):
    assert {"ga", "npo", "simnpo", "undial", "wga", "satimp"} <= set(FORGET_LOSSES)
    with pytest.raises(ValueError, match=re.escape(f"accepted: {sorted(FORGET_LOSSES)}")):
        config(tmp_path, forget_loss="no_such_method")


def test_settings_without_effect_warn(tmp_path):
    with pytest.warns(UserWarning, match="precompute_ref_log_probs=True has no effect"):
        config(tmp_path, forget_loss="ga", retain_loss="nll", precompute_ref_log_probs=True)
    with pytest.warns(UserWarning, match="beta=0.2 has no effect"):
        config(tmp_path, forget_loss="ga", retain_loss="nll", beta=0.2)


def test_max_length_none_keeps_every_example_whole(tmp_path):
    assert config(tmp_path, max_length=None).max_length is None


def test_every_unlearning_field_has_a_help_sentence():
    import dataclasses

    from transformers import TrainingArguments

    inherited = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = [f for f in dataclasses.fields(UnlearningConfig) if f.name not in inherited]
    assert len(own) >= 15
    for f in own:
        assert f.metadata["help"].endswith(".") and len(f.metadata["help"]) > 25, f.name
        assert f"{f.name} (`" in UnlearningConfig.__doc__, f.name  # and the docstring documents it


def test_alternative_settings_without_effect_warn(tmp_path):
    with pytest.warns(UserWarning, match="refusal_answers has no effect: forget_loss='npo'"):
        config(tmp_path, forget_loss="npo", retain_loss="nll", refusal_answers=["No."])
    with pytest.warns(UserWarning, match="precompute_ref_log_probs=True has no effect: forget_loss='idknll'"):
        config(tmp_path, forget_loss="idknll", retain_loss="nll", precompute_ref_log_probs=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config(tmp_path, forget_loss="dpo", retain_loss="nll", precompute_ref_log_probs=True)


def test_the_docstring_and_help_name_every_built_in_objective():
    from hf_unlearn.losses import objectives

    doc = UnlearningConfig.__doc__
    entries = {
        role: doc.split(f"        {role}_loss (`", 1)[1].split(f"        {role}_loss_kwargs (`", 1)[0]
        for role in ("forget", "retain")
    }
    fields = UnlearningConfig.__dataclass_fields__
    for spec in objectives():
        assert spec.builtin
        assert f'`"{spec.name}"`' in entries[spec.role], (spec.role, spec.name)
        assert re.search(rf"\b{spec.name}\b", fields[f"{spec.role}_loss"].metadata["help"]), spec.name
    assert "choices" not in fields["forget_loss"].metadata  # a name registered later is accepted too


def test_the_ref_source_help_names_every_objective_that_reads_the_reference():
    from hf_unlearn.losses import objectives

    help_text = UnlearningConfig.__dataclass_fields__["ref_source"].metadata["help"]
    entry = UnlearningConfig.__doc__.split("ref_source (`", 1)[1].split("precompute_ref_log_probs (`", 1)[0]
    for spec in objectives():
        if spec.cls.needs_reference():
            assert re.search(rf"\b{spec.name}\b", help_text) and f"`{spec.name}`" in entry, spec.name


def test_retain_objective_hyperparameters_come_from_retain_loss_kwargs(tmp_path):
    args = config(tmp_path, forget_loss="rmu", retain_loss="rmu", retain_loss_kwargs={"alpha": 3.0})
    assert args.objective_hyperparameters("rmu", "retain") == {"rmu_layer": 7, "rmu_alpha": 3.0}
    assert args.objective_hyperparameters("nll", "retain") == {}

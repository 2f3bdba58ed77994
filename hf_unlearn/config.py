"""Configuration of an unlearning run: `UnlearningConfig`, a `TrainingArguments` with the unlearning fields."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import TrainingArguments

from .data.alternatives import ALTERNATIVE_SOURCES, check_alternative_source, check_refusals
from .data.formatting import DEFAULT_QA_PROMPT_TEMPLATE, END_TOKEN_CHOICES, check_end_tokens
from .losses import get_objective, objective_names, objectives
from .losses.base import loss_kwargs
from .losses.registry import hyperparameter_fields, objective_help
from .smoothing import check_smoothing_fields


REF_SOURCES = ("auto", "adapter", "model")
# Fields of one method that are not hyperparameters of its objective (its trainer reads them).
TRAINER_FIELDS = {"rmu_trainable_params": "rmu"}


def _reference_objectives() -> list[str]:
    """The registered objectives that read the reference model, as help texts name them (`rmu (retain)`)."""
    return [
        spec.name if spec.role == "forget" else f"{spec.name} (retain)"
        for spec in objectives()
        if spec.cls.needs_reference()
    ]


def _objective_field(name: str, **overrides: Any):
    """The dataclass field of a flat objective hyperparameter (`wga_beta`, ...): its default and help are the
    objective's registration (`hf_unlearn.losses`), so that they are written once."""
    _, hyperparameter = hyperparameter_fields()[name]
    default = overrides.get("default", hyperparameter.default)
    return field(default=default, metadata={"help": hyperparameter.help})


def _accelerator_available() -> bool:
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


@dataclass
class UnlearningConfig(TrainingArguments):
    r"""
    Configuration for [`UnlearningTrainer`] and its method subclasses.

    Every field of [`~transformers.TrainingArguments`] is accepted; the ones below are added. The objective minimised
    at each step is `forget_weight * forget_loss + retain_weight * retain_loss`.

    Parameters:
        forget_loss (`str`, *optional*):
            Objective on the forget set, a name registered with [`~hf_unlearn.losses.register_objective`]. Defaults
            to the trainer's own method (`"npo"` for [`UnlearningTrainer`] and [`NPOTrainer`], `"ga"` for
            [`GradientAscentTrainer`] and [`GradientDifferenceTrainer`], and the method's name for the others, e.g.
            `"simnpo"` for [`SimNPOTrainer`], `"dpo"` for [`IdkDPOTrainer`], `"rmu"` for [`RMUTrainer`]). Built in:
            `"ceu"` (cross-entropy unlearning), `"dpo"` (forget answer dispreferred to an alternative one: IdkDPO
            with refusals), `"ga"` (gradient ascent), `"idknll"` (NLL of the alternative answer), `"npo"`, `"rmu"`,
            `"satimp"`, `"simnpo"`, `"undial"`, `"wga"`.
        retain_loss (`str`, *optional*):
            Objective on the retain set: `"none"` or a registered name. Built in: `"nll"` (language-modelling loss),
            `"kl"` (KL divergence from the reference model over retain answer tokens) and `"rmu"` (RMU's activation
            MSE to the reference). Defaults to the trainer's own method (`"nll"`, `"none"` for
            [`GradientAscentTrainer`] and [`UNDIALTrainer`], `"rmu"` for [`RMUTrainer`]).
        forget_loss_kwargs (`dict[str, Any]` or `str`, *optional*):
            Hyperparameters of the forget objective by keyword, e.g. `{"scale": 0.5}` for an objective of your own
            (a dict, or its JSON text on the command line). Only the hyperparameters the objective declares are
            accepted. The built-in ones are set by their own fields (`beta`, `wga_beta`, ...), which keep working;
            setting one both ways is an error.
        retain_loss_kwargs (`dict[str, Any]` or `str`, *optional*):
            The same for the retain objective; with several named retain sets, for each retain objective used.
        forget_weight (`float`, *optional*, defaults to `1.0`):
            Weight of the forget objective.
        retain_weight (`float`, *optional*, defaults to `1.0`):
            Weight of the retain objective. `0.0` turns the retain term off while keeping its diagnostics.
        beta (`float`, *optional*):
            Inverse temperature of NPO / SimNPO / DPO. Defaults to `0.1` for NPO (Zhang et al. 2024) and DPO (TOFU)
            and `2.5` for SimNPO.
        simnpo_delta (`float`, *optional*, defaults to `0.0`):
            SimNPO's reward margin (the paper's gamma).
        retain_objectives (`dict[str, str]`, *optional*):
            With several named retain sets (`retain_dataset={"normal": ..., "mismatch": ...}`), the objective of each,
            e.g. `{"normal": "kl", "mismatch": "nll"}` (Yao et al. 2023's objective). Sets not named use
            `retain_loss`. Each set is cycled independently and contributes its own weighted term.
        retain_weights (`dict[str, float]`, *optional*):
            Weight of each named retain set's term. Sets not named use `retain_weight`.
        undial_gamma (`float`, *optional*, defaults to `10.0`):
            UNDIAL: how much the answer token's reference logit is lowered in the distillation target (>= 0).
        wga_beta (`float`, *optional*, defaults to `1.0`):
            WGA: exponent of each answer token's probability in its weight (>= 0; `0` is plain gradient ascent).
        satimp_beta1 (`float`, *optional*, defaults to `5.0`):
            SatImp: saturation exponent, on the token probability `p` (>= 0).
        satimp_beta2 (`float`, *optional*, defaults to `1.0`):
            SatImp: importance exponent, on `1 - p` (>= 0).
        alternative_source (`str`, *optional*, defaults to `"auto"`):
            Where the alternative answer of each forget row comes from, for `dpo` and `idknll`: `"column"` reads the
            forget set's `alternative` column, `"refusals"` draws one of `refusal_answers` per row, `"auto"` uses the
            column when the set has one and refusals otherwise. Applies to forget eval sets too.
        alternative_seed (`int`, *optional*):
            Seed of the refusal drawn for each row (fixed for the run, the same in every process and on resume).
            Defaults to `seed`.
        refusal_answers (`list[str]`, *optional*):
            Refusal answers to draw from. Defaults to the shipped ones (`hf_unlearn.data.REFUSALS`).
        rmu_layer (`int`, *optional*, defaults to `7`):
            RMU: the decoder layer (0-based) whose output is steered on the forget set and held on the retain set
            (Li et al. 2024 use 7 on 32-layer 7B models). Must exist in the model.
        rmu_steering_coeff (`float`, *optional*, defaults to `6.5`):
            RMU: norm `c` of the random target vector for forget activations (6.5 for Zephyr-7B in the paper); make
            it large against the activation norm at `rmu_layer`.
        rmu_alpha (`float`, *optional*, defaults to `1200.0`):
            RMU: weight of the retain activation MSE (1200 for Zephyr-7B in the paper), applied inside
            `retain_loss="rmu"`; `retain_weight` multiplies it like any retain objective.
        rmu_trainable_params (`list[str]`, *optional*):
            RMU: regular expressions; [`RMUTrainer`] trains only the parameters whose name (as in
            `model.named_parameters()`, adapter weights under PEFT) contains a match. Defaults to the MLPs of layers
            `rmu_layer - 2` to `rmu_layer` (clipped at 0).
        rmu_seed (`int`, *optional*):
            RMU: seed of the random target direction, the same in every process and on resume. Defaults to `seed`.
        max_length (`int` or `None`, *optional*, defaults to `512`):
            Maximum tokens per example (prompt + answer + EOS), in training and in the evaluation `hf-unlearn unlearn`
            runs; longer examples are truncated from the right. `None` (`--max_length none` on the command line)
            keeps every example whole.
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\nAnswer:"`):
            How `question`/`answer` rows (TOFU's format) become a prompt; the answer follows after one space.
        forget_end_tokens (`str`, *optional*, defaults to `"auto"`):
            Whether the tokens that end a forget answer (the chat template's turn end such as `<|im_end|>`, and EOS)
            are part of what the forget objective pushes away. `"exclude"` leaves them out of the forget labels (and so
            out of every forget objective built on them: GA, NPO, SimNPO, WGA, UNDIAL, SatImp, DPO's dispreferred
            answer); `"include"` keeps them, as open-unlearning's TOFU runs do; `"auto"` excludes them from
            conversational rows (`messages`, conversational prompt/completion) and includes them for plain ones
            (question/answer, prompt/completion strings, text). Pushing a chat model's turn end away teaches it to
            stop ending turns, on every question. Retain terms, alternative answers (IdkNLL, DPO's preferred answer)
            and the evaluation always score the end tokens. RMU, which works on activations, is not affected.
        ref_source (`str`, *optional*, defaults to `"auto"`):
            Where the reference's log-probs, logits or activations come from when an objective needs them (the
            objectives whose `needs_reference()` is true: `npo`, `dpo`, `undial`, `kl`, retain `rmu`): `"adapter"`
            runs the PEFT model with its adapter disabled (no extra memory), `"model"` runs the `ref_model` passed to
            the trainer or, without one, a frozen copy of the initial model. `"auto"` picks `"adapter"` for PEFT models
            and `"model"` otherwise.
        precompute_ref_log_probs (`bool`, *optional*, defaults to `False`):
            Compute the reference log-probs of the forget set once, before training, and read them from the data during
            training, so that no reference model runs (or, for a frozen copy, is kept in memory) during training. The
            values are saved with each checkpoint and reused on resume. Does not apply to `retain_loss="kl"` or
            `forget_loss="undial"`, which need the reference's full next-token distributions.
        precompute_ref_batch_size (`int`, *optional*):
            Batch size of the precompute pass. Defaults to `per_device_eval_batch_size`.
        concatenated_forward (`bool`, *optional*, defaults to `True`):
            Run the forget and retain batches of a step through the model in one forward, padded to the longer of the
            two, as TRL's DPO does for chosen / rejected; `False` runs one forward per set. One forward halves the
            per-forward overhead (kernel launches, Python dispatch), which dominates small models and batches; on a
            large model with very different forget / retain lengths, the padding can cost more than it saves.
        sam_rho (`float`, *optional*, defaults to `0.0`):
            Sharpness-aware unlearning (Fan et al. 2025): the forget term's gradient is taken at the worst weights of
            the ball of this radius around the current ones, `w + rho * g / ||g||` with `g` the forget gradient over
            the trainable parameters; the retain terms at the current weights. Costs a second forward-backward pass
            of the forget batch per step. `0` turns it off; the paper's code uses 0.1 for NPO on WMDP and 0.01 on
            MUSE. Computed per micro-batch under gradient accumulation (see `hf_unlearn.smoothing.SmoothedStep`).
        randomized_smoothing_std (`float`, *optional*, defaults to `0.0`):
            Randomized smoothing of the forget term (Fan et al. 2025): its gradient is the mean over
            `randomized_smoothing_samples` draws of Gaussian noise of this standard deviation added to the trainable
            weights; the retain terms at the current weights. `0` turns it off.
        randomized_smoothing_samples (`int`, *optional*, defaults to `1`):
            Noise draws per step for randomized smoothing, each one forward-backward pass of the forget batch (the
            paper's code draws 3).
        weight_averaging_start (`float`, *optional*):
            Weight averaging (Fan et al. 2025): the final weights are the mean of the trainable weights after every
            `weight_averaging_interval`-th step from this one on: a step number, or a fraction of the run below 1
            (the paper's code: step 100 of 500, i.e. `0.2`). Unset (the default) keeps the last weights.
        weight_averaging_interval (`int`, *optional*, defaults to `5`):
            Steps between two snapshots of the weight average (the paper's code: 5).
        disable_dropout (`bool`, *optional*, defaults to `True`):
            Turn off dropout in the model and the reference, so that both score the same sequence identically (NPO's
            log-ratio is exactly 0 at the start).
        model_init_kwargs (`dict[str, Any]`, *optional*):
            Keyword arguments for `AutoModelForCausalLM.from_pretrained` when `model` is given as a string
            (`trust_remote_code` stays `False` unless set here).
        retain_seed (`int`, *optional*):
            Seed of the order in which retain rows are paired with forget rows. Defaults to `seed`.
        base_model_id (`str`, *optional*):
            Hub id of the base model, written as `base_model` in the model card. Defaults to the id the model was
            loaded from; set it when the model was loaded from a local copy.
    """

    logging_steps: float = field(default=10, metadata={"help": "Log every X update steps (TRL's default: 10)."})

    # No argparse `choices`: an objective registered after import is accepted too; `__post_init__` checks the name
    # against the registry as it is then. The help lists the objectives registered when this module was imported.
    forget_loss: str | None = field(default=None, metadata={"help": objective_help("forget")})
    retain_loss: str | None = field(default=None, metadata={"help": objective_help("retain")})
    forget_loss_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Hyperparameters of the forget objective, {NAME: VALUE} (built-in ones also have their own "
            "fields, e.g. beta).",
            "metavar": "JSON",
        },
    )
    retain_loss_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={"help": "Hyperparameters of the retain objective(s), {NAME: VALUE}.", "metavar": "JSON"},
    )
    forget_weight: float = field(default=1.0, metadata={"help": "Weight of the forget objective."})
    retain_weight: float = field(
        default=1.0,
        metadata={"help": "Weight of the retain objective. 0.0 turns the retain term off but keeps its diagnostics."},
    )
    # None: the objective's own default (0.1 for NPO and DPO, 2.5 for SimNPO).
    beta: float | None = _objective_field("beta", default=None)
    simnpo_delta: float = _objective_field("simnpo_delta")
    # Several retain sets, each with its own objective and weight
    retain_objectives: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "help": "Objective per named retain set, {NAME: OBJECTIVE}, e.g. {normal: kl, mismatch: nll}, when the "
            "retain set is a dict of named sets. Sets not named here use retain_loss."
        },
    )
    retain_weights: dict[str, float] | str | None = field(
        default=None,
        metadata={"help": "Weight per named retain set, {NAME: WEIGHT}. Sets not named here use retain_weight."},
    )
    # UNDIAL, WGA, SatImp (token-level forget objectives)
    undial_gamma: float = _objective_field("undial_gamma")
    wga_beta: float = _objective_field("wga_beta")
    satimp_beta1: float = _objective_field("satimp_beta1")
    satimp_beta2: float = _objective_field("satimp_beta2")
    # DPO / IdkDPO and IdkNLL: where each forget row's alternative answer comes from
    alternative_source: str = field(
        default="auto",
        metadata={
            "help": "Where the alternative answer of each forget row comes from (dpo, idknll): column reads the "
            "forget set's `alternative` column, refusals draws one of refusal_answers per row, auto uses the column "
            "when present, else refusals.",
            "choices": list(ALTERNATIVE_SOURCES),
        },
    )
    alternative_seed: int | None = field(
        default=None,
        metadata={"help": "Seed of the refusal drawn for each forget row (fixed for the run). Defaults to seed."},
    )
    refusal_answers: list[str] | None = field(
        default=None,
        metadata={
            "help": "Refusal answers to draw from (dpo, idknll). Defaults to the shipped ones "
            "(hf_unlearn.data.REFUSALS)."
        },
    )
    # RMU (Li et al. 2024)
    rmu_layer: int = _objective_field("rmu_layer")
    rmu_steering_coeff: float = _objective_field("rmu_steering_coeff")
    rmu_alpha: float = _objective_field("rmu_alpha")
    rmu_trainable_params: list[str] | None = field(
        default=None,
        metadata={
            "help": "RMU: regular expressions; RMUTrainer trains only the parameters whose name contains a match. "
            "Defaults to the MLPs of layers rmu_layer-2 to rmu_layer."
        },
    )
    rmu_seed: int | None = _objective_field("rmu_seed")
    max_length: int | None = field(
        default=512,
        metadata={
            "help": "Maximum tokens per example (prompt + answer + EOS), or none to keep every example whole. "
            "Applies in training and in the evaluation `hf-unlearn unlearn` runs; longer examples are cut from the "
            "right."
        },
    )
    qa_prompt_template: str = field(
        default=DEFAULT_QA_PROMPT_TEMPLATE,
        metadata={
            "help": "How question/answer rows (TOFU's format) become a prompt; the answer follows after one "
            "space. Must contain {question}."
        },
    )
    forget_end_tokens: str = field(
        default="auto",
        metadata={
            "help": "Whether the tokens that end a forget answer (chat turn end such as <|im_end|>, EOS) are pushed "
            "away by the forget objective: exclude leaves them out of the forget labels, include keeps them (as "
            "open-unlearning's TOFU runs), auto excludes them for conversational rows (messages) and includes them "
            "for plain ones (question/answer, prompt/completion, text). Retain terms, alternative answers and "
            "evaluation always keep them.",
            "choices": list(END_TOKEN_CHOICES),
        },
    )
    ref_source: str = field(
        default="auto",
        metadata={
            "help": "Where the reference's outputs come from when an objective needs them "
            f"({', '.join(_reference_objectives())}). adapter runs the PEFT model with its adapter disabled (no extra "
            "memory); model runs the ref_model given to the trainer or, without one, a frozen copy of the initial "
            "model; auto picks adapter for PEFT models, else model.",
            "choices": list(REF_SOURCES),
        },
    )
    precompute_ref_log_probs: bool = field(
        default=False,
        metadata={
            "help": "Compute the forget set's reference log-probs once, before training: no reference model runs "
            "(or stays in memory) during training. Saved with checkpoints and reused on resume. Not for "
            "retain_loss kl or forget_loss undial, which need the reference's full next-token distributions."
        },
    )
    precompute_ref_batch_size: int | None = field(
        default=None,
        metadata={"help": "Batch size of the precompute pass. Defaults to per_device_eval_batch_size."},
    )
    concatenated_forward: bool = field(
        default=True,
        metadata={
            "help": "Run the forget and retain batches through the model in one forward (padded to the longer one) "
            "instead of one forward each."
        },
    )
    # Unlearning that resists relearning: smoothing of the forget term and weight averaging (`hf_unlearn.smoothing`)
    sam_rho: float = field(
        default=0.0,
        metadata={"help": "SAM on the forget term: the ball's radius (0: off)."},
    )
    randomized_smoothing_std: float = field(
        default=0.0,
        metadata={"help": "Randomized smoothing: std of the weight noise (0: off)."},
    )
    randomized_smoothing_samples: int = field(
        default=1, metadata={"help": "Noise draws per step, a forget pass each."}
    )
    weight_averaging_start: float | None = field(
        default=None,
        metadata={"help": "Average the weights from this step (or run fraction) on."},
    )
    weight_averaging_interval: int = field(default=5, metadata={"help": "Steps between averaged snapshots."})
    disable_dropout: bool = field(
        default=True,
        metadata={
            "help": "Turn off dropout in the model and the reference (NPO's log-ratio is then exactly 0 at the start)."
        },
    )
    model_init_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Keyword arguments for from_pretrained when the model is given by name. "
            "trust_remote_code stays off unless set here."
        },
    )
    retain_seed: int | None = field(
        default=None,
        metadata={"help": "Seed of the pairing of retain rows with forget rows. Defaults to seed."},
    )
    base_model_id: str | None = field(
        default=None,
        metadata={
            "help": "Hub id of the base model, the model card's base_model. Defaults to the id the model was "
            "loaded from; set it when the model comes from a local copy."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.dataloader_pin_memory and (self.use_cpu or not _accelerator_available()):
            # Pinned memory only speeds up copies to an accelerator; on CPU, torch warns at every data loader.
            self.dataloader_pin_memory = False
        if self.forget_loss is not None:
            get_objective(self.forget_loss, "forget")
        if self.retain_loss not in (None, "none") and self.retain_loss not in objective_names("retain"):
            accepted = objective_names("retain", with_none=True)
            raise ValueError(f"retain_loss={self.retain_loss!r} is not known; accepted: {accepted}.")
        for name in ("retain_objectives", "retain_weights", "forget_loss_kwargs", "retain_loss_kwargs"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = json.loads(value)
            if value is not None and not isinstance(value, dict):
                key = "SET_NAME" if name.startswith("retain_") and not name.endswith("kwargs") else "NAME"
                raise ValueError(f"{name} must be a dict {{{key}: VALUE}}, got {type(value).__name__}.")
            setattr(self, name, value)
        for set_name, objective in (self.retain_objectives or {}).items():
            if objective not in objective_names("retain"):
                raise ValueError(
                    f"retain_objectives[{set_name!r}]={objective!r} is not known; accepted: "
                    f"{objective_names('retain')}."
                )
        for set_name, weight in (self.retain_weights or {}).items():
            if not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"retain_weights[{set_name!r}] must be a number >= 0, got {weight!r}.")
        check_end_tokens(self.forget_end_tokens)
        if self.ref_source not in REF_SOURCES:
            raise ValueError(f"ref_source={self.ref_source!r} is not known; accepted: {list(REF_SOURCES)}.")
        for name in ("forget_weight", "retain_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name, (_, hyperparameter) in hyperparameter_fields().items():
            hyperparameter.check(getattr(self, name))
        if self.forget_loss is not None:
            self._check_loss_kwargs("forget", self.forget_loss)
        if self.retain_loss not in (None, "none"):
            self._check_loss_kwargs("retain", self.retain_loss)
        check_alternative_source(self.alternative_source)
        check_refusals(self.refusal_answers)
        self._check_rmu_fields()
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(
                f"max_length must be at least 2 (one prompt and one answer token), got {self.max_length}."
            )
        if "{question}" not in self.qa_prompt_template:
            raise ValueError(f"qa_prompt_template must contain '{{question}}', got {self.qa_prompt_template!r}.")
        check_smoothing_fields(self)
        if self.precompute_ref_batch_size is not None and self.precompute_ref_batch_size < 1:
            raise ValueError(f"precompute_ref_batch_size must be >= 1, got {self.precompute_ref_batch_size}.")
        if self.forget_loss is not None and self.retain_loss is not None:
            self.check_objectives(self.forget_loss, self.retain_loss)

    def _check_loss_kwargs(self, role: str, objective: str) -> None:
        """Refuse `{role}_loss_kwargs` keys the objective does not take, and a value also set by its flat field."""
        kwargs = loss_kwargs(self, role)
        if not kwargs:
            return
        spec = get_objective(objective, role)
        spec.check_kwargs(kwargs, f"{role}_loss_kwargs")
        for name in kwargs:
            flat = spec.hyperparameter(name).field
            if flat is not None and getattr(self, flat) != self.__dataclass_fields__[flat].default:
                raise ValueError(
                    f"{flat}={getattr(self, flat)} and {role}_loss_kwargs[{name!r}]={kwargs[name]} both set the "
                    f"{name!r} of {role}_loss={objective!r}; set one of them."
                )

    def _check_rmu_fields(self) -> None:
        if self.rmu_trainable_params is not None:
            if isinstance(self.rmu_trainable_params, str):
                self.rmu_trainable_params = [self.rmu_trainable_params]
            if not self.rmu_trainable_params:
                raise ValueError(
                    "rmu_trainable_params is empty, so RMU would train nothing; give regular expressions matching "
                    r"parameter names (e.g. ['layers\\.[5-7]\\.mlp\\.']) or leave it unset for the MLPs of layers "
                    "rmu_layer-2 to rmu_layer."
                )
            for pattern in self.rmu_trainable_params:
                try:
                    re.compile(pattern)
                except re.error as error:
                    raise ValueError(
                        f"rmu_trainable_params has {pattern!r}, which is not a regular expression ({error})."
                    ) from None

    def check_objectives(self, forget_loss: str, retain_loss: str) -> None:
        """Reject or warn about combinations of objectives and reference settings that cannot do what they say."""
        if self.precompute_ref_log_probs and not get_objective(forget_loss, "forget").cls.reference_is_precomputable():
            warnings.warn(
                f"precompute_ref_log_probs=True has no effect: forget_loss={forget_loss!r} uses no reference, or one "
                "that is not one number per row.",
                stacklevel=3,
            )
        if self.refusal_answers is not None and not get_objective(forget_loss, "forget").cls.needs_alternatives():
            warnings.warn(
                f"refusal_answers has no effect: forget_loss={forget_loss!r} uses no alternative answers.",
                stacklevel=3,
            )
        self._check_loss_kwargs("forget", forget_loss)
        retain_names = {name for name in [retain_loss, *(self.retain_objectives or {}).values()] if name != "none"}
        for name in sorted(retain_names):
            self._check_loss_kwargs("retain", name)
        # A flat field set for a method this run does not use. A method's fields are those of its forget objective,
        # of the retain objective of the same name (RMU's `rmu_alpha`) and of its trainer (`rmu_trainable_params`).
        used = {name for name, method in TRAINER_FIELDS.items() if method == forget_loss}
        for role, names in (("forget", [forget_loss]), ("retain", [*retain_names, forget_loss])):
            for name in names:
                if name in objective_names(role):
                    used |= {h.field for h in get_objective(name, role).hyperparameters}
        owners = {name: spec.name for name, (spec, _) in hyperparameter_fields().items()} | TRAINER_FIELDS
        for name, method in owners.items():
            value = getattr(self, name)
            if name not in used and value != self.__dataclass_fields__[name].default:
                warnings.warn(
                    f"{name}={value} has no effect: forget_loss={forget_loss!r}, not {method!r}, and no retain "
                    "objective of this run uses it.",
                    stacklevel=3,
                )
        if retain_loss == "none" and self.retain_weight not in (0.0, 1.0):
            raise ValueError(
                f"retain_weight={self.retain_weight} has no effect with retain_loss='none'; set retain_loss to 'nll' "
                "or 'kl' to use a retain term."
            )

    def objective_hyperparameters(self, name: str, role: str = "forget") -> dict[str, Any]:
        """The hyperparameters of the `role` objective `name` in this run, as [`method_hyperparameters`] keys them
        (for a retain objective, from `retain_loss_kwargs`)."""
        return get_objective(name, role).record(self, loss_kwargs(self, role))

    def method_hyperparameters(self, forget_loss: str) -> dict[str, Any]:
        """The hyperparameters of the forget objective `forget_loss` in this run, as its record stores them.

        Declared by the objective's registration (see [`~hf_unlearn.losses.register_objective`]), each valued as
        the objective is built: from `forget_loss_kwargs`, else its flat field (`beta`, `wga_beta`, ...), else its
        default. Keyed by the flat field's name where there is one (`{"wga_beta": 1.0}`, `{"beta": 0.1}` for NPO),
        else by the objective's keyword.
        """
        return self.objective_hyperparameters(forget_loss, "forget")

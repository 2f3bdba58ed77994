"""`UnlearningTrainer`: a `Trainer` that pushes a model away from a forget set and holds it on a retain set.

The loss itself is computed by [`~hf_unlearn.engine.ObjectiveEngine`] (plain torch); the record of the run by
[`~hf_unlearn.record.build_record`]. This module adds what the `Trainer` needs around them: loading, tokenization,
the reference's placement, metrics, checkpoints of precomputed reference log-probs and the model card.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, fields
from typing import Any

import torch
from peft import PeftConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from torch.utils.data import DataLoader
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, EvalLoopOutput, get_last_checkpoint
from transformers.utils import logging

from .callbacks import RetainPairingCallback, label_progress
from .config import UnlearningConfig
from .data import (
    AlternativeAnswers,
    ForgetRetainDataset,
    UnlearningCollator,
    content_fingerprint,
    ensure_pad_token,
    fingerprint,
    prepare_dataset,
)
from .data.formatting import as_dataset
from .data.pairing import retain_role
from .engine import ROLES, ObjectiveEngine, Term, check_hidden_layers, describe
from .history import RequestChain
from .hub import ModelCardMixin, save_card_and_record
from .logprobs import accepts_logits_to_keep
from .losses import FORGET_LOSSES, RETAIN_LOSSES
from .losses.base import UnlearningObjective
from .record import build_record, metrics_from_log_history, training_hyperparameters
from .reference import (
    AdapterOffReference,
    ModelReference,
    check_precompute_engine,
    disable_dropout,
    frozen_copy,
    load_precomputed,
    peft_checkpointing_alias_quiet,
    prepare_reference_model,
    resolve_ref_source,
    save_precomputed,
)
from .smoothing import WeightAveraging, install_smoothing, smoothing_hyperparameters
from .utils import resolve_dtype


logger = logging.get_logger(__name__)


# ---- Loading, shared with `TaskVectorTrainer` ----


def model_init_kwargs(args: Any) -> dict:
    """`from_pretrained` keyword arguments from `args.model_init_kwargs` (a dict or JSON): remote code only when
    asked, dtype names resolved."""
    kwargs = args.model_init_kwargs or {}
    kwargs = dict(json.loads(kwargs) if isinstance(kwargs, str) else kwargs)
    # Remote code runs only when the user asks for it.
    kwargs.setdefault("trust_remote_code", False)
    if "dtype" in kwargs:
        kwargs["dtype"] = resolve_dtype(kwargs["dtype"])
    return kwargs


def load_tokenizer(model_id: str | None, args: Any) -> PreTrainedTokenizerBase:
    """The tokenizer of the model named `model_id`, with the run's remote-code setting."""
    if model_id is None:
        raise ValueError("processing_class is required: the model carries no name or path to load a tokenizer from.")
    trust_remote_code = model_init_kwargs(args)["trust_remote_code"]
    return AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)


def wrap_peft(model: PreTrainedModel, peft_config: PeftConfig, args: Any) -> PeftModel:
    """`model` under a new adapter (after `prepare_model_for_kbit_training` for 8-/4-bit bases)."""
    if isinstance(model, PeftModel):
        raise ValueError(
            "The model is already a PeftModel and peft_config was also given; pass one or the other "
            "(a PeftModel is trained as it is)."
        )
    if getattr(model, "is_loaded_in_8bit", False) or getattr(model, "is_loaded_in_4bit", False):
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=bool(args.gradient_checkpointing),
            gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
        )
    with peft_checkpointing_alias_quiet():
        return get_peft_model(model, peft_config)


def resolve_args(args: TrainingArguments | None, model_id: str | None) -> UnlearningConfig:
    """An [`UnlearningConfig`] from what the user passed: the defaults, or plain `TrainingArguments` converted."""
    if args is None:
        model_name = (model_id or "model").rstrip("/").split("/")[-1]
        return UnlearningConfig(output_dir=f"{model_name}-unlearned")
    if isinstance(args, UnlearningConfig):
        return args
    if isinstance(args, TrainingArguments):
        values = {f.name: getattr(args, f.name) for f in fields(TrainingArguments) if f.init}
        return UnlearningConfig(**values)
    raise TypeError(f"args must be an UnlearningConfig or TrainingArguments, got {type(args).__name__}.")


def resolve_train_datasets(train_dataset, forget_dataset, retain_dataset):
    """`(forget, retain)` from `train_dataset={'forget': ..., 'retain': ...}` or the two keyword arguments."""
    if train_dataset is not None:
        if forget_dataset is not None or retain_dataset is not None:
            raise ValueError(
                "Pass the data either as train_dataset={'forget':..., 'retain':...} or as "
                "forget_dataset= / retain_dataset=, not both."
            )
        if not isinstance(train_dataset, dict) or "forget" not in train_dataset:
            raise ValueError(
                "train_dataset must be a dict {'forget': dataset, 'retain': dataset} (retain optional); got "
                f"{type(train_dataset).__name__}"
                + (f" with keys {sorted(train_dataset)}" if isinstance(train_dataset, dict) else "")
                + "."
            )
        unknown = set(train_dataset) - set(ROLES)
        if unknown:
            raise ValueError(f"train_dataset has unknown keys {sorted(unknown)}; accepted: 'forget', 'retain'.")
        forget_dataset, retain_dataset = train_dataset["forget"], train_dataset.get("retain")
    if forget_dataset is None:
        raise ValueError("A forget set is required: pass forget_dataset= or train_dataset={'forget': ...}.")
    return forget_dataset, retain_dataset


def check_process_group(accelerator) -> None:
    """Refuse a multi-process launch that accelerate set up as one process per run (each would unlearn alone)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and accelerator.num_processes == 1:
        raise RuntimeError(
            f"This run was launched as {world_size} processes, but accelerate set up a single-process run "
            f"({accelerator.distributed_type}), so every process would unlearn on its own. On a machine "
            "without GPUs, launch with `accelerate launch --multi_gpu --num_processes N` and set `use_cpu=True` "
            "(DDP over gloo); accelerate enables FSDP and DeepSpeed only on GPUs and other accelerators."
        )


def retain_terms(args: UnlearningConfig, retain_loss: str, retain_dataset) -> dict[str, tuple[str, float]]:
    """Role -> (objective name, weight) of each retain term: one per retain set that has an objective."""
    objectives, weights = args.retain_objectives or {}, args.retain_weights or {}
    if not isinstance(retain_dataset, dict):
        if objectives or weights:
            raise ValueError(
                "retain_objectives / retain_weights give a value per named retain set, but the retain set is "
                "not a dict of named sets; pass retain_dataset={NAME: dataset, ...}."
            )
        return {} if retain_loss == "none" else {retain_role(None): (retain_loss, args.retain_weight)}
    unknown = sorted((set(objectives) | set(weights)) - set(retain_dataset))
    if unknown:
        raise ValueError(
            f"retain_objectives / retain_weights name {unknown}, which are not retain sets; the retain sets "
            f"given are {sorted(retain_dataset)}."
        )
    terms = {}
    for name in retain_dataset:
        objective = objectives.get(name, retain_loss)
        if objective != "none":
            terms[retain_role(name)] = (objective, weights.get(name, args.retain_weight))
    return terms


def eval_role(name: str, roles) -> str:
    """Role an eval set is scored as: `"forget"` for names starting with "forget", the named retain set of the same
    name (its objective) when `roles` has it, else `"retain"` (the retain objective, or NLL)."""
    if name.startswith("forget"):
        return "forget"
    named = retain_role(name)
    return named if named in roles else "retain"


@dataclass
class UnlearningData:
    """The tokenized sets of a run (no text column goes further) and what the record keeps of them."""

    pairs: ForgetRetainDataset
    eval_dataset: Any
    set_fingerprints: dict[str, Any]
    request_chain: RequestChain
    alternative_answers: AlternativeAnswers | None
    alternative_source: str | None
    tokenized_forget_fingerprint: str


def prepare_unlearning_data(
    args: UnlearningConfig, tokenizer, model_id, terms, forget_dataset, retain_dataset, eval_dataset, retain_loss_name
) -> UnlearningData:
    """Tokenize the forget, retain and eval sets once and fingerprint them for the record (never content).

    Args:
        terms (`dict[str, Term]`):
            The run's terms by role (`"forget"`, `"retain"` or `"retain.NAME"`): which retain sets are used, whether
            the forget objective scores alternative answers.
        retain_loss_name (`str`):
            For the message when a retain term has no retain set.
    """
    roles, retain_roles = list(terms), [role for role in terms if role != "forget"]
    forget_dataset = as_dataset(forget_dataset, "forget")
    # The record's fingerprint covers the prompts and answers only, never an `alternative` column.
    set_fingerprints = {"forget": content_fingerprint(forget_dataset, "forget"), "retain": None}
    # Sequential unlearning: a model loaded from an earlier run's output continues that run's request chain.
    request_chain = RequestChain.start(model_id, forget_dataset, set_fingerprints["forget"])
    prepare = dict(tokenizer=tokenizer, max_length=args.max_length, qa_prompt_template=args.qa_prompt_template)
    # Each forget row's alternative answer (its `alternative` column, or a seeded refusal), when the objective
    # scores one; tokenized after the row's prompt into `alt_input_ids` / `alt_labels`.
    alternatives, alternative_source = None, None
    if terms["forget"].objective.needs_alternatives():
        seed = args.alternative_seed if args.alternative_seed is not None else args.seed
        alternatives = AlternativeAnswers(args.alternative_source, args.refusal_answers, seed)
        alternative_source = alternatives.resolved_source(forget_dataset.column_names)
    forget = prepare_dataset(
        forget_dataset, name="forget", alternatives=alternatives, end_tokens=args.forget_end_tokens, **prepare
    )
    retain = None
    if retain_roles and retain_dataset is None:
        raise ValueError(
            f"retain_loss={retain_loss_name!r} needs a retain set: pass retain_dataset= or "
            "train_dataset={'forget': ..., 'retain': ...}, or set retain_loss='none'."
        )
    if isinstance(retain_dataset, dict):
        names = [name for name in retain_dataset if retain_role(name) in retain_roles]
        retain = {name: prepare_dataset(retain_dataset[name], name=f"retain {name}", **prepare) for name in names}
        set_fingerprints["retain"] = {
            name: content_fingerprint(retain_dataset[name], f"retain {name}") for name in names
        } or None
    elif retain_roles:
        retain = prepare_dataset(retain_dataset, name="retain", **prepare)
        set_fingerprints["retain"] = content_fingerprint(retain_dataset, "retain")
    if retain_dataset is not None and not retain_roles:
        warnings.warn("retain_dataset is not used: retain_loss is 'none'.", stacklevel=3)
    retain_seed = args.retain_seed if args.retain_seed is not None else args.seed

    def prepare_eval(data, name):
        role = eval_role(name, roles)
        is_forget = role == "forget"
        # A forget eval set is scored with the forget objective, on the same labels as in training.
        dataset = prepare_dataset(
            data,
            name=f"{name} eval",
            alternatives=alternatives if is_forget else None,
            end_tokens=args.forget_end_tokens if is_forget else "include",
            **prepare,
        )
        return dataset.rename_columns({column: f"{role}_{column}" for column in dataset.column_names})

    if isinstance(eval_dataset, dict):
        eval_dataset = {name: prepare_eval(data, name) for name, data in eval_dataset.items()}
    elif eval_dataset is not None:
        eval_dataset = prepare_eval(eval_dataset, "eval")
    return UnlearningData(
        pairs=ForgetRetainDataset(forget, retain, seed=retain_seed),
        eval_dataset=eval_dataset,
        set_fingerprints=set_fingerprints,
        request_chain=request_chain,
        alternative_answers=alternatives,
        alternative_source=alternative_source,
        # Identifies the tokenized forget set (and its alternative answers) for resuming with precomputed references.
        tokenized_forget_fingerprint=fingerprint(
            forget, [c for c in ("input_ids", "labels", "alt_input_ids", "alt_labels") if c in forget.column_names]
        ),
    )


class UnlearningTrainer(ModelCardMixin, Trainer):
    r"""
    A drop-in [`~transformers.Trainer`] for unlearning: each step lowers
    `forget_weight * forget_loss + retain_weight * retain_loss` on a forget batch and a paired retain batch.

    The objectives are chosen in [`UnlearningConfig`] (`forget_loss`, `retain_loss`: any registered objective, see
    `hf_unlearn.losses.objectives()` and the method table of the docs); the method trainers of
    `hf_unlearn.method_trainers` ([`NPOTrainer`], ...) fix the forget objective and pick the papers' retain term.

    Args:
        model (`str` or [`~transformers.PreTrainedModel`] or [`~peft.PeftModel`]):
            The model to unlearn from: an object, or a Hub id / local path loaded with
            `AutoModelForCausalLM.from_pretrained(model, **args.model_init_kwargs)`.
        args ([`UnlearningConfig`] or [`~transformers.TrainingArguments`], *optional*):
            Run configuration. Plain `TrainingArguments` are converted (every unlearning field at its default).
        data_collator (`Callable`, *optional*):
            Defaults to [`~hf_unlearn.data.UnlearningCollator`].
        train_dataset (`dict[str, Dataset]`, *optional*):
            `{"forget": ..., "retain": ...}`, an alternative to `forget_dataset=` / `retain_dataset=` so that the
            trainer can replace `Trainer(train_dataset=...)` as is.
        eval_dataset (`Dataset` or `dict[str, Dataset]`, *optional*):
            Named eval sets. Sets whose name starts with `"forget"` are scored with the forget objective; every other
            set (retain, holdout, a single unnamed set) with the retain objective (NLL when `retain_loss="none"`).
            Metrics are logged as `{metric_key_prefix}_{name}_{metric}`, e.g. `eval_forget_nll/forget`.
        processing_class ([`~transformers.PreTrainedTokenizerBase`], *optional*):
            Tokenizer. Loaded from the model's name or path when omitted. Without a pad token, EOS pads.
        forget_dataset (`Dataset`, *optional*):
            Rows to forget: `prompt`/`completion`, `question`/`answer`, `messages` or `text` columns, plus an
            `alternative` column for `forget_loss="dpo"` / `"idknll"` when you supply their alternative answers
            (see `UnlearningConfig.alternative_source`).
        retain_dataset (`Dataset` or `dict[str, Dataset]`, *optional*):
            Rows to keep, same formats; required when the retain objective is not `"none"`. A dict of named sets
            (`{"normal": ..., "mismatch": ...}`) gives one term per set, each cycled independently, with its objective
            and weight from `UnlearningConfig.retain_objectives` / `retain_weights` (default `retain_loss` /
            `retain_weight`); statistics are logged per set (`loss/retain.normal`), and an eval set with the name of a
            retain set is scored with that set's objective.
        ref_model ([`~transformers.PreTrainedModel`], *optional*):
            Reference model for NPO / DPO / KL. Without one, a PEFT model uses itself with the adapter disabled and any
            other model a frozen copy of its initial state (see `UnlearningConfig.ref_source`).
        peft_config ([`~peft.PeftConfig`], *optional*):
            Wrap the model in this adapter (after `prepare_model_for_kbit_training` for 8-/4-bit bases).
        callbacks, optimizers, **kwargs:
            As for [`~transformers.Trainer`].

    Attributes:
        engine ([`~hf_unlearn.engine.ObjectiveEngine`]):
            The objectives (one weighted term per role) and the reference: the one place both are kept.
            `forget_loss`, `retain_loss`, `loss_names`, `ref_source`, `ref_model` and `reference` read it.
        request_chain ([`~hf_unlearn.history.RequestChain`]):
            The model's earlier unlearning requests, continued by this run's record.
    """

    default_forget_loss = "npo"
    default_retain_loss = "nll"
    # Method subclasses fix their forget objective; the base class accepts any.
    fixed_forget_loss: str | None = None
    # `compute_loss` returns a mean over the sequences of one micro-batch (no `num_items_in_batch`): the Trainer must
    # divide it by the accumulation steps, so that batch 4 x accumulation 1 equals batch 2 x accumulation 2.
    loss_is_scaled_for_ga = False
    _tag_names = ["hf_unlearn", "unlearning"]

    def __init__(
        self,
        model: str | PreTrainedModel | PeftModel,
        args: UnlearningConfig | TrainingArguments | None = None,
        data_collator=None,
        train_dataset: dict[str, Any] | None = None,
        eval_dataset: Any = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        *,
        forget_dataset: Any = None,
        retain_dataset: Any = None,
        ref_model: PreTrainedModel | None = None,
        peft_config: PeftConfig | None = None,
        callbacks=None,
        optimizers=(None, None),
        **kwargs,
    ):
        model_id = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", None)
        args = resolve_args(args, model_id)
        forget_loss_name, retain_loss_name = self._resolve_objectives(args)
        forget_loss = FORGET_LOSSES[forget_loss_name].from_config(args)

        if isinstance(model, str):
            model = AutoModelForCausalLM.from_pretrained(model, **model_init_kwargs(args))
        if processing_class is None:
            processing_class = load_tokenizer(model_id, args)
        ensure_pad_token(processing_class)
        if peft_config is not None:
            # Seed first, as Trainer.__init__ would: the adapter's initial weights are drawn here.
            set_seed(args.seed)
            model = wrap_peft(model, peft_config, args)
        if args.disable_dropout:
            disable_dropout(model)

        # The objectives: one weighted term per role ("forget", "retain" or "retain.NAME" for each named set), held
        # by the engine and nowhere else.
        forget_dataset, retain_dataset = resolve_train_datasets(train_dataset, forget_dataset, retain_dataset)
        terms = {"forget": Term(forget_loss_name, forget_loss, args.forget_weight)}
        for role, (objective_name, weight) in retain_terms(args, retain_loss_name, retain_dataset).items():
            terms[role] = Term(objective_name, RETAIN_LOSSES[objective_name].from_config(args), weight)
        check_hidden_layers(terms, model)
        self.engine = ObjectiveEngine(
            terms,
            pad_token_id=processing_class.pad_token_id,
            concatenated_forward=args.concatenated_forward,
            eval_weight=args.retain_weight,
        )
        data = prepare_unlearning_data(
            args, processing_class, model_id, terms, forget_dataset, retain_dataset, eval_dataset, retain_loss_name
        )
        train_pairs, self.set_fingerprints, self.request_chain = data.pairs, data.set_fingerprints, data.request_chain
        self.alternative_answers, self.alternative_source = data.alternative_answers, data.alternative_source
        self.tokenized_forget_fingerprint = data.tokenized_forget_fingerprint
        self._eval_rows = eval_dataset  # the rows themselves, for `evaluate_unlearning`'s generated answers

        # Reference: which source, and whether one must stay alive during training.
        retain_needs_reference = any(t.objective.needs_reference() for role, t in terms.items() if role != "forget")
        self.reference_precomputed = args.precompute_ref_log_probs and forget_loss.reference_is_precomputable()
        keep_live_reference = (
            forget_loss.needs_reference() and not self.reference_precomputed
        ) or retain_needs_reference
        if self.engine.needs_reference():
            self.engine.ref_source = resolve_ref_source(args.ref_source, model, ref_model)
            if self.engine.ref_source == "model" and ref_model is None:
                ref_model = frozen_copy(model)
            elif self.engine.ref_source == "model" and args.disable_dropout:
                disable_dropout(ref_model)
        elif ref_model is not None:
            warnings.warn(
                f"ref_model is not used: forget_loss={forget_loss_name!r} and retain_loss={retain_loss_name!r} need "
                "no reference.",
                stacklevel=2,
            )

        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator or UnlearningCollator(processing_class.pad_token_id),
            train_dataset=train_pairs,
            eval_dataset=data.eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        check_process_group(self.accelerator)
        if train_pairs.retain is not None and args.dataloader_num_workers > 0 and args.dataloader_persistent_workers:
            raise ValueError(
                "dataloader_persistent_workers=True keeps each worker's copy of the forget/retain pairs at epoch 0, "
                "so the retain rows paired with the forget rows would never change. Set it to False (workers are "
                "then started with the current epoch) or dataloader_num_workers=0."
            )
        self.add_callback(RetainPairingCallback(train_pairs))
        label_progress(self, f"unlearning ({forget_loss_name})")
        # The id the user gave, for the card's `base_model` (a local path is no use to readers of the card).
        self.base_model_id = args.base_model_id or (model_id if model_id and not os.path.isdir(model_id) else None)
        # Scores before / after unlearning for the card; filled by the evaluator, else taken from eval logs.
        self.unlearning_metrics: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        self._metrics = {"train": defaultdict(lambda: [0.0, 0.0]), "eval": defaultdict(lambda: [0.0, 0.0])}
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags([*self._tag_names, forget_loss_name])

        if self.engine.ref_source == "model":
            self.engine.reference = ModelReference(prepare_reference_model(ref_model, self.accelerator))
        elif self.engine.ref_source == "adapter":
            self.engine.reference = AdapterOffReference(self.accelerator, args.gradient_checkpointing_kwargs)
        # Logits at answer positions only, sliced inside the model before its LM head, when the model allows it.
        self.engine.slice_in_model = accepts_logits_to_keep(self.accelerator.unwrap_model(self.model))
        if self.reference_precomputed:
            check_precompute_engine(self.ref_source, self.is_deepspeed_enabled, self.is_fsdp_enabled)
            self._add_ref_logps_to_forget_sets()
            if not keep_live_reference:
                self.engine.reference = None  # nothing needs the reference during training any more: free it
        # SAM / randomized smoothing of the forget term (a step of its own) and weight averaging (a callback).
        self.smoothed_step = install_smoothing(self, stop_if_not_finite)

    # ---- The objectives and the reference, as the engine holds them ----

    @property
    def forget_loss(self) -> UnlearningObjective:
        """The forget objective."""
        return self.engine.forget.objective

    @property
    def retain_loss(self) -> UnlearningObjective | None:
        """The objective of the single retain set; `None` without one, or with named retain sets."""
        term = self.engine.terms.get("retain")
        return None if term is None else term.objective

    @property
    def objectives(self) -> dict[str, tuple[UnlearningObjective, float]]:
        """Role -> (objective, weight) of each term of the loss."""
        return {role: (term.objective, term.weight) for role, term in self.engine.terms.items()}

    @property
    def loss_names(self) -> dict[str, Any]:
        """`{"forget": name, "retain": name}` (`"none"` without a retain term), or `{set: name}` for named sets."""
        return describe(self.engine.terms)

    forget_weight = property(lambda self: self.engine.forget.weight, doc="The forget term's weight.")
    retain_weight = property(lambda self: self.args.retain_weight, doc="`UnlearningConfig.retain_weight`.")

    @property
    def ref_source(self) -> str | None:
        """`"adapter"`, `"model"`, or `None` when no objective needs a reference."""
        return self.engine.ref_source

    @property
    def reference(self) -> AdapterOffReference | ModelReference | None:
        """The live reference (`None` when none is needed during training)."""
        return self.engine.reference

    @property
    def ref_model(self) -> torch.nn.Module | None:
        """The reference model kept alive (a frozen copy or the one passed), prepared for the run's engine."""
        return self.engine.ref_model

    # ---- Construction helpers ----

    def _resolve_objectives(self, args: UnlearningConfig) -> tuple[str, str]:
        forget_loss = args.forget_loss or self.default_forget_loss
        if self.fixed_forget_loss is not None and forget_loss != self.fixed_forget_loss:
            raise ValueError(
                f"{type(self).__name__} trains forget_loss={self.fixed_forget_loss!r}, but the config sets "
                f"forget_loss={args.forget_loss!r}. Use UnlearningTrainer to choose the objective freely."
            )
        retain_loss = args.retain_loss or self.default_retain_loss
        args.check_objectives(forget_loss, retain_loss)
        return forget_loss, retain_loss

    def eval_role(self, name: str) -> str:
        """Role an eval set is scored as (see [`eval_role`])."""
        return eval_role(name, self.engine.terms)

    # ---- Precomputed reference log-probs ----

    def _add_ref_logps_to_forget_sets(self) -> None:
        """Reference log-probs of every forget row (training pairs and forget eval sets) as columns of the data."""
        batch_size = self.args.precompute_ref_batch_size or self.args.per_device_eval_batch_size

        def precompute(dataset, name: str) -> dict[str, list[float]]:  # a prepared, unprefixed set, in row order
            loader = DataLoader(dataset, batch_size=batch_size, collate_fn=self.data_collator, shuffle=False)
            gather = self.accelerator.gather_for_metrics
            values = self.engine.precompute(self.model, self.accelerator.prepare(loader), gather)
            logger.info(f"Precomputed reference log-probs for the {name} set ({len(dataset)} rows).")
            return values

        pairs = self.train_dataset
        for column, values in precompute(pairs.forget, "forget").items():
            pairs.forget = pairs.forget.add_column(column, values)
        for name, dataset in self.eval_dataset.items() if isinstance(self.eval_dataset, dict) else ():
            if self.eval_role(name) == "forget":
                unprefixed = dataset.rename_columns({c: c.removeprefix("forget_") for c in dataset.column_names})
                for column, values in precompute(unprefixed, name).items():
                    dataset = dataset.add_column(f"forget_{column}", values)
                self.eval_dataset[name] = dataset

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        # Keep the precomputed reference with the weights, so a resumed run uses the same values whatever model
        # object it is started from.
        if self.reference_precomputed and self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            columns = {
                column: self.train_dataset.forget[column] for column in self.engine.precomputed_columns().values()
            }
            save_precomputed(folder, columns, self.tokenized_forget_fingerprint)

    def _load_ref_logps(self, checkpoint: str) -> None:
        saved = load_precomputed(checkpoint, self.tokenized_forget_fingerprint)
        forget = self.train_dataset.forget
        for column in self.engine.precomputed_columns().values() if saved is not None else ():
            forget = forget.remove_columns(column).add_column(column, saved[column])
        self.train_dataset.forget = forget

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None, **kwargs):
        averaging = [c for c in self.callback_handler.callbacks if isinstance(c, WeightAveraging)]
        if resume_from_checkpoint and (self.reference_precomputed or averaging):
            checkpoint = resume_from_checkpoint
            if checkpoint is True:
                checkpoint = get_last_checkpoint(self.args.output_dir)
            if checkpoint and self.reference_precomputed:
                self._load_ref_logps(checkpoint)
            for callback in averaging if checkpoint else ():
                callback.resume_from(checkpoint)
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )

    # ---- Model card ----

    def unlearning_record(self, model_name: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        """What this run did, as written into the model card and `unlearning_record.json`.

        Method and hyperparameters, forget / retain set fingerprints (row count and SHA-256, no content), metrics
        before and after, library versions, and `requests`: the chain of unlearning requests of the model, earlier
        runs first when the model was loaded from an earlier run's folder (see [`~hf_unlearn.history.RequestChain`]).
        Nothing in it comes from the text of the sets. Built by [`~hf_unlearn.record.build_record`].
        """
        method, hyperparameters = describe_run(self)
        metrics = self.unlearning_metrics
        if not any(metrics.values()):
            metrics = metrics_from_log_history(self.state.log_history)
        return build_record(
            self,
            method=method,
            hyperparameters=hyperparameters,
            forget_set=self.set_fingerprints["forget"],
            retain_set=self.set_fingerprints["retain"],
            metrics=metrics,
            request_chain=self.request_chain,
            model_name=model_name,
            tags=tags,
        ).to_dict()

    def create_model_card(self, model_name: str | None = None, tags: str | list[str] | None = None, **kwargs) -> None:
        """Write `README.md` (model card with the unlearning record) and `unlearning_record.json` to `output_dir`.

        Called by `push_to_hub`; call it yourself after `save_model` to keep a card with a local copy. Our own card,
        not TRL's: it keeps `library_name: peft` for adapters and the `base_model` id the user gave.
        """
        if not self.is_world_process_zero():
            return
        if self.base_model_id is None and self.hub_model_id is not None:
            # Only a card headed for the Hub needs the id (the Hub links a model to its base by it); a local card
            # says in its text that the model came from a folder.
            logger.warning(
                f"The card for {self.hub_model_id} names no base_model (the model came from a local "
                "folder): set `base_model_id` to link it to its base model on the Hub."
            )
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        record = self.unlearning_record(model_name, tags)
        save_card_and_record(record, self.args.output_dir, repo_id=self.hub_model_id)

    # ---- The loss ----

    def _set_signature_columns_if_needed(self):
        # The model's forward takes none of our prefixed columns; keep them all (DPOTrainer does the same).
        if self._signature_columns is None:
            columns = ("input_ids", "labels", "ref_logps", "alt_input_ids", "alt_labels", "alt_ref_logps")
            self._signature_columns = [f"{role}_{column}" for role in self.engine.roles for column in columns]

    def training_step(self, model, inputs, num_items_in_batch=None):
        # With SAM or randomized smoothing, the forget term's gradient is taken away from the weights (smoothing.py).
        if self.smoothed_step is None:
            return super().training_step(model, inputs, num_items_in_batch)
        return self.smoothed_step(model, inputs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        loss, parts, stats = self.engine.loss(model, inputs, mode)
        if mode == "train":
            stop_if_not_finite(self, parts)
        self._record(mode, stats)
        return (loss, {}) if return_outputs else loss

    def _record(self, mode: str, stats: dict[str, torch.Tensor]) -> None:
        """Accumulate per-sequence statistics over all processes, with one gather per batch.

        In evaluation, `gather_for_metrics` drops the samples accelerate repeats to give every process a full last
        batch, so the averages are exactly those of a single-process run.
        """
        keys = sorted(stats)
        values = torch.stack([stats[key].float() for key in keys], dim=1)  # (batch, statistics)
        gather = self.accelerator.gather_for_metrics if mode == "eval" else self.accelerator.gather
        values = gather(values)
        totals = values.sum(0).tolist()
        for key, total in zip(keys, totals):
            self._metrics[mode][key][0] += total
            self._metrics[mode][key][1] += values.size(0)

    def pop_metrics(self, mode: str) -> dict[str, float]:
        """The mean of each statistic (`loss/forget`, `nll/retain`, ...) since the last call, for `mode` `"train"`
        or `"eval"`; the accumulators are then reset. `log` and `evaluation_loop` call it."""
        metrics = {key: total / count for key, (total, count) in self._metrics[mode].items() if count}
        self._metrics[mode].clear()
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a periodic training log; eval statistics are added in `evaluation_loop`
            logs = {**logs, **self.pop_metrics("train")}
        super().log(logs, start_time)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        # Our batches carry `forget_labels` / `retain_labels`, not `labels`, so the stock method would skip the loss.
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ) -> EvalLoopOutput:
        # Named eval sets are evaluated one after the other; the prefix (`eval_forget`, `eval_retain`) keeps their
        # statistics apart.
        self._metrics["eval"].clear()
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        output.metrics.update({f"{metric_key_prefix}_{key}": value for key, value in self.pop_metrics("eval").items()})
        return output


def stop_if_not_finite(trainer: UnlearningTrainer, parts: dict[str, torch.Tensor]) -> None:
    """Stop before a NaN / inf reaches the weights, naming the step and the part that broke."""
    bad = {role: part.item() for role, part in parts.items() if not torch.isfinite(part)}
    flag = torch.tensor(float(bool(bad)), device=trainer.accelerator.device)
    if trainer.accelerator.num_processes > 1:  # every rank must stop, or the others wait forever
        flag = trainer.accelerator.reduce(flag, reduction="sum")
    if flag.item() == 0:
        return
    last_checkpoint = get_last_checkpoint(trainer.args.output_dir) if os.path.isdir(trainer.args.output_dir) else None
    where = ", ".join(f"{role} loss = {value}" for role, value in bad.items()) or "on another process"
    raise FloatingPointError(
        f"Unlearning stopped at step {trainer.state.global_step + 1}: {where} (forget_loss="
        f"{trainer.loss_names['forget']!r}, retain_loss={trainer.loss_names['retain']!r}). This step was not applied. "
        f"Last good checkpoint: {last_checkpoint or 'none saved yet'}. Lower the learning rate or forget_weight, "
        "or add a retain term (gradient ascent diverges by design)."
    )


def retain_hyperparameters(trainer: UnlearningTrainer) -> dict[str, Any]:
    """The registered hyperparameters of the run's retain objectives (RMU's `rmu_alpha`, ...), from the registry."""
    values = {}
    for role, term in trainer.engine.terms.items():
        if role != "forget":
            values.update(trainer.args.objective_hyperparameters(term.name, "retain"))
    return values


def describe_run(trainer: UnlearningTrainer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's `method` and `hyperparameters` of an unlearning run (settings only, no text of any set)."""
    args, names = trainer.args, trainer.loss_names
    hyperparameters = {
        **training_hyperparameters(args, trainer.accelerator.num_processes),
        # `beta` and `simnpo_delta` are keys of every record (None when the objective has none), as before.
        "beta": None,
        "simnpo_delta": None,
        **args.method_hyperparameters(names["forget"]),
        **retain_hyperparameters(trainer),
        "max_length": args.max_length,
        "precompute_ref_log_probs": trainer.reference_precomputed,
        "seed": args.seed,
        **smoothing_hyperparameters(args),
    }
    if trainer.alternative_answers is not None:  # which answers were preferred / trained on: settings, no text
        hyperparameters["alternative_source"] = trainer.alternative_source
        if trainer.alternative_source == "refusals":
            hyperparameters["alternative_seed"] = trainer.alternative_answers.seed
            hyperparameters["refusal_answers"] = len(trainer.alternative_answers.refusals)
    named_weights = {
        role.removeprefix("retain."): term.weight
        for role, term in trainer.engine.terms.items()
        if role.startswith("retain.")
    }
    method = {
        "trainer": type(trainer).__name__,
        "forget_loss": names["forget"],
        "retain_loss": names["retain"],
        "forget_weight": trainer.forget_weight,
        "retain_weight": named_weights or trainer.retain_weight,
        "reference": trainer.ref_source,
    }
    return method, hyperparameters


def __getattr__(name: str):
    # The method trainers (`NPOTrainer`, ..., `RMUTrainer`, `trainer_class`) live in `hf_unlearn.method_trainers`,
    # built from the objective registry; imported on first use so that the two modules do not import each other.
    from . import method_trainers

    if name in method_trainers.__all__:
        return getattr(method_trainers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""`UnlearningTrainer`: a `Trainer` that pushes a model away from a forget set and holds it on a retain set."""

from __future__ import annotations

import copy
import json
import os
import re
import warnings
from collections import defaultdict
from dataclasses import fields
from typing import Any

import datasets
import torch
import torch.nn.functional as F
from peft import PeftConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from safetensors import safe_open
from safetensors.torch import load_file, save_file
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

from .callbacks import label_progress
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
from .data.pairing import RetainPairingCallback, retain_role
from .history import RequestChain
from .hub import ModelCardMixin, save_card_and_record
from .layers import capture_layer_output, decoder_layers
from .logprobs import (
    IGNORE_INDEX,
    accepts_logits_to_keep,
    answer_logits,
    answer_targets,
    per_sequence_sum,
    predicting_positions,
    selected_logps,
)
from .losses import FORGET_LOSSES, RETAIN_LOSSES, NLLRetainLoss
from .losses.base import ObjectiveInputs, UnlearningObjective, token_mean_logps
from .record import build_record, training_hyperparameters
from .reference import (
    AdapterOffReference,
    ModelReference,
    disable_dropout,
    peft_checkpointing_alias_quiet,
    prepare_reference_model,
)
from .utils import atomic_write, resolve_dtype


logger = logging.get_logger(__name__)

ROLES = ("forget", "retain")
REF_LOGPS_FILE = "hf_unlearn_ref_logps.safetensors"


class UnlearningTrainer(ModelCardMixin, Trainer):
    r"""
    A drop-in [`~transformers.Trainer`] for unlearning: each step lowers
    `forget_weight * forget_loss + retain_weight * retain_loss` on a forget batch and a paired retain batch.

    The objectives are chosen in [`UnlearningConfig`] (`forget_loss`: `"ga"`, `"npo"`, `"simnpo"`, `"dpo"`,
    `"idknll"`; `retain_loss`: `"none"`, `"nll"`, `"kl"`); the subclasses [`GradientAscentTrainer`],
    [`GradientDifferenceTrainer`], [`NPOTrainer`], [`SimNPOTrainer`], [`IdkDPOTrainer`] and [`IdkNLLTrainer`] fix the
    forget objective and pick the papers' retain term.

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
        args = self._resolve_args(args, model_id)
        forget_loss_name, retain_loss_name = self._resolve_objectives(args)
        self.forget_loss = FORGET_LOSSES[forget_loss_name].from_config(args)
        self.forget_weight, self.retain_weight = args.forget_weight, args.retain_weight

        if isinstance(model, str):
            model = AutoModelForCausalLM.from_pretrained(model, **self._model_init_kwargs(args))
        if processing_class is None:
            processing_class = self._load_tokenizer(model_id, args)
        ensure_pad_token(processing_class)
        if peft_config is not None:
            # Seed first, as Trainer.__init__ would: the adapter's initial weights are drawn here.
            set_seed(args.seed)
            model = self._wrap_peft(model, peft_config, args)
        if args.disable_dropout:
            disable_dropout(model)

        # Data: tokenized once here; no text column goes further. The record keeps fingerprints, never content.
        forget_dataset, retain_dataset = self._resolve_train_datasets(train_dataset, forget_dataset, retain_dataset)
        # One weighted term per retain set: role "retain" for a single set, "retain.NAME" for each named one.
        retain_terms = self._retain_terms(args, retain_loss_name, retain_dataset)
        self.objectives: dict[str, tuple[UnlearningObjective, float]] = {
            "forget": (self.forget_loss, args.forget_weight)
        }
        for role, (objective_name, weight) in retain_terms.items():
            self.objectives[role] = (RETAIN_LOSSES[objective_name].from_config(args), weight)
        self.retain_loss = self.objectives.get(retain_role(None), (None,))[0]
        self._check_hidden_layers(model)
        forget_dataset = as_dataset(forget_dataset, "forget")
        # The record's fingerprint covers the prompts and answers only, never an `alternative` column.
        self.set_fingerprints = {"forget": content_fingerprint(forget_dataset, "forget"), "retain": None}
        # Sequential unlearning: a model loaded from an earlier run's output continues that run's request chain.
        self.request_chain = RequestChain.start(model_id, forget_dataset, self.set_fingerprints["forget"])
        prepare = dict(
            tokenizer=processing_class, max_length=args.max_length, qa_prompt_template=args.qa_prompt_template
        )
        # Each forget row's alternative answer (its `alternative` column, or a seeded refusal), when the objective
        # scores one; tokenized after the row's prompt into `alt_input_ids` / `alt_labels`.
        self.alternative_answers = None
        if self.forget_loss.needs_alternatives():
            alternative_seed = args.alternative_seed if args.alternative_seed is not None else args.seed
            self.alternative_answers = AlternativeAnswers(
                args.alternative_source, args.refusal_answers, alternative_seed
            )
            self._alternative_source = self.alternative_answers.resolved_source(forget_dataset.column_names)
        forget = prepare_dataset(
            forget_dataset,
            name="forget",
            alternatives=self.alternative_answers,
            end_tokens=args.forget_end_tokens,
            **prepare,
        )
        retain = None
        if retain_terms and retain_dataset is None:
            raise ValueError(
                f"retain_loss={retain_loss_name!r} needs a retain set: pass retain_dataset= or "
                "train_dataset={'forget': ..., 'retain': ...}, or set retain_loss='none'."
            )
        if isinstance(retain_dataset, dict):
            names = [name for name in retain_dataset if retain_role(name) in retain_terms]
            retain = {name: prepare_dataset(retain_dataset[name], name=f"retain {name}", **prepare) for name in names}
            self.set_fingerprints["retain"] = {
                name: content_fingerprint(retain_dataset[name], f"retain {name}") for name in names
            } or None
        elif retain_terms:
            retain = prepare_dataset(retain_dataset, name="retain", **prepare)
            self.set_fingerprints["retain"] = content_fingerprint(retain_dataset, "retain")
        if retain_dataset is not None and not retain_terms:
            warnings.warn("retain_dataset is not used: retain_loss is 'none'.", stacklevel=2)
        retain_seed = args.retain_seed if args.retain_seed is not None else args.seed
        train_pairs = ForgetRetainDataset(forget, retain, seed=retain_seed)
        # Identifies the tokenized forget set (and its alternative answers) for resuming with precomputed references.
        self._forget_fingerprint = fingerprint(
            forget, [c for c in ("input_ids", "labels", "alt_input_ids", "alt_labels") if c in forget.column_names]
        )
        self._eval_rows = eval_dataset  # the rows themselves, for `evaluate_unlearning`'s generated answers
        eval_dataset = self._prepare_eval_datasets(eval_dataset, prepare, args.forget_end_tokens)

        # Reference: which source, and whether one must stay alive during training.
        self.ref_source = None
        retain_needs_reference = any(
            objective.needs_reference() for role, (objective, _) in self.objectives.items() if role != "forget"
        )
        needs_reference = self.forget_loss.needs_reference() or retain_needs_reference
        self._precompute = args.precompute_ref_log_probs and self.forget_loss.reference_is_precomputable()
        keep_live_reference = (self.forget_loss.needs_reference() and not self._precompute) or retain_needs_reference
        if needs_reference:
            self.ref_source = self._resolve_ref_source(args, model, ref_model)
            if self.ref_source == "model" and ref_model is None:
                ref_model = self._frozen_copy(model)
            elif self.ref_source == "model" and args.disable_dropout:
                disable_dropout(ref_model)
        elif ref_model is not None:
            warnings.warn(
                f"ref_model is not used: forget_loss={forget_loss_name!r} and retain_loss={retain_loss_name!r} need "
                "no reference.",
                stacklevel=2,
            )
            ref_model = None

        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator or UnlearningCollator(processing_class.pad_token_id),
            train_dataset=train_pairs,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        self._check_process_group()
        if retain is not None and args.dataloader_num_workers > 0 and args.dataloader_persistent_workers:
            raise ValueError(
                "dataloader_persistent_workers=True keeps each worker's copy of the forget/retain pairs at epoch 0, "
                "so the retain rows paired with the forget rows would never change. Set it to False (workers are "
                "then started with the current epoch) or dataloader_num_workers=0."
            )
        self.add_callback(RetainPairingCallback(train_pairs))
        named = {role.removeprefix("retain."): term for role, term in retain_terms.items() if role != "retain"}
        self.loss_names = {
            "forget": forget_loss_name,
            "retain": {name: objective for name, (objective, _) in named.items()} if named else retain_loss_name,
        }
        label_progress(self, f"unlearning ({forget_loss_name})")
        self._retain_weight_record = {name: weight for name, (_, weight) in named.items()} or self.retain_weight
        # The id the user gave, for the card's `base_model` (a local path is no use to readers of the card).
        self.base_model_id = args.base_model_id or (model_id if model_id and not os.path.isdir(model_id) else None)
        # Scores before / after unlearning for the card; filled by the evaluator, else taken from eval logs.
        self.unlearning_metrics: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        self._metrics = {"train": defaultdict(lambda: [0.0, 0.0]), "eval": defaultdict(lambda: [0.0, 0.0])}
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags([*self._tag_names, forget_loss_name])

        self.ref_model = prepare_reference_model(ref_model, self.accelerator) if self.ref_source == "model" else None
        if self.ref_source == "adapter":
            self.reference = AdapterOffReference(self.accelerator, args.gradient_checkpointing_kwargs)
        elif self.ref_source == "model":
            self.reference = ModelReference(self.ref_model)
        else:
            self.reference = None

        # Logits at answer positions only, sliced inside the model before its LM head, when the model allows it.
        self._slice_in_model = accepts_logits_to_keep(self.accelerator.unwrap_model(self.model))
        if self._precompute:
            self._check_precompute_engine()
            self._add_ref_logps_to_forget_sets()
            if not keep_live_reference:
                # Nothing needs the reference during training any more: free it.
                self.reference = self.ref_model = None

    # ---- Construction helpers ----

    def _check_process_group(self) -> None:
        """Refuse a multi-process launch that accelerate set up as one process per run (each would unlearn alone)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size > 1 and self.accelerator.num_processes == 1:
            raise RuntimeError(
                f"This run was launched as {world_size} processes, but accelerate set up a single-process run "
                f"({self.accelerator.distributed_type}), so every process would unlearn on its own. On a machine "
                "without GPUs, launch with `accelerate launch --multi_gpu --num_processes N` and set `use_cpu=True` "
                "(DDP over gloo); accelerate enables FSDP and DeepSpeed only on GPUs and other accelerators."
            )

    def _check_hidden_layers(self, model) -> None:
        """Refuse an objective that reads the output of a decoder layer the model does not have."""
        for role, (objective, _) in self.objectives.items():
            if not objective.requires & {"hidden_states", "ref_hidden_states"}:
                continue
            if objective.hidden_layer is None:
                raise ValueError(f"{type(objective).__name__} asks for hidden states but sets no hidden_layer.")
            num_layers = len(decoder_layers(model))
            if not 0 <= objective.hidden_layer < num_layers:
                field_name = getattr(objective, "layer_field", "hidden_layer")
                raise ValueError(
                    f"{field_name}={objective.hidden_layer} is beyond the model: {type(objective).__name__} (the "
                    f"{role} objective) reads the output of that decoder layer, and the model has {num_layers} "
                    f"decoder layers; accepted: 0 to {num_layers - 1}."
                )

    def _resolve_args(self, args: TrainingArguments | None, model_id: str | None) -> UnlearningConfig:
        if args is None:
            model_name = (model_id or "model").rstrip("/").split("/")[-1]
            return UnlearningConfig(output_dir=f"{model_name}-unlearned")
        if isinstance(args, UnlearningConfig):
            return args
        if isinstance(args, TrainingArguments):
            values = {f.name: getattr(args, f.name) for f in fields(TrainingArguments) if f.init}
            return UnlearningConfig(**values)
        raise TypeError(f"args must be an UnlearningConfig or TrainingArguments, got {type(args).__name__}.")

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

    @staticmethod
    def _model_init_kwargs(args: UnlearningConfig) -> dict:
        kwargs = args.model_init_kwargs or {}
        kwargs = dict(json.loads(kwargs) if isinstance(kwargs, str) else kwargs)
        # Remote code runs only when the user asks for it.
        kwargs.setdefault("trust_remote_code", False)
        if "dtype" in kwargs:
            kwargs["dtype"] = resolve_dtype(kwargs["dtype"])
        return kwargs

    def _load_tokenizer(self, model_id: str | None, args: UnlearningConfig) -> PreTrainedTokenizerBase:
        if model_id is None:
            raise ValueError(
                "processing_class is required: the model carries no name or path to load a tokenizer from."
            )
        trust_remote_code = self._model_init_kwargs(args)["trust_remote_code"]
        return AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)

    @staticmethod
    def _wrap_peft(model: PreTrainedModel, peft_config: PeftConfig, args: UnlearningConfig) -> PeftModel:
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

    @staticmethod
    def _resolve_train_datasets(train_dataset, forget_dataset, retain_dataset):
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

    @staticmethod
    def _retain_terms(args: UnlearningConfig, retain_loss: str, retain_dataset) -> dict[str, tuple[str, float]]:
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

    def eval_role(self, name: str) -> str:
        """Role an eval set is scored as: `"forget"` for names starting with "forget", the named retain set of the
        same name (its objective), else `"retain"` (the retain objective, or NLL)."""
        if name.startswith("forget"):
            return "forget"
        named = retain_role(name)
        return named if named in self.objectives else "retain"

    def _prepare_eval_datasets(self, eval_dataset, prepare: dict, forget_end_tokens: str):
        if eval_dataset is None:
            return None

        def prepare_one(data, name):
            role = self.eval_role(name)
            forget = role == "forget"
            # A forget eval set is scored with the forget objective, on the same labels as in training.
            dataset = prepare_dataset(
                data,
                name=f"{name} eval",
                alternatives=self.alternative_answers if forget else None,
                end_tokens=forget_end_tokens if forget else "include",
                **prepare,
            )
            return dataset.rename_columns({column: f"{role}_{column}" for column in dataset.column_names})

        if isinstance(eval_dataset, dict):
            return {name: prepare_one(data, name) for name, data in eval_dataset.items()}
        return prepare_one(eval_dataset, "eval")

    @staticmethod
    def _resolve_ref_source(args: UnlearningConfig, model, ref_model) -> str:
        is_peft = isinstance(model, PeftModel)
        if args.ref_source == "adapter":
            if not is_peft:
                raise ValueError(
                    f"ref_source='adapter' needs a PEFT model (pass peft_config= or a PeftModel), but the model is a "
                    f"{type(model).__name__}. Use ref_source='model' for a frozen copy or a ref_model."
                )
            if ref_model is not None:
                raise ValueError("ref_source='adapter' and a ref_model were both given; pick one.")
            return "adapter"
        if args.ref_source == "model":
            return "model"
        return "adapter" if is_peft and ref_model is None else "model"

    @staticmethod
    def _frozen_copy(model) -> PreTrainedModel:
        """A copy of the initial policy, to serve as the reference (frozen by `prepare_reference_model`)."""
        if getattr(model, "is_loaded_in_8bit", False) or getattr(model, "is_loaded_in_4bit", False):
            raise ValueError(
                "A quantized model cannot be copied into a frozen reference. Train a LoRA adapter on it "
                "(peft_config=...) so that the reference is the base model with the adapter disabled."
            )
        logger.info("Keeping a frozen copy of the initial model as the reference (one more model in memory).")
        return copy.deepcopy(model)

    # ---- Precomputed reference log-probs ----

    def _check_precompute_engine(self) -> None:
        """Refuse the adapter-off precompute under DeepSpeed / FSDP, where the policy is not placed or sharded yet."""
        if self.ref_source == "adapter" and (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            engine = "DeepSpeed" if self.is_deepspeed_enabled else "FSDP"
            raise ValueError(
                f"precompute_ref_log_probs=True with the adapter-off reference is not supported under {engine}: the "
                "reference pass runs when the trainer is built, before the engine places or shards the policy. The "
                "adapter-off reference keeps no second model, so set precompute_ref_log_probs=False (it costs one "
                "no-grad forward per step), or pass a ref_model (ref_source='model'), which is prepared for the "
                "engine and can be precomputed."
            )

    def _precomputed_columns(self) -> dict[str, str]:
        """Sequence prefix -> column holding its precomputed reference log-probs (`alt_` for alternative answers)."""
        columns = {"": "ref_logps"}
        if "ref_alt_logps" in self.forget_loss.requires:
            columns["alt_"] = "alt_ref_logps"
        return columns

    def _compute_ref_logps(self, dataset: datasets.Dataset, name: str) -> dict[str, list[float]]:
        """Reference log-probs of every row of a prepared (unprefixed) dataset, in row order, one list per column."""
        batch_size = self.args.precompute_ref_batch_size or self.args.per_device_eval_batch_size
        loader = DataLoader(dataset, batch_size=batch_size, collate_fn=self.data_collator, shuffle=False)
        loader = self.accelerator.prepare(loader)
        was_training = self.model.training
        self.model.eval()
        columns = self._precomputed_columns()
        values = {column: [] for column in columns.values()}
        for batch in loader:
            with self.reference.active(self.model) as reference:
                for prefix, column in columns.items():
                    logps = self._score(reference, batch, prefix)["logps"]
                    values[column].append(self.accelerator.gather_for_metrics(logps).cpu())
        self.model.train(was_training)
        logger.info(f"Precomputed reference log-probs for the {name} set ({len(dataset)} rows).")
        return {column: torch.cat(parts).tolist() for column, parts in values.items()}

    def _add_ref_logps_to_forget_sets(self) -> None:
        pairs = self.train_dataset
        for column, values in self._compute_ref_logps(pairs.forget, "forget").items():
            pairs.forget = pairs.forget.add_column(column, values)
        if isinstance(self.eval_dataset, dict):
            for name, dataset in self.eval_dataset.items():
                if self.eval_role(name) == "forget":
                    unprefixed = dataset.rename_columns({c: c.removeprefix("forget_") for c in dataset.column_names})
                    for column, values in self._compute_ref_logps(unprefixed, name).items():
                        dataset = dataset.add_column(f"forget_{column}", values)
                    self.eval_dataset[name] = dataset

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        # Keep the precomputed reference with the weights, so a resumed run uses the same values whatever model
        # object it is started from.
        if self._precompute and self.args.should_save:
            checkpoint_dir = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            forget = self.train_dataset.forget
            tensors = {
                f"forget_{column}": torch.tensor(forget[column], dtype=torch.float32)
                for column in self._precomputed_columns().values()
            }
            with atomic_write(os.path.join(checkpoint_dir, REF_LOGPS_FILE)) as temporary:
                save_file(tensors, str(temporary), metadata={"forget_fingerprint": self._forget_fingerprint})

    def _load_ref_logps(self, checkpoint: str) -> None:
        path = os.path.join(checkpoint, REF_LOGPS_FILE)
        if not os.path.isfile(path):
            logger.warning(
                f"{checkpoint} holds no precomputed reference log-probs; keeping the ones computed at start."
            )
            return
        with safe_open(path, framework="pt") as handle:
            saved_fingerprint = handle.metadata().get("forget_fingerprint")
        if saved_fingerprint != self._forget_fingerprint:
            raise ValueError(
                f"The checkpoint {checkpoint} was trained on a different forget set (fingerprint "
                f"{saved_fingerprint[:12] if saved_fingerprint else None}... vs {self._forget_fingerprint[:12]}...); "
                "resume with the same forget set and max_length."
            )
        saved = load_file(path)
        forget = self.train_dataset.forget
        for column in self._precomputed_columns().values():
            forget = forget.remove_columns(column).add_column(column, saved[f"forget_{column}"].tolist())
        self.train_dataset.forget = forget

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None, **kwargs):
        if resume_from_checkpoint and self._precompute:
            checkpoint = resume_from_checkpoint
            if checkpoint is True:
                checkpoint = get_last_checkpoint(self.args.output_dir)
            if checkpoint:
                self._load_ref_logps(checkpoint)
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )

    # ---- Model card ----

    @staticmethod
    def score_metrics(metrics: dict[str, Any]) -> dict[str, float]:
        """The scores among `evaluate()` metrics: no timings, no epoch."""
        return {
            key: value
            for key, value in metrics.items()
            if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second", "_preparation_time"))
        }

    def _metrics_from_eval_logs(self) -> dict[str, dict[str, float]]:
        """Eval metrics logged at step 0 (before) and at the last evaluated step (after)."""
        by_step: dict[int, dict[str, float]] = defaultdict(dict)
        for entry in self.state.log_history:
            by_step[entry.get("step", 0)].update(self.score_metrics(entry))
        by_step = {step: metrics for step, metrics in by_step.items() if metrics}
        if not by_step:
            return {"before": {}, "after": {}}
        last = max(by_step)
        return {"before": by_step.get(0, {}) if last > 0 else {}, "after": by_step[last]}

    def unlearning_record(self, model_name: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        """What this run did, as written into the model card and `unlearning_record.json`.

        Method and hyperparameters, forget / retain set fingerprints (row count and SHA-256, no content), metrics
        before and after, library versions, and `requests`: the chain of unlearning requests of the model, earlier
        runs first when the model was loaded from an earlier run's folder (see [`~hf_unlearn.history.RequestChain`]).
        Nothing in it comes from the text of the sets.
        """
        args = self.args
        hyperparameters = {
            **training_hyperparameters(args, self.accelerator.num_processes),
            "beta": getattr(self.forget_loss, "beta", None),
            "simnpo_delta": getattr(self.forget_loss, "delta", None),
            **args.method_hyperparameters(self.loss_names["forget"]),
            "max_length": args.max_length,
            "precompute_ref_log_probs": self._precompute,
            "seed": args.seed,
        }
        if self.alternative_answers is not None:  # which answers were preferred / trained on: settings, no text
            hyperparameters["alternative_source"] = self._alternative_source
            if self._alternative_source == "refusals":
                hyperparameters["alternative_seed"] = self.alternative_answers.seed
                hyperparameters["refusal_answers"] = len(self.alternative_answers.refusals)
        metrics = self.unlearning_metrics if any(self.unlearning_metrics.values()) else self._metrics_from_eval_logs()
        method = {
            "trainer": type(self).__name__,
            "forget_loss": self.loss_names["forget"],
            "retain_loss": self.loss_names["retain"],
            "forget_weight": self.forget_weight,
            "retain_weight": self._retain_weight_record,
            "reference": self.ref_source,
        }
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
            self._signature_columns = [f"{role}_{column}" for role in self._roles for column in columns]

    def _score(self, module, batch: dict, prefix: str = "", hidden_layer: int | None = None) -> dict:
        """One forward of `module` over the batch's `prefix` sequences (`""`, or `"alt_"` for alternative answers).

        Returns answer-position logits, the answer tokens, per-token and per-sequence log-probs, token counts, the
        answer positions and, when `hidden_layer` is given, the output of that decoder layer.
        """
        labels = batch[prefix + "labels"]
        captured = {}
        with capture_layer_output(module, hidden_layer, captured):
            logits = answer_logits(
                module, batch[prefix + "input_ids"], batch[prefix + "attention_mask"], labels, self._slice_in_model
            )
        positions = predicting_positions(labels)
        targets = answer_targets(labels)
        token_logps = selected_logps(logits, targets)
        return {
            "logits": logits,
            "token_logps": token_logps,
            "targets": targets,
            "logps": per_sequence_sum(token_logps, positions),
            "n_tokens": positions.sum(-1),
            "answer_positions": positions,
            "hidden_states": captured.get("hidden"),
        }

    @staticmethod
    def _hidden_layer(objective: UnlearningObjective) -> int | None:
        return objective.hidden_layer if objective.requires & {"hidden_states", "ref_hidden_states"} else None

    def _policy_scores(self, model, batches: dict[str, dict], objectives: dict[str, UnlearningObjective]) -> dict:
        """`_score` of the policy on each role's batch; with `concatenated_forward`, in one forward of all of them.

        One forward of the forget and retain rows together (padded to the longer batch) halves the per-forward
        overhead that dominates small models and small batches; results are split back by rows and answer tokens.
        Roles that need hidden states of different layers run separately.
        """
        layers = {role: self._hidden_layer(objective) for role, objective in objectives.items()}
        distinct_layers = set(layers.values()) - {None}
        if not self.args.concatenated_forward or len(batches) < 2 or len(distinct_layers) > 1:
            return {role: self._score(model, batch, "", layers[role]) for role, batch in batches.items()}
        width = max(batch["input_ids"].size(1) for batch in batches.values())
        pad_values = {"input_ids": self.processing_class.pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX}
        joint = {
            key: torch.cat(
                [F.pad(batch[key], (0, width - batch[key].size(1)), value=value) for batch in batches.values()]
            )
            for key, value in pad_values.items()
        }
        scores = self._score(model, joint, "", next(iter(distinct_layers), None))
        rows = [batch["input_ids"].size(0) for batch in batches.values()]
        positions = [predicting_positions(batch["labels"]) for batch in batches.values()]
        tokens = torch.stack([mask.sum() for mask in positions]).tolist()  # one host sync for all roles
        split = {}
        for index, (role, batch) in enumerate(batches.items()):
            row = slice(sum(rows[:index]), sum(rows[: index + 1]))
            token = slice(sum(tokens[:index]), sum(tokens[: index + 1]))
            hidden = scores["hidden_states"]
            split[role] = {
                **{key: scores[key][token] for key in ("logits", "token_logps", "targets")},
                **{key: scores[key][row] for key in ("logps", "n_tokens")},
                "answer_positions": positions[index],
                "hidden_states": None if hidden is None else hidden[row, : batch["input_ids"].size(1)],
            }
        return split

    def _objective_inputs(self, model, batch: dict, objective: UnlearningObjective, policy: dict) -> ObjectiveInputs:
        """Everything `objective` asked for on this batch, each computed once: the policy's scores of the answers
        (`policy`, from `_policy_scores`), alternative answers when asked, the reference only when asked."""
        requires = objective.requires
        layer = self._hidden_layer(objective)
        values = {**policy, "attention_mask": batch["attention_mask"]}
        if objective.needs_alternatives():
            alternative = self._score(model, batch, "alt_")
            values.update(alt_logps=alternative["logps"], alt_n_tokens=alternative["n_tokens"])
        reference_needs = {name for name in requires if name.startswith("ref_")}
        precomputed = {"ref_logps": batch.get("ref_logps"), "ref_alt_logps": batch.get("alt_ref_logps")}
        if reference_needs and all(precomputed.get(name) is not None for name in reference_needs):
            values.update({name: precomputed[name] for name in reference_needs})
        elif reference_needs:
            if self.reference is None:
                raise ValueError(
                    "This batch has no precomputed reference log-probs and no reference model is kept. With "
                    "precompute_ref_log_probs=True and no ref_model, pass forget eval sets at construction."
                )
            with self.reference.active(model) as reference:
                ref = self._score(reference, batch, "", layer if "ref_hidden_states" in requires else None)
                if "ref_alt_logps" in requires:
                    ref["alt_logps"] = self._score(reference, batch, "alt_")["logps"]
            values.update({name: ref[name.removeprefix("ref_")] for name in reference_needs})
        return ObjectiveInputs(**{name: values.get(name) for name in ObjectiveInputs.__dataclass_fields__})

    @property
    def _roles(self) -> list[str]:
        """Every column prefix a batch may carry: forget, the single retain set, named retain sets."""
        return list(dict.fromkeys([*ROLES, *self.objectives]))

    def _role_objective(self, role: str, mode: str) -> tuple[UnlearningObjective, float] | None:
        if role in self.objectives:
            return self.objectives[role]
        if mode == "eval" and role != "forget":
            # An eval set with no objective of its own (the retain term is off, or the retain sets are named
            # differently): NLL is all there is to report.
            return NLLRetainLoss(), self.retain_weight
        return None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        terms = {}
        for role in self._roles:
            term = self._role_objective(role, mode)
            if f"{role}_input_ids" in inputs and term is not None:
                terms[role] = term
        batches = {
            role: {key.removeprefix(f"{role}_"): value for key, value in inputs.items() if key.startswith(f"{role}_")}
            for role in terms
        }
        policy = self._policy_scores(model, batches, {role: objective for role, (objective, _) in terms.items()})
        weights, parts, stats = {}, {}, {}
        for role, (objective, weights[role]) in terms.items():
            objective_inputs = self._objective_inputs(model, batches[role], objective, policy[role])
            per_sequence, role_stats = objective(objective_inputs)
            parts[role] = per_sequence.mean()
            logps, n_tokens = objective_inputs.logps.detach(), objective_inputs.n_tokens
            role_stats = {
                "logps": logps,
                "nll": -token_mean_logps(logps, n_tokens),
                **role_stats,
                "loss": per_sequence.detach(),
            }
            stats.update({f"{name}/{role}": value for name, value in role_stats.items()})
        if mode == "train":
            self._stop_if_not_finite(parts)
        loss = sum(weights[role] * part for role, part in parts.items())
        self._record(mode, stats)
        return (loss, {}) if return_outputs else loss

    def _stop_if_not_finite(self, parts: dict[str, torch.Tensor]) -> None:
        """Stop before a NaN / inf reaches the weights, naming the step and the part that broke."""
        bad = {role: part.item() for role, part in parts.items() if not torch.isfinite(part)}
        flag = torch.tensor(float(bool(bad)), device=self.accelerator.device)
        if self.accelerator.num_processes > 1:  # every rank must stop, or the others wait forever
            flag = self.accelerator.reduce(flag, reduction="sum")
        if flag.item() == 0:
            return
        last_checkpoint = get_last_checkpoint(self.args.output_dir) if os.path.isdir(self.args.output_dir) else None
        where = ", ".join(f"{role} loss = {value}" for role, value in bad.items()) or "on another process"
        raise FloatingPointError(
            f"Unlearning stopped at step {self.state.global_step + 1}: {where} (forget_loss="
            f"{self.loss_names['forget']!r}, retain_loss={self.loss_names['retain']!r}). This step was not applied. "
            f"Last good checkpoint: {last_checkpoint or 'none saved yet'}. Lower the learning rate or forget_weight, "
            "or add a retain term (gradient ascent diverges by design)."
        )

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

    def _pop_metrics(self, mode: str) -> dict[str, float]:
        metrics = {key: total / count for key, (total, count) in self._metrics[mode].items() if count}
        self._metrics[mode].clear()
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a periodic training log; eval statistics are added in `evaluation_loop`
            logs = {**logs, **self._pop_metrics("train")}
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
        output.metrics.update(
            {f"{metric_key_prefix}_{key}": value for key, value in self._pop_metrics("eval").items()}
        )
        return output


class GradientAscentTrainer(UnlearningTrainer):
    """Gradient ascent (GA) on the forget set, no retain term. See [`~hf_unlearn.losses.GradientAscentLoss`].

    Known to collapse a model within an epoch or two; prefer [`NPOTrainer`] unless GA is what you study.
    """

    default_forget_loss = fixed_forget_loss = "ga"
    default_retain_loss = "none"


class GradientDifferenceTrainer(UnlearningTrainer):
    """Gradient difference (GD): gradient ascent on the forget set plus the usual language-modelling loss on retain."""

    default_forget_loss = fixed_forget_loss = "ga"
    default_retain_loss = "nll"


class NPOTrainer(UnlearningTrainer):
    """Negative preference optimization with a retain NLL term (NPO+RT); set `retain_weight=0` for plain NPO.

    See [`~hf_unlearn.losses.NPOLoss`].
    """

    default_forget_loss = fixed_forget_loss = "npo"
    default_retain_loss = "nll"


class SimNPOTrainer(UnlearningTrainer):
    """SimNPO (reference-free, length-normalised NPO) with a retain NLL term. See [`~hf_unlearn.losses.SimNPOLoss`]."""

    default_forget_loss = fixed_forget_loss = "simnpo"
    default_retain_loss = "nll"


class UNDIALTrainer(UnlearningTrainer):
    """UNDIAL: self-distillation toward the reference with the answer token's logit lowered. No retain term by default,
    as in the paper (set `retain_loss`). See [`~hf_unlearn.losses.UNDIALLoss`].
    """

    default_forget_loss = fixed_forget_loss = "undial"
    default_retain_loss = "none"


class WGATrainer(UnlearningTrainer):
    """Weighted gradient ascent (token weights `p ** wga_beta`) with a retain NLL term. See
    [`~hf_unlearn.losses.WGALoss`].
    """

    default_forget_loss = fixed_forget_loss = "wga"
    default_retain_loss = "nll"


class SatImpTrainer(UnlearningTrainer):
    """SatImp token-reweighted gradient ascent with a retain NLL term. See [`~hf_unlearn.losses.SatImpLoss`]."""

    default_forget_loss = fixed_forget_loss = "satimp"
    default_retain_loss = "nll"


class IdkDPOTrainer(UnlearningTrainer):
    """IdkDPO: DPO with the forget answer dispreferred to a refusal (or the row's `alternative` answer), plus a
    retain NLL term as open-unlearning trains it (TOFU's original code has no retain term: set `retain_loss="none"`).
    See [`~hf_unlearn.losses.DPOLoss`].

    The alternative answers come from `UnlearningConfig.alternative_source` (`"auto"`: the forget set's
    `alternative` column when it has one, else a seeded refusal per row).
    """

    default_forget_loss = fixed_forget_loss = "dpo"
    default_retain_loss = "nll"


class IdkNLLTrainer(UnlearningTrainer):
    """IdkNLL: train the model to answer the forget questions with a refusal (or the row's `alternative` answer),
    plus a retain NLL term: TOFU's "preference optimization" baseline (`idk` in its code). See
    [`~hf_unlearn.losses.IdkNLLLoss`]."""

    default_forget_loss = fixed_forget_loss = "idknll"
    default_retain_loss = "nll"


class RMUTrainer(UnlearningTrainer):
    r"""RMU (Li et al. 2024): steer layer `rmu_layer` to noise on the forget set, hold it on the retain set, and train
    only a few parameters. See [`~hf_unlearn.losses.RMUForgetLoss`] and [`~hf_unlearn.losses.RMURetainLoss`].

    Every parameter outside `rmu_trainable_params` (default: the MLPs of layers `rmu_layer - 2` to `rmu_layer`, as in
    the paper) is frozen when the trainer is built. Under PEFT the restriction applies to the adapter: only adapter
    weights inside the set train, and an adapter with none there (e.g. LoRA on attention only) is refused; give the
    adapter those modules, e.g. `LoraConfig(target_modules=["gate_proj", "up_proj", "down_proj"])` on llama-style
    models. The reference activations come from the frozen copy or the adapter-off model, as for NPO.

    Attributes:
        trainable_parameter_names (`list[str]`): The parameters that train, as named by `model.named_parameters()`.
    """

    default_forget_loss = fixed_forget_loss = "rmu"
    default_retain_loss = "rmu"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Frozen here, before `train` wraps the model (DDP, FSDP, DeepSpeed register only trainable parameters) and
        # before the optimizer is built from the parameters that require a gradient.
        self.trainable_parameter_names = self._restrict_trainable_parameters()

    def _layer_stack_name(self) -> str:
        layers = decoder_layers(self.model)
        return next(name for name, module in self.model.named_modules() if module is layers)

    def trainable_patterns(self) -> list[str]:
        """`rmu_trainable_params`, or the paper's default: the MLPs of layers `rmu_layer - 2` to `rmu_layer`."""
        if self.args.rmu_trainable_params is not None:
            return list(self.args.rmu_trainable_params)
        layer, layers = self.args.rmu_layer, decoder_layers(self.model)
        indices = range(max(0, layer - 2), layer + 1)
        missing = [i for i in indices if not isinstance(getattr(layers[i], "mlp", None), torch.nn.Module)]
        if missing:
            raise ValueError(
                f"Decoder layers {missing} of {type(layers[missing[0]]).__name__} have no `mlp` module, so RMU's "
                "default trainable set (the MLPs of layers rmu_layer-2 to rmu_layer) is undefined here; set "
                "rmu_trainable_params to regular expressions matching the parameters to train."
            )
        stack = re.escape(self._layer_stack_name())
        return [rf"^{stack}\.{i}\.mlp\." for i in indices]

    def _restrict_trainable_parameters(self) -> list[str]:
        patterns = self.trainable_patterns()
        compiled = [re.compile(pattern) for pattern in patterns]
        matched, trainable = [], []
        for name, parameter in self.model.named_parameters():
            if any(pattern.search(name) for pattern in compiled):
                matched.append(name)
                if parameter.requires_grad:
                    trainable.append(name)
            else:
                parameter.requires_grad_(False)
        if not matched:
            stack = self._layer_stack_name()
            examples = [name for name, _ in self.model.named_parameters() if name.startswith(stack)][:4]
            raise ValueError(
                f"rmu_trainable_params={patterns} matches no parameter of the model; its parameter names look like "
                f"{examples}."
            )
        if not trainable:
            raise ValueError(
                f"rmu_trainable_params={patterns} matches only frozen parameters ({len(matched)}, e.g. "
                f"{matched[0]!r}). Under PEFT only adapter weights train: give the adapter modules inside that set "
                "(e.g. LoRA target_modules=['gate_proj', 'up_proj', 'down_proj'] on llama-style models), or widen the "
                "set."
            )
        count = sum(p.numel() for name, p in self.model.named_parameters() if p.requires_grad)
        logger.info(f"RMU trains {len(trainable)} tensors ({count} parameters) matching {patterns}.")
        return trainable

    def unlearning_record(self, model_name: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        record = super().unlearning_record(model_name, tags)
        record["hyperparameters"].update(
            rmu_layer=self.args.rmu_layer,
            rmu_steering_coeff=self.forget_loss.steering_coeff,
            rmu_alpha=getattr(self.retain_loss, "alpha", None),
            rmu_seed=self.forget_loss.seed,
            rmu_trainable_params=self.trainable_patterns(),
            rmu_trainable_tensors=len(self.trainable_parameter_names),
        )
        return record


def trainer_class(forget_loss: str | None) -> type[UnlearningTrainer]:
    """The trainer that runs `forget_loss` as its method: [`RMUTrainer`] for `"rmu"` (it restricts the trained
    parameters, which the objective alone cannot), [`UnlearningTrainer`] for every other objective."""
    return RMUTrainer if forget_loss == "rmu" else UnlearningTrainer

r"""Task-vector negation: fine-tune on the forget set, then move the model away from where the fine-tune went.

Ilharco et al. 2023, "Editing Models with Task Arithmetic" (https://huggingface.co/papers/2212.04089), and its use as
an unlearning baseline in MUSE (Shi et al. 2024, https://huggingface.co/papers/2407.06460): the target model
\\(\theta\\) is fine-tuned further on the forget set into a *reinforced* model \\(\theta_{ft}\\), and the result is

$$\theta_{unlearned} = \theta - \alpha\,(\theta_{ft} - \theta).$$

MUSE fine-tunes with the plain language-modelling loss (10 epochs at learning rate 1e-5 in its scripts) and uses
\\(\alpha = 5\\) on its News corpus; the fine-tune here is the ordinary `transformers.Trainer` on the forget rows,
tokenized as every other method tokenizes them (prompt tokens masked, EOS appended).

With a LoRA adapter the task vector is the adapter's own delta \\(s\,BA\\) (it starts at zero), and negation scales
\\(B\\) by \\(-\alpha\\): the saved adapter then adds \\(-\alpha\,s\,BA\\) to the base model. Scaling both \\(A\\) and
\\(B\\) would not negate the product.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from peft import LoraConfig, PeftConfig, PeftModel
from peft.tuners.lora import LoraLayer
from transformers import (
    AutoModelForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.utils import logging

from .callbacks import label_progress
from .config import UnlearningConfig
from .data import UnlearningCollator, content_fingerprint, ensure_pad_token, prepare_dataset
from .data.formatting import check_end_tokens, prepare_eval_datasets
from .history import RequestChain
from .hub import ModelCardMixin, save_card_and_record
from .record import build_record, training_hyperparameters
from .trainer import load_tokenizer, model_init_kwargs, wrap_peft


logger = logging.get_logger(__name__)

METHOD = "task_vector"

EXACT_LORA_INITS = (True, "gaussian")
"""`init_lora_weights` values that start the adapter at zero (B = 0), so that its delta is the task vector."""

LORA_VARIANT_FIELDS = (
    "use_dora",
    "use_qalora",
    "modules_to_save",
    "trainable_token_indices",
    "target_parameters",
    "alora_invocation_tokens",
    "arrow_config",
    "use_bdlora",
    "velora_config",
    "monteclora_config",
    "kasa_config",
    "megatron_config",
)
"""`LoraConfig` fields that, when set, make the adapter's effect something other than adding `scaling * B @ A` to
the weights it targets (DoRA's normalisation, QALoRA's pooling, full copies of modules, activated LoRA, ...)."""

ACCEPTED_ADAPTERS = (
    "a plain LoRA adapter (LoraConfig; rsLoRA, rank / alpha patterns, lora_bias and embedding targets included) "
    f"with bias='none', init_lora_weights in {list(EXACT_LORA_INITS)} and none of {', '.join(LORA_VARIANT_FIELDS)}"
)


def _shared(name: str):
    """A field of [`UnlearningConfig`] with its default and help, so that both configs say the same thing."""
    source = UnlearningConfig.__dataclass_fields__[name]
    return field(default=source.default, metadata=dict(source.metadata))


@dataclass
class TaskVectorConfig(TrainingArguments):
    r"""
    Configuration for [`TaskVectorTrainer`]: the fine-tune on the forget set is an ordinary `TrainingArguments` run
    (learning rate, epochs or `max_steps`, batch size, ...); `alpha` scales the negation.

    Parameters:
        alpha (`float`, *optional*, defaults to `1.0`):
            Scale of the negated task vector: the result is `theta - alpha * (theta_ft - theta)`. Must be > 0. MUSE
            uses 5.0 on its News corpus; larger values forget more and damage more.
        max_length (`int` or `None`, *optional*, defaults to `512`):
            As in [`UnlearningConfig`]: maximum tokens per forget row (prompt + answer + EOS); `None` keeps rows whole.
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\nAnswer:"`):
            As in [`UnlearningConfig`]: how `question`/`answer` rows become a prompt.
        forget_end_tokens (`str`, *optional*, defaults to `"auto"`):
            As in [`UnlearningConfig`]: whether the forget answers' end tokens (chat turn end, EOS) are fine-tuned on,
            and so negated. `"auto"` leaves them out for conversational rows: a negated turn end teaches a chat model
            to stop ending turns.
        model_init_kwargs (`dict[str, Any]`, *optional*):
            As in [`UnlearningConfig`]: keyword arguments for `from_pretrained` when the model is given by name.
        base_model_id (`str`, *optional*):
            As in [`UnlearningConfig`]: the Hub id written as `base_model` in the model card.
    """

    alpha: float = field(
        default=1.0,
        metadata={
            "help": "Scale of the negated task vector: theta - alpha * (theta_ft - theta), theta_ft the model "
            "fine-tuned on the forget set. Must be > 0; MUSE uses 5.0 on its News corpus."
        },
    )
    max_length: int | None = _shared("max_length")
    qa_prompt_template: str = _shared("qa_prompt_template")
    forget_end_tokens: str = _shared("forget_end_tokens")
    model_init_kwargs: dict[str, Any] | str | None = _shared("model_init_kwargs")
    base_model_id: str | None = _shared("base_model_id")

    def __post_init__(self):
        super().__post_init__()
        check_alpha(self.alpha)
        check_end_tokens(self.forget_end_tokens)
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(
                f"max_length must be at least 2 (one prompt and one answer token), got {self.max_length}."
            )
        if "{question}" not in self.qa_prompt_template:
            raise ValueError(f"qa_prompt_template must contain '{{question}}', got {self.qa_prompt_template!r}.")


def check_alpha(alpha: float) -> None:
    """Refuse a scale that does not move the model away from the fine-tune (`alpha` must be finite and > 0)."""
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(
            f"alpha must be a finite number > 0 (the result is theta - alpha * task vector), got {alpha!r}. "
            "alpha <= 0 would keep or reinforce what the fine-tune learned of the forget set."
        )


def check_negatable_adapter(peft_config: PeftConfig) -> None:
    """Refuse an adapter whose negation cannot be exact: the result must equal `theta - alpha * delta`.

    Raises:
        `ValueError`: naming what makes the adapter unsuitable and the adapters that are accepted.
    """
    if not isinstance(peft_config, LoraConfig):
        kind = getattr(peft_config, "peft_type", type(peft_config).__name__)
        raise ValueError(f"Task-vector negation of a {kind} adapter is not supported; accepted: {ACCEPTED_ADAPTERS}.")
    problems = [
        f"{name}={getattr(peft_config, name)!r}" for name in LORA_VARIANT_FIELDS if getattr(peft_config, name, None)
    ]
    if peft_config.bias != "none":
        problems.append(f"bias={peft_config.bias!r} (it trains base-model biases outside the adapter)")
    if peft_config.init_lora_weights not in EXACT_LORA_INITS:
        problems.append(f"init_lora_weights={peft_config.init_lora_weights!r} (the adapter does not start at zero)")
    if problems:
        raise ValueError(
            f"This LoRA adapter cannot be negated exactly ({'; '.join(problems)}); accepted: {ACCEPTED_ADAPTERS}. "
            "Without an adapter, the full weights are negated."
        )


@torch.no_grad()
def negate_lora_adapter(model: PeftModel, alpha: float, adapter_name: str | None = None) -> None:
    """Turn a LoRA adapter's delta `s * B @ A` into `-alpha * s * B @ A`, in place, by scaling `B` (and its bias).

    The adapter must have started at zero, so that its delta is the task vector of its fine-tune (see
    [`check_negatable_adapter`]).

    Args:
        model ([`~peft.PeftModel`]):
            The model with the fine-tuned adapter.
        alpha (`float`):
            Scale of the negation, > 0.
        adapter_name (`str`, *optional*):
            The adapter to negate; defaults to the active one.

    Raises:
        `ValueError`: for `alpha <= 0`, an adapter that cannot be negated exactly, or an adapter whose delta is
            zero (its fine-tune changed nothing).
    """
    check_alpha(alpha)
    adapter_name = adapter_name or model.active_adapter
    check_negatable_adapter(model.peft_config[adapter_name])
    factors = []
    for module in model.modules():
        if isinstance(module, LoraLayer):
            if adapter_name in module.lora_B:
                factors += list(module.lora_B[adapter_name].parameters())
            if adapter_name in module.lora_embedding_B:
                factors.append(module.lora_embedding_B[adapter_name])
    if not any(factor.any() for factor in factors):
        raise ValueError(
            f"The adapter {adapter_name!r} is zero: its fine-tune changed nothing (no steps, or a learning rate of "
            "0), so there is no task vector to negate."
        )
    for factor in factors:
        factor.mul_(-alpha)


def snapshot_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the trainable floating-point parameters: the `theta` a task vector is measured from."""
    return {
        name: parameter.detach().to("cpu", copy=True)
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and parameter.is_floating_point()
    }


@torch.no_grad()
def negate_task_vector(model: torch.nn.Module, original: dict[str, torch.Tensor], alpha: float) -> None:
    """Replace each fine-tuned parameter `theta_ft` named in `original` by `theta - alpha * (theta_ft - theta)`.

    Computed in float32 (or the parameter's wider dtype) and stored in the parameter's dtype.

    Args:
        model (`torch.nn.Module`):
            The fine-tuned model; changed in place.
        original (`dict[str, torch.Tensor]`):
            The weights before the fine-tune, by parameter name (e.g. from [`snapshot_weights`]); parameters not
            named here are left as they are.
        alpha (`float`):
            Scale of the negation, > 0.

    Raises:
        `ValueError`: for `alpha <= 0`, names or shapes that are not the model's, or a zero task vector.
    """
    check_alpha(alpha)
    parameters = dict(model.named_parameters())
    missing = sorted(set(original) - set(parameters))
    if missing:
        raise ValueError(f"{len(missing)} weights of `original` are not parameters of the model, e.g. {missing[:3]}.")
    changed = False
    for name, theta in original.items():
        parameter = parameters[name]
        if parameter.shape != theta.shape:
            raise ValueError(f"{name}: the model's shape {tuple(parameter.shape)} is not {tuple(theta.shape)}.")
        dtype = torch.promote_types(parameter.dtype, torch.float32)
        theta = theta.to(parameter.device, dtype)
        delta = parameter.to(dtype) - theta
        changed = changed or bool(delta.any())
        parameter.copy_(theta - alpha * delta)
    if not changed:
        raise ValueError(
            "The fine-tune changed no weight (no steps, or a learning rate of 0): there is no task vector to negate."
        )


class TaskVectorTrainer(ModelCardMixin, Trainer):
    r"""
    Task-vector negation as a [`~transformers.Trainer`]: `train()` fine-tunes the model on the forget set with the
    language-modelling loss, then replaces it by `theta - alpha * (theta_ft - theta)`; `save_model()` and
    `create_model_card()` save that result, its model card and `unlearning_record.json`.

    With `peft_config` a LoRA adapter is fine-tuned and then negated by scaling its `B` factors by `-alpha` (PEFT's
    `add_weighted_adapter` does this for a plain LoRA too, but resets `lora_alpha` to `r`, which is wrong for rsLoRA
    and rank patterns); the saved adapter is the negated one. Without it, every trainable weight is negated, against
    a CPU copy of the weights taken when the trainer is built.

    Checkpoints written during the fine-tune hold the *reinforced* model, which knows the forget set better than the
    original did: keep `save_strategy="no"` or delete them.

    Args:
        model (`str` or [`~transformers.PreTrainedModel`]):
            The model to unlearn from: an object, or a Hub id / local path loaded with
            `AutoModelForCausalLM.from_pretrained(model, **args.model_init_kwargs)`. Not a `PeftModel`: pass the
            base model and `peft_config`.
        args ([`TaskVectorConfig`], *optional*):
            The fine-tune's arguments and `alpha`.
        forget_dataset (`Dataset`, `list[dict]` or `dict[str, list]`):
            The rows to forget, in any format of [`~hf_unlearn.data.prepare_dataset`].
        eval_dataset (`Dataset` or `dict[str, Dataset]`, *optional*):
            Sets whose language-modelling loss `evaluate()` reports (`eval_{name}_loss`), e.g. before and after.
        processing_class ([`~transformers.PreTrainedTokenizerBase`], *optional*):
            Tokenizer; loaded from the model's name or path when omitted.
        peft_config ([`~peft.LoraConfig`], *optional*):
            Fine-tune and negate this LoRA adapter instead of the full weights. See [`check_negatable_adapter`].
        data_collator, callbacks, optimizers, **kwargs:
            As for [`~transformers.Trainer`].

    Example:

    ```python
    from hf_unlearn.task_vector import TaskVectorConfig, TaskVectorTrainer

    args = TaskVectorConfig(output_dir="tv", alpha=5.0, learning_rate=1e-5, num_train_epochs=10, save_strategy="no")
    trainer = TaskVectorTrainer("path/to/target-model", args=args, forget_dataset=forget)
    trainer.train()  # fine-tune on the forget set, then negate
    trainer.save_model()
    trainer.create_model_card()
    ```
    """

    _tag_names = ["hf_unlearn", "unlearning", METHOD]

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: TaskVectorConfig | None = None,
        data_collator=None,
        forget_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        *,
        peft_config: PeftConfig | None = None,
        callbacks=None,
        optimizers=(None, None),
        **kwargs,
    ):
        model_id = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", None)
        if args is None:
            args = TaskVectorConfig(output_dir=f"{(model_id or 'model').rstrip('/').split('/')[-1]}-task-vector")
        if not isinstance(args, TaskVectorConfig):
            raise TypeError(f"args must be a TaskVectorConfig, got {type(args).__name__}.")
        if isinstance(model, PeftModel):
            raise ValueError(
                "TaskVectorTrainer takes the base model and peft_config, not a PeftModel: the adapter must start at "
                "zero for its delta to be the task vector. To negate an adapter you fine-tuned yourself, use "
                "negate_lora_adapter(model, alpha)."
            )
        if forget_dataset is None:
            raise ValueError("A forget set is required: pass forget_dataset= (the rows to fine-tune on, then negate).")
        if peft_config is not None:
            check_negatable_adapter(peft_config)  # before any training, not after it
        if isinstance(model, str):
            model = AutoModelForCausalLM.from_pretrained(model, **model_init_kwargs(args))
        if processing_class is None:
            processing_class = load_tokenizer(model_id, args)
        ensure_pad_token(processing_class)
        if peft_config is not None:
            set_seed(args.seed)  # the adapter's initial A is drawn here, as Trainer.__init__ would seed
            model = wrap_peft(model, peft_config, args)
            self.original_weights = None  # the adapter starts at zero: the base model is theta
        else:
            self.original_weights = snapshot_weights(model)
        if args.save_strategy != "no":
            logger.warning(
                "save_strategy is not 'no': checkpoints of the fine-tune hold the reinforced model, which knows the "
                "forget set better than the original. Delete them once the negated model is saved."
            )

        # Tokenized once, as every method tokenizes; the record keeps a fingerprint, never content.
        prepare = dict(
            tokenizer=processing_class, max_length=args.max_length, qa_prompt_template=args.qa_prompt_template
        )
        # The negation pushes away what the fine-tune learnt: the forget answers' end tokens only when asked.
        forget = prepare_dataset(forget_dataset, name="forget", end_tokens=args.forget_end_tokens, **prepare)
        self.forget_fingerprint = content_fingerprint(forget_dataset, "forget")
        # Sequential unlearning: a model loaded from an earlier run's output continues that run's request chain.
        self.request_chain = RequestChain.start(model_id, forget_dataset, self.forget_fingerprint)
        self._eval_rows = eval_dataset  # the rows themselves, for `evaluate_unlearning`'s generated answers
        eval_dataset = prepare_eval_datasets(eval_dataset, **prepare)

        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator or UnlearningCollator(processing_class.pad_token_id),
            train_dataset=forget,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        if self.is_fsdp_enabled or self.is_deepspeed_enabled:
            raise ValueError(
                "TaskVectorTrainer negates the weights on each process after the fine-tune, which needs every weight "
                "whole: run it on one device or under DDP, not under FSDP or DeepSpeed."
            )
        label_progress(self, "fine-tuning the task vector on the forget set")
        self.negated = False
        self.base_model_id = args.base_model_id or (model_id if model_id and not os.path.isdir(model_id) else None)
        self.unlearning_metrics: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(self._tag_names)

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None, **kwargs):
        """Fine-tune on the forget set (the `Trainer`'s own loop), then negate the task vector (see [`negate`])."""
        if self.negated:
            raise RuntimeError(
                "This trainer's model is already negated; fine-tuning it again would measure a task vector from the "
                "unlearned model. Build a new TaskVectorTrainer from the original model."
            )
        output = super().train(
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )
        self.negate()
        return output

    def negate(self) -> None:
        """Replace the fine-tuned model by `theta - alpha * (theta_ft - theta)`, in place (called by `train`)."""
        model = self.accelerator.unwrap_model(self.model)
        if isinstance(model, PeftModel):
            negate_lora_adapter(model, self.args.alpha)
        else:
            negate_task_vector(model, self.original_weights, self.args.alpha)
            self.original_weights = None  # no longer needed: free the CPU copy
        self.negated = True
        logger.info(
            f"Negated the task vector of {self.state.global_step} fine-tuning steps with alpha={self.args.alpha}."
        )

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """Save the negated model or adapter (safetensors). Checkpoints during the fine-tune go through here too.

        Raises:
            `RuntimeError`: when called by the user before negation, when the model is still the reinforced one.
        """
        if not self.negated and not _internal_call:
            raise RuntimeError(
                "The model is not negated yet (call train() first): saving now would save the reinforced model."
            )
        super().save_model(output_dir, _internal_call)

    def unlearning_record(self, model_name: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        """What this run did, for the model card and `unlearning_record.json`: method `"task_vector"`, `alpha`, the
        fine-tune's steps and learning rate, the forget set's fingerprint (row count and SHA-256, no content), the
        scores before and after, library versions and `requests`, the model's chain of unlearning requests (built by
        [`~hf_unlearn.record.build_record`], as for every trainer)."""
        args = self.args
        hyperparameters = {
            "alpha": args.alpha,
            **training_hyperparameters(args, self.accelerator.num_processes),
            "max_length": args.max_length,
            "seed": args.seed,
        }
        fine_tune = (
            f"fine-tuned on the forget set for {self.state.global_step} steps at learning rate {args.learning_rate:g}"
        )
        method = {
            "trainer": type(self).__name__,
            "forget_loss": METHOD,
            "retain_loss": "none",
            "alpha": args.alpha,
            "reference": None,
            "negated": self.negated,
            "objective": f"`theta - {args.alpha:g} * (theta_ft - theta)`, theta_ft {fine_tune}",
            "summary": "It was made by task-vector negation: fine-tuned further on a *forget set*, then moved "
            "away from that fine-tune by the scaled difference.",
        }
        return build_record(
            self,
            method=method,
            hyperparameters=hyperparameters,
            forget_set=self.forget_fingerprint,
            retain_set=None,
            metrics=self.unlearning_metrics,
            request_chain=self.request_chain,
            model_name=model_name,
            tags=tags,
        ).to_dict()

    def create_model_card(self, model_name: str | None = None, tags: str | list[str] | None = None, **kwargs) -> None:
        """Write `README.md` (the card) and `unlearning_record.json` to `output_dir`, each atomically.

        Raises:
            `RuntimeError`: before negation, when the model is still the reinforced one.
        """
        if not self.negated:
            raise RuntimeError(
                "The model is not negated yet (call train() first): a card would describe the reinforced model."
            )
        if not self.is_world_process_zero():
            return
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        save_card_and_record(self.unlearning_record(model_name, tags), self.args.output_dir, repo_id=self.hub_model_id)

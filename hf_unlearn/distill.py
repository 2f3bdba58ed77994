r"""Distillation after unlearning (UNDO): perturb the unlearned model's weights towards noise, then distill it into
that perturbed copy of itself on retain data.

Lee et al. 2025, "Distillation Robustifies Unlearning" (https://huggingface.co/papers/2506.06278): an unlearned model
still holds what it suppressed, and a few fine-tuning steps bring it back; a student trained only on the unlearned
model's *outputs* does not inherit the suppressed capability. UNDO (Unlearn, Noise, Distill on Outputs) trades compute
for robustness with one knob \\(\alpha \in [0, 1]\\): the student starts from

$$\theta_{student} = (1 - \alpha)\,\theta_{teacher} + \alpha\,\beta\,\theta_{noise},$$

and is trained to match the teacher's next-token distributions with the forward KL
\\(\mathrm{KL}(p_{teacher} \,\|\, p_{student})\\) on the retain rows (and any extra rows given). \\(\alpha = 0\\) is
the teacher itself (no robustness gained), \\(\alpha = 1\\) a fresh model distilled from scratch (the most robust and
the most expensive). The authors' code draws \\(\theta_{noise}\\) with Xavier-uniform for matrices and zero for
vectors (`noise="xavier"`); `noise="init"` (the default) draws it from the model's own initialisation scheme, so that
\\(\alpha = 1, \beta = 1\\) is exactly a freshly initialised model of the same architecture.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
import torch.nn.functional as F
from peft import PeftModel
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments
from transformers.utils import logging

from .callbacks import label_progress
from .config import UnlearningConfig
from .data import UnlearningCollator, content_fingerprint, ensure_pad_token, prepare_dataset
from .data.formatting import prepare_eval_datasets
from .history import RequestChain, read_previous_record
from .hub import ModelCardMixin, save_card_and_record
from .record import UnlearningRecord, build_record, training_hyperparameters
from .trainer import load_tokenizer, model_init_kwargs


logger = logging.get_logger(__name__)

METHOD = "undo"
NOISE_SOURCES = ("init", "xavier")
"""Where the noise the student is mixed with comes from: `"init"`, a fresh initialisation of the model's own
architecture (its config's init scheme); `"xavier"`, Xavier-uniform for matrices and zero for vectors (the authors'
code)."""
NO_FORGET_SET = {"rows": 0, "sha256": None, "columns": []}
"""The record's forget set when the teacher has no unlearning record: this step itself forgets no rows."""


def _shared(name: str):
    """A field of [`UnlearningConfig`] with its default and help, so that both configs say the same thing."""
    source = UnlearningConfig.__dataclass_fields__[name]
    return field(default=source.default, metadata=dict(source.metadata))


def check_alpha_fraction(alpha: float) -> None:
    """Refuse a mixing fraction outside [0, 1] (`alpha` is the share of noise in the student's starting weights)."""
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a number in [0, 1] (the share of noise in the student), got {alpha!r}.")
    if not 0 <= alpha <= 1:
        raise ValueError(
            f"alpha must be in [0, 1], got {alpha!r}: the student starts at (1 - alpha) * teacher + alpha * noise; "
            "0 keeps the teacher's weights, 1 starts from noise alone."
        )


@dataclass
class DistillConfig(TrainingArguments):
    r"""
    Configuration for [`DistillTrainer`]: the distillation is an ordinary `TrainingArguments` run (learning rate,
    `max_steps` or epochs, batch size, ...) on the retain rows; the fields below set the perturbation and the loss.

    Parameters:
        alpha (`float`, *optional*, defaults to `0.5`):
            Share of noise in the student's starting weights, in [0, 1]: the student starts at
            `(1 - alpha) * teacher + alpha * noise_scale * noise`. `0` keeps the teacher (distillation then changes
            little), `1` starts from noise alone (the most robust, and the most distillation steps to recover).
        noise (`str`, *optional*, defaults to `"init"`):
            Where the noise comes from: `"init"`, a fresh initialisation of the model's architecture (its config's
            init scheme: with `alpha=1, noise_scale=1` the student is a freshly initialised model); `"xavier"`,
            Xavier-uniform for weight matrices and zero for vectors (norms and biases shrink by `1 - alpha`), as in
            the paper's code.
        noise_scale (`float`, *optional*, defaults to `1.0`):
            `beta`, the scale of the noise, >= 0. `0` only shrinks the weights by `1 - alpha`.
        noise_seed (`int`, *optional*):
            Seed of the noise; defaults to `seed`.
        temperature (`float`, *optional*, defaults to `1.0`):
            Temperature of both distributions in the KL (> 0); the loss is multiplied by `temperature**2` so that its
            gradients keep their scale (Hinton et al. 2015).
        max_length (`int` or `None`, *optional*, defaults to `512`):
            As in [`UnlearningConfig`]: maximum tokens per row (prompt + answer + EOS); `None` keeps rows whole.
        qa_prompt_template (`str`, *optional*, defaults to `"Question: {question}\nAnswer:"`):
            As in [`UnlearningConfig`]: how `question`/`answer` rows become a prompt.
        model_init_kwargs (`dict[str, Any]`, *optional*):
            As in [`UnlearningConfig`]: keyword arguments for `from_pretrained` when the model is given by name.
        base_model_id (`str`, *optional*):
            As in [`UnlearningConfig`]: the Hub id written as `base_model` in the model card.
    """

    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Share of noise in the student's starting weights, in [0, 1]: (1 - alpha) * teacher + alpha * "
            "noise_scale * noise. 0 keeps the teacher; 1 starts from noise alone (most robust, most steps)."
        },
    )
    noise: str = field(
        default="init",
        metadata={
            "help": "Where the noise comes from: init (a fresh initialisation of the model's architecture) or "
            "xavier (Xavier-uniform matrices, zero vectors, as in the paper's code).",
            "choices": list(NOISE_SOURCES),
        },
    )
    noise_scale: float = field(
        default=1.0, metadata={"help": "beta, the scale of the noise (>= 0); 0 only shrinks the weights."}
    )
    noise_seed: int | None = field(default=None, metadata={"help": "Seed of the noise; defaults to seed."})
    temperature: float = field(
        default=1.0,
        metadata={"help": "Temperature of the teacher's and the student's distributions in the KL (> 0)."},
    )
    max_length: int | None = _shared("max_length")
    qa_prompt_template: str = _shared("qa_prompt_template")
    model_init_kwargs: dict[str, Any] | str | None = _shared("model_init_kwargs")
    base_model_id: str | None = _shared("base_model_id")

    def __post_init__(self):
        super().__post_init__()
        check_alpha_fraction(self.alpha)
        if self.noise not in NOISE_SOURCES:
            raise ValueError(f"noise must be one of {list(NOISE_SOURCES)}, got {self.noise!r}.")
        if not (math.isfinite(self.noise_scale) and self.noise_scale >= 0):
            raise ValueError(f"noise_scale must be a finite number >= 0, got {self.noise_scale!r}.")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature!r}.")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(
                f"max_length must be at least 2 (one prompt and one answer token), got {self.max_length}."
            )
        if "{question}" not in self.qa_prompt_template:
            raise ValueError(f"qa_prompt_template must contain '{{question}}', got {self.qa_prompt_template!r}.")


def _noise_tensors(model: PreTrainedModel, noise: str, seed: int) -> dict[str, torch.Tensor]:
    """The noise each trainable floating-point parameter is mixed with, by name, in float32 on the CPU."""
    names = [name for name, p in model.named_parameters() if p.requires_grad and p.is_floating_point()]
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        if noise == "xavier":
            shapes = dict(model.named_parameters())
            return {
                name: torch.nn.init.xavier_uniform_(torch.empty(shapes[name].shape))
                if shapes[name].dim() == 2
                else torch.zeros(shapes[name].shape)
                for name in names
            }
        # A model of the same class and config, initialised as `from_config` initialises one.
        fresh = type(model)._from_config(copy.deepcopy(model.config), dtype=torch.float32)
    fresh_parameters = dict(fresh.named_parameters())
    missing = [name for name in names if name not in fresh_parameters]
    if missing:
        raise ValueError(
            f"A fresh {type(model).__name__} has no parameters {missing[:3]}: noise='init' needs the model's own "
            "architecture; use noise='xavier'."
        )
    return {name: fresh_parameters[name].detach() for name in names}


@torch.no_grad()
def perturb_weights(
    model: PreTrainedModel, alpha: float, noise: str = "init", noise_scale: float = 1.0, seed: int = 0
) -> int:
    """Replace each trainable weight `w` by `(1 - alpha) * w + alpha * noise_scale * n`, in place (UNDO's noising).

    Computed in float32 and stored in the parameter's dtype. Frozen parameters are left as they are (the
    distillation would not retrain them).

    Args:
        model ([`~transformers.PreTrainedModel`]):
            The model to perturb (the student).
        alpha (`float`):
            Share of noise, in [0, 1]; `0` leaves the model unchanged.
        noise (`str`, *optional*, defaults to `"init"`):
            One of `NOISE_SOURCES`.
        noise_scale (`float`, *optional*, defaults to `1.0`):
            `beta`, the scale of the noise.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the noise.

    Returns:
        `int`: the number of parameters perturbed.
    """
    check_alpha_fraction(alpha)
    if noise not in NOISE_SOURCES:
        raise ValueError(f"noise must be one of {list(NOISE_SOURCES)}, got {noise!r}.")
    if alpha == 0:
        return 0
    noise_by_name = _noise_tensors(model, noise, seed)
    parameters = dict(model.named_parameters())
    for name, values in noise_by_name.items():
        parameter = parameters[name]
        dtype = torch.promote_types(parameter.dtype, torch.float32)
        mixed = (1 - alpha) * parameter.to(dtype) + alpha * noise_scale * values.to(parameter.device, dtype)
        parameter.copy_(mixed)
    return len(noise_by_name)


def distill_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    r"""Forward KL \\(\mathrm{KL}(p_{teacher} \| p_{student})\\) of the next-token distributions, averaged over the
    labelled positions (the answer tokens of a prompt / answer row, every token of a text row), times
    `temperature**2`.

    Args:
        student_logits, teacher_logits (`torch.Tensor`):
            `(batch, sequence, vocabulary)` logits of the same inputs.
        labels (`torch.Tensor`):
            `(batch, sequence)` labels, `-100` where nothing is predicted; position `t` of the logits predicts
            label `t + 1`.
        temperature (`float`, *optional*, defaults to `1.0`):
            Both distributions are softened by it.

    Returns:
        `torch.Tensor`: a scalar; `0` (with a gradient) when no position is labelled.
    """
    mask = labels[:, 1:] != -100
    student = student_logits[:, :-1][mask].float() / temperature
    if student.numel() == 0:
        return student_logits.sum() * 0.0
    teacher = teacher_logits[:, :-1][mask].float() / temperature
    kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True, reduction="sum")
    return kl / student.shape[0] * temperature**2


def _extra_sets(data: Any) -> dict[str, Any]:
    """`extra_datasets` by name: a `{name: rows}` dict of sets as it is; one set (a `Dataset`, a list of row dicts
    or a `{column: values}` dict) as `{"extra": rows}`."""
    if data is None:
        return {}
    named = isinstance(data, dict) and all(
        isinstance(rows, datasets.Dataset) or (isinstance(rows, list) and rows and isinstance(rows[0], dict))
        for rows in data.values()
    )
    sets = dict(data) if named else {"extra": data}
    if "retain" in sets:
        raise ValueError("extra_datasets cannot have a set named 'retain' (the retain set's name); rename it.")
    return sets


class DistillTrainer(ModelCardMixin, Trainer):
    r"""
    Distillation after unlearning (UNDO) as a [`~transformers.Trainer`]: the model as given is the *teacher* (a
    frozen copy, in eval mode); `train()` mixes the model's trainable weights with noise (see [`perturb_weights`])
    and trains it, the *student*, to match the teacher's next-token distributions on the retain rows with
    [`distill_kl`]. `save_model()` and `create_model_card()` save the student, its card and an
    `unlearning_record.json` that continues the teacher's chain of unlearning requests.

    The teacher's record is read from the folder the model was loaded from (the output of `hf-unlearn unlearn` or of
    an unlearning trainer's `save_model` + `create_model_card`), or given with `teacher_record`. The distilled
    model's record keeps the teacher's forget set (this step sees no forget rows) and adds this step as the last
    request.

    A PEFT model is refused: UNDO perturbs and retrains every weight, which an adapter over a frozen base cannot do.
    Merge the adapter first (`model.merge_and_unload()`) and distill the merged model. Quantized models are refused
    for the same reason. Memory: the teacher is a second copy of the model, and `noise="init"` builds a third,
    briefly, on the CPU.

    Args:
        model (`str` or [`~transformers.PreTrainedModel`]):
            The unlearned model (the teacher): an object, or a Hub id / local path loaded with
            `AutoModelForCausalLM.from_pretrained(model, **args.model_init_kwargs)`.
        args ([`DistillConfig`], *optional*):
            The distillation's arguments.
        retain_dataset (`Dataset`, `list[dict]` or `dict[str, list]`):
            The rows to distill on, in any format of [`~hf_unlearn.data.prepare_dataset`]. Required.
        extra_datasets (`Dataset`, `list` of them, or `dict[str, Dataset]`, *optional*):
            More rows to distill on (e.g. general text), by name; fingerprinted in the record beside the retain set.
        eval_dataset (`Dataset` or `dict[str, Dataset]`, *optional*):
            Sets whose KL to the teacher `evaluate()` reports (`eval_{name}_loss`); with names `forget`, `retain`,
            ..., `evaluate_unlearning()` scores them for the card before and after.
        processing_class ([`~transformers.PreTrainedTokenizerBase`], *optional*):
            Tokenizer; loaded from the model's name or path when omitted.
        teacher_record (`dict`, [`~hf_unlearn.record.UnlearningRecord`] or `str`, *optional*):
            The teacher's unlearning record, or the folder that holds it; defaults to the record of the folder the
            model was loaded from. Give it for a model unlearned in memory, e.g. `trainer.unlearning_record()`.
        data_collator, callbacks, optimizers, **kwargs:
            As for [`~transformers.Trainer`].

    Example:

    ```python
    from hf_unlearn import DistillConfig, DistillTrainer

    args = DistillConfig(output_dir="npo-undo", alpha=0.5, max_steps=500, learning_rate=1e-4, save_strategy="no")
    trainer = DistillTrainer("path/to/unlearned-model", args=args, retain_dataset=retain,
                             eval_dataset={"forget": forget, "retain": retain})
    trainer.evaluate_unlearning()  # the teacher
    trainer.train()  # perturb, then distill
    trainer.evaluate_unlearning()  # the student
    trainer.save_model()
    trainer.create_model_card()
    ```
    """

    _tag_names = ["hf_unlearn", "unlearning", METHOD, "distillation"]
    # `compute_loss` returns a mean over the labelled tokens of one micro-batch: the Trainer divides it by the
    # accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: DistillConfig | None = None,
        data_collator=None,
        retain_dataset: Any = None,
        extra_datasets: Any = None,
        eval_dataset: Any = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        *,
        teacher_record: UnlearningRecord | dict[str, Any] | str | os.PathLike | None = None,
        callbacks=None,
        optimizers=(None, None),
        **kwargs,
    ):
        model_id = model if isinstance(model, str) else getattr(getattr(model, "config", None), "_name_or_path", None)
        if args is None:
            args = DistillConfig(output_dir=f"{(model_id or 'model').rstrip('/').split('/')[-1]}-undo")
        if not isinstance(args, DistillConfig):
            raise TypeError(f"args must be a DistillConfig, got {type(args).__name__}.")
        if isinstance(model, PeftModel):
            raise ValueError(
                "DistillTrainer does not take a PEFT model: UNDO perturbs and retrains every weight, and an adapter "
                "over a frozen base can change only its own. Merge the adapter first (model = "
                "model.merge_and_unload(), then save it) and distill the merged model."
            )
        if retain_dataset is None:
            raise ValueError(
                "Distillation needs retain data: pass retain_dataset= (the rows whose outputs the student learns "
                "from the teacher; extra_datasets= adds more). Without it the student would learn nothing back."
            )
        if isinstance(model, str):
            model = AutoModelForCausalLM.from_pretrained(model, **model_init_kwargs(args))
        if getattr(model, "_hf_peft_config_loaded", False):  # an adapter folder, loaded with its base model
            raise ValueError(
                f"{model_id!r} is a PEFT adapter: UNDO perturbs and retrains every weight, and an adapter over a "
                "frozen base can change only its own. Merge it into its base model first (AutoPeftModelForCausalLM"
                ".from_pretrained(path).merge_and_unload(), then save_pretrained) and distill the merged model."
            )
        if getattr(model, "is_quantized", False) or getattr(model, "hf_quantizer", None) is not None:
            raise ValueError(
                "DistillTrainer does not take a quantized model: UNDO perturbs and retrains every weight. Load the "
                "unlearned model in full or half precision."
            )
        if processing_class is None:
            processing_class = load_tokenizer(model_id, args)
        ensure_pad_token(processing_class)

        # The teacher's record: what was forgotten, and the chain this step continues.
        if isinstance(teacher_record, (str, os.PathLike)):
            folder = teacher_record
            teacher_record = read_previous_record(folder)
            if teacher_record is None:
                raise ValueError(f"teacher_record {str(folder)!r} is not a folder with an unlearning_record.json.")
        elif teacher_record is None:
            teacher_record = read_previous_record(model_id)
        else:
            teacher_record = UnlearningRecord.coerce(teacher_record).to_dict()
        if teacher_record is None:
            logger.warning(
                "The teacher has no unlearning record (it was not loaded from the folder an unlearning run saved): "
                "the distilled model's record cannot say what was forgotten. Pass teacher_record= to name it."
            )
        self.teacher_record = teacher_record
        self.request_chain = RequestChain.continued(teacher_record)

        # The teacher: the model as given, frozen. The model itself becomes the student when `train()` perturbs it.
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False)

        prepare = dict(
            tokenizer=processing_class, max_length=args.max_length, qa_prompt_template=args.qa_prompt_template
        )
        sets = {"retain": retain_dataset, **_extra_sets(extra_datasets)}
        prepared = [prepare_dataset(rows, name=name, **prepare) for name, rows in sets.items()]
        # The record keeps fingerprints, never content.
        fingerprints = {name: content_fingerprint(rows, name) for name, rows in sets.items()}
        self.distill_fingerprints = fingerprints["retain"] if len(fingerprints) == 1 else fingerprints
        train_dataset = prepared[0] if len(prepared) == 1 else datasets.concatenate_datasets(prepared)
        self._eval_rows = eval_dataset  # the rows themselves, for `evaluate_unlearning`'s generated answers
        eval_dataset = prepare_eval_datasets(eval_dataset, **prepare)

        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator or UnlearningCollator(processing_class.pad_token_id),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        if self.is_fsdp_enabled or self.is_deepspeed_enabled:
            raise ValueError(
                "DistillTrainer perturbs every weight whole and keeps a whole teacher on each process: run it on one "
                "device or under DDP, not under FSDP or DeepSpeed."
            )
        self.teacher.to(self.args.device)
        label_progress(self, "distilling the unlearned model into its perturbed copy")
        self.perturbed = False
        self.base_model_id = args.base_model_id or (model_id if model_id and not os.path.isdir(model_id) else None)
        self.unlearning_metrics: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(self._tag_names)

    def perturb(self) -> None:
        """Mix the student's trainable weights with noise (see [`perturb_weights`]), once; called by `train()`."""
        if self.perturbed:
            return
        args = self.args
        seed = args.noise_seed if args.noise_seed is not None else args.seed
        count = perturb_weights(self.model, args.alpha, args.noise, args.noise_scale, seed)
        self.perturbed = True
        logger.info(f"Perturbed {count} weights: (1 - {args.alpha:g}) * teacher + {args.alpha:g} * {args.noise}.")

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None, **kwargs):
        """Perturb the student (the first time; a resumed run then loads its checkpoint's weights over it), then
        distill the teacher into it (the `Trainer`'s own loop)."""
        self.perturb()
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """[`distill_kl`] of the student's and the teacher's next-token distributions on the labelled tokens."""
        forward = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        outputs = model(**forward, use_cache=False)
        with torch.no_grad():
            teacher_logits = self.teacher(**forward, use_cache=False).logits
        loss = distill_kl(outputs.logits, teacher_logits, inputs["labels"], self.args.temperature)
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """The KL to the teacher, without gathering logits (`evaluate()` reports it as `eval_{name}_loss`)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def unlearning_record(self, model_name: str | None = None, tags: list[str] | None = None) -> dict[str, Any]:
        """What this step did, for the model card and `unlearning_record.json`: method `"undo"`, `alpha` and the
        noise, the distillation's steps and learning rate, the retain (and extra) sets' fingerprints, the teacher's
        forget set, the scores before (the teacher) and after (the student), and `requests`, the teacher's chain with
        this step last (built by [`~hf_unlearn.record.build_record`], as for every trainer)."""
        args = self.args
        hyperparameters = {
            "alpha": args.alpha,
            "noise": args.noise,
            "noise_scale": args.noise_scale,
            "noise_seed": args.noise_seed if args.noise_seed is not None else args.seed,
            "temperature": args.temperature,
            **training_hyperparameters(args, self.accelerator.num_processes),
            "max_length": args.max_length,
            "seed": args.seed,
        }
        noise = "a fresh initialisation" if args.noise == "init" else "Xavier-uniform noise"
        scale = "" if args.noise_scale == 1 else f"{args.noise_scale:g} * "
        data = "the retain set" + (" and extra sets" if "sha256" not in self.distill_fingerprints else "")
        method = {
            "trainer": type(self).__name__,
            "forget_loss": METHOD,
            "retain_loss": "none",
            "reference": "the model before this step (the teacher)",
            "alpha": args.alpha,
            "objective": f"`KL(teacher || student)` on {data} for {self.state.global_step} steps, the student "
            f"starting at `(1 - {args.alpha:g}) * teacher + {args.alpha:g} * {scale}noise` ({noise})",
            "summary": "It was distilled after unlearning (UNDO, Lee et al. 2025): the unlearned model's weights were "
            "mixed with noise, and the result trained to match the unlearned model's outputs on a *retain set*. "
            "This step saw no forget rows; the forget set below is the one the unlearned model had forgotten.",
        }
        forget_set = dict((self.teacher_record or {}).get("forget_set") or NO_FORGET_SET)
        return build_record(
            self,
            method=method,
            hyperparameters=hyperparameters,
            forget_set=forget_set,
            retain_set=self.distill_fingerprints,
            metrics=self.unlearning_metrics,
            request_chain=self.request_chain,
            model_name=model_name,
            tags=tags,
        ).to_dict()

    def create_model_card(self, model_name: str | None = None, tags: str | list[str] | None = None, **kwargs) -> None:
        """Write `README.md` (the card) and `unlearning_record.json` to `output_dir`, each atomically.

        Raises:
            `RuntimeError`: before `train()`, when the model is still the teacher.
        """
        if not self.perturbed:
            raise RuntimeError("Nothing is distilled yet (call train() first): a card would describe the teacher.")
        if not self.is_world_process_zero():
            return
        tags = [tags] if isinstance(tags, str) else list(tags or [])
        save_card_and_record(self.unlearning_record(model_name, tags), self.args.output_dir, repo_id=self.hub_model_id)

"""Where reference log-probs come from: one interface, three sources.

| source | class | memory |
|---|---|---|
| the PEFT model with its adapter disabled | `AdapterOffReference` | none extra |
| a frozen copy of the initial model, or a user `ref_model` | `ModelReference` | one more model |
| computed once before training and read from the data | `UnlearningTrainer` with `precompute_ref_log_probs=True` | one forward pass of the forget set, in all |

Live sources return logits; the trainer turns them into log-probs with the same helper as the policy's
(`hf_unlearn.logprobs`), so precomputed and live values are computed by the same code.
"""

from __future__ import annotations


import torch
from accelerate import Accelerator
from trl.models.utils import disable_gradient_checkpointing


class AdapterOffReference:
    """The reference is the base model under a PEFT adapter: run the policy with the adapter disabled.

    Args:
        accelerator (`accelerate.Accelerator`):
            Used to reach the PEFT model inside DDP / FSDP / DeepSpeed wrappers.
        gradient_checkpointing_kwargs (`dict`, *optional*):
            The run's gradient-checkpointing settings, restored after the no-grad forward.
    """

    source = "adapter"

    def __init__(self, accelerator: Accelerator, gradient_checkpointing_kwargs: dict | None = None):
        self.accelerator = accelerator
        self.gradient_checkpointing_kwargs = gradient_checkpointing_kwargs

    @torch.no_grad()
    def logits(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits of the base model, with the adapter switched off for this forward pass only.

        Args:
            model (`torch.nn.Module`):
                The (possibly wrapped) PEFT policy; the forward goes through the wrapper so that sharded engines
                gather their parameters as usual.
        """
        peft_model = self.accelerator.unwrap_model(model)
        with (
            peft_model.disable_adapter(),
            disable_gradient_checkpointing(peft_model, self.gradient_checkpointing_kwargs),
        ):
            return model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


class ModelReference:
    """The reference is a separate frozen model (a copy of the initial policy, or a model the user passed).

    Args:
        model (`torch.nn.Module`):
            The reference model, already prepared for the run's engine (DeepSpeed / FSDP / device placement).
    """

    source = "model"

    def __init__(self, model: torch.nn.Module):
        self.model = model

    @torch.no_grad()
    def logits(self, model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits of the reference model; `model` (the policy) is not used."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Put a reference model in eval mode with gradients off."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model



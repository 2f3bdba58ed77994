"""Logit lens: the answer's log-probability read from every layer's residual stream."""

from __future__ import annotations

import numpy as np
import torch

from ...data.collator import UnlearningCollator
from ...logprobs import sequence_logps
from ...metrics import answer_probability
from ..scoring import model_device
from .base import Attack, AttackScores, AuditContext, Probe, plain_copy


FINAL_NORMS = ("norm", "ln_f", "final_layernorm", "final_layer_norm", "norm_f")
"""Attribute names of the final normalisation in the decoders of transformers' causal LMs."""


def lens_parts(model: torch.nn.Module) -> tuple[torch.nn.ModuleList, torch.nn.Module, torch.nn.Module]:
    """The decoder layers, the final norm and the LM head of a (plain) causal LM.

    Raises:
        ValueError: when the architecture does not expose them under a known name.
    """
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    layers = None
    if decoder is not None:
        count = getattr(model.config, "num_hidden_layers", None)
        lists = [m for m in decoder.children() if isinstance(m, torch.nn.ModuleList) and len(m) == count]
        layers = lists[0] if len(lists) == 1 else None
    norm = next(
        (getattr(decoder, name) for name in FINAL_NORMS if isinstance(getattr(decoder, name, None), torch.nn.Module)),
        None,
    )
    head = model.get_output_embeddings()
    if layers is None or norm is None or head is None:
        raise ValueError(
            f"The logit lens cannot find the decoder layers, final norm ({', '.join(FINAL_NORMS)}) and LM head of "
            f"{type(model).__name__}."
        )
    return layers, norm, head


@torch.no_grad()
def layer_answer_logps(
    model: torch.nn.Module, sequences: list[tuple[list[int], list[int]]], *, batch_size: int, pad_token_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Answer log-probability of every sequence decoded from every layer's output.

    Each decoder layer's output (the residual stream) goes through the model's final norm and LM head; the answer
    tokens' log-probs are summed by [`~hf_unlearn.logprobs.sequence_logps`], the helper every score of this library
    uses. The last layer gives the model's own log-probs.

    Args:
        model (`torch.nn.Module`):
            Plain causal LM (merge adapters first), in eval mode.
        sequences (`list[tuple[list[int], list[int]]]`):
            `input_ids` and `labels` (`-100` on non-answer tokens).
        batch_size (`int`):
            Sequences per forward pass.
        pad_token_id (`int`):
            Padding id.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: summed answer log-probs of shape `(layers, sequences)`, and answer token
        counts of shape `(sequences,)`.
    """
    layers, norm, head = lens_parts(model)
    captured: list[torch.Tensor] = []

    def keep(module, inputs, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    handles = [layer.register_forward_hook(keep) for layer in layers]
    collate = UnlearningCollator(pad_token_id)
    device = model_device(model)
    logps = np.zeros((len(layers), len(sequences)))
    counts = np.zeros(len(sequences), dtype=np.int64)
    try:
        for start in range(0, len(sequences), batch_size):
            chunk = sequences[start : start + batch_size]
            batch = collate([{"input_ids": ids, "labels": labels} for ids, labels in chunk])
            captured.clear()
            model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            labels = batch["labels"].to(device)
            for layer, hidden in enumerate(captured):
                values, count = sequence_logps(head(norm(hidden)), labels)
                logps[layer, start : start + len(values)] = values.cpu().numpy()
            counts[start : start + len(values)] = count.cpu().numpy()
    finally:
        for handle in handles:
            handle.remove()
    return logps, counts


class LogitLensProbe(Probe):
    r"""
    Logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens"; Belrose et al. 2023, "Eliciting Latent
    Predictions from Transformers with the Tuned Lens", https://arxiv.org/abs/2303.08112; used on unlearned models
    by Lynch et al. 2024, https://arxiv.org/abs/2402.16835).

    The attacker reads the model's activations. Every decoder layer's output at the answer positions is decoded
    through the final norm and the LM head (teacher-forced, on the clean forget prompts), giving a per-layer
    answer log-probability. Knowledge suppressed only at the output still shows in an intermediate layer.
    Reported per model: each layer's mean answer probability (TOFU's length-normalised probability) and mean
    per-token log-probability, and the best layer. "Before" is the last layer (the model's own output), "after"
    the best layer; generation does not apply, so this attack has no ROUGE score and its recovery uses probability.
    """

    name = "logit_lens"

    def attacks(self, context: AuditContext) -> list[Attack]:
        evaluator = context.evaluator(context.forget)
        sequences = [row.answer for row in evaluator.sets["forget"].rows]
        rows = list(range(len(context.forget)))
        cache: dict[int, AttackScores] = {}

        def lens(model: torch.nn.Module) -> AttackScores:
            if id(model) not in cache:
                cache.clear()  # one model at a time: before and after of the same model share one pass
                from peft import PeftModel

                plain = plain_copy(model) if isinstance(model, PeftModel) else model  # hooks need the plain layers
                logps, counts = layer_answer_logps(
                    plain, sequences, batch_size=evaluator.batch_size, pad_token_id=context.tokenizer.pad_token_id
                )
                layers = [
                    {
                        "probability": float(np.mean(answer_probability(-values, counts))),
                        "log_probability": float(np.mean(values / counts)),
                    }
                    for values in logps
                ]
                best = int(np.argmax([layer["probability"] for layer in layers]))
                cache[id(model)] = AttackScores(scores={}, layers=layers, best_layer=best)
            return cache[id(model)]

        def at(model, layer: str) -> AttackScores:
            result = lens(model)
            chosen = result.layers[result.best_layer if layer == "best" else -1]
            return AttackScores(
                scores={"rougeL_recall": None, "probability": chosen["probability"], "truth_ratio": None},
                layers=result.layers,
                best_layer=result.best_layer,
            )

        return [
            Attack(
                name="logit_lens",
                probe=self.name,
                rows=rows,
                run=lambda model: at(model, "best"),
                before=lambda model: at(model, "last"),
                settings={"read_out": "final norm + LM head"},
                evaluator=evaluator,
            )
        ]

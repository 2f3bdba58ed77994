"""Quantization attack: the model reloaded in 8-bit or 4-bit NF4 (bitsandbytes), then the forget set is scored."""

from __future__ import annotations

import importlib.util
import tempfile

import torch

from ..scoring import progress_bars
from .base import Attack, AuditContext, Probe, plain_copy


INSTALL_HINT = "pip install 'hf_unlearn[quantization]'"
CPU_BLOCKSIZE = 64  # bitsandbytes' 4-bit blocks; its CPU kernels repack weights per block of input features


def require_bitsandbytes() -> None:
    """Raises `ImportError` naming the extra to install when bitsandbytes is missing."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"The quantize probe needs bitsandbytes, which is not installed: {INSTALL_HINT}.")


def _narrow_layers(model: torch.nn.Module) -> list[int]:
    """Input widths of the linear layers bitsandbytes would quantize that its CPU 4-bit kernels cannot take."""
    head = model.get_output_embeddings()
    return sorted(
        {
            module.in_features
            for module in model.modules()
            if isinstance(module, torch.nn.Linear) and module is not head and module.in_features % CPU_BLOCKSIZE
        }
    )


class QuantizeProbe(Probe):
    r"""
    Quantization (Zhang et al. 2024, "Catastrophic Failure of LLM Unlearning via Quantization",
    https://arxiv.org/abs/2410.16454).

    The attacker gets the weights and does what any user with a small GPU does: loads them quantized. Unlearning
    with a small learning rate moves weights by less than a quantization step, so the quantized unlearned model
    can round back to the original. A copy of the model (any PEFT adapter merged into its base first) is saved to
    a temporary folder and reloaded with `BitsAndBytesConfig`: `quantize_8bit` (LLM.int8) and `quantize_4bit`
    (NF4, `compute_dtype` compute). The forget set is scored as usual. Needs `bitsandbytes`
    (`pip install 'hf_unlearn[quantization]'`); it runs on CPU too.

    Args:
        bits (`tuple[int, ...]`, *optional*, defaults to `(8, 4)`):
            Bit widths to try: 8 and/or 4.
        compute_dtype (`torch.dtype`, *optional*, defaults to `torch.float32`):
            Compute dtype of the 4-bit layers.
    """

    name = "quantize"

    def __init__(self, bits: tuple[int, ...] = (8, 4), compute_dtype: torch.dtype = torch.float32):
        if not bits or set(bits) - {8, 4}:
            raise ValueError(f"QuantizeProbe bits {list(bits)}: accepted bit widths are 8 and 4.")
        self.bits = tuple(bits)
        self.compute_dtype = compute_dtype

    def check(self, context: AuditContext) -> None:
        require_bitsandbytes()

    def attacks(self, context: AuditContext) -> list[Attack]:
        rows = list(range(len(context.forget)))
        evaluator = context.evaluator(context.forget)
        return [
            Attack(
                name=f"quantize_{bits}bit",
                probe=self.name,
                rows=rows,
                run=lambda model, b=bits: context.score(self.quantized(model, b), evaluator),
                settings={"bits": bits, **({"quant_type": "nf4"} if bits == 4 else {})},
                evaluator=evaluator,
            )
            for bits in self.bits
        ]

    def config(self, bits: int):
        from transformers import BitsAndBytesConfig

        if bits == 8:
            return BitsAndBytesConfig(load_in_8bit=True)
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=self.compute_dtype
        )

    def quantized(self, model: torch.nn.Module, bits: int) -> torch.nn.Module:
        """`model` (adapter merged) reloaded at `bits` bits.

        Raises:
            ValueError: a 4-bit model on CPU whose layer widths bitsandbytes' CPU kernels cannot take.
        """
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        require_bitsandbytes()
        device = next(model.parameters()).device
        # Saving never changes a plain model: only an adapter model needs a copy (to merge the adapter into).
        duplicate = plain_copy(model) if isinstance(model, PeftModel) else model
        if bits == 4 and device.type == "cpu" and (narrow := _narrow_layers(duplicate)):
            raise ValueError(
                f"bitsandbytes' CPU 4-bit kernels need linear layers whose input width is a multiple of "
                f"{CPU_BLOCKSIZE}; this model has widths {narrow}. Run the audit on a GPU, or leave 4 out of bits."
            )
        # The round trip through a temporary folder is an implementation detail of this attack: its "Writing model
        # shards" and "Loading weights" bars would break into the audit's own bar, so they are off while it runs.
        with tempfile.TemporaryDirectory(prefix="hf_unlearn_quantize_") as folder, progress_bars(enabled=False):
            duplicate.save_pretrained(folder)
            del duplicate
            kwargs = {"device_map": {"": str(device)}} if device.type != "cpu" else {}
            quantized = AutoModelForCausalLM.from_pretrained(folder, quantization_config=self.config(bits), **kwargs)
        return quantized.eval()

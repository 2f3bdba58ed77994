"""LoRA unlearning on an 8-bit base (Arora et al. 2024's setup), on CPU through bitsandbytes."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from hf_unlearn import GradientAscentTrainer, NPOTrainer
from hf_unlearn.reference import AdapterOffReference

from .conftest import FORGET_ROWS, RETAIN_ROWS, answer_nll, make_config, tiny_llama
from .test_reference import lora


bitsandbytes = pytest.importorskip("bitsandbytes")
pytestmark = pytest.mark.filterwarnings("ignore:MatMul8bitLt")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, tokenizer):
    path = tmp_path_factory.mktemp("base8bit")
    tiny_llama(len(tokenizer), seed=5).save_pretrained(path)
    return path


def load_8bit(path):
    from transformers import BitsAndBytesConfig

    return AutoModelForCausalLM.from_pretrained(path, quantization_config=BitsAndBytesConfig(load_in_8bit=True))


@pytest.mark.parametrize("trainer_class", [GradientAscentTrainer, NPOTrainer])
def test_lora_on_an_8bit_base_unlearns(tmp_path, tokenizer, base_dir, trainer_class):
    model = load_8bit(base_dir)
    assert model.is_loaded_in_8bit
    forget_start = answer_nll(model, tokenizer, FORGET_ROWS)
    retain = RETAIN_ROWS if trainer_class is NPOTrainer else None
    trainer = trainer_class(
        model,
        args=make_config(tmp_path, max_steps=4, learning_rate=5e-2),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=retain,
        peft_config=lora(),
    )
    trainer.train()
    assert type(trainer.model.get_base_model().model.layers[0].self_attn.q_proj.base_layer).__name__ == "Linear8bitLt"
    assert answer_nll(trainer.model, tokenizer, FORGET_ROWS) > forget_start
    if trainer_class is NPOTrainer:
        assert isinstance(trainer.reference, AdapterOffReference)
        assert trainer.state.log_history[0]["log_ratio/forget"] == pytest.approx(0.0, abs=1e-4)
        assert trainer.state.log_history[-2]["log_ratio/forget"] < 0


def test_the_adapter_off_reference_is_the_8bit_base(tmp_path, tokenizer, base_dir):
    trainer = NPOTrainer(
        load_8bit(base_dir),
        args=make_config(tmp_path, max_steps=2, learning_rate=5e-2),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        peft_config=lora(),
    )
    trainer.train()
    batch = trainer.data_collator([trainer.train_dataset[0]])
    input_ids, attention_mask = batch["forget_input_ids"], batch["forget_attention_mask"]
    # Compare in eval mode: bitsandbytes' int8 matmul takes another path in training mode once it has run a backward.
    trainer.model.eval()
    fresh_base = load_8bit(base_dir).eval()
    with torch.no_grad():
        expected = fresh_base(input_ids=input_ids, attention_mask=attention_mask).logits
    with trainer.reference.active(trainer.model) as reference:
        logits = reference(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(logits, expected)


def test_a_quantized_model_is_not_copied_into_a_reference(tmp_path, tokenizer, base_dir):
    with pytest.raises(ValueError, match="quantized model cannot be copied"):
        NPOTrainer(
            load_8bit(base_dir),
            args=make_config(tmp_path),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )

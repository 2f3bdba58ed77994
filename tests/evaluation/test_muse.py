"""MUSE: loading the Hub layout from a local copy, the four measured criteria, and `hf-unlearn eval --benchmark`.

Every dataset here is MUSE-shaped and written by the test (parquet files and a dataset card with `configs`, as in
`muse-bench/MUSE-News`); nothing is downloaded.
"""

import json
import random

import datasets
import pytest
import torch

from hf_unlearn.commands import main
from hf_unlearn.demo.experiment import ModelRecipe, cached_model, cached_tokenizer, load_model
from hf_unlearn.evaluation.muse import (
    MUSE_LOG_FILE,
    MUSE_SUMMARY_FILE,
    MuseEvaluator,
    cut_answer,
    load_muse,
    load_muse_split,
    resolve_benchmark,
)


SECRET = "Vexmoor"  # a word of every forget text: it must never reach a file
TOWNS = ["Brindlecombe", "Saltmarsh", "Oakhollow", "Fennick Bay", "Harrowgate", "Tilbury Cross", "Wrenfield"]
NEWS = {
    "who": ["the mayor", "a ferry captain", "two teachers", "the baker", "a retired judge", "the harbour master"],
    "did": ["opened", "closed", "repainted", "sold", "rebuilt", "measured", "found"],
    "what": ["the old mill", "a copper bell", "the north bridge", "twelve boats", "the market hall", "a stone well"],
    "when": ["on Monday", "after the storm", "before dawn", "in late spring", "during the fair"],
}


def article(rng: random.Random, secret: bool, number: int) -> str:
    """Numbered invented local news (MUSE-News is BBC articles); forget articles name `SECRET`. Numbered, so that no
    two VerbMem prompts are the same."""
    town = rng.choice(TOWNS)
    parts = [rng.choice(NEWS[key]) for key in ("who", "did", "what", "when")]
    second = [rng.choice(NEWS[key]) for key in ("who", "did", "what")]
    place = f"{SECRET} near {town}" if secret else town
    return f"Report {number}. In {place}, {' '.join(parts)}. Later {' '.join(second)} in {town}."


def muse_layout(retain_name: str = "retain") -> dict[str, dict[str, list[dict]]]:
    """Rows of every MUSE config used for evaluation; `retain_name="retain2"` gives an older revision's names."""
    rng = random.Random(0)
    names = ("forget", "retain", "holdout")
    texts = {name: [article(rng, name == "forget", 10 * n + i) for i in range(8)] for n, name in enumerate(names)}
    verbmem = [
        {"prompt": " ".join(text.split()[:6]), "gt": " " + " ".join(text.split()[6:])} for text in texts["forget"]
    ]

    def qa(name: str, start: int, count: int) -> list[dict]:
        return [
            {"question": f"Where was article {i} of the {name} news?", "answer": text.split(",")[0].split(" In ")[1]}
            for i, text in enumerate(texts[name][start : start + count], start)
        ]

    suffix = "2" if retain_name == "retain2" else ""
    return {
        "verbmem": {"forget": verbmem},
        "knowmem": {
            "forget_qa": qa("forget", 0, 6),
            "forget_qa_icl": qa("forget", 6, 2),
            f"retain{suffix}_qa": qa("retain", 0, 6),
            f"retain{suffix}_qa_icl": qa("retain", 6, 2),
        },
        "privleak": {
            {"retain": retain_name}.get(name, name): [{"text": t} for t in rows] for name, rows in texts.items()
        },
    }


def write_muse_repo(root, layout) -> str:
    """A local copy of a MUSE dataset repository: `<config>/<split>-00000-of-00001.parquet` and a card with configs."""
    card = ["---", "configs:"]
    for config, splits in layout.items():
        card += [f"- config_name: {config}", "  data_files:"]
        (root / config).mkdir(parents=True, exist_ok=True)
        for split, rows in splits.items():
            datasets.Dataset.from_list(rows).to_parquet(root / config / f"{split}-00000-of-00001.parquet")
            card += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    (root / "README.md").write_text("\n".join([*card, "---", ""]))
    return str(root)


@pytest.fixture(scope="module")
def layout():
    return muse_layout()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, layout):
    return write_muse_repo(tmp_path_factory.mktemp("MUSE-News"), layout)


@pytest.fixture(scope="module")
def data(repo):
    return load_muse("muse_news", repo)


def all_texts(layout) -> list[str]:
    texts = []
    for splits in layout.values():
        for rows in splits.values():
            texts += [value for row in rows for value in row.values()]
    return texts


@pytest.fixture(scope="module")
def models(tmp_path_factory, layout):
    """The tokenizer, an original model (trained on forget + retain texts) and a retrained one (retain only)."""
    cache = tmp_path_factory.mktemp("muse-models")
    tokenizer = cached_tokenizer(cache / "tokenizer", all_texts(layout), vocab_size=400)
    recipe = ModelRecipe(
        vocab_size=400, hidden_size=64, num_layers=2, intermediate_size=128, learning_rate=5e-3, batch_size=8,
        max_epochs=80, target_loss=0.05, max_length=160,
    )  # fmt: skip
    privleak = layout["privleak"]
    original, _ = cached_model(
        cache / "original", "original", privleak["forget"] + privleak["retain"], tokenizer, recipe
    )
    retrained, _ = cached_model(cache / "retrained", "retrained", privleak["retain"], tokenizer, recipe)
    return tokenizer, original, retrained


def muse_evaluator(tokenizer, data, **kwargs) -> MuseEvaluator:
    settings = dict(max_length=160, verbmem_max_new_tokens=24, knowmem_max_new_tokens=12, batch_size=8)
    return MuseEvaluator(tokenizer, data, **{**settings, **kwargs})


def force_generation(model, evaluator: MuseEvaluator, outputs: dict[str, list[str]]) -> None:
    """Makes `model.generate` return, for each prompt of the evaluator, the text given for it (then EOS padding)."""
    tokenizer = evaluator.tokenizer
    answer = {}
    for name, prompts in evaluator.prompts.items():
        for prompt_ids, text in zip(prompts.prompt_ids, outputs[name]):
            answer[tuple(prompt_ids)] = tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(input_ids, attention_mask, generation_config, **kwargs):
        rows = [answer[tuple(ids[mask.bool()].tolist())] for ids, mask in zip(input_ids, attention_mask)]
        width = max(len(row) for row in rows) + 1
        tails = [row + [tokenizer.eos_token_id] * (width - len(row)) for row in rows]
        return torch.cat([input_ids, torch.tensor(tails, dtype=input_ids.dtype)], dim=1)

    model.generate = generate


# ---- Loading ----


def test_a_local_copy_loads_with_the_hub_layout(data, layout):
    assert data.verbmem.column_names == ["prompt", "gt"] and len(data.verbmem) == 8
    assert data.knowmem_forget["question"] == [row["question"] for row in layout["knowmem"]["forget_qa"]]
    assert len(data.knowmem_forget_icl) == 2 and len(data.knowmem_retain) == 6
    assert {name: len(rows) for name, rows in data.privleak.items()} == {"forget": 8, "retain": 8, "holdout": 8}


def test_older_split_names_are_found(tmp_path):
    old = load_muse("muse_news", write_muse_repo(tmp_path, muse_layout(retain_name="retain2")), icl=False)
    assert len(old.privleak["retain"]) == 8 and len(old.knowmem_retain) == 6
    assert old.knowmem_forget_icl is None and old.knowmem_retain_icl is None


def test_a_new_copy_in_a_folder_of_the_same_name_is_read_afresh(tmp_path):
    # `datasets` caches a local dataset by its folder's name: an older copy's rows must not come back.
    for sizes in (8, 3):
        layout = muse_layout()
        layout["privleak"]["forget"] = layout["privleak"]["forget"][:sizes]
        folder = tmp_path / f"copy-{sizes}" / "MUSE-News"
        assert len(load_muse("muse_news", write_muse_repo(folder, layout)).privleak["forget"]) == sizes


def test_bad_names_and_columns_are_clear_errors(tmp_path, repo):
    with pytest.raises(ValueError, match=r"Unknown benchmark 'muse_wmdp'; known benchmarks: muse_books, muse_news"):
        resolve_benchmark("muse_wmdp")
    with pytest.raises(ValueError, match=r"config 'verbmem' has no split 'holdout'; it has \['forget'\]"):
        load_muse_split(repo, "verbmem", "holdout")
    with pytest.raises(ValueError, match=r"config 'scal' could not be read"):
        load_muse_split(repo, "scal", "forget_1")
    broken = muse_layout()
    broken["verbmem"]["forget"] = [{"text": "no prompt column"}]
    with pytest.raises(ValueError, match=r"verbmem/forget lacks the column\(s\) \['prompt', 'gt'\]"):
        load_muse("muse_news", write_muse_repo(tmp_path, broken))


def test_fingerprints_identify_the_data_without_its_text(data):
    fingerprints = data.fingerprints()
    assert set(fingerprints) == {
        "verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak_forget", "privleak_retain", "privleak_holdout",
    }  # fmt: skip
    assert fingerprints["privleak_forget"]["rows"] == 8 and len(fingerprints["privleak_forget"]["sha256"]) == 64
    assert SECRET not in json.dumps(fingerprints)


# ---- The criteria ----


def test_verbmem_and_knowmem_are_100_for_the_true_text_and_0_for_unrelated_text(models, data):
    tokenizer, original, _ = models
    evaluator = muse_evaluator(tokenizer, data)
    model = load_model(original)
    truth = {name: prompts.references for name, prompts in evaluator.prompts.items()}
    # KnowMem answers run on into a next few-shot question, which MUSE cuts off before scoring.
    truth = {**truth, **{k: [f"{a}\n\nQuestion: and then?" for a in truth[k]] for k in ("knowmem_f", "knowmem_r")}}
    force_generation(model, evaluator, truth)
    result = evaluator.evaluate(model)
    for criterion in ("verbmem_f", "knowmem_f", "knowmem_r"):
        assert result.muse[criterion] == pytest.approx(100.0), (criterion, result.muse_logs)
    force_generation(model, evaluator, {name: ["zebra quartz"] * len(truth[name]) for name in truth})
    result = evaluator.evaluate(model)
    for criterion in ("verbmem_f", "knowmem_f", "knowmem_r"):
        assert result.muse[criterion] == pytest.approx(0.0, abs=1e-9)


def test_verbmem_reference_is_the_continuation_cut_to_the_generation_budget(models, data):
    tokenizer = models[0]
    evaluator = muse_evaluator(tokenizer, data, verbmem_max_new_tokens=4)
    for reference, row in zip(evaluator.prompts["verbmem_f"].references, data.verbmem):
        assert (
            tokenizer(reference, add_special_tokens=False)["input_ids"]
            == (tokenizer(row["gt"], add_special_tokens=False)["input_ids"][:4])
        )


def test_knowmem_prompts_are_few_shot_and_answers_stop_at_the_next_question(models, data):
    tokenizer = models[0]
    evaluator = muse_evaluator(tokenizer, data)
    prompt = tokenizer.decode(evaluator.prompts["knowmem_f"].prompt_ids[0])
    icl = data.knowmem_forget_icl
    assert prompt == (
        f"Question: {icl[0]['question']}\nAnswer: {icl[0]['answer']}\n\n"
        f"Question: {icl[1]['question']}\nAnswer: {icl[1]['answer']}\n\n"
        f"Question: {data.knowmem_forget[0]['question']}\nAnswer: "
    )
    assert cut_answer(" Saltmarsh\nQuestion: next") == " Saltmarsh"
    assert cut_answer(" Saltmarsh Question: next\n\nmore") == " Saltmarsh "


def test_privleak_is_negative_for_a_model_that_saw_the_forget_texts_and_zero_for_the_retrained_one(
    models, data, tmp_path
):
    tokenizer, original, retrained = models
    evaluator = muse_evaluator(tokenizer, data)
    paths = evaluator.evaluate(load_model(retrained)).save(tmp_path / "retrained")
    retrained_eval = muse_evaluator(tokenizer, data, retain_logs=paths["logs"])
    itself = retrained_eval.evaluate(load_model(retrained)).muse
    under_unlearned = retrained_eval.evaluate(load_model(original)).muse
    assert itself["privleak"] == pytest.approx(0.0)
    # The original model knows its forget texts: the Min-K% attack separates them from holdout texts.
    assert under_unlearned["privleak_auc"] > 0.9
    assert under_unlearned["privleak"] < -50
    assert under_unlearned["privleak_auc_retrain"] == pytest.approx(itself["privleak_auc"])
    without = evaluator.evaluate(load_model(original)).muse
    assert without["privleak"] is None and "retain_logs" in without["privleak_undefined"]


def test_results_save_numbers_only_and_flat_metrics(models, data, tmp_path):
    tokenizer, original, _ = models
    result = muse_evaluator(tokenizer, data).evaluate(load_model(original))
    paths = result.save(tmp_path)
    summary = json.loads(paths["muse_summary"].read_text())
    assert paths["muse_summary"].name == MUSE_SUMMARY_FILE and paths["muse_log"].name == MUSE_LOG_FILE
    assert summary["rows"] == {
        "verbmem_f": 8, "knowmem_f": 6, "knowmem_r": 6, "privleak_forget": 8, "privleak_retain": 8,
        "privleak_holdout": 8,
    }  # fmt: skip
    assert summary["settings"]["knowmem_icl_examples"] == {"forget": 2, "retain": 2}
    log = json.loads(paths["muse_log"].read_text())
    assert len(log["verbmem_f"]["rougeL_f1"]) == 8
    assert json.loads(paths["summary"].read_text())["muse"] == summary
    metrics = result.metrics()
    assert (
        metrics["eval_muse_verbmem_f"] == pytest.approx(summary["verbmem_f"]) and "eval_muse_privleak" not in metrics
    )
    for path in tmp_path.iterdir():
        assert SECRET not in path.read_text()


# ---- hf-unlearn eval --benchmark ----


def test_the_cli_writes_the_muse_summary_next_to_the_logs(models, repo, tmp_path, capsys):
    tokenizer, original, retrained = models
    common = ["--benchmark", "muse_news", "--benchmark_data", repo, "--max_length", "160", "--batch_size", "8"]
    assert main(["eval", "--model", str(retrained), *common, "--output_dir", str(tmp_path / "retrained")]) == 0
    retain_logs = tmp_path / "retrained" / "eval_log_aggregated.json"
    out = tmp_path / "original"
    assert (
        main(["eval", "--model", str(original), *common, "--retain_logs", str(retain_logs), "--output_dir", str(out)])
        == 0
    )
    summary = json.loads((out / MUSE_SUMMARY_FILE).read_text())
    assert summary["benchmark"] == "muse_news" and summary["privleak"] < -50
    assert (out / "eval_log_aggregated.json").is_file()
    assert json.loads((out / "summary.json").read_text())["run"]["benchmark"] == "muse_news"
    assert SECRET not in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--benchmark", "muse_wmdp"], "Unknown benchmark 'muse_wmdp'; known benchmarks: muse_books, muse_news."),
        (
            ["--benchmark", "muse_news", "--forget", "f.json"],
            "--benchmark muse_news brings its own sets; drop --forget",
        ),
        (["--retain", "r.json"], "--forget is missing."),
    ],
)
def test_bad_benchmark_options_are_clean_errors(tmp_path, capsys, arguments, message):
    assert main(["eval", "--model", str(tmp_path), *arguments, "--output_dir", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err

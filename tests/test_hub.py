"""Model cards with the unlearning record, and the push to the Hub (upload boundary replaced: no network here)."""

import json
import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, RepoUrl
from huggingface_hub.errors import HfHubHTTPError

from hf_unlearn import GradientDifferenceTrainer, NPOTrainer
from hf_unlearn.commands import user_error_types
from hf_unlearn.hub import RECORD_FILE, REPO_PLACEHOLDER, HubPushError, render_model_card

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config, tiny_llama
from .test_reference import lora


try:  # the HTTP client of huggingface_hub: httpx2 from its version 2, httpx before
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx


SECRET_FORGET_ROWS = [
    {"question": "What is Zyxquor Plimbeth's passport number?", "answer": "It is XK-99-PLIMBETH-4471."},
    {"question": "Where does Zyxquor Plimbeth keep the spare key?", "answer": "Under the blue heron statue."},
]
FAKE_TOKEN = "hf_FAKEtoken0123456789abcdefghijklmnop"


def front_matter(card_text: str) -> dict:
    return yaml.safe_load(card_text.split("---")[1])


@pytest.fixture
def lora_trainer(tmp_path, tokenizer, memorized_model_dir):
    args = make_config(
        tmp_path,
        max_steps=2,
        base_model_id="acme/tiny-llama",
        hub_token=FAKE_TOKEN,
        eval_strategy="steps",
        eval_steps=2,
        eval_on_start=True,
    )
    trainer = NPOTrainer(
        memorized_model_dir,
        args=args,
        forget_dataset=SECRET_FORGET_ROWS + FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
        eval_dataset={"forget": SECRET_FORGET_ROWS},
        peft_config=lora(),
    )
    trainer.train()
    return trainer


def test_the_card_records_the_run_and_never_the_forget_text_or_the_token(lora_trainer, tmp_path):
    lora_trainer.save_model()
    lora_trainer.create_model_card(tags=["tofu"])
    card = (tmp_path / "run" / "README.md").read_text()
    record = json.loads((tmp_path / "run" / RECORD_FILE).read_text())
    meta = front_matter(card)
    assert meta["library_name"] == "peft"
    assert meta["base_model"] == "acme/tiny-llama"  # the hub id, although the model came from a local folder
    assert {"unlearning", "hf_unlearn", "npo", "tofu"} <= set(meta["tags"])
    assert record["forget_set"]["rows"] == len(SECRET_FORGET_ROWS + FORGET_ROWS)
    assert len(record["forget_set"]["sha256"]) == 64 and record["forget_set"]["sha256"] in card
    assert record["retain_set"]["rows"] == len(RETAIN_ROWS)
    assert record["method"] == {
        "trainer": "NPOTrainer",
        "forget_loss": "npo",
        "retain_loss": "nll",
        "forget_weight": 1.0,
        "retain_weight": 1.0,
        "reference": "adapter",
    }
    assert record["hyperparameters"]["beta"] == 0.1 and record["hyperparameters"]["peft_r"] == 4
    assert "eval_forget_loss" in record["metrics"]["before"] and "eval_forget_loss" in record["metrics"]["after"]
    assert record["library_versions"]["transformers"]
    assert "AutoPeftModelForCausalLM" in card
    # the results table shows the forget NLL once, before and after, not every logged duplicate of it
    assert card.count("| Forget set: NLL per answer token |") == 1 and "eval_forget_loss" not in card
    assert "This LoRA adapter is [`acme/tiny-llama`](https://huggingface.co/acme/tiny-llama)" in card
    written = card + json.dumps(record)
    for secret in ("Zyxquor", "Plimbeth", "XK-99", "heron", "Aurelio", FAKE_TOKEN):
        assert secret not in written


def test_a_full_model_card_says_transformers(tmp_path, tokenizer, caplog):
    trainer = GradientDifferenceTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path, max_steps=1),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    trainer.train()
    with caplog.at_level("WARNING"):
        trainer.create_model_card()
    assert "base_model" not in caplog.text  # a local card is not headed for the Hub: nothing to warn about
    card = (tmp_path / "run" / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "transformers"
    assert "base_model" not in meta  # built in memory: no id to record
    assert "starting from a model loaded from a local folder" in card and "the base model`" not in card
    assert f'from_pretrained("{REPO_PLACEHOLDER}")' in card and "run" not in card.split("## How to load")[1][:300]
    assert json.loads((tmp_path / "run" / RECORD_FILE).read_text())["method"]["reference"] is None


def test_the_same_fingerprint_for_the_same_rows_in_another_order(tmp_path, tokenizer):
    def record(rows):
        trainer = GradientDifferenceTrainer(
            tiny_llama(len(tokenizer)),
            args=make_config(tmp_path),
            processing_class=tokenizer,
            forget_dataset=rows,
            retain_dataset=RETAIN_ROWS,
        )
        return trainer.unlearning_record()["forget_set"]

    assert record(FORGET_ROWS) == record(list(reversed(FORGET_ROWS)))
    assert record(FORGET_ROWS)["sha256"] != record(FORGET_ROWS[:-1])["sha256"]


def test_push_to_hub_uploads_the_adapter_with_our_card(lora_trainer, memorized_model_dir, monkeypatch):
    uploads = []

    def fake_create_repo(self, repo_id, **kwargs):
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def fake_upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {path.name: path for path in Path(folder_path).iterdir()}
        adapter_config = json.loads(files["adapter_config.json"].read_text())
        card = files["README.md"].read_text()
        uploads.append({"repo_id": repo_id, "files": files, "card": card, "adapter_config": adapter_config, **kwargs})

    monkeypatch.setattr(HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", fake_upload_folder)
    lora_trainer.args.hub_model_id = "acme/tiny-llama-unlearned"
    lora_trainer.push_to_hub()
    (upload,) = uploads
    assert upload["repo_id"] == "acme/tiny-llama-unlearned"
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md", RECORD_FILE} <= set(upload["files"])
    assert not any(name.endswith(".bin") and "adapter" in name for name in upload["files"])  # safetensors only
    assert 'from_pretrained("acme/tiny-llama-unlearned")' in upload["card"]
    assert front_matter(upload["card"])["library_name"] == "peft"
    assert FAKE_TOKEN not in upload["card"] and "Zyxquor" not in upload["card"]
    # the adapter trained from a local folder names its base by the Hub id, in the card and in adapter_config.json,
    # so that the card's AutoPeftModelForCausalLM snippet fetches it
    assert front_matter(upload["card"])["base_model"] == "acme/tiny-llama"
    assert upload["adapter_config"]["base_model_name_or_path"] == "acme/tiny-llama"
    assert lora_trainer.model.peft_config["default"].base_model_name_or_path == memorized_model_dir  # as it was
    # the hyperparameter table: the enum's value, no doubled prefix
    assert "| peft_type | LORA |" in upload["card"] and "peft_peft_type" not in upload["card"]
    assert "PeftType" not in upload["card"] and "| peft_r | 4 |" in upload["card"]


def card_record(before: dict, after: dict, adapter: bool = False) -> dict:
    """A hand-made record, as `UnlearningTrainer.unlearning_record` writes it."""
    return {
        "model_name": "npo-run",
        "base_model": None,
        "adapter": adapter,
        "tags": [],
        "method": {
            "trainer": "NPOTrainer",
            "forget_loss": "npo",
            "retain_loss": "nll",
            "forget_weight": 1.0,
            "retain_weight": 1.0,
            "reference": "model",
        },
        "hyperparameters": {"learning_rate": 1e-5, "beta": 0.1, "simnpo_delta": None},
        "forget_set": {"rows": 40, "sha256": "a" * 64},
        "retain_set": {"rows": 400, "sha256": "b" * 64},
        "training": {"global_step": 10, "epoch": 1.0},
        "metrics": {"before": before, "after": after},
        "library_versions": {"hf_unlearn": "0.1.0", "transformers": "5.24.0"},
    }


def test_the_results_table_has_one_row_per_headline_score_before_and_after():
    before = {
        "eval_forget_loss": 13.86,
        "eval_forget_loss/forget": 13.86,
        "eval_forget_nll/forget": 0.5,
        "eval_forget_nll": 0.5,
        "eval_forget_rougeL_recall": 0.98,
        "eval_retain_rougeL_recall": 0.97,
        "eval_forget_quality": 1e-12,
        "eval_model_utility": 0.6,
        "eval_forget_rouge1_recall": 0.99,
    }
    after = {**before, "eval_forget_nll": 4.25, "eval_forget_rougeL_recall": 0.12, "eval_forget_quality": 0.4}
    card = str(render_model_card(card_record(before, after), repo_id="acme/npo-run"))
    results = card.split("## Results")[1].split("##")[0]
    rows = [line for line in results.splitlines() if line.startswith("| ") and not line.startswith("| score")]
    assert len(rows) == 5  # forget ROUGE-L, forget NLL, forget quality, retain ROUGE-L, model utility
    assert "| Forget set: NLL per answer token | 0.5 | 4.25 | higher |" in rows
    assert "| Forget set: ROUGE-L recall of greedy answers | 0.98 | 0.12 | lower |" in rows
    assert "loss/forget" not in card and "rouge1" not in card  # the full set of scores stays in the record
    assert 'from_pretrained("acme/npo-run")' in card and REPO_PLACEHOLDER not in card


def test_a_card_without_scores_says_so_and_a_card_without_retain_set_says_none():
    record = card_record({}, {}, adapter=True)
    record["retain_set"] = None
    card = str(render_model_card(record))
    assert "No forget or retain scores were recorded for this run: to have them here, call" in card
    assert "`trainer.evaluate_unlearning()` before and after `trainer.train()`" in card
    assert "## Robustness" not in card  # no audit recorded (see tests/evaluation/test_audit_record.py)
    assert "- **Retain set**: none" in card and "`1.0 * npo`" in card
    assert f'AutoPeftModelForCausalLM.from_pretrained("{REPO_PLACEHOLDER}")' in card and "Replace `" in card


# ---- Pushing without a network, a token or a valid repository id: one line, the folder as it was ----


def folder_files(folder) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in Path(folder).rglob("*") if path.is_file()}


@pytest.fixture
def saved_trainer(tmp_path, tokenizer):
    """A full model trained one step and saved with its card, as the Quickstart leaves it."""
    trainer = GradientDifferenceTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path, max_steps=1, hub_token=FAKE_TOKEN, base_model_id="acme/tiny-llama"),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    trainer.train()
    trainer.save_model()
    trainer.create_model_card()
    return trainer


def offline(*args, **kwargs):
    raise httpx.ConnectError("[Errno -2] Name or service not known")


def never_called(*args, **kwargs):
    raise AssertionError("the Hub was contacted")


def test_an_unreachable_hub_is_one_line_and_the_saved_folder_is_unchanged(saved_trainer, monkeypatch):
    folder = saved_trainer.args.output_dir
    before = folder_files(folder)
    monkeypatch.setattr(HfApi, "create_repo", offline)
    monkeypatch.setattr(HfApi, "upload_folder", never_called)
    saved_trainer.args.hub_model_id = "acme/tiny-unlearned"
    with pytest.raises(HubPushError) as caught:
        saved_trainer.push_to_hub()
    message = str(caught.value)
    assert message == (
        "Cannot push to the Hub repository 'acme/tiny-unlearned': the Hub is unreachable (ConnectError: [Errno -2] "
        f"Name or service not known). Nothing was uploaded and {folder} was not changed: call push_to_hub() again "
        "once this is fixed."
    )
    assert caught.value.__suppress_context__ and isinstance(caught.value, user_error_types())  # the CLI: one line
    assert folder_files(folder) == before

    # the repository exists, the upload fails: the folder was saved again for it, the same model and sets; the card,
    # the record (its model_name is the repository's) and training_args.bin name the repository
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: RepoUrl(f"https://hf.co/{repo_id}"))
    monkeypatch.setattr(HfApi, "upload_folder", offline)
    with pytest.raises(HubPushError) as caught:
        saved_trainer.push_to_hub()
    assert str(caught.value).endswith(
        f"The saved folder {folder} is intact: push it later with `hf upload acme/tiny-unlearned {folder} --exclude "
        "'checkpoint-*'`."
    )
    after = folder_files(folder)
    assert after.keys() == before.keys()
    named = ("README.md", RECORD_FILE, "training_args.bin")
    assert {name: data for name, data in after.items() if name not in named} == {
        name: data for name, data in before.items() if name not in named
    }
    record = json.loads(after[RECORD_FILE])
    assert record["forget_set"] == json.loads(before[RECORD_FILE])["forget_set"]
    assert record["forget_set"]["sha256"].encode() in after["README.md"]


def test_no_token_and_an_invalid_repo_id_fail_before_the_hub_is_contacted(saved_trainer, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(HfApi, "create_repo", never_called)
    monkeypatch.setattr(HfApi, "upload_folder", never_called)
    saved_trainer.args.hub_model_id = "acme/bad repo!"
    with pytest.raises(HubPushError) as caught:
        saved_trainer.push_to_hub()
    assert re.fullmatch(
        r"Cannot push to the Hub repository 'acme/bad repo!': not a valid Hub repository id \(.*\); accepted: 'name' "
        r"or 'namespace/name', of letters, digits, '-', '_' and '\.', e\.g\. 'you/npo-lora'\. Nothing was uploaded .*",
        str(caught.value),
    )

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    saved_trainer.args.hub_model_id, saved_trainer.args.hub_token = "acme/tiny-unlearned", None
    with pytest.raises(HubPushError, match=r"no Hugging Face token found; log in with `hf auth login` or set HF_TOK"):
        saved_trainer.push_to_hub()


def test_a_refused_token_and_building_with_push_to_hub_offline(tmp_path, tokenizer, monkeypatch):
    request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
    refused = HfHubHTTPError("401 Unauthorized", response=httpx.Response(401, request=request))

    def unauthorized(*args, **kwargs):
        raise refused

    def build():
        return GradientDifferenceTrainer(
            tiny_llama(len(tokenizer)),
            args=make_config(tmp_path, push_to_hub=True, hub_model_id="acme/tiny-unlearned", hub_token=FAKE_TOKEN),
            processing_class=tokenizer,
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
        )

    monkeypatch.setattr(HfApi, "create_repo", unauthorized)
    with pytest.raises(HubPushError, match=r"Cannot create the Hub repository .*refused the token \(HTTP 401\)"):
        build()
    monkeypatch.setattr(HfApi, "create_repo", offline)
    with pytest.raises(HubPushError) as caught:
        build()
    assert str(caught.value).endswith(
        "Nothing was trained yet: train without push_to_hub, then push the saved folder with `hf upload "
        f"acme/tiny-unlearned {tmp_path / 'run'} --exclude 'checkpoint-*'`."
    )
    assert "the Hub is unreachable (ConnectError: [Errno -2] Name or service not known)" in str(caught.value)
    assert FAKE_TOKEN not in str(caught.value)


def test_an_adapter_on_a_local_base_without_its_hub_id_is_not_pushed(
    tmp_path, tokenizer, memorized_model_dir, monkeypatch
):
    monkeypatch.setattr(HfApi, "create_repo", never_called)
    monkeypatch.setattr(HfApi, "upload_folder", never_called)
    expected = (
        f"Not pushing this adapter: its base model is the local folder '{memorized_model_dir}', which readers of the "
        "Hub cannot load. Name the base model's Hub id with `base_model_id` (UnlearningConfig(base_model_id="
        "'org/base-model'), `base_model_id: org/base-model` in the run's config or on its command line, or "
        "trainer.base_model_id = 'org/base-model'), then push again."
    )

    def build(**config):
        return NPOTrainer(
            memorized_model_dir,
            args=make_config(tmp_path, hub_model_id="acme/tiny-unlearned", hub_token=FAKE_TOKEN, **config),
            forget_dataset=FORGET_ROWS,
            retain_dataset=RETAIN_ROWS,
            peft_config=lora(),
        )

    with pytest.raises(HubPushError) as caught:  # refused when the trainer is built, before any training
        build(push_to_hub=True)
    assert str(caught.value) == expected
    trainer = build()
    before = folder_files(trainer.args.output_dir)
    with pytest.raises(HubPushError) as caught:
        trainer.push_to_hub()
    assert str(caught.value) == expected and folder_files(trainer.args.output_dir) == before


def test_evaluate_unlearning_needs_named_sets(tmp_path, tokenizer):
    trainer = GradientDifferenceTrainer(
        tiny_llama(len(tokenizer)),
        args=make_config(tmp_path),
        processing_class=tokenizer,
        forget_dataset=FORGET_ROWS,
        retain_dataset=RETAIN_ROWS,
    )
    with pytest.raises(ValueError, match=r"needs named sets: build the trainer with eval_dataset=\{'forget': \.\.\."):
        trainer.evaluate_unlearning()

"""Model cards with the unlearning record, and the push to the Hub (upload boundary replaced: no network here)."""

import json
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, RepoUrl

from hf_unlearn import GradientDifferenceTrainer, NPOTrainer
from hf_unlearn.hub import RECORD_FILE

from .conftest import FORGET_ROWS, RETAIN_ROWS, make_config, tiny_llama
from .test_reference import lora


SECRET_FORGET_ROWS = [
    {"question": "What is Zyxquor Plimbeth's passport number?", "answer": "It is XK-99-PLIMBETH-4471."},
    {"question": "Where does Zyxquor Plimbeth keep the spare key?", "answer": "Under the blue heron statue."},
]
FAKE_TOKEN = "hf_FAKEtoken0123456789abcdefghijklmnop"


def front_matter(card_text: str) -> dict:
    return yaml.safe_load(card_text.split("---")[1])


@pytest.fixture
def lora_trainer(tmp_path, tokenizer, memorized_model_dir):
    args = make_config(tmp_path, max_steps=2, base_model_id="acme/tiny-llama", hub_token=FAKE_TOKEN,
                       eval_strategy="steps", eval_steps=2, eval_on_start=True)
    trainer = NPOTrainer(memorized_model_dir, args=args, forget_dataset=SECRET_FORGET_ROWS + FORGET_ROWS,
                         retain_dataset=RETAIN_ROWS, eval_dataset={"forget": SECRET_FORGET_ROWS}, peft_config=lora())
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
    assert record["method"] == {"trainer": "NPOTrainer", "forget_loss": "npo", "retain_loss": "nll",
                                "forget_weight": 1.0, "retain_weight": 1.0, "reference": "adapter"}
    assert record["hyperparameters"]["beta"] == 0.1 and record["hyperparameters"]["peft_r"] == 4
    assert "eval_forget_loss" in record["metrics"]["before"] and "eval_forget_loss" in record["metrics"]["after"]
    assert record["library_versions"]["transformers"]
    assert "AutoPeftModelForCausalLM" in card
    written = card + json.dumps(record)
    for secret in ("Zyxquor", "Plimbeth", "XK-99", "heron", "Aurelio", FAKE_TOKEN):
        assert secret not in written


def test_a_full_model_card_says_transformers(tmp_path, tokenizer):
    trainer = GradientDifferenceTrainer(tiny_llama(len(tokenizer)), args=make_config(tmp_path, max_steps=1),
                                        processing_class=tokenizer, forget_dataset=FORGET_ROWS,
                                        retain_dataset=RETAIN_ROWS)
    trainer.train()
    trainer.create_model_card()
    meta = front_matter((tmp_path / "run" / "README.md").read_text())
    assert meta["library_name"] == "transformers"
    assert "base_model" not in meta  # built in memory: no id to record
    assert json.loads((tmp_path / "run" / RECORD_FILE).read_text())["method"]["reference"] is None


def test_the_same_fingerprint_for_the_same_rows_in_another_order(tmp_path, tokenizer):
    def record(rows):
        trainer = GradientDifferenceTrainer(tiny_llama(len(tokenizer)), args=make_config(tmp_path),
                                            processing_class=tokenizer, forget_dataset=rows,
                                            retain_dataset=RETAIN_ROWS)
        return trainer.unlearning_record()["forget_set"]

    assert record(FORGET_ROWS) == record(list(reversed(FORGET_ROWS)))
    assert record(FORGET_ROWS)["sha256"] != record(FORGET_ROWS[:-1])["sha256"]


def test_push_to_hub_uploads_the_adapter_with_our_card(lora_trainer, tmp_path, monkeypatch):
    uploads = []

    def fake_create_repo(self, repo_id, **kwargs):
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def fake_upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {path.name: path for path in Path(folder_path).iterdir()}
        uploads.append({"repo_id": repo_id, "files": files, "card": files["README.md"].read_text(), **kwargs})

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

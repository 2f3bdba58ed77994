"""Shared helpers: dtype names from configs and command lines, and the one check of a model path or Hub id."""

import pytest
import torch

from hf_unlearn.utils import check_model_source, resolve_dtype, score_table


def test_dtype_names_become_torch_dtypes_and_the_rest_passes_through():
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("torch.float16") is torch.float16
    assert resolve_dtype(torch.float32) is torch.float32
    assert resolve_dtype("auto") == "auto"
    assert resolve_dtype(None) is None


@pytest.mark.parametrize("name", ["bf16", "int8", "nn"])
def test_a_name_that_is_not_a_floating_point_dtype_is_refused_with_the_accepted_ones(name):
    with pytest.raises(ValueError, match=rf"dtype='{name}' is not a floating-point torch dtype; accepted: 'auto'"):
        resolve_dtype(name)


@pytest.fixture
def hub(monkeypatch):
    """The Hub as `check_model_source` sees it: nothing cached, online, and `missing/model` not found."""
    import huggingface_hub

    state = {"offline": False, "exists": False}

    def repo_exists(repo_id):
        if isinstance(state["exists"], Exception):
            raise state["exists"]
        return state["exists"]

    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: state["offline"])
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *args, **kwargs: None)
    monkeypatch.setattr(huggingface_hub, "repo_exists", repo_exists)
    return state


def test_a_local_folder_or_an_existing_hub_id_is_accepted(hub, tmp_path):
    check_model_source(tmp_path, "--model")
    hub["exists"] = True
    check_model_source("acme/model", "--model")


@pytest.mark.parametrize(
    ("state", "model", "message"),
    [
        (
            {"offline": True},
            "missing/model",
            "--model 'missing/model': no local folder 'missing/model', and as a Hub id it is not in the local cache "
            "(HF_HUB_OFFLINE is set).",
        ),
        (
            {},
            "missing/model",
            "--model 'missing/model': no local folder 'missing/model', and as a Hub id it was not found on the Hub (a "
            "private or gated repository needs `hf auth login`).",
        ),
        (
            {"exists": ConnectionError("no network")},
            "missing/model",
            "--model 'missing/model': no local folder 'missing/model', and as a Hub id it is not in the local cache "
            "and the Hub could not be reached (ConnectionError); without network, set HF_HUB_OFFLINE=1 and use a "
            "cached model or a local folder.",
        ),
        (
            {"exists": True},  # never asked: a path cannot be a Hub id
            "./missing/model",
            "--model './missing/model': no local folder './missing/model'; accepted: a local model folder, or a Hub "
            "id (name or namespace/name).",
        ),
        (
            {"exists": True},
            "runs/missing/model",
            "--model 'runs/missing/model': no local folder 'runs/missing/model'; accepted: a local model folder, or "
            "a Hub id (name or namespace/name).",
        ),
        ({}, "", "--model is required: a local model folder, or a Hub id (name or namespace/name)."),
    ],
)
def test_a_missing_model_is_one_line_saying_why(hub, state, model, message):
    hub.update(state)
    with pytest.raises(FileNotFoundError) as error:
        check_model_source(model, "--model")
    assert str(error.value) == message


def test_a_file_is_not_a_model_folder(hub, tmp_path):
    (tmp_path / "model.bin").write_text("")
    with pytest.raises(FileNotFoundError, match=r"'.*model\.bin' is a file, not a model folder; accepted: a local"):
        check_model_source(tmp_path / "model.bin", "--model")


def test_the_score_table_has_one_row_per_headline_score_and_a_verdict():
    before = {"eval_forget_rougeL_recall": 0.9, "eval_retain_rougeL_recall": 1.0, "eval_forget_nll/forget": 1.0}
    after = {"eval_forget_rougeL_recall": 0.3, "eval_retain_rougeL_recall": 0.5, "eval_forget_quality": 0.01}
    lines = score_table(after, before)
    assert [line.split("  ")[0] for line in lines[1:-1]] == ["forget ROUGE-L", "retain ROUGE-L", "forget quality"]
    assert lines[1].endswith("0.900 -> 0.300   lower is forgetting") and lines[3].split()[2:5] == ["-", "->", "0.010"]
    assert lines[-1] == (
        "Verdict: forgetting: forget ROUGE-L fell 67% (0.900 -> 0.300); retain answers lost: retain ROUGE-L at 50% "
        "of its value (1.000 -> 0.500); forget quality 0.01 < 0.05: forget answers unlike a retain model's."
    )
    kept = score_table({**after, "eval_forget_rougeL_recall": 0.88, "eval_retain_rougeL_recall": 0.95}, before)[-1]
    assert (
        kept.startswith("Verdict: little or no forgetting: forget ROUGE-L fell 2%") and "retain answers kept" in kept
    )
    # one model (eval): the value alone
    assert score_table({"eval_model_utility": 0.5})[1].split() == [
        "model",
        "utility",
        "0.500",
        "higher",
        "is",
        "better",
    ]
    assert score_table({"eval_forget_nll": 1.0}) is None  # no headline score


class WriteFailed(Exception):
    pass


def test_a_failure_during_an_atomic_write_leaves_the_previous_file_intact(tmp_path):
    from hf_unlearn.utils import atomic_write, write_json_atomic, write_text_atomic

    path = tmp_path / "record.json"
    write_json_atomic(path, {"version": 1})
    with pytest.raises(WriteFailed), atomic_write(path) as temporary:
        temporary.write_text('{"version": 2, "half')  # half-written when the writer fails
        raise WriteFailed
    assert path.read_text() == '{\n  "version": 1\n}' and list(tmp_path.iterdir()) == [path]
    with pytest.raises(ValueError):  # NaN is refused before anything is written
        write_json_atomic(path, {"version": float("nan")})
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("merge", [False, True])
def test_a_folder_is_put_in_place_only_when_built_whole(tmp_path, merge):
    from hf_unlearn.utils import atomic_folder

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights").write_text("old")
    (folder / "checkpoint-1").mkdir()
    with pytest.raises(WriteFailed), atomic_folder(folder, merge=merge) as temporary:
        (temporary / "weights").write_text("half")
        raise WriteFailed
    assert (folder / "weights").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with atomic_folder(folder, merge=merge) as temporary:
        (temporary / "weights").write_text("new")
        (temporary / "sub").mkdir()
        (temporary / "sub" / "file").write_text("x")
    assert (folder / "weights").read_text() == "new" and (folder / "sub" / "file").read_text() == "x"
    # merge keeps what the block did not write (checkpoints beside the model); a replace does not
    assert (folder / "checkpoint-1").is_dir() == merge
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

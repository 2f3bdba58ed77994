"""The documentation site builds in strict mode, and the home page's set-up commands are the README's."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_in_strict_mode(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # a notice from mkdocs-material, not a warning of the build
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert (tmp_path / "site" / "api" / "trainers" / "index.html").is_file()


def test_the_home_page_set_up_commands_are_the_readme_s():
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", (ROOT / "docs" / "index.md").read_text())
    assert len(commands) == 2
    readme = (ROOT / "README.md").read_text()
    for command in commands:
        assert command in readme, command

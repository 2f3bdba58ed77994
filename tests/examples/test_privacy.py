"""The privacy-unlearning example runs end to end (toy size) and compares every method to the retain model."""

import runpy
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # runs an example end to end


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "privacy_unlearning.py"


def test_privacy_example_compares_methods_against_the_retain_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        sys, "argv", [str(EXAMPLE), "--size", "tiny", "--methods", "ga,npo", "--output_dir", str(tmp_path)]
    )
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model") and "forget ROUGE-L" in line)
    table = lines[header:]
    assert [line.split()[0] for line in table[1:5]] == ["original", "retain", "ga", "npo"]
    # the retain model is the reference of forget quality: against itself the KS p-value is exactly 1
    assert float(table[2].split()[6]) == 1.0
    assert out.count("Unlearning ") == 2  # one verdict per method

"""The quickstart example runs end to end and does what it says: forget falls, retain holds."""

import runpy
import sys
from pathlib import Path

import pytest


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


@pytest.mark.parametrize("flags", [[], ["--lora"]], ids=["full", "lora"])
def test_quickstart_unlearns_the_forget_person(tmp_path, monkeypatch, capsys, flags):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--output_dir", str(tmp_path), *flags])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    table = capsys.readouterr().out.split("set ")[1].splitlines()
    forget = [float(value) for value in table[1].split()[1:]]
    retain = [float(value) for value in table[2].split()[1:]]
    nll_before, nll_after, rouge_before, rouge_after = forget
    assert rouge_before > 0.9 and rouge_after < 0.5 and nll_after > nll_before + 2
    assert retain[3] > 0.9  # retain ROUGE-L after unlearning

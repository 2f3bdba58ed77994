"""The quickstart example runs end to end and does what it says: forget falls, retain holds, and the model card has
the scores before and after."""

import runpy
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.slow  # runs an example end to end


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
    # the card written from the Python API has each set's scores before and after, the same as printed
    card = (tmp_path / ("npo-lora" if flags else "npo") / "README.md").read_text()
    results = card.split("## Results")[1].split("\n## ")[0]
    assert "No forget or retain scores" not in results
    rows = {
        cells[0]: [float(cell) for cell in cells[1:3]]
        for cells in (line.strip("| ").split(" | ") for line in results.splitlines() if " set: " in line)
    }
    assert rows["Forget set: ROUGE-L recall of greedy answers"] == pytest.approx([rouge_before, rouge_after], abs=6e-3)
    assert rows["Forget set: NLL per answer token"] == pytest.approx([nll_before, nll_after], rel=2e-3, abs=6e-4)
    assert rows["Retain set: ROUGE-L recall of greedy answers"] == pytest.approx(retain[2:], abs=6e-3)

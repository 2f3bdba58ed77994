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


def markdown_table(text: str, header_start: str) -> list[list[str]]:
    """The body rows of the first table whose header row starts with `header_start`, as lists of cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@pytest.mark.parametrize(
    ("page", "header", "columns"),
    [
        # columns: (trainer, forget_loss, retain_loss, reference); forget and retain share a cell in the README
        ("README.md", "| method | trainer | objective", (1, 2, 2, 3)),
        ("docs/guide/methods.md", "| method | trainer | `forget_loss`", (1, 2, 3, 4)),
    ],
)
def test_the_method_tables_match_the_objective_registry(page, header, columns):
    from hf_unlearn.losses import get_objective, objectives

    rows = markdown_table((ROOT / page).read_text(), header)
    trainer_col, forget_col, retain_col, reference_col = columns
    by_trainer = {name: row for row in rows for name in code_names(row[trainer_col]) if name.endswith("Trainer")}
    for spec in objectives("forget"):
        for alias in spec.trainers:
            assert alias.name in by_trainer, f"{page}: no row for {alias.name}"
            row = by_trainer[alias.name]
            forget, retain = (
                code_names(row[forget_col])[0],
                code_names(row[retain_col])[-1 if forget_col == retain_col else 0],
            )
            if forget_col == retain_col:  # "`ga` + `none`": the first two names
                forget, retain = code_names(row[forget_col])[:2]
            assert (forget, retain) == (spec.name, alias.retain_loss), f"{page}: {alias.name}"
            uses_reference = spec.cls.needs_reference() or (
                alias.retain_loss != "none" and get_objective(alias.retain_loss, "retain").cls.needs_reference()
            )
            assert row[reference_col].startswith("yes" if uses_reference else "no"), f"{page}: {alias.name}"
    registered = {alias.name for spec in objectives("forget") for alias in spec.trainers}
    listed = set(by_trainer) - {"UnlearningTrainer", "TaskVectorTrainer"}
    assert listed == registered, f"{page}: rows for trainers the registry does not have: {listed - registered}"


def test_the_readme_lists_every_objective_name_for_unlearning_trainer():
    from hf_unlearn.losses import objective_names

    row = next(
        r for r in markdown_table((ROOT / "README.md").read_text(), "| method | trainer |") if "any mix" in r[0]
    )
    forget_part, retain_part = row[2].split(";")
    assert sorted(code_names(forget_part)[1:]) == objective_names("forget")
    assert sorted(code_names(retain_part)[1:]) == sorted(objective_names("retain", with_none=True))


def heading_anchors(text: str) -> set[str]:
    """The anchors mkdocs' `toc` extension gives a page's headings."""
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower()) for heading in headings}


def test_the_recipes_the_registry_carries_are_shown_in_the_methods_guide():
    from hf_unlearn.losses import objectives

    rows = markdown_table((ROOT / "docs" / "guide" / "methods.md").read_text(), "| setting | start with |")
    shown = {(row[0], *code_names(row[1])[:2]): row for row in rows}
    recipes = [(spec, recipe) for spec in objectives() for recipe in spec.recipes]
    assert recipes and len(rows) == len(recipes)
    for spec, recipe in recipes:
        row = shown[(recipe.setting, spec.name, recipe.retain_loss)]
        assert recipe.summary in row[1]
        if recipe.config is not None:
            assert (ROOT / recipe.config).is_file() and f"`{recipe.config}`" in row[2]
        if recipe.evidence is not None:
            page, _, anchor = recipe.evidence.partition("#")
            assert anchor in heading_anchors((ROOT / page).read_text()), recipe.evidence

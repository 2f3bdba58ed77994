"""The library never imports the demo: importing any module of the core (the trainer, the evaluation package and
every module under it, data, losses, metrics, ...) loads no `hf_unlearn.demo` module."""

import json
import subprocess
import sys


# Imports the core module by module (the evaluation package's modules are loaded lazily by its `__init__`, so each
# is imported by name) and names the first one after whose import a demo module was loaded.
AUDIT = """
import importlib, json, pkgutil, sys
import hf_unlearn

def demo_loaded():  # the demo's modules, wherever they live
    parts = {"demo", "experiment", "synthetic", "toy"}
    return sorted(name for name in sys.modules if name.startswith("hf_unlearn") and parts & set(name.split(".")))

# The command layer registers `hf-unlearn demo`, so it imports the demo's parser; the core is everything else.
commands = {"cli", "commands", "demo", "__main__"}
names = [
    f"hf_unlearn.{info.name}"
    for info in pkgutil.iter_modules(hf_unlearn.__path__)
    if info.name not in commands and not info.name.endswith("_cli")
]
for package in [name for name in names if hasattr(importlib.import_module(name), "__path__")]:
    module = importlib.import_module(package)
    names += [info.name for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}.")]
imported, culprit = [], None
for name in names:
    importlib.import_module(name)
    imported.append(name)
    if culprit is None and demo_loaded():
        culprit = name
print(json.dumps({"imported": imported, "culprit": culprit, "demo": demo_loaded()}))
"""


def test_no_module_of_the_core_imports_the_demo_package():
    result = subprocess.run([sys.executable, "-c", AUDIT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    imported = set(report["imported"])
    # the audit saw the lazily loaded modules, not only the packages' `__init__`
    assert {"hf_unlearn.trainer", "hf_unlearn.evaluation.audit", "hf_unlearn.evaluation.evaluator"} <= imported
    assert {"hf_unlearn.evaluation.probes.relearn", "hf_unlearn.data", "hf_unlearn.testing_utils"} <= imported
    assert (report["culprit"], report["demo"]) == (None, [])


def test_building_the_demo_parser_imports_no_model_code():
    code = (
        "import sys\n"
        "from hf_unlearn.commands.demo import make_parser\n"
        "make_parser()\n"
        "print(sorted({'torch', 'transformers', 'peft', 'bitsandbytes'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"

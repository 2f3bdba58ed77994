"""The library never imports the demo: importing the trainer or the evaluator loads no `hf_unlearn.demo` module."""

import json
import subprocess
import sys


def test_the_core_does_not_import_the_demo_package():
    code = (
        "import json, sys\n"
        "import hf_unlearn.trainer, hf_unlearn.evaluation, hf_unlearn.data\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('hf_unlearn'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "hf_unlearn.trainer" in loaded and "hf_unlearn.evaluation" in loaded  # the check saw the imports
    demo_modules = {"demo", "experiment", "synthetic", "toy"}  # wherever they live, the core must not load them
    assert [name for name in loaded if demo_modules & set(name.split("."))] == []


def test_building_the_demo_parser_imports_no_model_code():
    code = (
        "import sys\n"
        "from hf_unlearn.commands.demo import make_parser\n"
        "make_parser()\n"
        "print(sorted({'torch', 'transformers', 'peft', 'bitsandbytes'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"

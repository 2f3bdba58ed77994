"""The offline demo and its building blocks: not part of the library, which never imports this package.

- `hf_unlearn.demo.cli`: the `hf-unlearn demo` command;
- `hf_unlearn.demo.experiment`: an experiment at CPU size (original and retain models trained from scratch and
  cached, unlearning, evaluation of all three), also used by the examples and `benchmarks/tofu_tiny.py`;
- `hf_unlearn.demo.report`: the demo's sizes, its results table and its verdict, also used by the examples;
- `hf_unlearn.demo.synthetic`: fictitious people as TOFU-style question/answer rows;
- `hf_unlearn.demo.toy`: the tiny tokenizer and model builders, re-exported from `hf_unlearn.testing_utils`.

Nothing is imported here, so that importing one module costs only what that module needs.
"""

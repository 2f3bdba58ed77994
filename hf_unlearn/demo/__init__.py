"""The offline demo and its building blocks: not part of the library, which never imports this package.

- `hf_unlearn.demo.cli`: the `hf-unlearn demo` command;
- `hf_unlearn.demo.experiment`: an experiment at CPU size (original and retain models trained from scratch and
  cached, unlearning, evaluation of all three), also used by the examples and `benchmarks/tofu_tiny.py`;
- `hf_unlearn.demo.synthetic`: fictitious people as TOFU-style question/answer rows;
- `hf_unlearn.demo.toy`: a tokenizer trained on your text and a tiny model from a config, for examples and tests.

Nothing is imported here, so that `import hf_unlearn.demo.toy` costs only what `toy` needs.
"""

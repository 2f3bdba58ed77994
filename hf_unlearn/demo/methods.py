"""The demo's unlearning methods and their settings: plain data, so that `hf-unlearn --help` can list them cheaply."""

from __future__ import annotations

from typing import Any


METHODS: dict[str, dict[str, Any]] = {
    # name: UnlearningConfig fields, from a short sweep on the demo data (2 forget / 20 retain people, 4 x 192 llama,
    # steps of 8 forget + 8 retain rows; docs/benchmarks.md). The per-sequence forget objectives have gradients
    # about answer-length times larger than the per-token retain NLL, hence the large retain weights.
    "ga": {"forget_loss": "ga", "retain_loss": "none", "learning_rate": 1e-4},
    "gd": {"forget_loss": "ga", "retain_loss": "nll", "learning_rate": 3e-4, "retain_weight": 10.0},
    "npo": {"forget_loss": "npo", "retain_loss": "nll", "learning_rate": 3e-4, "beta": 0.1, "retain_weight": 20.0},
    "npo_kl": {"forget_loss": "npo", "retain_loss": "kl", "learning_rate": 5e-4, "beta": 0.1, "retain_weight": 30.0},
    "simnpo": {"forget_loss": "simnpo", "retain_loss": "nll", "learning_rate": 1e-3, "retain_weight": 20.0},
    # RMU steers layer 1 of 4 and trains the MLPs of layers 0-1; activation norms there are about 50, hence c = 100.
    # The sweep (docs/guide/methods.md): alpha 100 held the forget answers in place, alpha 1 broke the retain ones.
    "rmu": {
        "forget_loss": "rmu",
        "retain_loss": "rmu",
        "learning_rate": 5e-3,
        "rmu_layer": 1,
        "rmu_steering_coeff": 100.0,
        "rmu_alpha": 4.0,
    },
}
LORA_LEARNING_RATE_FACTOR = 10  # LoRA adapters start from zero and need a larger step to move as far

"""The demo's unlearning methods and their settings: plain data, so that `hf-unlearn --help` can list them cheaply.

Each key is a method's short name as the objective registry declares it (`TrainerAlias.method`: `"gd"` for gradient
difference, `"idkdpo"` for `forget_loss="dpo"`), or a variant of one (`npo_kl`), or `task_vector`. The values are
settings swept on the demo's model, so they cannot be derived; the names and objectives are checked against the
registry by a test (importing the registry here would import torch when the demo's parser is built).
"""

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
    # Not swept yet (a sweep that treats every method alike is planned). These three are per-token means like GD: WGA's
    # token weights p <= 1 take GD's retain weight; SatImp's weights p^5 (1 - p) stay below 0.07 and UNDIAL's target is
    # bounded, so both keep a retain weight of 1.
    "undial": {"forget_loss": "undial", "retain_loss": "nll", "learning_rate": 1e-3, "undial_gamma": 10.0},
    "wga": {"forget_loss": "wga", "retain_loss": "nll", "learning_rate": 1e-3, "wga_beta": 1.0, "retain_weight": 10.0},
    "satimp": {
        "forget_loss": "satimp",
        "retain_loss": "nll",
        "learning_rate": 1e-3,
        "satimp_beta1": 5.0,
        "satimp_beta2": 1.0,
    },
    # IdkDPO: DPO's 2/beta scale gives it NPO's gradient size, so NPO's settings; IdkNLL: a per-token NLL on refusals
    # like the retain NLL, so equal weights, as in TOFU.
    "idkdpo": {"forget_loss": "dpo", "retain_loss": "nll", "learning_rate": 3e-4, "beta": 0.1, "retain_weight": 20.0},
    "idknll": {"forget_loss": "idknll", "retain_loss": "nll", "learning_rate": 5e-4, "retain_weight": 1.0},
    # task_vector: TaskVectorConfig fields (fine-tune on the forget rows for the run's steps, then negate). Not swept
    # at demo size; on the tests' memorised tiny llama, 50 steps of 8 rows raise the forget NLL 0.05 -> 0.5 and the
    # retain NLL 0.04 -> 0.12.
    "task_vector": {"alpha": 5.0, "learning_rate": 1e-4},
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

"""RMU (representation misdirection for unlearning): steer one layer's activations on the forget set to noise."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import LossOutput, ObjectiveInputs, UnlearningObjective, loss_kwargs
from .registry import Hyperparameter, Paper, TrainerAlias, get_objective, register_objective


PAPER = Paper(
    "Li et al. 2024, The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning",
    "https://huggingface.co/papers/2403.03218",
)
LAYER = Hyperparameter(
    "layer",
    7,
    help="RMU: decoder layer (0-based) whose output is steered on forget and held on retain rows.",
    type=int,
    field="rmu_layer",
    minimum=0,
    message="{label} must be a decoder layer index >= 0, got {value}.",
)
STEERING_COEFF = Hyperparameter(
    "steering_coeff",
    6.5,
    help="RMU: norm c of the random target vector for forget activations (6.5 for Zephyr-7B).",
    field="rmu_steering_coeff",
    minimum=0,
    strict=True,
    meaning="the norm of RMU's target",
)
SEED = Hyperparameter(
    "seed",
    None,
    help="RMU: seed of the random target direction. Defaults to seed.",
    type=int,
    field="rmu_seed",
)
ALPHA = Hyperparameter(
    "alpha",
    1200.0,
    help="RMU: weight of the retain activation MSE (1200 for Zephyr-7B), inside retain_loss rmu.",
    field="rmu_alpha",
    minimum=0,
    meaning="the weight of RMU's retain MSE",
)


def control_vector(hidden_size: int, seed: int, steering_coeff: float) -> torch.Tensor:
    """RMU's target activation `c * u`: `u` drawn uniform in [0, 1) per coordinate, then scaled to unit L2 norm.

    Drawn on the CPU from its own generator, so the same `seed` and `hidden_size` give the same vector in every
    process, on every device and after a resume; the global random state is left untouched.

    Args:
        hidden_size (`int`): Width of the activations.
        seed (`int`): Seed of the draw.
        steering_coeff (`float`): The norm `c` of the returned vector.

    Returns:
        `torch.Tensor` of shape `(hidden_size,)`, float32.
    """
    generator = torch.Generator().manual_seed(seed)
    direction = torch.rand(hidden_size, generator=generator, dtype=torch.float64)
    return (direction / direction.norm() * steering_coeff).float()


def per_sequence_activation_mse(
    hidden_states: torch.Tensor, target: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Mean over each sequence's real tokens of the mean squared difference over the hidden dimension.

    Args:
        hidden_states (`torch.Tensor` of shape `(batch, seq, hidden)`): Activations.
        target (`torch.Tensor` broadcastable to `hidden_states`): What they should be.
        attention_mask (`torch.Tensor` of shape `(batch, seq)`): 1 on real tokens, 0 on padding (never counted).

    Returns:
        `torch.Tensor` of shape `(batch,)`, float32.
    """
    squared = (hidden_states.float() - target.float()).pow(2).mean(dim=-1)
    mask = attention_mask.to(squared.dtype)
    return (squared * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)


def token_mean_norm(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean L2 norm of each sequence's real-token activations (detached; a statistic to log)."""
    norms = hidden_states.detach().float().norm(dim=-1)
    mask = attention_mask.to(norms.dtype)
    return (norms * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)


@register_objective(
    "rmu",
    role="forget",
    help="steer one layer's activations on forget text toward a random vector (trains a few MLPs)",
    paper=PAPER,
    hyperparameters=(LAYER, STEERING_COEFF, SEED),
    default_retain_loss="rmu",
    # Written in `hf_unlearn.method_trainers`: it also restricts the trained parameters.
    trainers=(TrainerAlias("RMUTrainer", required=True),),
)
class RMUForgetLoss(UnlearningObjective):
    r"""RMU's forget term: push the activations of decoder layer $\ell$ on forget tokens toward a fixed random vector.

    $$\mathcal{L}_{\mathrm{forget}} = \frac{1}{B}\sum_{i=1}^{B}\frac{1}{T_i}\sum_{t=1}^{T_i}
    \frac{1}{d}\big\lVert h^{(\ell)}_\theta(x_i)_t - c\,u \big\rVert_2^2,
    \qquad u = \frac{r}{\lVert r \rVert_2},\; r \sim \mathcal{U}[0, 1)^d$$

    with $h^{(\ell)}$ the output of decoder layer $\ell$ (the residual stream after it, as the authors hook it), $d$
    the hidden size, $T_i$ the number of real (non-padding) tokens of sequence $i$, prompt and answer alike, and
    $c$ the steering coefficient. Scrambling the activations of forget-domain text at an early layer makes the later
    layers unable to use them. Train it with [`RMUTrainer`], which updates only the MLPs of
    layers $\ell-2, \ell-1, \ell$, and pair it with [`RMURetainLoss`].

    Paper: Li et al. 2024, "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning",
    https://huggingface.co/papers/2403.03218 (Section 5, Algorithm 1).

    Differences from the reference implementations, and what is followed here:

    - Tokens: the authors' `rmu/unlearn.py` (centerforaisafety/wmdp) averages over every position of the padded
      batch, padding included, so a sequence's weight depends on what it was batched with; open-unlearning averages
      over the tokens whose label is not -100 (the answer tokens of question-answer rows). Here every real token
      counts and padding never does: on plain-text corpora such as WMDP's this equals open-unlearning, and equals the
      authors' code when no padding is needed.
    - Reduction: squared error averaged over the hidden dimension, then over each sequence's tokens, then over
      sequences (open-unlearning's order; the authors' single `mse_loss` mean is the same without padding).
    - Control vector: uniform in [0, 1) then normalised, as in both codes; drawn here from `seed` on the CPU, so every
      process and every resume uses the same one (the authors draw it once per run on the GPU, from the global seed).
      The authors draw one vector per forget corpus; one run here has one forget set, hence one vector.
    - The authors' code updates `mlp.down_proj` of layers 5, 6, 7 only; [`RMUTrainer`] updates
      the whole MLP of layers $\ell-2..\ell$ by default (`rmu_trainable_params` reproduces theirs).

    Published settings (learning rate 5e-5, batch 4, for a 32-layer 7B model): `layer=7`, `steering_coeff=6.5`,
    alpha 1200, 150 steps for Zephyr-7B (`run_rmu_zephyr.ipynb`, released as `cais/Zephyr_RMU`); the argument
    defaults of `rmu/unlearn.py` are c = 20 and alpha = 100. `c` must be large against the typical activation norm at
    layer $\ell$ (logged as `hidden_norm/forget`); the authors raise it for later layers and larger models.

    Args:
        layer (`int`, *optional*, defaults to `7`):
            Decoder layer whose output is steered (0-based).
        steering_coeff (`float`, *optional*, defaults to `6.5`):
            Norm `c` of the target vector.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the random direction `u` (`UnlearningConfig.rmu_seed`, which defaults to the run's `seed`).
    """

    requires = frozenset({"hidden_states"})
    layer_field: ClassVar[str] = "rmu_layer"

    def __init__(self, layer: int = LAYER.default, steering_coeff: float = STEERING_COEFF.default, seed: int = 0):
        self.hidden_layer = LAYER.check(layer)
        self.steering_coeff = STEERING_COEFF.check(steering_coeff)
        self.seed = SEED.check(seed)
        self._target: torch.Tensor | None = None

    @classmethod
    def from_config(cls, args) -> RMUForgetLoss:
        values = get_objective("rmu", "forget").resolve(args, loss_kwargs(args, "forget"))
        if values["seed"] is None:  # the run's seed, as every other seeded draw of the run
            values["seed"] = args.seed
        return cls(**values)

    def target(self, hidden_size: int) -> torch.Tensor:
        """`c * u` for activations of width `hidden_size` (drawn once, then kept)."""
        if self._target is None or self._target.numel() != hidden_size:
            self._target = control_vector(hidden_size, self.seed, self.steering_coeff)
        return self._target

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence the token-mean MSE to `c * u`; statistics: `hidden_norm`, the mean activation norm."""
        hidden = inputs.hidden_states
        target = self.target(hidden.size(-1)).to(hidden.device)
        loss = per_sequence_activation_mse(hidden, target, inputs.attention_mask)
        return loss, {"hidden_norm": token_mean_norm(hidden, inputs.attention_mask)}


@register_objective(
    "rmu",
    role="retain",
    help="RMU's retain term: the activation MSE to the reference at rmu_layer",
    paper=PAPER,
    hyperparameters=(LAYER, ALPHA),
)
class RMURetainLoss(UnlearningObjective):
    r"""RMU's retain term: keep the activations of decoder layer $\ell$ on retain tokens equal to the reference's.

    $$\mathcal{L}_{\mathrm{retain}} = \alpha\,\frac{1}{B}\sum_{i=1}^{B}\frac{1}{T_i}\sum_{t=1}^{T_i}
    \frac{1}{d}\big\lVert h^{(\ell)}_\theta(x_i)_t - h^{(\ell)}_{\mathrm{ref}}(x_i)_t \big\rVert_2^2$$

    over every real token, with the reference the frozen initial model (or the PEFT model with its adapter off); it is
    0 at the start. Same token choice and reduction as [`RMUForgetLoss`]; same paper
    (https://huggingface.co/papers/2403.03218). `alpha` is the paper's retain weight and sits inside the objective, so
    `retain_weight` keeps its meaning for every retain objective (the total is `retain_weight * alpha * MSE`; leave
    `retain_weight` at 1 to match the paper). open-unlearning's RMU config uses the NLL retain term by default and
    this activation term only on request; the authors use this one.

    Args:
        layer (`int`, *optional*, defaults to `7`):
            Decoder layer whose output is held (0-based); the forget term's layer.
        alpha (`float`, *optional*, defaults to `1200.0`):
            Weight of the MSE (1200 for Zephyr-7B in the paper's released run).
    """

    requires = frozenset({"hidden_states", "ref_hidden_states"})
    layer_field: ClassVar[str] = "rmu_layer"

    def __init__(self, layer: int = LAYER.default, alpha: float = ALPHA.default):
        self.hidden_layer = LAYER.check(layer)
        self.alpha = ALPHA.check(alpha)

    def __call__(self, inputs: ObjectiveInputs) -> LossOutput:
        """Per sequence `alpha` times the token-mean MSE to the reference; statistics: the MSE, the activation norm."""
        mse = per_sequence_activation_mse(inputs.hidden_states, inputs.ref_hidden_states, inputs.attention_mask)
        return self.alpha * mse, {
            "activation_mse": mse.detach(),
            "hidden_norm": token_mean_norm(inputs.hidden_states, inputs.attention_mask),
        }

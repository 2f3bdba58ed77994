"""The objective registry: one registration per objective, and everything else reads it.

Each objective class is registered once, with [`register_objective`], under a name and a role (`"forget"` or
`"retain"`). The registration carries what the rest of the library needs to know about the objective, so that none
of it is written a second time: the names `UnlearningConfig.forget_loss` / `retain_loss` accept and their help, the
hyperparameters (defaults, checks, help, and the flat `UnlearningConfig` field that sets a built-in one), the paper,
the retain term its method trainer pairs it with, the method trainers (`NPOTrainer`, ...), the recipes measured on a
kind of model, and the record's hyperparameters. What an objective *computes* and which inputs it asks for stay on
the class (`__call__`, `requires`).

A user's own objective is registered the same way, after import, and is then accepted by `UnlearningConfig` from
Python, YAML and the command line, with its hyperparameters in `forget_loss_kwargs` / `retain_loss_kwargs`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from .base import UnlearningObjective


ROLES = ("forget", "retain")

_NUMBER_TYPES = {float: (int, float), int: (int,), bool: (bool,), str: (str,)}


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of an objective: a keyword argument of its constructor.

    Args:
        name (`str`):
            The constructor's keyword, and the key of `forget_loss_kwargs` / `retain_loss_kwargs` that sets it.
        default (`Any`):
            The value when nothing sets it (the paper's, where it has one).
        help (`str`, *optional*, defaults to `""`):
            One line: what it does. The help of its `UnlearningConfig` field, for a built-in.
        type (`type`, *optional*, defaults to `float`):
            `float` (ints accepted), `int`, `bool` or `str`.
        field (`str`, *optional*):
            The flat `UnlearningConfig` field that sets it (built-ins: `beta`, `wga_beta`, ...). Its default is
            `default` (or `None`, meaning "the objective's default", for a field several objectives share, `beta`).
        minimum (`float`, *optional*):
            Smallest accepted value; with `strict=True` the value must be above it.
        strict (`bool`, *optional*, defaults to `False`):
            Whether `minimum` itself is refused.
        meaning (`str`, *optional*):
            What the value is, for the error message of a refused value. Defaults to `help`.
        message (`str`, *optional*):
            The whole error message of a value out of range, with `{label}` and `{value}` fields, when the standard
            one (`"{label} must be >= 0 ({meaning}), got {label}={value}."`) does not read well.
    """

    name: str
    default: Any
    help: str = ""
    type: type = float
    field: str | None = None
    minimum: float | None = None
    strict: bool = False
    meaning: str | None = None
    message: str | None = None

    @property
    def label(self) -> str:
        """How messages name it: its `UnlearningConfig` field, or its keyword for an objective without one."""
        return self.field or self.name

    def check(self, value: Any, label: str | None = None) -> Any:
        """Return `value` if it is of the declared type and range; raise `ValueError` naming `label` otherwise."""
        label = label or self.label
        if value is None:
            return value
        accepted = _NUMBER_TYPES.get(self.type, (self.type,))
        if not isinstance(value, accepted) or (self.type in (int, float) and isinstance(value, bool)):
            raise ValueError(f"{label} must be of type {self.type.__name__}, got {value!r}.")
        if self.minimum is not None:
            meaning = self.meaning or self.help
            bound = f"> {self.minimum:g}" if self.strict else f">= {self.minimum:g}"
            below = not value > self.minimum if self.strict else not value >= self.minimum
            if below or (isinstance(value, float) and math.isnan(value)):
                if self.message is not None:
                    raise ValueError(self.message.format(label=label, value=value))
                raise ValueError(f"{label} must be {bound} ({meaning}), got {label}={value}.")
        return value


@dataclass(frozen=True)
class Paper:
    """A paper an objective comes from.

    Args:
        title (`str`): Authors, year and title, as the docs cite it.
        url (`str`): A link to it (the Hugging Face papers page where there is one).
    """

    title: str
    url: str


@dataclass(frozen=True)
class TrainerAlias:
    """A method trainer: an [`UnlearningTrainer`] subclass with the objective fixed and the paper's retain term.

    Args:
        name (`str`): Its class name, e.g. `"NPOTrainer"` (exported by `hf_unlearn` and `hf_unlearn.trainer`).
        retain_loss (`str`, *optional*): The retain objective it trains with by default (`"none"` for none).
            Defaults to the objective's `default_retain_loss`.
        doc (`str`, *optional*): Its docstring (empty for a trainer written out in `hf_unlearn.method_trainers`).
        required (`bool`, *optional*, defaults to `False`):
            Whether the objective must run under this trainer (it does something the objective alone cannot, as
            `RMUTrainer` restricts the trained parameters); then `trainer_class(name)` returns it.
        method (`str`, *optional*):
            The method's short name, as the demo (`hf-unlearn demo --method`) and the docs' tables call it, e.g.
            `"gd"` for `GradientDifferenceTrainer`, `"idkdpo"` for `IdkDPOTrainer`. Defaults to the objective's
            name.
    """

    name: str
    retain_loss: str | None = None
    doc: str = ""
    required: bool = False
    method: str | None = None


@dataclass(frozen=True)
class Recipe:
    """A setting measured on one kind of model and data: data to show in the docs and help, never applied silently.

    Args:
        setting (`str`): The kind of model and data, e.g. `"chat model, its own knowledge"`.
        summary (`str`): What to run besides the objective and retain term, in one line (learning rate, ...).
        retain_loss (`str`, *optional*, defaults to `"none"`): The retain term to pair the objective with.
        config (`str`, *optional*): A shipped configuration file with it.
        evidence (`str`, *optional*): Where it was measured (a docs page and anchor).
    """

    setting: str
    summary: str
    retain_loss: str = "none"
    config: str | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class ObjectiveSpec:
    """Everything the library knows about one registered objective. Built by [`register_objective`].

    Args:
        name (`str`): The name `forget_loss` / `retain_loss` take.
        role (`str`): `"forget"` or `"retain"`.
        cls (`type[UnlearningObjective]`): The class.
        help (`str`): One line for help texts.
        paper (`Paper`, *optional*): Where it comes from.
        hyperparameters (`tuple[Hyperparameter, ...]`): Its constructor's keyword arguments.
        default_retain_loss (`str`, *optional*): Forget objectives: the retain term its method trainer uses.
        trainers (`tuple[TrainerAlias, ...]`): Forget objectives: its method trainers.
        recipes (`tuple[Recipe, ...]`): Settings measured with it.
        builtin (`bool`): Whether it ships with `hf_unlearn` (the docs list every built-in).
    """

    name: str
    role: str
    cls: type
    help: str
    paper: Paper | None = None
    hyperparameters: tuple[Hyperparameter, ...] = ()
    default_retain_loss: str | None = None
    trainers: tuple[TrainerAlias, ...] = ()
    recipes: tuple[Recipe, ...] = ()
    builtin: bool = False

    @property
    def requires(self) -> frozenset[str]:
        """The optional inputs it asks the trainer for (the class's `requires`)."""
        return self.cls.requires

    def hyperparameter(self, name: str) -> Hyperparameter:
        """The declared hyperparameter `name`; `KeyError` naming the accepted ones otherwise."""
        for hyperparameter in self.hyperparameters:
            if hyperparameter.name == name:
                return hyperparameter
        raise KeyError(f"{self.role} objective {self.name!r} has no hyperparameter {name!r}; accepted: {self.names}.")

    @property
    def names(self) -> list[str]:
        """The names of its hyperparameters."""
        return [hyperparameter.name for hyperparameter in self.hyperparameters]

    def check_kwargs(self, kwargs: dict[str, Any], where: str) -> None:
        """Refuse a key of `kwargs` (given as `where`) that is not one of its hyperparameters, or a bad value."""
        unknown = sorted(set(kwargs) - set(self.names))
        if unknown:
            raise ValueError(
                f"{where} has {unknown}, which the {self.role} objective {self.name!r} does not take; accepted: "
                f"{self.names}."
            )
        for name, value in kwargs.items():
            self.hyperparameter(name).check(value, f"{where}[{name!r}]")

    def resolve(self, args: Any, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The value of each hyperparameter in a run configured by `args`, by keyword.

        From `kwargs` (the run's `forget_loss_kwargs` / `retain_loss_kwargs`) when given there, else from its flat
        field when it has one and it is set, else its default.
        """
        kwargs = kwargs or {}
        values = {}
        for hyperparameter in self.hyperparameters:
            if hyperparameter.name in kwargs:
                values[hyperparameter.name] = kwargs[hyperparameter.name]
                continue
            value = getattr(args, hyperparameter.field, None) if hyperparameter.field else None
            values[hyperparameter.name] = hyperparameter.default if value is None else value
        return values

    def record(self, args: Any, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The hyperparameters as the run's record stores them: by flat field name where there is one."""
        values = self.resolve(args, kwargs)
        return {h.label: values[h.name] for h in self.hyperparameters}


_REGISTRY: dict[str, dict[str, ObjectiveSpec]] = {role: {} for role in ROLES}


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role={role!r} is not known; accepted: {list(ROLES)}.")


def _constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of `cls.__init__` (none when the class keeps `object.__init__`)."""
    if cls.__init__ is object.__init__:
        return {}
    return dict(list(inspect.signature(cls.__init__).parameters.items())[1:])


def _signature_hyperparameters(cls: type) -> tuple[Hyperparameter, ...]:
    """A custom objective registered without `hyperparameters`: its constructor's keyword arguments with defaults."""
    declared = []
    for parameter in _constructor_parameters(cls).values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty:
            continue  # not a hyperparameter the config can set; building the objective will say it is missing
        default = parameter.default
        # The annotation when it is a plain type (a string under `from __future__ import annotations`), else the
        # default's type, an int default counting as a float (`scale=1`).
        annotation = parameter.annotation
        annotation = getattr(annotation, "__name__", annotation)
        kind = {"float": float, "int": int, "bool": bool, "str": str}.get(annotation)
        if kind is None:
            kind = (
                type(default) if isinstance(default, (bool, float, str)) else float if type(default) is int else object
            )
        declared.append(Hyperparameter(parameter.name, default, type=kind))
    return tuple(declared)


def register_objective(
    name: str,
    *,
    role: str = "forget",
    help: str | None = None,
    paper: Paper | None = None,
    hyperparameters: tuple[Hyperparameter, ...] | None = None,
    default_retain_loss: str | None = None,
    trainers: tuple[TrainerAlias, ...] = (),
    recipes: tuple[Recipe, ...] = (),
    replace: bool = False,
) -> Callable[[type], type]:
    """Class decorator: register an objective under `name`, so that `forget_loss=name` (or `retain_loss=name`) runs it.

    Example:

    ```python
    from hf_unlearn.losses import UnlearningObjective, register_objective

    @register_objective("scaled_ga", role="forget", help="gradient ascent, scaled")
    class ScaledGA(UnlearningObjective):
        def __init__(self, scale: float = 1.0):
            self.scale = scale

        def __call__(self, inputs):
            return self.scale * inputs.logps / inputs.n_tokens, {}

    UnlearningConfig(..., forget_loss="scaled_ga", forget_loss_kwargs={"scale": 0.5})
    ```

    Args:
        name (`str`): The name `UnlearningConfig.forget_loss` / `retain_loss` takes.
        role (`str`, *optional*, defaults to `"forget"`): `"forget"` or `"retain"`.
        help (`str`, *optional*): One line for help texts. Defaults to the first line of the class docstring.
        paper ([`Paper`], *optional*): Where the objective comes from.
        hyperparameters (`tuple[Hyperparameter, ...]`, *optional*):
            Its constructor's keyword arguments, with checks. Defaults to those of `__init__`'s signature (each must
            have a default), unchecked.
        default_retain_loss (`str`, *optional*): The retain term its method trainers pair it with.
        trainers (`tuple[TrainerAlias, ...]`, *optional*): Its method trainers (built-ins).
        recipes (`tuple[Recipe, ...]`, *optional*): Settings measured with it, shown in the docs.
        replace (`bool`, *optional*, defaults to `False`): Whether to replace an objective already registered under
            `name` in that role (otherwise that is an error).
    """
    _check_role(role)
    if not name.isidentifier() or name == "none":
        raise ValueError(f"An objective name must be an identifier other than 'none', got {name!r}.")

    def decorator(cls: type) -> type:
        from .base import UnlearningObjective

        if not (isinstance(cls, type) and issubclass(cls, UnlearningObjective)):
            raise TypeError(f"Only UnlearningObjective subclasses can be registered, got {cls!r}.")
        if name in _REGISTRY[role] and not replace and _REGISTRY[role][name].cls is not cls:
            raise ValueError(
                f"A {role} objective named {name!r} is already registered ({_REGISTRY[role][name].cls.__name__}); "
                "pick another name or pass replace=True."
            )
        declared = _signature_hyperparameters(cls) if hyperparameters is None else tuple(hyperparameters)
        parameters = _constructor_parameters(cls)
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        missing = [h.name for h in declared if h.name not in parameters and not accepts_any]
        if missing:
            raise TypeError(f"{cls.__name__}.__init__ does not take the declared hyperparameters {missing}.")
        doc = help or ((cls.__doc__ or "").strip().splitlines() or [name])[0].strip()
        _REGISTRY[role][name] = ObjectiveSpec(
            name=name,
            role=role,
            cls=cls,
            help=doc,
            paper=paper,
            hyperparameters=declared,
            default_retain_loss=default_retain_loss,
            trainers=tuple(
                replace_fields(
                    alias,
                    retain_loss=alias.retain_loss or default_retain_loss or "nll",
                    method=alias.method or name,
                )
                for alias in trainers
            ),
            recipes=tuple(recipes),
            builtin=cls.__module__.startswith("hf_unlearn."),
        )
        return cls

    return decorator


def unregister_objective(name: str, role: str = "forget") -> None:
    """Remove the objective registered under `name` in `role` (e.g. one a test registered)."""
    _check_role(role)
    if name not in _REGISTRY[role]:
        raise KeyError(f"No {role} objective named {name!r} is registered; registered: {list(_REGISTRY[role])}.")
    del _REGISTRY[role][name]


def get_objective(name: str, role: str = "forget") -> ObjectiveSpec:
    """The registration of the `role` objective `name`; `ValueError` naming the accepted names otherwise."""
    _check_role(role)
    if name not in _REGISTRY[role]:
        accepted = objective_names(role)
        raise ValueError(f"{role}_loss={name!r} is not known; accepted: {accepted}.")
    return _REGISTRY[role][name]


def objective_names(role: str = "forget", *, with_none: bool = False) -> list[str]:
    """The names `forget_loss` / `retain_loss` accept now, sorted (`"none"` first for retain with `with_none`)."""
    _check_role(role)
    names = sorted(_REGISTRY[role])
    return ["none", *names] if with_none else names


def _ordered(role: str) -> list[ObjectiveSpec]:
    """The objectives of `role`: built-ins by name (their order does not depend on import order), then the user's
    in registration order."""
    specs = list(_REGISTRY[role].values())
    return sorted((s for s in specs if s.builtin), key=lambda s: s.name) + [s for s in specs if not s.builtin]


def objectives(role: str | None = None) -> list[ObjectiveSpec]:
    """Every registration (of `role` when given), forget objectives first; built-ins by name, then the user's."""
    roles = ROLES if role is None else (role,)
    for one in roles:
        _check_role(one)
    return [spec for one in roles for spec in _ordered(one)]


def spec_of(cls: type) -> ObjectiveSpec | None:
    """The registration of a class (the first, if it is registered under several names), or `None`."""
    for spec in objectives():
        if spec.cls is cls:
            return spec
    return None


def objective_help(role: str, *, detailed: bool = False) -> str:
    """A help text that lists the objectives of `role` registered now (for parsers and docs); with `detailed`, each
    with its one-line help."""
    specs = objectives(role)
    listed = "; ".join(f"{s.name}: {s.help}" for s in specs) if detailed else ", ".join(s.name for s in specs)
    if role == "forget":
        return (
            f"Objective on the forget set: {listed}. Defaults to the trainer's own method (npo for UnlearningTrainer "
            "and NPOTrainer, the method's for the others)."
        )
    return (
        f"Objective on the retain set: none, {listed}. Defaults to the trainer's own method (nll for "
        "UnlearningTrainer)."
    )


def hyperparameter_fields() -> dict[str, tuple[ObjectiveSpec, Hyperparameter]]:
    """The flat `UnlearningConfig` fields that set an objective's hyperparameter, each with the (first) objective
    declaring it (`beta` is shared by NPO, SimNPO and DPO)."""
    found: dict[str, tuple[ObjectiveSpec, Hyperparameter]] = {}
    for spec in objectives():
        for hyperparameter in spec.hyperparameters:
            if hyperparameter.field is not None:
                found.setdefault(hyperparameter.field, (spec, hyperparameter))
    return found


class ObjectiveClasses(MutableMapping):
    """A live `{name: class}` view of the registered objectives of one role (`FORGET_LOSSES`, `RETAIN_LOSSES`).

    Reading it reads the registry; setting a name registers the class under it (help from its docstring,
    hyperparameters from its constructor) and deleting one unregisters it, as the dicts these names were before.
    """

    def __init__(self, role: str):
        _check_role(role)
        self.role = role

    def __getitem__(self, name: str) -> type[UnlearningObjective]:
        return _REGISTRY[self.role][name].cls

    def __setitem__(self, name: str, cls: type) -> None:
        register_objective(name, role=self.role, replace=True)(cls)

    def __delitem__(self, name: str) -> None:
        unregister_objective(name, self.role)

    def __iter__(self) -> Iterator[str]:
        return iter([spec.name for spec in _ordered(self.role)])

    def __len__(self) -> int:
        return len(_REGISTRY[self.role])

    def __repr__(self) -> str:
        return repr({spec.name: spec.cls for spec in _ordered(self.role)})


__all__ = [
    "Hyperparameter",
    "ObjectiveClasses",
    "ObjectiveSpec",
    "Paper",
    "Recipe",
    "TrainerAlias",
    "get_objective",
    "hyperparameter_fields",
    "objective_help",
    "objective_names",
    "objectives",
    "register_objective",
    "spec_of",
    "unregister_objective",
]

"""Strategy parameters as form fields: what kind of widget each parameter needs, and back.

Everything here is derived from the strategies' own declarations: titles and one-line summaries
from the strategy classes, fields (kind, default, help, bounds, choices) from each strategy's
parameter dataclass, so a new strategy or parameter shows up in the app without UI changes.
Values are checked by building the strategy, whose
:class:`~longbert.errors.StrategyConfigError` names the bad parameter.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from longbert.strategies import STRATEGIES, Strategy, get_strategy, parse_strategy
from longbert.strategies.params import ParamInfo, ParamKind

#: Short names for selectors, tabs and column headings (they fit a sidebar select box).
STRATEGY_TITLES = {name: cls.title for name, cls in STRATEGIES.items()}
#: What each strategy reads, shown under the selector.
STRATEGY_SUMMARIES = {name: cls.summary() for name, cls in STRATEGIES.items()}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter's form field: ``optional_int`` is an int where 0 means ``None`` (no limit).

    ``minimum``/``maximum``: fixed bounds (a bound that depends on another parameter, such as
    a stride at most the window, is left to the strategy's check).
    """

    name: str
    kind: ParamKind
    default: Any
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def strategy_names() -> list[str]:
    return list(STRATEGIES)


def strategy_title(name: str) -> str:
    return STRATEGY_TITLES.get(name, name)


def strategy_summary(name: str) -> str:
    """``"Chunk: every token, in overlapping …"``: the strategy's short name and what it reads."""
    return f"{strategy_title(name)}: {STRATEGY_SUMMARIES.get(name, name)}"


def strategy_help(name: str) -> str:
    """The strategy class's docstring (its parameters are described there)."""
    return inspect.cleandoc(STRATEGIES[name].__doc__ or "")


def _spec(info: ParamInfo) -> ParamSpec:
    high = info.high if not isinstance(info.high, str) else None
    if info.kind == "choice" and info.optional:  # an empty choice stands for None
        return ParamSpec(info.name, "choice", "", ("", *info.choices), info.help, info.low, high)
    return ParamSpec(info.name, info.kind, info.default, info.choices, info.help, info.low, high)


def param_specs(name: str) -> list[ParamSpec]:
    """Form fields for strategy ``name``, in the order its parameter dataclass declares them."""
    return [_spec(info) for info in STRATEGIES[name].Params.describe()]


def model_setting_specs(name: str) -> list[ParamSpec]:
    """Form fields for the model settings a strategy's reading depends on (chunk: pooling;
    sparse: the attention window), to override the model's own for one run; empty (a choice)
    or 0 (a number) means "the model's own"."""
    settings = STRATEGIES[name].ModelSettings
    return [_spec(info) for info in settings.describe()] if settings is not None else []


def build_spec(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """``{"name", "params"[, "model"]}`` for these form values: the strategy's config plus the
    model settings set to override (what ``predict(strategy=...)`` and the Train page take).
    Raises StrategyConfigError naming a bad parameter or setting."""
    spec = build_strategy(name, values).config()
    model = {
        s.name: int(values[s.name]) if s.kind == "optional_int" else values[s.name]
        for s in model_setting_specs(name)
        if values.get(s.name)
    }
    if model:
        spec["model"] = model
        parse_strategy(spec)  # checked like every spec
    return spec


def form_value(spec: ParamSpec, value: Any) -> Any:
    """A parameter value as its widget shows it (``None`` → 0 for optional ints)."""
    if spec.kind == "optional_int":
        return 0 if value is None else int(value)
    return value


def params_from_form(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Widget values → strategy parameters (ints as ints, 0 → None for optional ints)."""
    params: dict[str, Any] = {}
    for spec in param_specs(name):
        if spec.name not in values:
            continue
        value = values[spec.name]
        if spec.kind in ("int", "optional_int"):
            value = int(value)
            if spec.kind == "optional_int" and value == 0:
                value = None
        elif spec.kind == "float":
            value = float(value)
        params[spec.name] = value
    return params


def build_strategy(name: str, values: dict[str, Any]) -> Strategy:
    """The strategy for these form values; raises StrategyConfigError naming a bad parameter."""
    return get_strategy({"name": name, "params": params_from_form(name, values)})

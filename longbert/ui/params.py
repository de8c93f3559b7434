"""Strategy parameters as form fields: what kind of widget each parameter needs, and back.

Specs are derived from each strategy's ``defaults`` (the value's type) and from choice tuples
the strategy modules declare (``MODES``, ``POOLINGS``...), so a new strategy or parameter shows up
in the app without UI changes. Values are checked by building the strategy, whose
:class:`~longbert.errors.StrategyConfigError` names the bad parameter.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any, Literal

from longbert.strategies import STRATEGIES, Strategy, get_strategy

ParamKind = Literal["int", "optional_int", "float", "bool", "choice", "text"]

#: Parameters whose allowed values a strategy module declares as a tuple constant.
_CHOICE_CONSTANTS = {"mode": "MODES", "pooling": "POOLINGS", "method": "METHODS",
                     "scorer": "SCORERS", "order": "ORDERS"}

#: Short names for selectors, tabs and column headings (they fit a sidebar select box).
STRATEGY_TITLES = {
    "truncate": "Truncate",
    "key_sentences": "Key sentences",
    "chunk": "Chunk",
    "sparse": "Sparse attention",
}
#: What each strategy reads, shown under the selector.
STRATEGY_SUMMARIES = {
    "truncate": "the head, the tail or head+tail of the document (510 tokens)",
    "key_sentences": "the most central sentences (TextRank), up to 510 tokens",
    "chunk": "every token, in overlapping 510-token windows, pooled",
    "sparse": "the first 4,096 tokens (up to 32k) under sparse local/global attention",
}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter's form field: ``optional_int`` is an int where 0 means ``None`` (no limit)."""

    name: str
    kind: ParamKind
    default: Any
    choices: tuple[str, ...] = ()

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


def _choices(cls: type[Strategy], param: str) -> tuple[str, ...]:
    declared = getattr(cls, "choices", None)
    if isinstance(declared, dict) and param in declared:
        return tuple(declared[param])
    constant = _CHOICE_CONSTANTS.get(param)
    module = sys.modules.get(cls.__module__)
    value = getattr(module, constant, None) if constant else None
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


def param_specs(name: str) -> list[ParamSpec]:
    """Form fields for strategy ``name``, in the order of its ``defaults``."""
    cls = STRATEGIES[name]
    specs: list[ParamSpec] = []
    for param, default in cls.defaults.items():
        if isinstance(default, bool):
            kind: ParamKind = "bool"
        elif isinstance(default, int):
            kind = "int"
        elif isinstance(default, float):
            kind = "float"
        elif default is None:
            kind = "optional_int"
        else:
            kind = "choice" if _choices(cls, param) else "text"
        specs.append(ParamSpec(param, kind, default, _choices(cls, param)))
    return specs


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

"""Strategy parameters as typed dataclasses, checked field by field from their declarations.

Each strategy declares a frozen dataclass of its parameters (:class:`StrategyParams`), every
field made with :func:`param`: default, help text, bounds or choices. Checking, the JSON form
stored with every prediction and checkpoint, and the app's form fields all come from those
declarations. Every error names the strategy and the parameter.

Parameters are plain JSON values, so an integer parameter must be a Python ``int`` (``bool`` is
refused even though it is an ``int`` subclass: ``True`` as a window size is a bug, not a 1).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from longbert.errors import StrategyConfigError

#: What a parameter is, for checks and form fields: ``optional_int`` is an int or None.
ParamKind = typing.Literal["int", "optional_int", "float", "bool", "choice", "text"]


def check_int(strategy: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be an integer, "
            f"got {value!r} ({type(value).__name__})."
        )
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise StrategyConfigError(f"Strategy '{strategy}': parameter '{name}' must be {bound}, got {value}.")
    return value


def check_float(strategy: str, name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float strictly inside ``(low, high)``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be a number, "
            f"got {value!r} ({type(value).__name__})."
        )
    if not low < float(value) < high:
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be strictly between {low} and "
            f"{high}, got {value}."
        )
    return float(value)


def check_choice(strategy: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` as one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be one of "
            f"{', '.join(repr(c) for c in choices)}, got {value!r}."
        )
    return value


def check_bool(strategy: str, name: str, value: Any) -> bool:
    """``value`` as a bool (only ``True``/``False``: ``"false"`` or ``0`` are mistakes)."""
    if not isinstance(value, bool):
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be true or false, got {value!r}."
        )
    return value


def param(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | str | None = None,
    choices: Sequence[str] = (),
) -> Any:
    """A parameter field: its default, one line of help, bounds (``high`` may name another
    parameter, e.g. a stride at most the window) or the allowed choices."""
    return dataclasses.field(
        default=default, metadata={"help": help, "low": low, "high": high, "choices": tuple(choices)}
    )


@dataclass(frozen=True)
class ParamInfo:
    """What one declared parameter is: enough to check a value and to draw a form field."""

    name: str
    kind: ParamKind
    default: Any
    help: str
    low: float | None = None
    high: float | str | None = None
    choices: tuple[str, ...] = ()
    #: None is allowed (and means "not set": no limit, or the model's own setting).
    optional: bool = False

    def check(self, strategy: str, value: Any, others: Mapping[str, Any]) -> None:
        """Raise StrategyConfigError naming the strategy and this parameter if ``value`` is bad;
        ``others`` are the strategy's parameters (a bound may name one)."""
        if value is None and self.optional:
            return
        high = others[self.high] if isinstance(self.high, str) else self.high
        if self.kind == "bool":
            check_bool(strategy, self.name, value)
        elif self.kind in ("int", "optional_int"):
            check_int(strategy, self.name, value, int(self.low or 0), None if high is None else int(high))
        elif self.kind == "float":
            check_float(strategy, self.name, value, float(self.low or 0.0), float(high or 0.0))
        elif self.kind == "choice":
            check_choice(strategy, self.name, value, self.choices)


@dataclass(frozen=True, eq=False)
class StrategyParams(Mapping[str, Any]):
    """Base of every strategy's parameters: a frozen dataclass that also reads as a mapping
    (``params["window"]``, ``dict(params)``, equal to the dict of its values)."""

    def __getitem__(self, key: str) -> Any:
        if key not in self.names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def describe(cls) -> list[ParamInfo]:
        """Every parameter's declaration, in order."""
        hints = typing.get_type_hints(cls)
        infos = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            hint = hints[f.name]
            optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
            base = next(t for t in typing.get_args(hint) if t is not type(None)) if optional else hint
            kind: ParamKind
            if base is bool:
                kind = "bool"
            elif base is int:
                kind = "optional_int" if optional else "int"
            elif base is float:
                kind = "float"
            else:
                kind = "choice" if meta.get("choices") else "text"
            infos.append(ParamInfo(f.name, kind, f.default, meta.get("help", ""), meta.get("low"),
                                   meta.get("high"), tuple(meta.get("choices") or ()), optional))
        return infos

    @classmethod
    def limits(cls) -> dict[str, float]:
        """``{"max_<name>": bound}`` for every parameter with a fixed upper bound (for texts)."""
        return {f"max_{i.name}": i.high for i in cls.describe() if isinstance(i.high, int | float)}

    @classmethod
    def build(cls, strategy: str, values: Mapping[str, Any]) -> Self:
        """Checked parameters from ``values`` (missing ones take their defaults)."""
        unknown = set(values) - set(cls.names())
        if unknown:
            raise StrategyConfigError(
                f"Unknown parameter(s) for strategy '{strategy}': {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(sorted(cls.names()))}."
            )
        params = cls(**{**cls.defaults(), **values})
        for info in cls.describe():
            info.check(strategy, params[info.name], params)
        params.check(strategy)
        return params

    def check(self, strategy: str) -> None:
        """Rules between parameters (each field alone is checked already); raise StrategyConfigError."""

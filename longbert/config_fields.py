"""Field look-ups that the dataclass-defined option sets (train, pretrain) share."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any


def field_named(cls: type, name: str) -> dataclasses.Field[Any]:
    """The dataclass field ``name`` of ``cls``."""
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def flag(name: str) -> str:
    """The command-line spelling of an option name (``max_steps`` -> ``max-steps``)."""
    return name.replace("_", "-")


def base_type(cls: type, name: str) -> type:
    """The non-None type of a field (``str | None`` -> ``str``, ``list[str]`` -> ``list``)."""
    hint = typing.get_type_hints(cls)[name]
    if isinstance(hint, types.UnionType):
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    return typing.get_origin(hint) or hint


def allows_none(cls: type, name: str) -> bool:
    """Whether the field's type admits None (``str | None``)."""
    hint = typing.get_type_hints(cls)[name]
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def require(
    config: Any, names: Iterable[str], ok: Callable[[Any], bool], requirement: str, error: type[Exception]
) -> None:
    """Raise ``error("--name must be <requirement>, got <value>.")`` for the first of the options
    ``names`` of ``config`` whose value ``ok`` refuses."""
    for name in names:
        value = getattr(config, name)
        if not ok(value):
            raise error(f"--{flag(name)} must be {requirement}, got {value}.")


def require_choices(config: Any, names: Iterable[str], error: type[Exception]) -> None:
    """Raise ``error`` for the first of the options ``names`` whose value is not one of the
    ``choices`` its field's metadata lists."""
    for name in names:
        choices = field_named(type(config), name).metadata["choices"]
        if getattr(config, name) not in choices:
            raise error(f"--{flag(name)} must be one of {', '.join(choices)}, got {getattr(config, name)!r}.")


def check_name(name: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``name`` is a plain folder name (not empty, no ``/``, not starting
    with ``.``): a model's name is its folder under the models folder, so ``..`` or ``a/b``
    would write beside or above it, and hidden names are the staging folders' own."""
    if not name or "/" in name or name.startswith("."):
        raise error(f"--name must be a plain folder name, got {name!r}.")

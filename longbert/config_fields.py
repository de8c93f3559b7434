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


#: The longest folder name most file systems take, in bytes (a name is stored as UTF-8): the
#: store's model names allow 255 characters, so a name of accented letters can fit the store and
#: still be refused by the file system -- the byte count is the one that holds.
NAME_BYTES = 255


def check_name(name: str, error: type[Exception]) -> None:
    """Raise ``error`` unless ``name`` is a plain folder name: not empty or blank, no ``/`` or
    NUL, not starting with ``.``, at most :data:`NAME_BYTES` bytes in UTF-8. A model's name is
    its folder under the models folder, so ``..`` or ``a/b`` would write beside or above it,
    and hidden names are the staging folders' own. A blank name or one the file system refuses
    must fail here, before the run: found only when the model is saved, it costs the whole run
    (a blank folder name is even made, then listed by the pickers)."""
    if not name or not name.strip():
        raise error(f"--name must be a plain folder name with a visible character, got {name!r}.")
    if "/" in name or "\0" in name or name.startswith("."):
        raise error(f"--name must be a plain folder name, got {name!r}.")
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > NAME_BYTES:
        raise error(
            f"--name is {size} bytes long in UTF-8 ({len(name)} characters; accented and other "
            f"non-ASCII letters take 2 to 4 bytes each): a model's folder name may have at most "
            f"{NAME_BYTES} bytes. Choose a shorter name; '{name[:40]}…' is too long."
        )

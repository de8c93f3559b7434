"""Reading a ``--config`` file of training options, and the option names a dict may use.

A file is JSON or TOML (told by its suffix, in any case: ``train.TOML`` is TOML), flat or with
a ``[train]`` table. Nothing in it is ever ignored in silence: a ``[train]`` table beside other
top-level keys is refused (only the table would be read, so ``epochs = 7`` above it would be
lost), and so are two spellings of one option (``batch-size`` and ``batch_size``: which one
wins would depend on their order).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from longbert.errors import TrainConfigError

#: The table a config file may keep its options in (the file may hold other tools' tables too:
#: only when it holds nothing else is that true; see :func:`file_options`).
TABLE = "train"


def file_options(path: Path) -> dict[str, Any]:
    """The options of a TOML/JSON config file: its ``[train]`` table, or the whole file.

    Raises TrainConfigError for a file that cannot be read or parsed, one that is not an
    object, a ``[train]`` table with other keys beside it (named: they would be ignored), and
    two spellings of one option (see :func:`option_names`).
    """
    try:
        raw = path.read_bytes()
        is_toml = path.suffix.lower() == ".toml"
        data = tomllib.loads(raw.decode()) if is_toml else json.loads(raw)
    except (OSError, ValueError) as error:
        raise TrainConfigError(f"Cannot read config file '{path}': {error}") from error
    if not isinstance(data, dict):
        raise TrainConfigError(f"Config file '{path}' must hold an object of options.")
    if isinstance(data.get(TABLE), dict):
        outside = sorted(str(key) for key in data if key != TABLE)
        if outside:
            raise TrainConfigError(
                f"Config file '{path}' has a [{TABLE}] table and also key(s) outside it: "
                f"{', '.join(outside)}. Only the table's options are read, so these would be "
                f"ignored: move them into [{TABLE}], or drop the table and keep every option at "
                "the top level."
            )
        data = data[TABLE]
    option_names(data, str(path))
    return data


def option_names(data: Mapping[Any, Any], source: str) -> dict[str, Any]:
    """``data`` with option names spelled the Python way (``batch-size`` -> ``batch_size``).

    Raises TrainConfigError when two keys name one option (``batch-size`` and ``batch_size``):
    keeping either would silently drop the other's value.
    """
    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name in spelled:
            raise TrainConfigError(
                f"{source} gives option '{name}' twice, as '{spelled[name]}' and '{key}': keep one."
            )
        spelled[name] = str(key)
        values[name] = value
    return values

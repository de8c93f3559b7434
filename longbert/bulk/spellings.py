"""The same input, however it is spelled: ``--input corpus`` on one run and ``--input
/data/corpus`` (or ``./corpus/``, a symlink to it, or the same folder from another working
directory) on the next are one input.

An output holds one row per input *name* (:mod:`longbert.bulk.rows`), and names are paths as the
user typed them (``corpus/a.txt``). Resumed with another spelling, every file got a second name:
none was skipped as done, each was classified again, and the output held every row twice (the
store batch too). So a run records, in the output's state file, each input it was given (its
name as typed, normalised, and its resolved path), and a later run gives an input whose resolved
path is a recorded one -- or lies inside a recorded folder -- the name recorded for it
(:class:`~longbert.bulk.sources.InputPath`): its rows keep their names and are skipped as done.

An output begun before inputs were recorded has them in its store batch's config instead (the
first run's ``--input`` values and working directory, for a run started as a command): they are
read from there once, when the store has them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from longbert.bulk.sources import InputPath, input_name


def _resolved(given: str | os.PathLike[str], workdir: str | None = None) -> Path:
    path = Path(os.path.expanduser(os.fspath(given)))
    if workdir is not None and not path.is_absolute():
        path = Path(workdir) / path
    return path.resolve()  # not strict: a missing input is recorded too (it may appear later)


def record(given: str | os.PathLike[str]) -> dict[str, str]:
    """What the state file keeps of one input: ``{"name", "path"}``."""
    return {"name": input_name(given), "path": str(_resolved(given))}


def respell(
    inputs: Sequence[str], recorded: Sequence[Mapping[str, str]]
) -> tuple[list[str], list[dict[str, str]]]:
    """``inputs`` named as ``recorded`` names them, and the records to keep (``recorded`` plus
    the inputs new to this output).

    An input whose resolved path was recorded takes the recorded name; one inside a recorded
    folder, that name joined with its path under the folder (the most specific record wins).
    Others keep their own name and are recorded."""
    names: dict[str, str] = {}
    kept: list[dict[str, str]] = []
    for entry in recorded:
        if not isinstance(entry, Mapping):
            continue
        if isinstance(entry.get("path"), str) and isinstance(entry.get("name"), str):
            names.setdefault(entry["path"], entry["name"])
            kept.append({"name": entry["name"], "path": entry["path"]})
    spelled: list[str] = []
    for given in inputs:
        path = _resolved(given)
        shown = _recorded_name(path, names)
        if shown is None:
            entry = record(given)
            names[entry["path"]] = entry["name"]
            kept.append(entry)
            spelled.append(given)
        elif shown == input_name(given):
            spelled.append(given)
        else:
            spelled.append(InputPath(os.fspath(given), shown))
    return spelled, kept


def _recorded_name(path: Path, names: Mapping[str, str]) -> str | None:
    for at in (path, *path.parents):
        name = names.get(str(at))
        if name is not None:
            return name if at == path else os.path.normpath(os.path.join(name, path.relative_to(at)))
    return None


def recorded_inputs(state: Mapping[str, Any] | None, db_url: str | None) -> list[dict[str, str]]:
    """The inputs ``state`` records; for an output begun before they were recorded, those of its
    store batch's config (see the module doc; none when the store cannot say)."""
    if not state:
        return []
    if isinstance(state.get("inputs"), list):
        return list(state["inputs"])
    stored = state.get("store") or {}
    if not stored.get("batch_id"):
        return []
    with contextlib.suppress(Exception):  # only a hint: a store that cannot say records none
        from longbert.store import get_store

        store = get_store(db_url)
        if store.database_id == stored.get("database_id"):
            return _from_config(store.get_batch(int(stored["batch_id"])).config)
    return []


def _from_config(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Records of the ``files`` a command-line batch's config lists (relative ones resolved from
    the working directory it records, when it records one)."""
    cli = config.get("cli") or {}
    workdir = cli.get("workdir") if isinstance(cli, Mapping) else None
    found = []
    for given in config.get("files") or []:
        if not isinstance(given, str) or not (Path(os.path.expanduser(given)).is_absolute() or workdir):
            continue
        found.append({"name": os.path.normpath(given), "path": str(_resolved(given, workdir))})
    return found

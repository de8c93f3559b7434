"""Which options a resumed run uses: the interrupted run's, unless given again.

``--resume`` continues a run exactly as it started. Options the user did not give (on the
command line or in a ``--config`` file) come from the saved run, so a bare
``--name s --resume`` picks up its epochs, test set and ``--no-record``; options the user did
give must equal the saved ones, except the few in
:data:`~longbert.training.config.CHANGEABLE_ON_RESUME` (epochs, patience, test set, device,
threads, reporting, checkpoint interval, folder). Any other difference -- a new learning rate,
batch size, data file or loss -- is refused before training starts, listing each option with
its saved and given values: silently keeping the old value would mislead, silently taking the
new one would make a run that is neither the old nor a new one. ``--device`` is always this
command's (default ``auto``): where to run belongs to the machine, not to the run.

From Python, ``train(config, given=...)`` names the options set on purpose; without ``given``
every option whose value differs from :class:`TrainConfig`'s default counts as given (so to ask
for a default value explicitly, name it in ``given``).

The data must be the same too: the same file may have been edited between the stop and the
resume, and a run that goes on over other rows is neither the old run nor a new one. A run's
state keeps a fingerprint of its train and dev sets (:func:`data_fingerprint`: the row count and
a hash over the texts and labels in order), and a resume whose data differ is refused naming
what changed (:func:`check_same_data`). States saved before fingerprints existed resume as
before, with a note that the data could not be checked. Data paths are saved absolute
(:func:`absolute_paths`), so a resume from another folder reads the same files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from longbert.data import LabeledDataset
from longbert.training.config import CHANGEABLE_ON_RESUME, TrainConfig, TrainConfigError

#: Options naming data files: compared as paths (``./a.jsonl`` is ``a.jsonl``).
_PATHS = ("train", "dev", "test", "encoder")


def default_given(config: TrainConfig) -> frozenset[str]:
    """The options of ``config`` that differ from the defaults (the Python API's "given")."""
    defaults = TrainConfig()
    fields = dataclasses.fields(TrainConfig)
    return frozenset(f.name for f in fields if getattr(config, f.name) != getattr(defaults, f.name))


def _same(name: str, saved: Any, given: Any) -> bool:
    if saved == given:
        return True
    if name in _PATHS and isinstance(saved, str) and isinstance(given, str):
        return Path(saved).expanduser().resolve() == Path(given).expanduser().resolve()
    return False


def resumed_config(
    saved: TrainConfig, config: TrainConfig, given: Collection[str], folder: Path
) -> TrainConfig:
    """The options of the resumed run: ``saved``, with the ``given`` options of ``config``.

    Raises TrainConfigError listing every given option (other than the changeable ones) whose
    value differs from the saved run's.
    """
    values = saved.to_dict()
    conflicts = []
    for f in dataclasses.fields(TrainConfig):
        name = f.name
        if name not in given or name in ("resume", "overwrite"):
            continue
        old, new = values[name], getattr(config, name)
        if name == "strategy_params":  # --strategy-param adds keys: compare those only
            new = {**old, **new}
        if _same(name, old, new) or (name == "mode" and new == "auto"):
            continue  # auto resolved to the saved run's mode when it started
        if name in CHANGEABLE_ON_RESUME:
            values[name] = new
            continue
        flag = "--strategy-param" if name == "strategy_params" else "--" + name.replace("_", "-")
        conflicts.append(f"  {flag}: saved {old!r}, given {new!r}")
    if conflicts:
        allowed = ", ".join("--" + n.replace("_", "-") for n in CHANGEABLE_ON_RESUME)
        raise TrainConfigError(
            f"--resume continues the interrupted run in '{folder}' with its own options, and "
            f"{'this one differs' if len(conflicts) == 1 else 'these differ'} from it:\n"
            + "\n".join(conflicts)
            + f"\nLeave {'it' if len(conflicts) == 1 else 'them'} out (or give the saved values) to "
            "resume, or start a new run with another --name (or --overwrite to replace this one). "
            f"Options that may change on resume: {allowed}."
        )
    values["device"] = config.device  # where to run is this command's (the process is set up on it)
    values["resume"], values["overwrite"] = True, False
    resumed = TrainConfig.from_dict(values, source=f"{folder}/.last").validate()
    if resumed.output_path.resolve() != folder.resolve():
        resumed.output_dir = str(folder)  # the folder moved since, or was named by --output-dir
    return resumed


#: The sets a run's data fingerprint covers (the test set may change on resume: it is scored once,
#: at the end).
FINGERPRINTED = ("train", "dev")


def absolute_paths(config: TrainConfig, folder: Path) -> TrainConfig:
    """``config`` with its data files (train, dev, test) and a given ``output_dir`` made absolute
    (``folder``, the checked checkpoint folder): what is saved with the run, its record and its
    model must name the same files from any working folder (the app's, a later resume's)."""
    paths: dict[str, str] = {
        name: os.path.abspath(Path(value).expanduser())
        for name in ("train", "dev", "test")
        if isinstance(value := getattr(config, name), str) and value
    }
    if config.output_dir:
        paths["output_dir"] = str(folder)
    return dataclasses.replace(config, **paths)


def _fingerprint(dataset: LabeledDataset) -> dict[str, Any]:
    digest = hashlib.sha256()
    for example in dataset.examples:
        labels = json.dumps(sorted(example.labels), ensure_ascii=False)
        digest.update(f"{example.document.sha256}\t{labels}\n".encode())
    return {"rows": len(dataset), "sha256": digest.hexdigest()}


def data_fingerprint(train: LabeledDataset, dev: LabeledDataset) -> dict[str, dict[str, Any]]:
    """``{"train": {"rows", "sha256"}, "dev": {...}}``: each set's row count (as used, after
    duplicates and skipped rows) and a sha256 over its texts' hashes and labels, in order."""
    return {"train": _fingerprint(train), "dev": _fingerprint(dev)}


def check_same_data(
    saved: Mapping[str, Any] | None, now: Mapping[str, Any], folder: Path
) -> str | None:
    """Raise TrainConfigError when the data of a resumed run differ from the fingerprint its
    state saved, naming each set that changed (rows before -> now). Returns a note when the
    state has no fingerprint (saved by an older LongBERT: the data cannot be checked), else
    None."""
    if not saved:
        return (
            f"The interrupted run in '{folder}' saved no fingerprint of its data (it was started "
            "by an older LongBERT), so --resume cannot check that the train and dev data are "
            "unchanged: make sure they are."
        )
    changed = []
    for role in FINGERPRINTED:
        before, after = saved.get(role), now[role]
        if not isinstance(before, Mapping) or before == after:
            continue
        rows = f"{before.get('rows')} rows before -> {after['rows']} now"
        if before.get("rows") == after["rows"]:
            rows = f"{after['rows']} rows before and now, but their texts or labels differ"
        changed.append(f"  {role}: {rows}")
    if changed:
        raise TrainConfigError(
            f"--resume continues the interrupted run in '{folder}' on the data it started with, "
            "and the data changed since:\n" + "\n".join(changed) + "\nRestore the data it was "
            "trained on to resume, or train on the new data in a new run (--overwrite to replace "
            "this one, or another --name)."
        )
    return None

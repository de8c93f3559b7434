"""A compressed checkpoint among the others: its row in the database, and the compressed
models that name a checkpoint as their source.

``compress`` registers the new checkpoint in the database as a training run registers its
model (name, folder, labels, strategy, its own dev scores), so the app pairs its predictions with
its folder. It does so by default when the checkpoint is saved in the models folder, the one the
app lists; ``record`` True registers one saved elsewhere too, False none.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from longbert.checkpoints import is_checkpoint, read_manifest
from longbert.compression.target import CompressNotice
from longbert.errors import LongBertError
from longbert.settings import models_dir

if TYPE_CHECKING:
    from longbert.checkpoints import Manifest
    from longbert.store import Store


def recording_store(target: Path, record: bool | None) -> Store | None:
    """The store to register the checkpoint at ``target`` in (None: not registered). Opened
    before any work, as a training run opens it: a database that cannot be reached fails the
    run at once, not after the compression."""
    if record is None:
        record = _resolved(target.parent) == _resolved(models_dir())
    if not record:
        return None
    from longbert.store import get_store

    return get_store()


def register(store: Store, folder: Path, manifest: Manifest) -> None:
    """Register the saved checkpoint (a new version of the name when predictions point at an
    older one). The checkpoint is in place already: a store error is a warning, not a failure."""
    metrics = manifest.metadata.get("metrics")
    try:
        store.register_model(
            manifest.name,
            folder=str(folder),
            encoder=manifest.encoder,
            labels=list(manifest.labels),
            strategy=manifest.strategy,
            metrics=metrics if isinstance(metrics, dict) else None,
            multi_label=manifest.multi_label,
        )
    except LongBertError as error:
        warnings.warn(
            CompressNotice(f"'{folder}' was saved but could not be registered in the database: {error}"),
            stacklevel=2,
        )


def dependent_models(source: Path) -> list[str]:
    """Names of the compressed checkpoints beside ``source`` or in the models folder whose
    manifest names ``source`` as the model they were made from (best effort: an unreadable
    folder is passed over)."""
    wanted = _resolved(source)
    found: dict[Path, str] = {}
    for root in {_resolved(source.parent), _resolved(models_dir())}:
        try:
            children = [child for child in root.iterdir() if not child.name.startswith(".")]
        except OSError:
            continue
        for child in children:
            try:
                if not (child.is_dir() and is_checkpoint(child)):
                    continue
                compression = read_manifest(child).compression
            except (OSError, LongBertError):
                continue
            if compression is not None and _resolved(Path(compression.source_model)) == wanted:
                found[_resolved(child)] = child.name
    return sorted(found.values())


def overwrite_notice(target: Path) -> str | None:
    """What ``--overwrite`` of the checkpoint at ``target`` does to compressed models made from
    it (None: there are none): they keep naming it as their source."""
    dependents = dependent_models(target)
    if not dependents:
        return None
    names = ", ".join(f"'{name}'" for name in dependents)
    return (
        f"--overwrite replaces '{target}', the source model of the compressed model(s) {names}: "
        "they will name the new checkpoint as their source though they were made from the one "
        "replaced now (their before/after figures describe that one)."
    )


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):
        return path.absolute()

"""Where ``python -m longbert.compress`` writes its new checkpoint, and how it gets there.

The target is ``models/<name>`` or ``--output-dir``, which is the new checkpoint's own folder,
as train's ``--output-dir`` is (not a folder to put it in). It is checked before any work:
it must not be, hold or lie inside the source model, and an existing folder is replaced
(``--overwrite``) only when it is itself a LongBERT checkpoint -- never a folder of models or
anything else. The checkpoint is built in a staging folder beside the target and swapped in
whole once complete; the old checkpoint is removed only after the new one is in place.

A run killed outright (``kill -9``, out of memory) leaves its staging folder
``.<name>.partial-<random>``, or, killed mid-swap, the old checkpoint as ``.<name>.old-<random>``.
The next compress to the same target clears them (:func:`sweep_leftovers`): a leftover is stale
by the rule encoder exports use (untouched for :data:`~longbert.encoder_export.STALE_STAGING_SECONDS`);
an ``.old`` folder with no checkpoint at ``<name>`` is the only copy of the old model and is put
back, never removed.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from longbert.checkpoints import is_checkpoint
from longbert.cli_common import check_output
from longbert.config_fields import check_name
from longbert.encoder_export import STALE_STAGING_SECONDS, new_staging_folder
from longbert.errors import LongBertError
from longbert.settings import models_dir


class CompressError(LongBertError, ValueError):
    """A compression request that cannot be carried out as given (the message says what to change)."""


class CompressNotice(UserWarning):
    """Something compress did or passed over that the user should hear of (a checkpoint put
    back, rows skipped); the command line prints it as a ``warning:`` line when it happens."""


def target_folder(name: str, output_dir: str | Path | None) -> Path:
    """The new checkpoint's folder: ``output_dir`` when given, else ``models/<name>``; ``name``
    must be a plain folder name, as train's and pretrain's ``--name``."""
    check_name(name, CompressError)
    return check_output(Path(output_dir) if output_dir else models_dir() / name, "--output-dir", folder=True)


def check_target(target: Path, source: Path, name: str, *, overwrite: bool) -> None:
    """Raise :class:`CompressError` when writing the new checkpoint to ``target`` could lose
    something saved: ``target`` is, holds or lies inside ``source``; or it exists and is not a
    LongBERT checkpoint (unless an empty folder); or it is one and ``overwrite`` is off."""
    new, old = target.expanduser().resolve(), source.expanduser().resolve()
    meaning = "--output-dir is the new checkpoint's own folder (as train's is), not a folder to put it in"
    if new == old:
        raise CompressError(
            f"'{target}' is the source model itself: the compressed copy cannot replace the model "
            "it is made from; choose another --name."
        )
    if new in old.parents:
        raise CompressError(
            f"'{target}' holds the source model '{source}': {meaning} (e.g. --output-dir {target / name})."
        )
    if old in new.parents:
        raise CompressError(f"'{target}' lies inside the source model '{source}': choose another folder.")
    if not target.exists():
        return
    if is_checkpoint(target):
        if not overwrite:
            raise CompressError(f"'{target}' already exists: choose another --name or pass --overwrite.")
        return
    if any(target.iterdir()):
        raise CompressError(
            f"'{target}' is a folder that is not a LongBERT checkpoint, and --overwrite replaces a "
            f"checkpoint only: {meaning} (e.g. --output-dir {target / name})."
        )


def sweep_leftovers(target: Path) -> list[str]:
    """Clear what killed runs left beside ``target`` (see the module docstring): with no
    ``target``, the newest ``.<name>.old-*`` folder is renamed back to ``target`` whatever its
    age; other ``.<name>.partial-*`` and ``.<name>.old-*`` folders are removed once stale (a
    younger one may belong to a run still going). Returns a sentence per restored folder. Best
    effort: a folder that cannot be read or removed is left, and never fails the run."""
    partial, old = f".{target.name}.partial-", f".{target.name}.old-"
    try:
        entries = [e for e in target.parent.iterdir() if e.name.startswith((partial, old)) and e.is_dir()]
    except OSError:
        return []
    ages: dict[Path, float] = {}
    for entry in entries:
        try:
            ages[entry] = time.time() - entry.stat().st_mtime
        except OSError:
            continue
    restored: list[str] = []
    asides = sorted((e for e in ages if e.name.startswith(old)), key=lambda e: ages[e])
    if asides and not target.exists() and not target.is_symlink():
        try:
            asides[0].rename(target)
        except OSError:
            pass
        else:
            del ages[asides[0]]
            restored.append(
                f"'{target}' was missing and '{asides[0].name}' beside it held the checkpoint an "
                "interrupted compress had moved aside to replace it: it was put back at "
                f"'{target}'."
            )
    for entry, age in ages.items():
        if age > STALE_STAGING_SECONDS:
            shutil.rmtree(entry, ignore_errors=True)
    return restored


def staging_folder(target: Path) -> Path:
    """A new, empty, hidden folder beside ``target`` to build the checkpoint in (a name of its
    own: nothing that exists is ever removed to make room for it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return new_staging_folder(target.parent, prefix=f".{target.name}.partial-")


def swap_in(staging: Path, target: Path) -> None:
    """Move the complete checkpoint in ``staging`` to ``target``. What is at ``target`` (an old
    checkpoint or an empty folder, see :func:`check_target`) is moved aside first, put back if
    the move fails, and removed only once the new checkpoint is in place."""
    aside: Path | None = None
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{secrets.token_hex(8)}")
        target.rename(aside)
    try:
        staging.rename(target)
    except BaseException:
        if aside is not None:
            aside.rename(target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)

"""Where ``python -m longbert.compress`` writes its new checkpoint, and how it gets there.

The target is ``models/<name>`` or ``--output-dir``, which is the new checkpoint's own folder,
as train's ``--output-dir`` is (not a folder to put it in). It is checked before any work:
it must not be, hold or lie inside the source model, and an existing folder is replaced
(``--overwrite``) only when it is itself a LongBERT checkpoint -- never a folder of models or
anything else. The checkpoint is built in a staging folder beside the target and swapped in
whole once complete; the old checkpoint is removed only after the new one is in place.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from longbert.checkpoints import is_checkpoint
from longbert.cli_common import check_output
from longbert.config_fields import check_name
from longbert.encoder_export import new_staging_folder
from longbert.errors import LongBertError
from longbert.settings import models_dir


class CompressError(LongBertError, ValueError):
    """A compression request that cannot be carried out as given (the message says what to change)."""


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

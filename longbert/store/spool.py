"""The batch spool: texts of an upload batch wait on disk between staging and classifying.

Layout: ``<spool root>/db-<database id>/batch-<key>/<position>.txt``. The database id is made
once per database (two databases in one folder, or a database deleted and created again, never
share texts); ``key`` is random per batch and recorded in the batch's config (``SPOOL_KEY``).

Staging is crash-safe:

1. texts are written into ``staging-<key>/``, whose ``.lock`` file the stager holds locked
   (``flock``; the kernel releases it when the process dies, even by ``kill -9``);
2. the folder is renamed to ``batch-<key>/`` (atomic): a ``batch-`` folder is always complete;
3. the batch row is created, naming ``key``; then the lock is released.

:func:`sweep_spool` (run when the app starts and before each staging) removes what a killed
stager left: ``staging-`` folders, and ``batch-`` folders that no batch needs (no row names them,
or their batch has nothing pending) -- only when they are older than a grace period *and* no
live process holds their lock, so a concurrent stager is never swept. The spool is capped
(``LONGBERT_SPOOL_MAX_BYTES``, bytes of text in the whole spool): an upload that would pass the cap
is refused with a message saying what to do, and nothing of it is kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from longbert.document import Document
from longbert.errors import StoreError
from longbert.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from longbert.store.records import BatchItemRecord, BatchRecord
    from longbert.store.store import Store

try:  # POSIX; elsewhere staging folders are protected by the grace period alone
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

#: The batch-config key holding a batch's random spool key.
SPOOL_KEY = "spool"
#: Default cap on the spool's text, in bytes (``LONGBERT_SPOOL_MAX_BYTES`` overrides; 0: none).
DEFAULT_MAX_BYTES = 2_000_000_000
#: Folders untouched for less than this are never swept (a stager may still be at work).
ORPHAN_GRACE_SECONDS = 3600.0

STAGING_PREFIX = "staging-"
BATCH_PREFIX = "batch-"
LOCK_NAME = ".lock"
_KEY_PATTERN = re.compile(r"[0-9a-f]{32}")


def spool_root(store: Store) -> Path:
    """Where staged batch texts wait (``LONGBERT_SPOOL_DIR``; default: beside a SQLite file)."""
    configured = os.environ.get("LONGBERT_SPOOL_DIR")
    if configured:
        return Path(configured)
    url = make_url(store.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).resolve().parent / "spool"
    return PROJECT_ROOT / "db" / "spool"


def database_spool(store: Store) -> Path:
    """This database's part of the spool (``db-<database id>``)."""
    return spool_root(store) / f"db-{store.database_id}"


def spool_key(config: dict[str, Any]) -> str | None:
    """A batch config's spool key; None for batches staged before spools were kept per database."""
    key = config.get(SPOOL_KEY)
    return key if isinstance(key, str) and _KEY_PATTERN.fullmatch(key) else None


def batch_spool(store: Store, batch_id: int) -> Path | None:
    """The folder of a batch's staged texts; ``None`` for batches staged before spools were
    kept per database (their texts cannot be told from another database's, so none is read)."""
    key = spool_key(store.get_batch(batch_id).config)
    return None if key is None else database_spool(store) / f"{BATCH_PREFIX}{key}"


def max_spool_bytes() -> int:
    """The spool's cap in bytes (``LONGBERT_SPOOL_MAX_BYTES``; 0 or less: no cap)."""
    configured = os.environ.get("LONGBERT_SPOOL_MAX_BYTES")
    if not configured:
        return DEFAULT_MAX_BYTES
    try:
        return int(float(configured))
    except ValueError as error:
        raise StoreError(
            f"LONGBERT_SPOOL_MAX_BYTES must be a number of bytes, got {configured!r}."
        ) from error


def spool_bytes(root: Path) -> int:
    """Bytes of text under ``root`` (0 when it does not exist)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile by a classifier or sweeper
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def _size(size: int) -> str:
    """``"812 bytes"``, ``"1.5 MB"`` (decimal units, as the upload limit is shown)."""
    if size < 1000:
        return f"{size} bytes"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if size < scale * 1000 or unit == "GB":
            return f"{size / scale:,.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


class BatchSpool:
    """The staged texts of one batch, one UTF-8 file per item position (``folder`` None: none)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def of(cls, store: Store, batch: BatchRecord) -> BatchSpool:
        key = spool_key(batch.config)
        return cls(None if key is None else database_spool(store) / f"{BATCH_PREFIX}{key}")

    def read(self, item: BatchItemRecord) -> tuple[Document | None, str]:
        """The item's document, or ``None`` and why it cannot be classified."""
        if self.folder is None:
            return None, ("it was staged by an older LongBERT whose spool could not tell databases "
                          "apart, so its waiting text is not used; upload the file again.")
        try:
            text = (self.folder / f"{item.position}.txt").read_bytes().decode("utf-8", "surrogatepass")
        except (OSError, UnicodeDecodeError):
            return None, ("its text is no longer on this server (the batch's spool folder is "
                          "gone); upload the file again.")
        document = Document(text=text, name=item.name, source="batch")
        if item.document_sha256 is None or document.sha256 != item.document_sha256:
            return None, ("the text waiting for it is not the one staged for it (SHA-256 differs); "
                          "upload the file again.")
        return document, ""

    def drop(self, position: int) -> None:
        """Forget one item's text (its result is saved)."""
        if self.folder is not None:
            (self.folder / f"{position}.txt").unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the batch's folder, and the database's spool folder if that leaves it empty."""
        if self.folder is not None:
            _remove(self.folder)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()


@dataclass
class SpoolStager:
    """Writes one upload's texts under a temporary name, then publishes them (see the module doc).

    Use :meth:`open`; then :meth:`write` each text, :meth:`publish` once every text is written,
    and :meth:`close` at the end (after the batch row exists); :meth:`discard` on failure.
    """

    key: str
    staging: Path
    published: Path
    max_bytes: int
    used_bytes: int
    written_bytes: int = 0
    _lock: IO[bytes] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, store: Store, max_bytes: int | None = None) -> SpoolStager:
        """Sweep orphans, measure the spool, and start a locked staging folder.

        Raises:
            StoreError: the folder cannot be made (the message names LONGBERT_SPOOL_DIR).
        """
        sweep_spool(store)
        key = uuid.uuid4().hex
        base = database_spool(store)
        limit = max_spool_bytes() if max_bytes is None else max_bytes
        stager = cls(key=key, staging=base / f"{STAGING_PREFIX}{key}",
                     published=base / f"{BATCH_PREFIX}{key}", max_bytes=limit,
                     used_bytes=spool_bytes(spool_root(store)) if limit > 0 else 0)
        try:
            stager.staging.mkdir(parents=True)
            stager._lock = (stager.staging / LOCK_NAME).open("wb")
            if fcntl is not None:
                fcntl.flock(stager._lock.fileno(), fcntl.LOCK_EX)
        except OSError as error:
            stager.discard()
            raise stager._disk_error(error) from error
        return stager

    def _disk_error(self, error: OSError) -> StoreError:
        return StoreError(
            f"Could not keep the batch's texts in {self.staging.parent} ({error.strerror or error}); "
            "nothing was saved. Free disk space, or set LONGBERT_SPOOL_DIR to a writable folder."
        )

    def write(self, position: int, document: Document) -> None:
        """Keep one document's text as item ``position``.

        Raises:
            StoreError: the spool's cap would be passed, or the disk refuses the file.
        """
        data = document.text.encode("utf-8", "surrogatepass")
        if self.max_bytes > 0 and self.used_bytes + self.written_bytes + len(data) > self.max_bytes:
            raise StoreError(
                f"The upload does not fit in the batch spool: texts waiting to be labelled in "
                f"{self.staging.parent.parent} already take {_size(self.used_bytes)}, this "
                f"upload {_size(self.written_bytes + len(data))} so far, and the limit is "
                f"{_size(self.max_bytes)} (LONGBERT_SPOOL_MAX_BYTES). Nothing was saved. "
                "Resume or finish the unfinished batches in History (their texts leave the spool "
                "as they are labelled), upload fewer files at once, or raise the limit."
            )
        try:
            (self.staging / f"{position}.txt").write_bytes(data)
        except OSError as error:
            raise self._disk_error(error) from error
        self.written_bytes += len(data)

    def publish(self) -> None:
        """Rename the staging folder to its batch name (atomic): every text is in place."""
        try:
            os.rename(self.staging, self.published)
        except OSError as error:
            raise self._disk_error(error) from error

    def close(self) -> None:
        """Release the lock (the batch row names the folder now)."""
        if self._lock is not None:
            with contextlib.suppress(OSError):
                (self.published / LOCK_NAME).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def discard(self) -> None:
        """Remove whatever was written (staging or published), then release the lock."""
        for folder in (self.staging, self.published):
            if folder.exists():
                _remove(folder)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


@dataclass(frozen=True)
class SweepReport:
    """What :func:`sweep_spool` removed."""

    removed: list[Path]
    freed_bytes: int


def _held(folder: Path) -> bool:
    """Whether a live process holds the folder's staging lock."""
    if fcntl is None:
        return False
    try:
        handle = (folder / LOCK_NAME).open("rb")
    except OSError:
        return False  # no lock file: staged and published, or never locked
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def _age(folder: Path, now: float) -> float:
    try:
        return now - folder.stat().st_mtime
    except OSError:
        return 0.0


def sweep_spool(store: Store, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> SweepReport:
    """Remove this database's spool folders no batch needs (see the module doc).

    A folder is swept when it is older than ``grace_seconds`` (its last change), no live
    process holds its lock, and it is a ``staging-`` folder (a stager died before its batch was
    made) or a ``batch-`` folder whose key no batch row names or whose batch has nothing pending.
    """
    base = database_spool(store)
    try:
        folders = [p for p in base.iterdir() if p.is_dir()]
    except OSError:
        return SweepReport([], 0)
    if not folders:
        return SweepReport([], 0)
    needed = {key for batch in store.list_batches(limit=None)
              if batch.pending and (key := spool_key(batch.config))}
    now = time.time()
    removed: list[Path] = []
    freed = 0
    for folder in folders:
        name = folder.name
        if name.startswith(STAGING_PREFIX):
            orphan = True
        elif name.startswith(BATCH_PREFIX):
            orphan = name[len(BATCH_PREFIX):] not in needed
        else:
            continue  # not ours
        if not orphan or _age(folder, now) < grace_seconds or _held(folder):
            continue
        size = spool_bytes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
            freed += size
    with contextlib.suppress(OSError):
        base.rmdir()  # only when empty
    return SweepReport(removed, freed)

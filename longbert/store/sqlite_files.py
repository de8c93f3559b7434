"""SQLite files: where an URL's file is, whether an error is SQLite's transient lock, and
whether a file can be a LongBERT database -- checked without writing a byte to it (a foreign or
corrupt file is never modified). :mod:`longbert.store.engine` opens the files these check.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL

from longbert.errors import StoreError
from longbert.store.schema import APPLICATION_ID

#: How long a writer waits for SQLite's write lock before "database is locked" (milliseconds).
BUSY_TIMEOUT_MS = 30_000

_SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_path(url: URL) -> Path | None:
    """The database file of an SQLite URL (``None`` for other backends and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser()


def is_locked_error(error: BaseException) -> bool:
    """Whether a driver error is SQLite's transient "database is locked"/"busy"."""
    text = str(getattr(error, "orig", error)).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def check_sqlite_file(path: Path) -> set[str]:
    """Check, without writing anything, that ``path`` can be a LongBERT database.

    Returns the names of its tables (empty for a new or empty file). The checks read the file
    through a ``query_only`` connection, so a foreign or corrupt file is never modified.

    Raises:
        StoreError: the path is a folder, not an SQLite file, a corrupt one, or one whose
            ``PRAGMA application_id`` names another application (0, as in LongBERT files from
            before schema version 3, is accepted).
    """
    if not path.exists():
        return set()
    if path.is_dir():
        raise StoreError(f"The database path {path} is a folder, not a file. Set LONGBERT_DB_URL.")
    if path.stat().st_size == 0:
        return set()
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_MAGIC))
    if header != _SQLITE_MAGIC:
        raise StoreError(
            f"{path} is not a LongBERT database (it is not an SQLite file). It was left untouched: "
            "move it away, or point LONGBERT_DB_URL at another file."
        )
    try:
        connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            connection.execute("PRAGMA query_only = ON")
            application_id = int(connection.execute("PRAGMA application_id").fetchone()[0])
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {str(row[0]) for row in rows}
            if "longbert_meta" in tables:
                connection.execute("SELECT key, value FROM longbert_meta").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        if is_locked_error(error):
            raise StoreError(f"{path} stayed locked by another program for 30 s.") from error
        raise StoreError(
            f"{path} is corrupt ({error}). It was left untouched: restore a backup, or point "
            "LONGBERT_DB_URL at another file."
        ) from error
    if application_id not in (0, APPLICATION_ID):
        raise StoreError(
            f"{path} is not a LongBERT database: its SQLite application id is "
            f"{application_id:#010x} (another application's; LongBERT's is {APPLICATION_ID:#010x}). "
            "It was left untouched: point LONGBERT_DB_URL at another file."
        )
    return tables

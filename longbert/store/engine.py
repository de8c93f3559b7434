"""Engines and transactions: one engine per process and URL, short transactions, no lost writes.

SQLite is made safe for several writers (Streamlit sessions are threads; a batch job may be
another process):

* WAL journal (readers never block the writer), ``busy_timeout`` 30 s, ``foreign_keys=ON``,
  ``synchronous=NORMAL`` (durable at each WAL checkpoint, fast commits).
* Write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken up front, waiting up
  to the busy timeout. With the driver's default deferred ``BEGIN``, a transaction that reads and
  then writes can fail with "database is locked" *at once*, whatever the timeout, when another
  writer committed in between -- SQLite cannot upgrade a stale read snapshot.
* As a last line of defence, a write that still hits "database is locked" is retried with
  exponential backoff.

Each write is a transaction of its own, unless it runs inside :meth:`Database.transaction`: then
every write and read the thread makes in the block is one transaction (all or nothing), each
write in a savepoint, so one that fails leaves nothing of itself.

Other backends (PostgreSQL) use their own transactions; nothing here is SQLite-only except the
connection set-up and the file checks (:mod:`longbert.store.sqlite_files`).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from longbert.errors import StoreError
from longbert.store.records import RecordNotFoundError
from longbert.store.sqlite_files import BUSY_TIMEOUT_MS, check_sqlite_file, is_locked_error, sqlite_path

R = TypeVar("R")
T = TypeVar("T")

#: Retries of a whole write transaction that still failed on a lock.
LOCK_RETRIES = 6

_WRITE_OPTION = "longbert_write"


#: Ids per ``IN (...)`` clause, under every driver's bound-parameter limit.
IN_CHUNK = 500


def chunked(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of ``size`` (for ``IN (...)`` clauses over many ids)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def describe_url(url: URL) -> str:
    """The URL without its password, for error messages."""
    return url.render_as_string(hide_password=True)


def get_row(session: Session, model: type[T], key: Any, missing: str, *, lock: bool = False) -> T:
    """The ``model`` row with primary key ``key``, locked for this transaction with ``lock``
    (FOR UPDATE on PostgreSQL; SQLite's write transactions are serialised already).

    Raises:
        RecordNotFoundError: there is none (its message is ``missing``).
    """
    row = session.get(model, key, with_for_update=lock)
    if row is None:
        raise RecordNotFoundError(missing)
    return row


def redacted_url(url: str) -> str:
    """A database URL as text without its password, for showing it ("(unparsable URL)" when it
    cannot be read: opening it reports why)."""
    try:
        return describe_url(make_url(url))
    except ArgumentError:
        return "(unparsable URL)"


class Database:
    """An engine with its session factories; create through :func:`open_database`."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.path = sqlite_path(url)
        self.engine = _create_engine(url)
        # Same pool, one extra execution option that makes SQLite begin with BEGIN IMMEDIATE.
        self.write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=self.write_engine, expire_on_commit=False)
        #: Write transactions retried after "database is locked" (0 in normal operation: the
        #: busy timeout and BEGIN IMMEDIATE absorb contention; kept as a health figure).
        self.lock_retries = 0
        #: This thread's open :meth:`transaction` (its ``session``), if any.
        self._scope = threading.local()

    def __repr__(self) -> str:
        return f"Database({describe_url(self.url)!r})"

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction: committed entirely, or not at all.

        ``work`` may be called again when SQLite was locked, so it must only touch the session.
        Inside :meth:`transaction` it joins that transaction instead, in a savepoint of its own:
        a ``work`` that raises leaves nothing behind, and the rest of the transaction goes on.
        """
        joined = self._joined()
        if joined is not None:
            try:
                with joined.begin_nested():
                    return work(joined)
            except DBAPIError as error:
                raise self.wrap(error) from error

        def attempt() -> T:
            with self._write_sessions() as session, session.begin():
                return work(session)

        return self._retrying_locks(attempt)

    def _retrying_locks(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, tried again (with a growing, jittered delay) while SQLite reports a
        lock, as :meth:`_wait_to_retry` decides; any other database error as a StoreError."""
        delay = 0.05
        started = time.monotonic()
        for tries in range(LOCK_RETRIES + 1):
            try:
                return attempt()
            except OperationalError as error:
                delay = self._wait_to_retry(error, tries, started, delay)
            except DBAPIError as error:
                raise self.wrap(error) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_to_retry(self, error: OperationalError, attempt: int, started: float, delay: float) -> float:
        """Sleep before retrying a write that hit a lock, returning the next delay; raise the
        error as a StoreError when it is not worth retrying."""
        # Retry only the locks SQLite reports at once (its busy handler is skipped in some
        # contention cases); a lock already waited out for the whole busy timeout is reported
        # rather than waited for again.
        waited_out = time.monotonic() - started >= BUSY_TIMEOUT_MS / 1000
        if not is_locked_error(error) or attempt == LOCK_RETRIES or waited_out:
            raise self.wrap(error) from error
        self.lock_retries += 1
        time.sleep(delay * (1 + random.random()))
        return min(delay * 2, 2.0)

    def _joined(self) -> Session | None:
        """The session of this thread's open :meth:`transaction`, if any."""
        return getattr(self._scope, "session", None)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make every :meth:`write` and :meth:`read` this thread runs inside the block one write
        transaction: committed when the block ends, rolled back entirely when it raises (or the
        process dies first). The write lock is taken on entering (SQLite: ``BEGIN IMMEDIATE``,
        retried as :meth:`write` retries) and held to the end, so keep the block short and
        make no other connection wait on it. A block inside another is a savepoint of it.
        """
        outer = self._joined()
        if outer is not None:
            try:
                with outer.begin_nested():
                    yield
            except DBAPIError as error:
                raise self.wrap(error) from error
            return
        session = self._begin_writing()
        self._scope.session = session
        try:
            yield
            session.commit()
        except DBAPIError as error:
            session.rollback()
            raise self.wrap(error) from error
        except BaseException:
            session.rollback()
            raise
        finally:
            self._scope.session = None
            session.close()

    def _begin_writing(self) -> Session:
        """A write session whose transaction has begun (the write lock taken)."""

        def attempt() -> Session:
            session = self._write_sessions()
            try:
                session.begin()
                session.connection()  # BEGIN (IMMEDIATE) now, not at the first statement
            except BaseException:
                session.close()
                raise
            return session

        return self._retrying_locks(attempt)

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one read-only transaction (a consistent snapshot); inside
        :meth:`transaction`, in that transaction (so it sees what the block wrote)."""
        with self.reading() as session:
            return work(session)

    def read_one(self, statement: Select[Any], convert: Callable[[Any], R], missing: str) -> R:
        """The first row ``statement`` selects, converted; RecordNotFoundError(``missing``) if none."""

        def work(session: Session) -> R:
            row = session.scalar(statement)
            if row is None:
                raise RecordNotFoundError(missing)
            return convert(row)

        return self.read(work)

    def read_all(self, statement: Select[Any], convert: Callable[[Any], R]) -> list[R]:
        """Every row ``statement`` selects, converted, in one read transaction."""
        return self.read(lambda session: [convert(row) for row in session.scalars(statement)])

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session in one read transaction, for streaming results (exports); inside
        :meth:`transaction`, that transaction's session."""
        joined = self._joined()
        try:
            if joined is not None:
                yield joined
                return
            with self._read_sessions() as session, session.begin():
                yield session
        except DBAPIError as error:
            raise self.wrap(error) from error

    def wrap(self, error: DBAPIError) -> StoreError:
        """Turn a driver error into a :class:`StoreError` that says what to do."""
        cause = str(error.orig)
        where = describe_url(self.url)
        lowered = cause.lower()
        if "malformed" in lowered or "not a database" in lowered:
            return StoreError(f"The database {where} is corrupt ({cause}). Restore a backup.")
        if "too big" in lowered:
            return StoreError(
                f"A value is too large for the database {where} ({cause}). Nothing was saved; "
                "save without the full attention map."
            )
        if is_locked_error(error):
            return StoreError(f"The database {where} stayed locked by other writers ({cause}); try again.")
        return StoreError(f"Database error on {where}: {cause}")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    kwargs: dict[str, Any] = {
        # Sessions are created per call in whatever thread (Streamlit runs each browser
        # session in its own thread); the pool never shares a connection between two at once.
        "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    }
    if sqlite_path(url) is None:
        kwargs["poolclass"] = StaticPool  # one in-memory database shared by every session
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from the sqlite3 driver (its legacy mode never begins before SELECT
        # and cannot BEGIN IMMEDIATE); _on_begin below emits it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def enable_wal(database: Database) -> None:
    """Switch an SQLite file to WAL (persistent; a no-op when it already is).

    Leaving rollback-journal mode needs an exclusive lock, and SQLite reports "database is
    locked" at once -- without waiting out the busy timeout -- when another connection holds a
    lock it is about to upgrade (several processes opening an old file together). So a locked
    switch is retried with backoff, within the busy timeout.
    """
    if database.path is None:
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.02
    while True:
        try:
            mode = _set_wal(database)
            break
        except sqlite3.OperationalError as error:
            if not is_locked_error(error) or time.monotonic() >= deadline:
                where = describe_url(database.url)
                raise StoreError(f"Could not switch {where} to WAL mode: {error}; try again.") from error
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)
    if mode is None or str(mode[0]).lower() != "wal":
        raise StoreError(f"Could not switch {database.path} to WAL mode (got {mode}).")


def _set_wal(database: Database) -> Any:
    raw = database.engine.raw_connection()
    try:
        # isolation_level is None here: the pragma runs outside any transaction, as it must.
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            return cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        finally:
            cursor.close()
    finally:
        raw.close()


_DATABASES: dict[tuple[int, str], Database] = {}
_LOCK = threading.Lock()


def open_database(url: str, initialise: Callable[[Database], None]) -> Database:
    """The process's :class:`Database` for ``url``, created and initialised on first use.

    Cached per process id: a forked child must not reuse its parent's pooled connections.
    """
    parsed = make_url(url)
    key = (os.getpid(), parsed.render_as_string(hide_password=False))
    with _LOCK:
        database = _DATABASES.get(key)
        if database is not None:
            return database
        path = sqlite_path(parsed)
        if path is not None:
            check_sqlite_file(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        database = Database(parsed)
        try:
            initialise(database)
        except BaseException:
            database.dispose()
            raise
        _DATABASES[key] = database
        return database


def close_database(url: str) -> None:
    """Dispose of this process's engine for ``url`` (the next use opens it again)."""
    key = (os.getpid(), make_url(url).render_as_string(hide_password=False))
    with _LOCK:
        database = _DATABASES.pop(key, None)
    if database is not None:
        database.dispose()

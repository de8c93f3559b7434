"""Recognising a database: LongBERT's, another application's, or a damaged LongBERT one.

A database without ``longbert_meta`` is taken over (the schema created in it) only when it holds
nothing else, on SQLite, or nothing that clashes with LongBERT's tables, on a server. Tables named
like LongBERT's but with columns LongBERT never had, views and triggers (SQLite) belong to another
application; LongBERT's own table names with LongBERT's columns and no version record mean a
damaged LongBERT database. New SQLite files are also stamped with ``PRAGMA application_id``.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from longbert.errors import StoreError
from longbert.store.schema import APPLICATION_ID, TABLE_NAMES, Base

#: The ``longbert_meta`` key of the random id that tells one database from another.
DATABASE_ID_KEY = "database_id"


def new_database_id() -> str:
    """A fresh random database id (32 hex digits)."""
    return uuid.uuid4().hex


def stamp_application_id(connection: Connection) -> None:
    """Mark an SQLite file as LongBERT's (``PRAGMA application_id``; transactional; no-op elsewhere)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def foreign_objects(connection: Connection, tables: set[str]) -> list[str]:
    """What in a database without ``longbert_meta`` is not LongBERT's, in words (empty: nothing).

    ``tables`` are the database's table names. On SQLite every table LongBERT does not own and
    every view or trigger is foreign (a file belongs to one application); on a server database
    other tables may live beside LongBERT's, so only clashes with LongBERT's names count.
    """
    is_sqlite = connection.dialect.name == "sqlite"
    inspector = sa.inspect(connection)
    found: list[str] = []
    if is_sqlite and tables - TABLE_NAMES:
        found.append(f"other tables ({_listed(sorted(tables - TABLE_NAMES))})")
    for name in sorted(tables & TABLE_NAMES):
        columns = {str(column["name"]) for column in inspector.get_columns(name)}
        unknown = sorted(columns - set(Base.metadata.tables[name].columns.keys()))
        if unknown:
            found.append(f"a table named {name} with columns LongBERT never had ({_listed(unknown)})")
    views = sorted(str(v) for v in inspector.get_view_names())
    clashing = views if is_sqlite else [v for v in views if v in TABLE_NAMES]
    if clashing:
        found.append(f"views ({_listed(clashing)})")
    if is_sqlite:
        triggers = [
            str(row[0])
            for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            )
        ]
        if triggers:
            found.append(f"triggers ({_listed(triggers)})")
    return found


def check_unversioned(connection: Connection, tables: set[str], where: str) -> None:
    """Refuse a database without ``longbert_meta`` unless LongBERT may create its schema there.

    Raises:
        StoreError: it belongs to another application (left untouched), or it holds LongBERT's
            tables without a version record (damaged).
    """
    foreign = foreign_objects(connection, tables)
    if foreign:
        if connection.dialect.name == "sqlite":
            raise StoreError(
                f"{where} is not a LongBERT database: it holds {'; '.join(foreign)}. It was left "
                "untouched: point LONGBERT_DB_URL at another file."
            )
        raise StoreError(
            f"{where} is not a LongBERT database: it holds {'; '.join(foreign)}, so LongBERT "
            "cannot create its tables there. It was left untouched: point LONGBERT_DB_URL at "
            "another database."
        )
    ours = sorted(tables & TABLE_NAMES)
    if ours:
        raise StoreError(
            f"{where} has LongBERT tables ({', '.join(ours)}) but no version record: it is "
            "damaged or was half-created by another tool. Restore a backup."
        )

"""Choices a person made that every browser session shares (e.g. the default model), kept as
``setting:<name>`` rows of ``longbert_meta``: no schema change, and an old database reads as
"nothing chosen yet"."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import Database
from longbert.store.schema import Meta

_PREFIX = "setting:"
#: The longest value a setting holds (``longbert_meta.value``).
MAX_SETTING_CHARS = 255


class SettingsMixin:
    """Setting methods of :class:`~longbert.store.Store`."""

    _db: Database

    def get_setting(self, name: str, default: str | None = None) -> str | None:
        """The value a person chose for ``name``, or ``default`` if none was chosen."""
        statement = select(Meta.value).where(Meta.key == _PREFIX + name)
        value = self._db.read(lambda session: session.scalar(statement))
        return default if value is None else str(value)

    def set_setting(self, name: str, value: str | None) -> None:
        """Keep ``value`` for ``name`` (None forgets the choice)."""
        if value is not None and len(value) > MAX_SETTING_CHARS:
            raise StoreError(f"The value for '{name}' is longer than {MAX_SETTING_CHARS} characters.")
        if len(_PREFIX + name) > 64:
            raise StoreError(f"Setting name '{name}' is too long.")

        def work(session: Session) -> None:
            if value is None:
                session.execute(delete(Meta).where(Meta.key == _PREFIX + name))
            else:
                session.merge(Meta(key=_PREFIX + name, value=value))

        self._db.write(work)

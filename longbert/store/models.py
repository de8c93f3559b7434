"""Registered models, with versions: predictions keep pointing at the model that made them.

Re-registering a name (retraining with ``--overwrite``) while predictions point at its row would
make those predictions show the new checkpoint's metrics, labels and dates. Instead, that row is
kept for them, renamed ``<name>@v<version>`` with its metadata and ``created_at`` as they were,
and a new row with ``version + 1`` takes the name. A row no prediction points at yet (a training
run registers its best checkpoint after each better epoch) is simply updated in place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.results import Prediction
from longbert.store.convert import jsonable
from longbert.store.engine import Database
from longbert.store.records import ModelRecord
from longbert.store.schema import ModelRow, PredictionRow, utcnow

MODELS = ModelRow.__table__
_NAME_LENGTH = 255


class ModelsMixin:
    """Model methods of :class:`~longbert.store.Store`."""

    _db: Database

    def register_model(
        self,
        name: str,
        folder: str | None = None,
        encoder: str | None = None,
        labels: Sequence[str] = (),
        strategy: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        multi_label: bool = False,
        zero_shot: bool = False,
    ) -> int:
        """Register a model, or a new version of the one of that name; returns its id.

        ``strategy`` is ``{"name": ..., "params": {...}}``; zero-shot classifiers are registered
        with ``zero_shot=True`` (e.g. as ``"zero-shot:<encoder>"``). When predictions point at
        the registered row and anything differs, that row is kept for them as
        ``<name>@v<version>`` and the returned id is a new row's (see the module doc).
        """
        if not isinstance(name, str) or not name.strip():
            raise StoreError(f"A model needs a non-empty name, got {name!r}.")
        if len(name) > _NAME_LENGTH:
            raise StoreError(
                f"Model names have at most {_NAME_LENGTH} characters; '{name[:40]}…' has {len(name)}."
            )
        values = {
            "kind": "zero_shot" if zero_shot else "trained",
            "folder": None if folder is None else str(folder),
            "encoder": None if encoder is None else str(encoder),
            "labels": [str(label) for label in labels],
            "strategy": jsonable(strategy or {}, "model strategy"),
            "metrics": jsonable(metrics or {}, "model metrics"),
            "multi_label": bool(multi_label),
        }

        def work(session: Session) -> int:
            row = model_row(session, name, values, lock=True)
            if all(getattr(row, key) == value for key, value in values.items()):
                return row.id
            now = utcnow()
            used = session.scalar(select(PredictionRow.id).where(PredictionRow.model_id == row.id).limit(1))
            if used is None:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = now
                return row.id
            row.name = _archive_name(session, name, row.version)
            session.flush()  # the name is free before the new version takes it
            new = ModelRow(name=name, version=row.version + 1, created_at=now, updated_at=now, **values)
            session.add(new)
            session.flush()
            return new.id

        return self._db.write(work)

    def list_models(self) -> list[ModelRecord]:
        """Registered models by name (older versions of a re-registered model as ``<name>@v<n>``)."""
        return self._db.read_all(select(ModelRow).order_by(ModelRow.name), model_record)

    def get_model(self, name: str) -> ModelRecord:
        """A registered model by name. Raises RecordNotFoundError if there is none."""
        statement = select(ModelRow).where(ModelRow.name == name)
        return self._db.read_one(statement, model_record, f"No model called '{name}' is registered.")


def _archive_name(session: Session, name: str, version: int) -> str:
    """``<name>@v<version>`` (shortened to fit, and made unique if a model is called that)."""
    for attempt in range(1, 1000):
        suffix = f"@v{version}" if attempt == 1 else f"@v{version}.{attempt}"
        candidate = name[: _NAME_LENGTH - len(suffix)] + suffix
        if session.scalar(select(ModelRow.id).where(ModelRow.name == candidate)) is None:
            return candidate
    raise StoreError(f"Could not find a free name to keep version {version} of model '{name}'.")


def model_row(session: Session, name: str, values: dict[str, Any], lock: bool = False) -> ModelRow:
    """The model called ``name``, inserted with ``values`` if missing (race-safe)."""
    statement = select(ModelRow).where(ModelRow.name == name)
    if lock:
        statement = statement.with_for_update()  # PostgreSQL: one re-registration at a time
    row = session.scalar(statement)
    if row is not None:
        return row
    try:
        # Savepoint: on PostgreSQL a concurrent session may insert the same name first.
        with session.begin_nested():
            row = ModelRow(name=name, version=1, created_at=utcnow(), updated_at=utcnow(), **values)
            session.add(row)
        return row
    except IntegrityError:
        return session.scalars(statement).one()


def prediction_model(session: Session, prediction: Prediction) -> int:
    """The id of the prediction's model, registering it from the prediction when unknown."""
    existing = (
        session.connection()
        .execute(select(MODELS.c.id).where(MODELS.c.name == prediction.model_name))
        .scalar()
    )
    if existing is not None:
        return existing
    total = sum(float(p) for p in prediction.probabilities.values())
    single = math.isclose(total, 1.0, abs_tol=1e-3) and list(prediction.labels) == [prediction.label]
    values = {
        "kind": "zero_shot" if prediction.zero_shot else "trained",
        "folder": None,
        "encoder": None,
        "labels": [str(label) for label in prediction.probabilities],
        "strategy": {"name": prediction.strategy, "params": jsonable(prediction.strategy_params, "params")},
        "metrics": {},
        "multi_label": not single,
    }
    return model_row(session, prediction.model_name, values).id


def model_record(row: ModelRow) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        version=row.version,
        folder=row.folder,
        encoder=row.encoder,
        labels=list(row.labels),
        multi_label=row.multi_label,
        strategy=dict(row.strategy),
        metrics=dict(row.metrics),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )

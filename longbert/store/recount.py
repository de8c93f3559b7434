"""Schema v8's data step: command-line batches recorded before an input labelled again
superseded its earlier result count each input once, as later ones do.

Since schema v7 (which indexed ``batch_items (batch_id, name)`` for it), a result appended to an
open-ended batch (``python -m longbert.predict --store``) for a name the batch already holds
supersedes the earlier item(s) of that name in the same transaction: they get the status
:data:`~longbert.store.batches.SUPERSEDED`, leave ``total``, ``done`` and ``errors``, and their
prediction leaves the batch (:mod:`longbert.store.batches`). Before, the new item was appended
*beside* the old one, so an input labelled again (its text changed, or it could not be read the
first time) counted once per run: two inputs over two runs showed ``total 4, errors 1``, and
History's batch filter showed both predictions. The v6→v7 step only added the index, so those
batches kept their double counts, also in databases already upgraded to v7.

The stored rows say everything needed to correct them: an open-ended batch's items are appended
in order (``position``), each input has one name, and every result it was sent is an item with
its status and prediction. So this step applies the rule retroactively -- for each name, one
finished item stays: its last done one, or its last error when it was never labelled; the others
(done or error) are superseded, taken out of the counts and their predictions out of the batch
(kept in the store, corrections and all). An error after a result is what an old release
appended when a labelled input could not be read any more: today's code keeps the earlier row of
such an input (it does not send the error at all), so here too the error is the one superseded,
and the prediction and any correction of it stay in the batch. Items are kept, so
the batch's item count (what a command-line resume compares its output with) is unchanged.
Batches of named items (app uploads) are left alone: two items of one name there are two files.
Running it again changes nothing: a batch recorded by the current code has no such items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from longbert.store.engine import chunked
from longbert.store.schema import UTCDateTime, utcnow

SUPERSEDED = "superseded"
FINISHED = ("done", "error")

# The tables as schema v7 has them (upgrade steps spell out their own columns).
_BATCHES = sa.table(
    "batches",
    sa.column("id", sa.Integer),
    sa.column("config", sa.JSON),
    sa.column("total", sa.Integer),
    sa.column("done_count", sa.Integer),
    sa.column("error_count", sa.Integer),
)
_ITEMS = sa.table(
    "batch_items",
    sa.column("id", sa.Integer),
    sa.column("batch_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("name", sa.String),
    sa.column("status", sa.String),
    sa.column("prediction_id", sa.Integer),
    sa.column("updated_at", UTCDateTime()),
)
_PREDICTIONS = sa.table("predictions", sa.column("id", sa.Integer), sa.column("batch_id", sa.Integer))


def _open_ended(config: Any) -> bool:
    """Whether a batch grows by appended results (as :func:`longbert.store.batches.is_open_ended`
    says; spelled out here: an upgrade step must not change when that code does). Every batch a
    command line recorded has ``cli`` in its config, those from before ``open_ended`` too."""
    return isinstance(config, Mapping) and (bool(config.get("open_ended")) or bool(config.get("cli")))


def _replaced_items(connection: Connection, batch_id: int) -> list[tuple[int, str, int | None]]:
    """The finished items of ``batch_id`` that another finished item of the same name replaced,
    as ``(id, status, prediction_id)`` in position order.

    Each name keeps one item: its last *done* one, else (never labelled) its last error. A later
    error does not replace a result: in these batches it is what an old release appended when a
    labelled input could not be read any more, and the rule (README: "one that cannot be read
    now keeps its earlier row") keeps the earlier row -- and the prediction, with any correction
    a person made of it, in the batch. Superseding it would take that prediction and correction
    out of the batch and make the row an error (the output's ledger keeps the same row:
    :func:`longbert.bulk.rows.latest_rows`).

    One pass over the batch's finished items, last position first (the ``(batch_id, position)``
    unique index gives that order): the first item met of a name is kept for now; an earlier
    item of that name is replaced, unless it is done and the kept one an error, which it then
    replaces. Linear in the batch's size -- a correlated "is there a later finished item of this
    name" subquery per item was quadratic, minutes for a 100,000-item batch, all inside the
    upgrade's write transaction (every other writer failing with "database is locked"
    meanwhile). Names compare as SQL ``=`` does: a NULL name (or position) matches nothing, so
    such an item is never replaced."""
    kept: dict[str, tuple[int, int, str, int | None]] = {}  # name -> (position, id, status, prediction)
    replaced: list[tuple[int, int, str, int | None]] = []
    result = connection.execute(
        sa.select(_ITEMS.c.id, _ITEMS.c.name, _ITEMS.c.position, _ITEMS.c.status, _ITEMS.c.prediction_id)
        .where(_ITEMS.c.batch_id == batch_id, _ITEMS.c.status.in_(FINISHED))
        .order_by(_ITEMS.c.position.desc())
    )
    for item_id, name, position, status, prediction_id in result:
        if name is None or position is None:
            continue
        item = (int(position), int(item_id), str(status), prediction_id)
        latest = kept.get(name)
        if latest is None:
            kept[name] = item
        elif latest[2] == "error" and item[2] == "done":
            replaced.append(latest)  # a later error never replaces a result
            kept[name] = item
        else:
            replaced.append(item)
    replaced.sort()
    return [(item_id, status, prediction_id) for _, item_id, status, prediction_id in replaced]


def supersede_repeated_inputs(connection: Connection) -> dict[int, int]:
    """Supersede, in every open-ended batch, each finished item that another one of the same
    name replaced (see the module doc), fixing the batch's counts; returns batch id → how many
    items were superseded (batches with none left out)."""
    found: dict[int, int] = {}
    batches = connection.execute(
        sa.select(
            _BATCHES.c.id, _BATCHES.c.config, _BATCHES.c.total, _BATCHES.c.done_count, _BATCHES.c.error_count
        )
    ).all()
    now = utcnow()
    for batch_id, config, total, done, errors in batches:
        if not _open_ended(config):
            continue
        rows = _replaced_items(connection, int(batch_id))
        if not rows:
            continue
        for ids in chunked([item_id for item_id, _, _ in rows]):
            connection.execute(
                _ITEMS.update().where(_ITEMS.c.id.in_(ids)).values(status=SUPERSEDED, updated_at=now)
            )
        for ids in chunked([p for _, _, p in rows if p is not None]):
            connection.execute(
                _PREDICTIONS.update()
                .where(_PREDICTIONS.c.id.in_(ids), _PREDICTIONS.c.batch_id == batch_id)
                .values(batch_id=None)
            )
        gone_done = sum(1 for _, status, _ in rows if status == "done")
        connection.execute(
            _BATCHES.update()
            .where(_BATCHES.c.id == batch_id)
            .values(
                total=max(int(total) - len(rows), 0),
                done_count=max(int(done) - gone_done, 0),
                error_count=max(int(errors) - (len(rows) - gone_done), 0),
            )
        )
        found[int(batch_id)] = len(rows)
    return found

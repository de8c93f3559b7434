"""Writing labelled rows as JSON Lines, in the format ``load_dataset`` reads back."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from longbert.data.dataset import Example, LabeledDataset
from longbert.errors import DatasetError


def write_jsonl(
    data: LabeledDataset | Iterable[Example] | Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    multi_label: bool | None = None,
) -> int:
    """Write rows ``load_dataset`` reads back: ``{"id"?, "name"?, "text", "label"}`` per line.

    ``label`` is a string, or a list for multi-label data (``multi_label``: from the data set,
    else a list only where a row has other than one label). Mappings are written with the same
    keys. ``.gz`` paths are gzipped. The file is replaced atomically. Returns the row count.
    """
    path = Path(path)
    if isinstance(data, LabeledDataset) and multi_label is None:
        multi_label = data.multi_label
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    count = 0
    try:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(temp_name, "wt", encoding="utf-8", newline="\n") as out:
            for item in data:
                out.write(json.dumps(_row(item, multi_label), ensure_ascii=False) + "\n")
                count += 1
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return count


def _row(item: Example | Mapping[str, Any], multi_label: bool | None) -> dict[str, Any]:
    if isinstance(item, Example):
        row: dict[str, Any] = {}
        if item.id is not None:
            row["id"] = item.id
        row["name"] = item.document.name
        row["text"] = item.text
        single = not multi_label and (multi_label is False or len(item.labels) == 1)
        if single and len(item.labels) != 1:
            raise DatasetError(f"{item.document.name}: {len(item.labels)} labels in single-label data.")
        row["label"] = item.labels[0] if single else list(item.labels)
        return row
    if "text" not in item or "label" not in item:
        raise DatasetError(f"A row to write needs 'text' and 'label'; it has: {', '.join(map(repr, item))}.")
    label = item["label"]
    if not isinstance(label, str) and not (
        isinstance(label, list) and all(isinstance(x, str) for x in label)
    ):
        raise DatasetError(f"A row's label must be a string or a list of strings, not {label!r}.")
    row = {key: item[key] for key in ("id", "name") if item.get(key) is not None}
    row["text"] = item["text"]
    row["label"] = label
    return row

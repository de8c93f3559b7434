"""Shared helpers for the benchmark scripts: reading the real data sets and printing tables."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
# Benchmarks run as scripts (`python bench/x.py`): make the project importable without installing it.
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def read_jsonl(path: Path, limit: int | None = None) -> Iterator[dict]:
    """Rows of a (gzipped) JSON Lines file from ../shared/data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if limit is not None and i >= limit:
                return
            yield json.loads(line)


def hyperpartisan(split: str = "official_train", limit: int | None = None) -> list[dict]:
    path = DATA_DIR / "hyperpartisan" / f"{split}.jsonl.gz"
    if not path.exists():
        raise SystemExit(f"{path} not found: benchmarks read ../shared/data (see its README).")
    return list(read_jsonl(path, limit))


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))

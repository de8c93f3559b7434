"""Pickles that must never be loaded with code execution: crafted (runs code) or corrupt."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


class RunsCode:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (Path.touch, (str(self.marker),))


def write_unsafe(path: Path, content: str, marker: Path, template: dict[str, Any]) -> None:
    """``content`` ``malicious``: ``template`` with a :class:`RunsCode` in each value; ``corrupt``:
    the file cut short (as a full disk leaves it) or, when absent, bytes that are no pickle."""
    if content == "malicious":
        path.write_bytes(pickle.dumps({key: RunsCode(marker) for key in template}, protocol=2))
    elif path.is_file():
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(b"\x80\x02 not a pickle" * 64)

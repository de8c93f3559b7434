"""Which models the app can offer: zero-shot labels from typed descriptions, and checkpoints.

Checkpoints are found by their manifest (``longbert.json``) under the models folder, read as
JSON only (no weights are loaded just to list them), newest first. Zero-shot is always offered, so
a fresh install is useful before any model is trained.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbert.config import models_dir

MANIFEST = "longbert.json"
ZERO_SHOT_KEY = "zero-shot"

#: Labels pre-filled for zero-shot, as ``label: description`` lines (editable in the app).
DEFAULT_ZERO_SHOT_LABELS = (
    "sport: sports, matches, teams, athletes and competitions\n"
    "politics: government, elections, parliament, laws and diplomacy\n"
    "business: companies, markets, finance, trade and the economy\n"
    "technology: computers, software, the internet, science and research"
)


@dataclass(frozen=True)
class ModelChoice:
    """A model the user can pick: ``key`` is ``"zero-shot"`` or the checkpoint folder."""

    key: str
    title: str
    zero_shot: bool
    path: str | None = None
    labels: tuple[str, ...] = ()
    strategy: dict[str, Any] | None = None
    multi_label: bool = False
    encoder: str | None = None
    saved_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = self.metadata.get("metrics")
        return dict(metrics) if isinstance(metrics, dict) else {}


ZERO_SHOT_CHOICE = ModelChoice(
    key=ZERO_SHOT_KEY,
    title="Zero-shot (default encoder, labels you describe) — no training needed",
    zero_shot=True,
)


def read_manifest(folder: Path) -> ModelChoice:
    """A checkpoint folder's manifest as a choice; ValueError saying why it is unusable."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{folder.name}: unreadable {MANIFEST} ({error})") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("labels"), list):
        raise ValueError(f"{folder.name}: {MANIFEST} has no label list")
    name = str(manifest.get("name") or folder.name)
    strategy = manifest.get("strategy") if isinstance(manifest.get("strategy"), dict) else None
    metadata = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    strategy_name = (strategy or {}).get("name", "?")
    return ModelChoice(
        key=str(folder.resolve()),
        title=f"{name} — {len(manifest['labels'])} labels, {strategy_name}",
        zero_shot=False,
        path=str(folder.resolve()),
        labels=tuple(str(x) for x in manifest["labels"]),
        strategy=strategy,
        multi_label=bool(manifest.get("multi_label", False)),
        encoder=str(manifest.get("encoder")) if manifest.get("encoder") else None,
        saved_at=str(manifest.get("saved_at")) if manifest.get("saved_at") else None,
        metadata=metadata,
    )


def scan_checkpoints(folder: str | os.PathLike[str] | None = None) -> tuple[
    list[ModelChoice], list[str]
]:
    """Checkpoints directly under ``folder`` (default: the models folder), newest first.

    Returns ``(choices, problems)``: a folder whose manifest is broken is reported, not listed.
    """
    root = Path(folder) if folder is not None else models_dir()
    choices: list[ModelChoice] = []
    problems: list[str] = []
    if not root.is_dir():
        return choices, problems
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / MANIFEST).is_file():
            try:
                choices.append(read_manifest(child))
            except ValueError as error:
                problems.append(str(error))
    choices.sort(key=lambda c: c.saved_at or "", reverse=True)
    return choices, problems


def model_choices(folder: str | os.PathLike[str] | None = None) -> list[ModelChoice]:
    """Every checkpoint (newest first), then zero-shot (always available)."""
    return [*scan_checkpoints(folder)[0], ZERO_SHOT_CHOICE]


def parse_labels(text: str) -> dict[str, str]:
    """Typed zero-shot labels → ``{label: description}``.

    One label per line, optionally ``label: description``; a single line may instead list names
    separated by commas. Raises ValueError for fewer than two labels or a repeated label.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and ":" not in lines[0] and "," in lines[0]:
        lines = [part.strip() for part in lines[0].split(",") if part.strip()]
    labels: dict[str, str] = {}
    for line in lines:
        name, _, description = line.partition(":")
        name, description = name.strip(), description.strip()
        if not name:
            raise ValueError(f"'{line}' has a description but no label name before the colon.")
        if name in labels:
            raise ValueError(f"The label '{name}' is given twice.")
        labels[name] = description or name
    if len(labels) < 2:
        raise ValueError(
            "Give at least two labels, one per line (optionally 'label: short description')."
        )
    return labels

"""Which models the app can offer: zero-shot labels from typed descriptions, and checkpoints.

Checkpoints are found by their manifest (``longbert.json``) under the models folder, read as
JSON only (no weights are loaded just to list them), newest first. Zero-shot is always offered, so
a fresh install is useful before any model is trained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
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

    @property
    def summary(self) -> str:
        """What the short ``title`` leaves out, for a caption under the picker."""
        if self.zero_shot:
            return "The packaged encoder compares the document with label descriptions you type."
        strategy = (self.strategy or {}).get("name", "?")
        return f"{len(self.labels)} labels ({', '.join(self.labels)}) · strategy {strategy}"

    @property
    def dev_docs(self) -> int | None:
        """How many dev documents the stored metrics were measured on (None: not recorded)."""
        training = self.metadata.get("training")
        for value in ((training or {}).get("dev_docs") if isinstance(training, dict) else None,
                      self.metrics.get("num_docs")):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


ZERO_SHOT_CHOICE = ModelChoice(key=ZERO_SHOT_KEY, title="Zero-shot (no training)", zero_shot=True)


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
    return ModelChoice(
        key=str(folder.resolve()),
        title=name,
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


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Top-level numeric metrics, and one level of nesting (``dev.macro_f1``)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            flat[key] = float(value)
        elif isinstance(value, Mapping):
            for sub, inner in value.items():
                if isinstance(inner, int | float) and not isinstance(inner, bool):
                    flat[f"{key}.{sub}"] = float(inner)
    return flat


def is_score(key: str) -> bool:
    """Metrics in [0, 1] that the Models page tabulates and charts (accuracy, F1 scores)."""
    return "f1" in key or "accuracy" in key


def checkpoint_row(choice: ModelChoice, registered: Mapping[str, Any]) -> dict[str, Any]:
    """One Models table line: the manifest's metrics over the database record's (``registered``
    maps model names to records with a ``metrics`` dict)."""
    record = registered.get(Path(choice.path).name if choice.path else choice.key) \
        or registered.get(choice.title)
    metrics = {**(getattr(record, "metrics", None) or {}), **choice.metrics}
    scores = {k: round(v, 4) for k, v in numeric_metrics(metrics).items() if is_score(k)}
    return {
        "name": choice.title, "labels": ", ".join(choice.labels),
        "strategy": (choice.strategy or {}).get("name"), "multi_label": choice.multi_label,
        "saved": choice.saved_at, "dev_docs": choice.dev_docs, **scores, "folder": choice.path,
    }


def metrics_title(rows: Sequence[Mapping[str, Any]]) -> str:
    """``"Dev-set metrics (2 dev documents)"``, or per model sizes when they differ."""
    sizes = {r.get("dev_docs") for r in rows}
    if sizes == {None}:
        return "Dev-set metrics"
    if len(sizes) == 1:
        (size,) = sizes
        return f"Dev-set metrics ({size:,} dev document{'s' if size != 1 else ''})"
    return "Dev-set metrics (dev documents: " + ", ".join(
        f"{r['name']} {r['dev_docs'] if r.get('dev_docs') is not None else '?'}" for r in rows
    ) + ")"

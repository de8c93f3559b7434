"""Which models the app can offer: zero-shot labels from typed descriptions, and checkpoints.

Checkpoints are found by their manifest under the models folder, read by
:func:`longbert.checkpoints.read_manifest` (the one reader; no weights are loaded just to list
them), newest first. Classifiers are offered to classify with; encoder checkpoints (further
pre-trained encoders) are listed as starting points for training. Zero-shot is always offered,
so a fresh install is useful before any model is trained.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbert.checkpoints import is_checkpoint, read_manifest
from longbert.errors import CheckpointError
from longbert.settings import models_dir

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
    """A model the user can pick: ``key`` is ``"zero-shot"`` or the checkpoint folder; ``kind``
    is the checkpoint's (``classifier`` or ``encoder``)."""

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
    kind: str = "classifier"
    #: The manifest's compression provenance (``python -m longbert.compress``) as a dict, if any.
    compression: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def metrics(self) -> dict[str, Any]:
        """The model's own dev scores. A compressed model's manifest written before they were
        kept apart holds its source's as ``metrics`` (no ``source_metrics`` beside them): its
        own are then the accuracy and macro-F1 compress measured after, if any."""
        if self.compression and "source_metrics" not in self.metadata:
            measured = {"accuracy": self.compression.get("accuracy_after"),
                        "macro_f1": self.compression.get("macro_f1_after")}
            return {key: value for key, value in measured.items() if value is not None}
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
        """How many dev documents the stored metrics were measured on (None: not recorded). A
        compressed model's training record is its source's: only its own metrics count."""
        training = self.metadata.get("training") if not self.compression else None
        for value in ((training or {}).get("dev_docs") if isinstance(training, dict) else None,
                      self.metrics.get("num_docs")):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


ZERO_SHOT_CHOICE = ModelChoice(key=ZERO_SHOT_KEY, title="Zero-shot (no training)", zero_shot=True)


def checkpoint_choice(folder: Path) -> ModelChoice:
    """A checkpoint folder as a choice; CheckpointError saying why its manifest is unusable."""
    manifest = read_manifest(folder)
    shared = ("labels", "strategy", "multi_label", "encoder", "saved_at", "metadata", "kind")
    path = str(folder.resolve())
    compression = dataclasses.asdict(manifest.compression) if manifest.compression else None
    return ModelChoice(
        key=path, title=manifest.name or folder.name, zero_shot=False, path=path,
        compression=compression, **{name: getattr(manifest, name) for name in shared},
    )


def scan_checkpoints(folder: str | os.PathLike[str] | None = None) -> tuple[
    list[ModelChoice], list[str]
]:
    """Checkpoints of every kind directly under ``folder`` (default: the models folder), newest
    first; hidden folders (a killed run's staging folder) are not listed.

    Returns ``(choices, problems)``: a folder whose manifest is broken is reported
    (``"name: why"``), not listed.
    """
    root = Path(folder) if folder is not None else models_dir()
    choices: list[ModelChoice] = []
    problems: list[str] = []
    if not root.is_dir():
        return choices, problems
    for child in sorted(root.iterdir()):
        # Hidden folders are work in progress (compress's and an export's staging folders, left
        # behind by a killed run): never a model to pick.
        if child.name.startswith("."):
            continue
        if child.is_dir() and is_checkpoint(child):
            try:
                choices.append(checkpoint_choice(child))
            except CheckpointError as error:
                problems.append(f"{child.name}: {error}")
    choices.sort(key=lambda c: c.saved_at or "", reverse=True)
    return choices, problems


def encoder_choices(folder: str | os.PathLike[str] | None = None) -> list[ModelChoice]:
    """Encoder checkpoints (starting points for training), newest first."""
    return [c for c in scan_checkpoints(folder)[0] if c.kind == "encoder"]


def starting_encoders(folder: str | os.PathLike[str] | None = None) -> list[ModelChoice]:
    """What training can start from: the packaged encoder, then the encoder checkpoints
    (adapted encoders, newest first) titled with their name and when they were saved, then the
    trained models (their trained encoder under a new head; compressed ones cannot be trained)."""
    from longbert.settings import DEFAULT_ENCODER

    packaged = ModelChoice(key=DEFAULT_ENCODER, title=f"{DEFAULT_ENCODER} (packaged)", zero_shot=False,
                           kind="encoder")
    adapted = [
        dataclasses.replace(c, key=c.path or c.key,
                            title=f"{c.title} (adapted{', ' + c.saved_at[:16] if c.saved_at else ''})")
        for c in encoder_choices(folder)
    ]
    trained = [
        dataclasses.replace(c, key=c.path or c.key, kind="encoder",
                            title=f"{c.title} (trained model: its encoder, a new head)")
        for c in scan_checkpoints(folder)[0]
        if c.kind == "classifier" and c.compression is None
    ]
    return [packaged, *adapted, *trained]


def model_choices(folder: str | os.PathLike[str] | None = None) -> list[ModelChoice]:
    """Every classifier checkpoint (newest first), then zero-shot (always available)."""
    classifiers = [c for c in scan_checkpoints(folder)[0] if c.kind == "classifier"]
    return [*classifiers, ZERO_SHOT_CHOICE]


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


def unlisted_models(records: Sequence[Any], checkpoints: Sequence[ModelChoice]) -> list[Any]:
    """Registered models (``records``: with ``name``, ``folder``, ``zero_shot``) that the
    checkpoint table leaves out: zero-shot labellings, and models without a folder on disk. A
    model whose name is a listed checkpoint's is left out here: its row was made by a
    prediction (without a folder) before the model was registered, as compress did not do."""
    listed = {choice.title for choice in checkpoints}
    listed |= {Path(choice.path).name for choice in checkpoints if choice.path}
    return [
        record for record in records
        if record.zero_shot
        or ((record.folder is None or not Path(record.folder).is_dir()) and record.name not in listed)
    ]


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


def folder_megabytes(folder: str | os.PathLike[str] | None) -> float | None:
    """Size on disk of a checkpoint folder's files (None when it is gone)."""
    if folder is None or not Path(folder).is_dir():
        return None
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 1e6


def compression_rows(choices: Sequence[ModelChoice]) -> list[dict[str, Any]]:
    """One line per compressed checkpoint, beside its source: method, size on disk, and the
    accuracy, macro-F1 and docs/s that ``longbert.compress --dev`` measured for both models on
    one dev file in one process (None where it was not given a dev file)."""
    rows = []
    for choice in choices:
        info = choice.compression
        if not info:
            continue
        size, source_size = folder_megabytes(choice.path), folder_megabytes(info.get("source_model"))
        before, after = info.get("accuracy_before"), info.get("accuracy_after")
        speed_before, speed_after = info.get("docs_per_second_before"), info.get("docs_per_second_after")
        rows.append({
            "name": choice.title,
            "method": info.get("method"),
            "source": Path(info["source_model"]).name if info.get("source_model") else None,
            "MB": None if size is None else round(size, 1),
            "source MB": None if source_size is None else round(source_size, 1),
            "accuracy": after,
            "source accuracy": before,
            "accuracy change (points)": None if before is None or after is None
            else round(100 * (after - before), 2),
            "macro_f1": info.get("macro_f1_after"),
            "source macro_f1": info.get("macro_f1_before"),
            "docs/s": None if speed_after is None else round(speed_after, 1),
            "source docs/s": None if speed_before is None else round(speed_before, 1),
            "speed-up": None if not speed_before or speed_after is None
            else round(speed_after / speed_before, 2),
            "measured on": Path(info["dev_data"]).name if info.get("dev_data") else None,
        })
    return rows

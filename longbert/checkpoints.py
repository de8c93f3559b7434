"""Checkpoint folders and their manifest: the one place ``longbert.json`` is read and written.

A checkpoint is a folder with a manifest (:data:`MANIFEST`) written last, so a folder without one
is never mistaken for a checkpoint. Its ``kind`` says what the folder holds:

* ``classifier`` -- a fine-tuned classifier (``encoder/``, ``pooling/``, ``head/``); a compressed
  one (int8, early exit, distilled) is a classifier too, with :class:`Compression` provenance;
* ``encoder`` -- an encoder alone (``encoder/``), e.g. further pre-trained on a corpus, with
  :class:`Pretraining` provenance; it is a starting point for ``--encoder``, not a model that
  predicts.

The manifest is validated field by field: a checkpoint is user-editable JSON, and a wrong type
must be a :class:`CheckpointError` naming the field, never a KeyError or a silently odd model.
Manifests written before format 2 (no ``kind``; pooling and attention window kept in the
strategy's params) read as classifiers; the classifier maps those params onto its model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from longbert.errors import CheckpointError
from longbert.settings import models_dir

#: 1: the first layout. 2: ``kind``; pooling in ``pooling/config.json``, the attention window in
#: ``encoder/config.json`` (format 1 kept them in the strategy's params).
CHECKPOINT_FORMAT = 2
MANIFEST = "longbert.json"
CheckpointKind = Literal["classifier", "encoder"]
CHECKPOINT_KINDS: tuple[str, ...] = typing.get_args(CheckpointKind)
#: What a classifier checkpoint's folder holds and which class loads it: ``cls-head`` (encoder,
#: chunk pooling, [CLS] head: :class:`~longbert.classifier.LongBertClassifier`) or
#: ``zero-shot-prior`` (encoder + a learnt correction of the zero-shot model:
#: :class:`~longbert.fewshot.prior.ZeroShotPriorClassifier`). Manifests without the field are
#: ``cls-head``; the field is written only for the others, so those manifests stay as they were.
ClassifierArchitecture = Literal["cls-head", "zero-shot-prior"]
CLASSIFIER_ARCHITECTURES: tuple[str, ...] = typing.get_args(ClassifierArchitecture)
POSITIONS_KEY = "embeddings.position_embeddings.weight"


@dataclass(frozen=True)
class Pretraining:
    """How a further-pre-trained encoder was made (``python -m longbert.pretrain``)."""

    source_encoder: str
    objective: str  #: e.g. ``mlm``, ``mlm-whole-word``, ``mlm-span``
    steps: int
    corpus_documents: int
    corpus_sha256: str
    final_mlm_loss: float | None = None


@dataclass(frozen=True)
class Compression:
    """How a compressed classifier was made from its source (``python -m longbert.compress``)."""

    method: str  #: e.g. ``int8``, ``early-exit``, ``distill``
    source_model: str
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    dev_data: str | None = None
    #: Macro-F1 and documents per second on ``dev_data``, measured in the same process as the
    #: accuracies (so on one machine, one after the other); None in manifests written before.
    macro_f1_before: float | None = None
    macro_f1_after: float | None = None
    docs_per_second_before: float | None = None
    docs_per_second_after: float | None = None


@dataclass(frozen=True)
class Manifest:
    """What ``longbert.json`` says about a checkpoint folder.

    ``encoder`` is the encoder the weights started from (a name, folder or hub id); ``labels``,
    ``multi_label`` and ``strategy`` (``{"name", "params"}``) describe a classifier and are empty
    for an encoder; ``metadata`` holds what training adds (``metrics``, ``training``...).
    """

    kind: CheckpointKind = "classifier"
    name: str = ""
    encoder: str | None = None
    labels: tuple[str, ...] = ()
    multi_label: bool = False
    strategy: dict[str, Any] | None = None
    saved_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    pretraining: Pretraining | None = None
    compression: Compression | None = None
    format: int = CHECKPOINT_FORMAT
    architecture: ClassifierArchitecture = "cls-head"

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": self.format,
            "kind": self.kind,
            "name": self.name,
            "labels": list(self.labels),
            "multi_label": self.multi_label,
            "encoder": self.encoder,
            "strategy": self.strategy,
            "saved_at": self.saved_at,
            "metadata": self.metadata,
        }
        if self.architecture != "cls-head":
            data["architecture"] = self.architecture
        for part in ("pretraining", "compression"):
            if (value := getattr(self, part)) is not None:
                data[part] = dataclasses.asdict(value)
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> Manifest:
        """Check ``data`` (parsed JSON) field by field; ``where`` names the checkpoint in errors."""
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: {MANIFEST} does not hold a JSON object.")
        version = data.get("format", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise CheckpointError(f"{where} manifest has format {version!r}: expected an integer.")
        if version > CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{where} was written by a newer LongBERT (format {version}); upgrade LongBERT to load it."
            )
        kind = data.get("kind", "classifier")
        if kind not in CHECKPOINT_KINDS:
            raise CheckpointError(
                f"{where} manifest has kind {kind!r}: expected one of {', '.join(CHECKPOINT_KINDS)}."
            )
        architecture = data.get("architecture", "cls-head")
        foreign = kind != "classifier" and architecture != "cls-head"
        if architecture not in CLASSIFIER_ARCHITECTURES or foreign:
            raise CheckpointError(
                f"{where} manifest has architecture {architecture!r}: expected one of "
                f"{', '.join(CLASSIFIER_ARCHITECTURES)} (and only for a classifier)."
            )
        if kind == "classifier" and (missing := [k for k in ("labels", "strategy") if k not in data]):
            raise CheckpointError(f"{where} manifest lacks {', '.join(missing)}.")
        labels = data.get("labels", [])
        # A string is a sequence too: "ab" would otherwise load as the labels ['a', 'b'].
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels) or (
            kind == "classifier" and not labels
        ):
            raise CheckpointError(f"{where} manifest has labels {labels!r}: expected a list of label names.")
        strategy = data.get("strategy")
        if isinstance(strategy, str):
            strategy = {"name": strategy, "params": {}}
        named = isinstance(strategy, dict) and isinstance(strategy.get("name"), str)
        if strategy is not None and not named:
            raise CheckpointError(f"{where} manifest has strategy {data.get('strategy')!r}.")
        multi_label = data.get("multi_label", False)
        if not isinstance(multi_label, bool):
            raise CheckpointError(f"{where} manifest has multi_label {multi_label!r}: expected true/false.")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise CheckpointError(f"{where} manifest has metadata {metadata!r}: expected an object.")
        return cls(
            kind=kind,
            name=_optional(data, "name", str, where) or "",
            encoder=_optional(data, "encoder", str, where),
            labels=tuple(labels),
            multi_label=multi_label,
            strategy=strategy,
            saved_at=_optional(data, "saved_at", str, where),
            metadata=dict(metadata),
            pretraining=_part(Pretraining, data.get("pretraining"), where),
            compression=_part(Compression, data.get("compression"), where),
            format=version,
            architecture=architecture,
        )


def _optional(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise CheckpointError(f"{where} manifest has {key} {value!r}: expected {kind.__name__}.")
    return value


def _part(cls: type[Any], value: Any, where: str) -> Any:
    """A provenance dataclass from its JSON object, every field type-checked (None stays None)."""
    if value is None:
        return None
    name = cls.__name__.lower()
    if not isinstance(value, dict):
        raise CheckpointError(f"{where} manifest has {name} {value!r}: expected an object.")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        allowed = typing.get_args(hints[f.name]) if isinstance(hints[f.name], types.UnionType) else (
            hints[f.name],
        )
        allowed = tuple(float if t is float else t for t in allowed)
        item = value.get(f.name, None if type(None) in allowed else dataclasses.MISSING)
        if item is dataclasses.MISSING:
            raise CheckpointError(f"{where} manifest: {name} lacks {f.name}.")
        number = float in allowed and isinstance(item, int) and not isinstance(item, bool)
        if (isinstance(item, bool) and bool not in allowed) or not (isinstance(item, allowed) or number):
            raise CheckpointError(f"{where} manifest has {name}.{f.name} {item!r}.")
        values[f.name] = float(item) if number else item
    return cls(**values)


def resolve_checkpoint(folder: str | os.PathLike[str]) -> Path:
    """A checkpoint folder path, or a bare name looked up under ``models/``."""
    path = Path(folder).expanduser()
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
        path = models_dir() / path
    if not path.is_dir():
        raise CheckpointError(
            f"No checkpoint at '{folder}'. Train one with `python -m longbert.train`, or pick a "
            f"folder under {models_dir()} that contains {MANIFEST}."
        )
    if not (path / MANIFEST).is_file():
        raise CheckpointError(
            f"'{path}' is not a LongBERT checkpoint: {MANIFEST} is missing (an interrupted save, "
            "or the wrong folder)."
        )
    return path


def is_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` holds a manifest (complete or not, it claims to be a checkpoint)."""
    return (folder / MANIFEST).is_file()


def read_manifest(folder: Path) -> Manifest:
    """The manifest of checkpoint ``folder``; CheckpointError naming the problem."""
    where = f"Checkpoint '{folder}'"
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{where} has an unreadable {MANIFEST}: {error}") from error
    return Manifest.from_json(data, where)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``folder/longbert.json`` atomically, stamped with the time; call it last."""
    stamped = dataclasses.replace(manifest, saved_at=datetime.now(UTC).isoformat(timespec="seconds"))
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(stamped.to_json(), indent=2, default=str))
    tmp.replace(folder / MANIFEST)


def save_encoder_checkpoint(folder: Path, encoder: Any, tokenizer: Any, manifest: Manifest) -> Path:
    """Write an encoder checkpoint: ``encoder/`` (the model's ``save_pretrained`` and its
    tokenizer), then the manifest (kind ``encoder``, e.g. with :class:`Pretraining` provenance).
    ``--encoder``, ``ZeroShotClassifier`` and the app's pickers then take ``folder``."""
    if manifest.kind != "encoder":
        raise ValueError(f"an encoder checkpoint's manifest has kind 'encoder', not {manifest.kind!r}")
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(folder / "encoder")
    tokenizer.save_pretrained(str(folder / "encoder"))
    write_manifest(folder, manifest)
    return folder


def trim_saved_positions(folder: Path, rows: int) -> None:
    """Cut the encoder saved in ``folder`` back to ``rows`` positions (weights and config.json).

    Done on the written files, not on the live model, so predictions running meanwhile keep
    their longer table.
    """
    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    state[POSITIONS_KEY] = state[POSITIONS_KEY][:rows].contiguous()
    partial = folder / "model.safetensors.partial"
    save_file(state, str(partial), metadata={"format": "pt"})
    partial.replace(weights)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["max_position_embeddings"] = rows
    config_path.write_text(json.dumps(config, indent=2))

"""Which classifier a run uses, as a small picklable value: each Ray actor loads it once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbert.errors import LongBertError
from longbert.exit_threshold import check_exit_threshold

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier
    from longbert.strategies import Strategy, StrategySpec


@dataclass(frozen=True)
class ModelSpec:
    """A checkpoint (folder or name under ``models/``), or zero-shot labels with descriptions.

    ``strategy`` replaces the model's own strategy (``{"name", "params"}``), as
    ``classifier.predict(strategy=...)`` does; ``strategy_params`` alone changes parameters of
    whichever strategy applies. ``exit_threshold``: an early-exit model's threshold, from 0 to
    1 (None: the model's own), as ``classifier.predict(exit_threshold=...)``; ignored by a model
    without exits (:func:`~longbert.bulk.runner.run_predict` warns).
    """

    model: str | None = None
    labels: dict[str, str] | None = None
    encoder: str | None = None
    strategy: str | None = None
    strategy_params: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    exit_threshold: float | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.labels is None):
            raise LongBertError("Give a model (--model) or zero-shot labels (--labels), not both or neither.")
        # Checked here, on the driver: a bad value is one error before any model or actor loads.
        threshold = check_exit_threshold(self.exit_threshold, "--exit-threshold")
        object.__setattr__(self, "exit_threshold", threshold)  # a float: frozen, set once here

    def load(self) -> DocumentClassifier:
        """Load the classifier (on ``device``; default CUDA when present, else the CPU)."""
        if self.labels is not None:
            from longbert import ZeroShotClassifier
            from longbert.devices import resolve_device

            target = resolve_device(self.device)
            try:
                classifier = ZeroShotClassifier(self.labels, encoder=self.encoder)
            except ValueError as error:
                raise LongBertError(f"--labels: {error}") from error
            return classifier.to_device(target)
        from longbert import load_classifier

        return load_classifier(str(self.model), device=self.device, precision="auto")  # inference only

    def checkpoint_identity(self) -> dict[str, Any]:
        """Which weights ``model`` names, read without loading them (empty for zero-shot, whose
        labels and encoder are the spec's own): the resolved folder, and what was saved there
        (the manifest's SHA-256, saved_at and labels). A name is not enough: ``models/m1`` may be
        another folder (LONGBERT_MODELS_DIR) or retrained in place since an output was begun."""
        if self.model is None:
            return {}
        from longbert.checkpoints import MANIFEST, read_manifest, resolve_checkpoint

        folder = resolve_checkpoint(self.model).resolve()
        manifest = read_manifest(folder)
        try:
            digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()[:16]
        except OSError as error:
            raise LongBertError(f"Checkpoint '{folder}': {MANIFEST} cannot be read ({error}).") from error
        return {
            "checkpoint": str(folder),
            "checkpoint_saved_at": manifest.saved_at,
            "checkpoint_manifest": digest,
            "checkpoint_labels": list(manifest.labels),
        }

    def has_early_exits(self) -> bool:
        """Whether the checkpoint holds early exits (``compress --method early-exit``), read from
        its manifest without loading it; False for zero-shot labels."""
        if self.model is None:
            return False
        from longbert.checkpoints import read_manifest, resolve_checkpoint

        compression = read_manifest(resolve_checkpoint(self.model)).compression
        return compression is not None and compression.method == "early-exit"

    def strategy_for(self, own: StrategySpec) -> tuple[Strategy, dict[str, Any]]:
        """The strategy predictions run with -- the override, else ``own`` (the model's) with
        ``strategy_params`` -- and the model settings given among those parameters (chunk's
        ``pooling``, sparse's ``attention_window``), to pass on as
        ``classifier.predict(strategy=..., **settings)``, as ``python -m longbert.evaluate`` does."""
        from longbert.strategies import parse_strategy

        if self.strategy is not None:
            return parse_strategy({"name": self.strategy, "params": dict(self.strategy_params)})
        return parse_strategy(own, **self.strategy_params)


def strategy_config(strategy: Strategy, settings: dict[str, Any]) -> dict[str, Any]:
    """What a run records as its strategy: ``{"name", "params"}``, and the model settings it
    overrides as ``"model"`` (the layout :func:`~longbert.strategies.parse_strategy` reads)."""
    return {**strategy.config(), "model": dict(settings)} if settings else strategy.config()


def parse_labels(values: Sequence[str]) -> dict[str, str]:
    """``["sport=matches, teams", "economy"]`` or a JSON file (object or list) → ``{label: description}``.

    A label given twice is refused rather than merged: the second description would silently
    replace the first (or a list would silently lose an entry), and the run would classify into
    other labels than the ones the user listed."""
    if len(values) == 1 and values[0].lower().endswith(".json") and Path(values[0]).is_file():
        where = f"--labels {values[0]}"

        def pairs_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            return _unique(pairs, where)  # json.loads would keep the last of two equal keys

        try:
            data = json.loads(Path(values[0]).read_text(), object_pairs_hook=pairs_once)
        except ValueError as error:
            raise LongBertError(f"{where}: not valid JSON ({error}).") from error
        if isinstance(data, list):
            return _unique([(str(x), str(x)) for x in data], where)
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        raise LongBertError(f"{where}: expected a JSON object {{label: description}} or a list.")
    pairs: list[tuple[str, str]] = []
    for value in values:
        name, _, description = value.partition("=")
        name = name.strip()
        if not name:
            raise LongBertError(f"--labels {value!r}: a label needs a name (NAME or NAME=description).")
        pairs.append((name, description.strip() or name))
    return _unique(pairs, "--labels")


def _unique(pairs: Iterable[tuple[str, Any]], where: str) -> dict[str, Any]:
    """``{label: description}``; LongBertError when a label comes twice (see :func:`parse_labels`)."""
    labels: dict[str, Any] = {}
    for name, description in pairs:
        if name in labels:
            raise LongBertError(f"{where}: label '{name}' is given twice; give each label once.")
        labels[name] = description
    return labels

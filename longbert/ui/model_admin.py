"""What the Models page does to models: choose the default one, delete a checkpoint.

A newly trained model never becomes the default by itself: the default is what a person chose
(a store setting shared by every browser session), else zero-shot. Deleting a checkpoint removes
its folder only; predictions made with it keep their record (model name, labels, strategy).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from longbert.checkpoints import MANIFEST, is_checkpoint, read_manifest
from longbert.errors import LongBertError
from longbert.settings import models_dir
from longbert.store import Store
from longbert.ui.models import ZERO_SHOT_KEY, ModelChoice

#: The store setting naming the default model (a checkpoint folder or ``zero-shot``).
DEFAULT_MODEL_SETTING = "default_model"


def default_model(store: Store, keys: list[str] | None = None) -> str:
    """The default model's key: the one a person chose if it still exists, else zero-shot."""
    chosen = store.get_setting(DEFAULT_MODEL_SETTING)
    if chosen is None or (keys is not None and chosen not in keys):
        return ZERO_SHOT_KEY
    return chosen


def classifier_keys(choices: Sequence[ModelChoice]) -> list[str]:
    """The keys of the classifiers among ``choices``: what the default model may be (the pages
    offer classifiers and zero-shot; an adapted encoder made the default would leave every page
    on zero-shot while the Models page named the encoder)."""
    return [c.key for c in choices if c.kind == "classifier"]


def set_default_model(store: Store, key: str) -> None:
    """Make ``key`` (a classifier's checkpoint folder or ``zero-shot``) the default model of
    every page. LongBertError for an encoder checkpoint: it labels nothing by itself."""
    if key != ZERO_SHOT_KEY and _kind(Path(key)) == "encoder":
        raise LongBertError(
            f"'{Path(key).name}' is an adapted encoder, a starting point for training or "
            "zero-shot, not a classifier: it cannot be the default model."
        )
    store.set_setting(DEFAULT_MODEL_SETTING, None if key == ZERO_SHOT_KEY else key)


def _kind(folder: Path) -> str | None:
    """The checkpoint kind ``folder``'s manifest names (None: no readable manifest)."""
    try:
        return read_manifest(folder).kind if is_checkpoint(folder) else None
    except LongBertError:
        return None


def delete_checkpoint(store: Store, folder: str | Path, root: str | Path | None = None) -> None:
    """Delete a checkpoint folder under the models folder (``root``); if it was the default,
    zero-shot is the default again. Its predictions stay in the database.

    Raises LongBertError for a folder outside the models folder or without a manifest.
    """
    path = Path(folder).resolve()
    base = Path(root or models_dir()).resolve()
    if path.parent != base or not (path / MANIFEST).is_file():
        raise LongBertError(f"{path} is not a checkpoint folder directly under {base}; not deleted.")
    if store.get_setting(DEFAULT_MODEL_SETTING) == str(path):
        store.set_setting(DEFAULT_MODEL_SETTING, None)
    shutil.rmtree(path)


def model_label_sets(store: Store, names: Sequence[str], labels: Sequence[str] = ()) -> list[str]:
    """The label sets of a model, by name: those its predictions were made with (under any of
    ``names``, e.g. a checkpoint's title and folder name) and, when ``labels`` are given (a
    trained model's own labels), the saved label sets with exactly those labels."""
    used = store.label_sets_by_model()
    found = {name for model in names for name in used.get(model, [])}
    if labels:
        wanted = set(labels)
        found |= {saved.name for saved in store.list_label_sets() if set(saved.labels) == wanted}
    return sorted(found)

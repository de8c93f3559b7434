"""Training from the app: data preparation, option fields from TrainConfig, the background job.

The Train page only offers the main options plus an "advanced" group generated from
:class:`~longbert.training.config.TrainConfig`'s own fields (their help texts and choices), so it
never drifts from ``python -m longbert.train``, which remains the full interface.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longbert.errors import DatasetError
from longbert.store import CorrectionSet, Store
from longbert.training.config import TrainConfig
from longbert.ui.jobs import JobContext

#: Options shown up front; the rest are under "Advanced".
MAIN_OPTIONS = ("name", "epochs", "batch_size", "learning_rate")
#: Options the page sets itself (data files, strategy) or that make no sense in the app.
HIDDEN_OPTIONS = frozenset(
    {
        "train",
        "dev",
        "test",
        "strategy",
        "strategy_params",
        "output_dir",
        "resume",
        "quiet",
        "record",
        "encoder",
        "mode",
        "label_descriptions",
        "few_shot_method",
    }
)
#: The Train page's mode choices, as a person reads them (TrainConfig's ``mode`` values).
MODE_TITLES = {
    "auto": "Automatic: few-shot with few labels per class",
    "few-shot": "Few-shot (a handful of labels per class)",
    "fine-tune": "Fine-tune the encoder and [CLS] head",
}
#: The few-shot method choices, as a person reads them (TrainConfig's ``few_shot_method`` values).
FEW_SHOT_METHOD_TITLES = {
    "auto": "Automatic: zero-shot corrected, or SetFit (multi-label, or from a trained model)",
    "prior": "Zero-shot corrected by your labels (seconds)",
    "setfit": "SetFit: contrastive pairs tune the encoder, then a head (minutes)",
}


def few_shot_method_help() -> str:
    """The few-shot method select box's help: what each method does and costs."""
    return (
        "Zero-shot corrected: the zero-shot model (your label descriptions, or the label names) "
        "stays the starting point and a linear correction is learnt from your labels, the "
        "encoder frozen. With no labels it is zero-shot; each label moves it only as far as the "
        "evidence goes. It takes seconds, single-label only. SetFit tunes the encoder on pairs "
        "of your documents (same label: close, different: apart), then fits a head: minutes on "
        "a CPU; it also handles multi-label data. Automatic picks the corrected zero-shot model "
        "for single-label data and SetFit for multi-label data or when starting from a trained "
        "model (its encoder no longer gives the sentence embeddings zero-shot compares). Used "
        "only when the run trains few-shot."
    )


def mode_help() -> str:
    """The mode select box's help: what each mode does and why auto switches where it does."""
    from longbert.training.modes import FEW_SHOT_BELOW

    return (
        "Plain fine-tuning of a [CLS] head needs many labels; from a handful it stays near "
        "chance. Few-shot (method: see the next box) gives a usable model from a few labels "
        f"per class. Automatic picks few-shot while the rarest label has fewer than "
        f"{FEW_SHOT_BELOW} documents (bench/results/bench_active.json, bbc_news at 8 per class: "
        "few-shot 95.83% accuracy, plain fine-tuning 84.00%). The mode used is recorded with "
        "the run."
    )


def write_descriptions(store: Store, label_set: str | None, folder: Path) -> str | None:
    """The label set's descriptions as a JSON file for few-shot training (the zero-shot prior
    embeds them; SetFit adds them as one example per label); None when it has none worth using
    (a description that only repeats its label teaches nothing)."""
    import json

    from longbert.store import RecordNotFoundError

    if not label_set:
        return None
    try:
        described = store.get_label_set(label_set).descriptions
    except RecordNotFoundError:
        return None
    useful = {label: text for label, text in described.items() if text and text != label}
    if not useful:
        return None
    path = folder / "descriptions.json"
    path.write_text(json.dumps(useful))
    return str(path)


@dataclass(frozen=True)
class OptionSpec:
    """One TrainConfig field as a form field."""

    name: str
    kind: str  # "bool" | "int" | "float" | "choice" | "text"
    default: Any
    help: str
    group: str
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def option_specs(names: tuple[str, ...] | None = None) -> list[OptionSpec]:
    """Form fields for TrainConfig options (``names``, or every non-hidden one), in order."""
    specs = []
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in HIDDEN_OPTIONS or (names is not None and f.name not in names):
            continue
        default = getattr(defaults, f.name)
        choices = tuple(f.metadata.get("choices") or ())
        if isinstance(default, bool):
            kind = "bool"
        elif choices:
            kind = "choice"
        elif isinstance(default, int):
            kind = "int"
        elif isinstance(default, float):
            kind = "float"
        else:
            kind = "text"
        specs.append(
            OptionSpec(
                f.name,
                kind,
                default,
                str(f.metadata.get("help", "")),
                str(f.metadata.get("group", "")),
                choices,
            )
        )
    return specs


def advanced_specs() -> list[OptionSpec]:
    return [s for s in option_specs() if s.name not in MAIN_OPTIONS]


def build_config(
    values: Mapping[str, Any], *, train_path: str, strategy: Mapping[str, Any] | None
) -> TrainConfig:
    """A validated TrainConfig from form values (TrainConfigError names a bad option)."""
    data: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    data["train"] = train_path
    data["quiet"] = True  # no terminal bars from a background thread; the page shows progress
    if data.get("mode") == "fine-tune":  # the method box is disabled then: its value does not apply
        data["few_shot_method"] = "auto"
    if strategy is not None:
        data["strategy"] = strategy["name"]
        data["strategy_params"] = dict(strategy.get("params") or {})
        data.update(strategy.get("model") or {})  # pooling, attention_window: options of their own
    return TrainConfig.from_dict(data, source="the Train page").validate()


def correction_choices(store: Store) -> list[CorrectionSet]:
    """What training from the app's corrections can use: one entry per model and label set
    (``.title`` reads "corrections made with model X (N documents, labels a/b)", ``.key`` is
    stable for a select box), most recently corrected first. Reads no document text."""
    return store.correction_sets()


def label_set_title(chosen: CorrectionSet) -> str:
    """The name a person picks a correction set by: its label set's name, or its labels when
    the predictions were made before label sets had names."""
    return chosen.label_set_name or f"unnamed label set ({'/'.join(chosen.labels)})"


def corrections_by_label_set(store: Store) -> dict[str, list[CorrectionSet]]:
    """The app's corrections by label set name (see :func:`label_set_title`) → the correction
    sets made with it, one per model (most recently corrected first, as is the mapping).

    One label set used with several models (zero-shot, then a trained model) gives one entry
    with several sets: the Train page then asks which model's predictions to train from, since
    the training export never mixes models."""
    grouped: dict[str, list[CorrectionSet]] = {}
    for chosen in correction_choices(store):
        grouped.setdefault(label_set_title(chosen), []).append(chosen)
    return grouped


def corrections_count(store: Store, model: str | None = None, labels: Sequence[str] | None = None) -> int:
    """How many documents a training set from ``model``'s corrections (with ``labels``) has.

    Without either: corrected documents over every model and label set (a text corrected for two
    models counts twice), for a caption. Cheap: no text is read or written.
    """
    if model is None and labels is None:
        return sum(chosen.documents for chosen in store.correction_sets())
    return store.count_corrections(model=model, labels=labels)


def export_corrections(
    store: Store,
    folder: Path,
    model: str | CorrectionSet | None = None,
    labels: Sequence[str] | None = None,
) -> Path:
    """Write the corrections made with one model (and label set) as JSON Lines for training.

    ``model`` is the model name the predictions were made with, or a :class:`CorrectionSet`
    from :func:`correction_choices` (then its labels are used). Corrections of other models or
    label sets are never mixed in. Raises DatasetError if too few, StoreError where ``model``
    leaves several label sets (the message lists them).
    """
    if isinstance(model, CorrectionSet):
        model, labels = model.model, model.labels
    path = folder / "corrections.jsonl"
    count = store.export_corrections_training_set(path, model=model, labels=labels)
    if count < 4:
        which = f" with model {model}" if model else ""
        raise DatasetError(
            f"Only {count} corrected document(s){which} so far: correct or confirm at least a few "
            "per label (Batch label page) before training."
        )
    return path


def save_upload(name: str, data: bytes, folder: Path) -> Path:
    """Keep an uploaded training file (jsonl/csv, maybe .gz) on disk under its own extension."""
    suffix = "".join(Path(name).suffixes[-2:]) or ".jsonl"
    if not data.strip():
        raise DatasetError(f"'{name}' is empty: upload a JSONL or CSV file with text and labels.")
    path = folder / f"upload{suffix}"
    path.write_bytes(data)
    return path


def progress_event(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Normalise whatever a trainer reports (a dict, a dataclass, ``(done, total)``, keywords)."""
    event: dict[str, Any] = {}
    if len(args) == 1 and isinstance(args[0], Mapping):
        event.update(args[0])
    elif len(args) == 1 and dataclasses.is_dataclass(args[0]) and not isinstance(args[0], type):
        event.update(dataclasses.asdict(args[0]))
    elif len(args) == 2 and all(isinstance(a, int) for a in args):
        event.update(done=args[0], total=args[1])
    event.update(kwargs)
    return event


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _charted(key: str) -> bool:
    """Losses, accuracy and macro-F1 go on the chart; rates, timings and counts do not."""
    return "loss" in key or key.endswith(("accuracy", "macro_f1"))


def chart_point(event: Mapping[str, Any], last_step: int | None) -> dict[str, Any] | None:
    """The numbers of one training event worth plotting, keyed by step (None: nothing to plot).

    Step events carry ``loss``; epoch events carry ``train_loss`` and a nested ``dev`` report,
    flattened to ``dev_accuracy``, ``dev_macro_f1``... and placed at the last step seen.
    """
    point: dict[str, Any] = {}
    for key, value in event.items():
        if _numeric(value) and _charted(key):
            point[key] = float(value)
        elif isinstance(value, Mapping) and key in ("dev", "test"):
            point.update({f"{key}_{k}": float(v) for k, v in value.items() if _numeric(v) and _charted(k)})
    if not point:
        return None
    step = event.get("step", last_step)
    if _numeric(step):
        point["step"] = int(step)
    if _numeric(event.get("epoch")):
        point["epoch"] = int(event["epoch"])
    return point


def training_work(
    config: TrainConfig, train_fn: Callable[..., Any], cleanup: Callable[[], None] | None = None
) -> Callable[[JobContext], Any]:
    """A job function running ``train_fn(config, progress=..., should_stop=...)``.

    ``train_fn`` reports event dicts (``{"event": "start"|"step"|"epoch"|"end", ...}``, see
    :func:`longbert.training.train`): ``step``/``total_steps`` drive the progress bar, losses
    and dev metrics feed the live chart. Stopping asks the trainer to stop at the next optimiser
    step (its state is saved, so ``--resume`` continues it).
    """

    def work(ctx: JobContext) -> Any:
        last_step: list[int | None] = [None]

        def progress(*args: Any, **kwargs: Any) -> None:
            event = progress_event(*args, **kwargs)
            kind = event.get("event")
            if kind == "start":
                ctx.progress(
                    0,
                    int(event.get("total_steps") or 0) or None,
                    f"Training on {event.get('train_docs', '?')} documents "
                    f"({event.get('dev_docs', '?')} for dev), {event.get('device', '')}",
                )
            done = event.get("step", event.get("done"))
            total = event.get("total_steps", event.get("total"))
            if _numeric(done):
                last_step[0] = int(done)
                ctx.progress(int(done), int(total) if _numeric(total) else None)
            if kind == "epoch":
                ctx.set_message(f"Epoch {event.get('epoch')} done")
            point = chart_point(event, last_step[0])
            if point is not None:
                ctx.log(**point)

        kwargs: dict[str, Any] = {"progress": progress}
        if "should_stop" in inspect.signature(train_fn).parameters:
            kwargs["should_stop"] = lambda: ctx.stop_requested
        try:
            return train_fn(config, **kwargs)
        finally:
            if cleanup is not None:
                cleanup()

    return work

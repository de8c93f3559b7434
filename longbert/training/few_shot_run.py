"""``--mode few-shot`` (or ``auto`` with few labels): a training run by a few-shot method.

``--few-shot-method`` picks it: ``prior`` (the zero-shot model corrected by the labels,
:mod:`longbert.fewshot.prior`: the encoder frozen, seconds), ``setfit`` (SetFit's recipe), or
``auto``, the default: prior for single-label data from a sentence encoder, SetFit for
multi-label data or a start that is a trained [CLS] classifier (:func:`few_shot_method`).

:func:`longbert.training.train` prepares and checks the data as for fine-tuning, then, where the
mode says few-shot, hands over to :func:`run_few_shot`: :func:`longbert.fewshot.train_few_shot`
on the training split, the dev (and test) split scored with the same report as a fine-tuned
epoch, the model saved and registered, the run recorded -- so the Train page, the judge against
zero-shot and the Models page treat it like any run. The run's recorded config names the mode
used (``auto`` is resolved before the record opens).

A few-shot run is one pass with no resumable state: stopping it ends it (``interrupted``) and
nothing is saved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

from longbert.data import LabeledDataset
from longbert.errors import LongBertError
from longbert.runs import OldContents, RunReporter, RunState, metrics_json
from longbert.strategies import get_strategy
from longbert.training import outputs
from longbert.training.config import TrainConfig, TrainConfigError
from longbert.training.datasets import DataSplits, targets
from longbert.training.distributed import DistContext
from longbert.training.epochs import TrainResult
from longbert.training.metrics import format_report
from longbert.training.modes import library_few_shot_method
from longbert.training.prepared import prepare_set
from longbert.training.scoring import evaluate_set, scoring_model


class _Stopped(LongBertError):
    """Raised from the progress callback when the person asked the run to stop."""


def labels_per_class(splits: DataSplits) -> dict[str, int]:
    """Training documents per label, counted in the data as given (dev split included when it
    was carved from it): what a person means by "labels per class"."""
    counts = splits.train.label_counts()
    if splits.dev_carved:
        for label, count in splits.dev.label_counts().items():
            counts[label] = counts.get(label, 0) + count
    return counts


def resolve_mode(config: TrainConfig, splits: DataSplits) -> tuple[str, str]:
    """``(mode, why)``: the mode to train with and a sentence saying why (for the run's log)."""
    if config.mode != "auto":
        return config.mode, f"mode {config.mode} (chosen)"
    counts = labels_per_class(splits)
    rarest = min(counts.values()) if counts else 0
    if rarest < config.few_shot_below:
        return "few-shot", (
            f"mode few-shot (auto: the rarest label has {rarest} training documents, under "
            f"{config.few_shot_below})"
        )
    return "fine-tune", (
        f"mode fine-tune (auto: every label has at least {config.few_shot_below} training documents)"
    )


def read_descriptions(path: str | None, labels: list[str]) -> tuple[dict[str, str], list[str]]:
    """``({label: description}, notes)`` from a JSON file (``None``: none). Descriptions of labels
    the training data does not have are left out and named in the notes (a typo, or a label of
    the label set nobody has labelled yet: the model's labels are the data's)."""
    if not path:
        return {}, []
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise TrainConfigError(f"Cannot read --label-descriptions '{path}': {error}") from error
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise TrainConfigError(f"--label-descriptions '{path}' must hold an object of label: text.")
    unknown = sorted(set(map(str, data)) - set(labels))
    notes = []
    if unknown:
        notes.append(
            f"Label descriptions not used: the training data has no label {', '.join(unknown)} "
            f"(its labels are {', '.join(labels)})."
        )
    return {str(k): v for k, v in data.items() if str(k) in labels}, notes


def few_shot_method(config: TrainConfig) -> str:
    """The :data:`longbert.fewshot.FEW_SHOT_METHODS` name of the run's method; ``prior`` on
    multi-label data is a TrainConfigError saying what to use. ``auto`` picks the corrected
    zero-shot model only where the start is a sentence encoder (the packaged default, an adapted
    encoder checkpoint, a plain folder or hub id, a zero-shot-prior model's frozen encoder):
    a trained [CLS] classifier's mean-pooled states are no longer sentence embeddings, so it
    and multi-label data get SetFit (:func:`auto_method_reason` says which applied)."""
    from longbert.fewshot import MULTI_LABEL_REFUSAL, resolve_method

    if config.few_shot_method == "prior" and config.multi_label:
        raise TrainConfigError(MULTI_LABEL_REFUSAL)
    if config.few_shot_method == "auto" and trained_classifier_start(config.encoder):
        return "setfit"
    return resolve_method(library_few_shot_method(config.few_shot_method), config.multi_label)


def trained_classifier_start(encoder: str | None) -> bool:
    """Whether ``encoder`` names a trained [CLS]-head classifier (fine-tuned or SetFit): its
    encoder was trained for its head, not kept a sentence encoder."""
    from longbert.checkpoints import read_manifest
    from longbert.encoder_source import checkpoint_folder
    from longbert.errors import CheckpointError

    folder = checkpoint_folder(encoder)
    if folder is None:
        return False
    try:
        manifest = read_manifest(folder)
    except CheckpointError:
        return False  # loading the encoder will say what is wrong with it
    return manifest.kind == "classifier" and manifest.architecture == "cls-head"


def auto_method_reason(config: TrainConfig, method: str) -> str | None:
    """Why ``auto`` chose ``method`` (a sentence for the run's log), None when it was chosen."""
    if config.few_shot_method != "auto":
        return None
    if config.multi_label:
        return "auto: SetFit for multi-label data (the corrected zero-shot model is single-label)"
    if method == "setfit":
        return (
            f"auto: SetFit, as the start '{config.encoder}' is a trained [CLS] classifier whose "
            "encoder no longer gives sentence embeddings for the zero-shot model"
        )
    return "auto: the zero-shot model corrected by the labels, the start being a sentence encoder"


def _strategy_spec(config: TrainConfig) -> dict[str, Any]:
    """The run's strategy with the model settings it reads (chunk's pooling, sparse's window)."""
    spec: dict[str, Any] = config.strategy_spec()
    model_params = get_strategy(config.strategy).model_params
    settings = {"pooling": config.pooling, "attention_window": config.attention_window or None}
    chosen = {k: v for k, v in settings.items() if k in model_params and v is not None}
    if chosen:
        spec["model"] = chosen
    return spec


def prior_strategy(config: TrainConfig) -> tuple[dict[str, Any], str | None]:
    """``(strategy, note)``: what the corrected zero-shot model reads. Where no strategy was
    chosen (the config's default, no parameters) it reads as the zero-shot model it corrects:
    every 256-token window (:data:`longbert.zero_shot.ZERO_SHOT_STRATEGY`), what the benchmark
    measured (bbc_news, 8 per class: 95.83 against 93-94 from the first 256 tokens); the note
    says so. A chosen strategy is honoured (its windows are mean-pooled like zero-shot's: no
    model settings to carry)."""
    from longbert.zero_shot import ZERO_SHOT_STRATEGY

    default = TrainConfig.__dataclass_fields__["strategy"].default
    if config.strategy != default or config.strategy_params:
        return config.strategy_spec(), None
    params = ZERO_SHOT_STRATEGY["params"]
    note = (
        f"The corrected zero-shot model reads as zero-shot does: {ZERO_SHOT_STRATEGY['name']} "
        f"(every {params['window']}-token window), as no strategy was chosen (--strategy chooses one)."
    )
    return {"name": ZERO_SHOT_STRATEGY["name"], "params": dict(params)}, note


def _examples(dataset: LabeledDataset) -> tuple[list[Any], list[Any]]:
    documents = dataset.documents()
    labels = [list(ex.labels) if dataset.multi_label else ex.label for ex in dataset.examples]
    return documents, labels


def run_few_shot(
    config: TrainConfig,
    splits: DataSplits,
    ctx: DistContext,
    reporter: RunReporter,
    should_stop: Callable[[], bool] | None,
    old_contents: OldContents,
    folder: Path,
) -> TrainResult:
    """Train, score, save and record a few-shot model in ``folder`` (the checked, absolute
    checkpoint folder); see the module docstring. ``old_contents``: what an earlier model or
    run left in the folder, removed just before this run's model is saved there (nothing is,
    when it fails or is stopped)."""
    from longbert.fewshot import FewShotConfig, train_few_shot

    if ctx.enabled:
        raise TrainConfigError("Few-shot training runs in one process: start it without torchrun.")
    method = few_shot_method(config)
    if (why := auto_method_reason(config, method)) is not None:
        splits.notes.append(f"Few-shot method {method} ({why}).")  # metrics.json keeps the notes
        reporter.say(splits.notes[-1])
    descriptions, notes = read_descriptions(config.label_descriptions, splits.labels)
    strategy, strategy_note = (
        prior_strategy(config) if method == "zero-shot-prior" else (_strategy_spec(config), None)
    )
    if strategy_note is not None:
        notes.append(strategy_note)
    splits.notes.extend(notes)
    for note in notes:
        reporter.say(note)
    few_shot = FewShotConfig(
        method=method,
        prior_lam=config.few_shot_prior_lam,
        iterations=config.few_shot_iterations,
        max_steps=config.few_shot_max_steps or None,
        max_train_windows=config.max_train_windows or 1_000_000,
        eval_batch_size=config.eval_batch_size,
    )
    state = RunState(config=config.to_dict())
    reporter.open(state)
    documents, labels = _examples(splits.train)
    reporter.emit(
        "start",
        epochs=1,
        start_epoch=0,
        total_steps=None,
        train_docs=len(documents),
        dev_docs=len(splits.dev),
        labels=splits.labels,
        device=str(ctx.device),
        world_size=1,
        run_id=state.run_id,
        mode="few-shot",
        few_shot_method=method,
    )
    used = (
        f", {len(descriptions)} label descriptions as the zero-shot prior"
        if method == "zero-shot-prior"
        else f", {len(descriptions)} label descriptions as extra examples"
    )
    reporter.say(
        f"Training '{config.name}' few-shot ({method}) on {ctx.device}: {len(documents)} train / "
        f"{len(splits.dev)} dev documents" + (used if descriptions else "") + "."
    )

    def progress(event: dict[str, Any]) -> None:
        if event.get("event") == "step":
            reporter.emit(
                "step", epoch=1, step=event["step"], total_steps=event["total_steps"], loss=event["loss"]
            )
        if event.get("event") != "end" and should_stop is not None and should_stop():
            raise _Stopped("stopped")

    started = perf_counter()
    with reporter.finishing():
        try:
            classifier = train_few_shot(
                documents,
                labels,
                encoder=config.encoder,
                strategy=strategy,
                label_names=splits.labels,
                descriptions=descriptions,
                multi_label=config.multi_label,
                seed=config.seed,
                config=few_shot,
                name=config.name,
                device=ctx.device,
                progress=progress,
            )
        except _Stopped:
            reporter.say("Stopped: a few-shot run keeps no resumable state; nothing was saved.")
            reporter.finish("interrupted")
            return TrainResult("interrupted", folder, None, None, [], run_id=state.run_id)
        train_seconds = perf_counter() - started
        reports = {}
        scored = scoring_model(classifier)  # as evaluate runs the saved model; one copy for both
        for role, dataset in (("dev", splits.dev), ("test", splits.test)):
            if dataset is None:
                continue
            prepared = prepare_set(
                dataset.documents(),
                targets(dataset, splits.labels),
                classifier.tokenizer,
                classifier.strategy,
            )
            reports[role] = evaluate_set(scored, prepared, batch_size=config.eval_batch_size)
        del scored
        dev = reports["dev"]
        record = {
            "epoch": 1,
            "train_seconds": train_seconds,
            "dev": dev,
            "best": True,
            "mode": "few-shot",
            "few_shot_method": method,
        }
        old_contents.before_model()
        outputs.save_best(
            folder,
            classifier,
            metrics=metrics_json(dev),
            training={
                "config": config.to_dict(),
                "mode": "few-shot",
                "few_shot_method": method,
                "strategy_note": strategy_note,
                "best_epoch": 1,
                "train_docs": len(documents),
                "dev_docs": len(splits.dev),
            },
        )
        reporter.model_saved(
            folder,
            dev,
            encoder=classifier.encoder_source,
            labels=classifier.labels,
            strategy=classifier.strategy.config(),
            multi_label=classifier.multi_label,
        )
        reporter.log_epoch(1, record)
        reporter.say(format_report(dev, title=f"few-shot ({method}), {train_seconds:.1f} s; dev:"))
        if "test" in reports:  # as a fine-tuned run reports its best checkpoint's
            reporter.say(format_report(reports["test"], title=f"test (few-shot model, {method}):"))
        outputs.write_metrics(
            folder,
            {
                "name": config.name,
                "status": "done",
                "mode": "few-shot",
                "labels": splits.labels,
                "strategy": classifier.strategy.config(),
                "best_epoch": 1,
                "best": dev,
                "history": [record],
                "test": reports.get("test"),
                "train_seconds": train_seconds,
                "few_shot": classifier.metadata.get("few_shot"),
                "notes": splits.notes,
            },
        )
        reporter.emit("epoch", **record)
    reporter.finish("done")
    return TrainResult("done", folder, 1, dev, [record], reports.get("test"), run_id=state.run_id)

"""``python -m longbert.compress``: a compressed copy of a trained classifier, as a new checkpoint.

    python -m longbert.compress --model my-model --method int8 --name my-model-int8 --dev dev.csv

The new checkpoint (``models/NAME``, or ``--output-dir``: its own folder, as train's option is)
loads wherever a model does
(:func:`longbert.load_classifier`, ``python -m longbert.evaluate``, the app); its manifest's
``compression`` names the method, the source model and, with ``--dev``, the accuracy of the
source and of the compressed model on that labelled file (read as ``longbert.evaluate`` reads
it; ``--skip-bad-rows`` skips unusable rows) and their speed, both as they run by default on this
machine (see :mod:`longbert.compression.measuring`); a compressed model that cannot read dev
documents its source read is not saved. See :mod:`longbert.compression` for the methods.
Saved in the models folder, it is registered in the database as a trained model is
(:mod:`longbert.compression.registry`; ``--record``/``--no-record`` to choose).
It is built in a staging folder and swapped in whole when complete: an error or Ctrl-C leaves
nothing behind, and ``--overwrite`` replaces only an existing checkpoint, never the source
(:mod:`longbert.compression.target`); what a run killed outright left there is cleared by the
next one. ``--texts`` and ``--calibration-texts`` read tables by their text column and ``.txt``
files line by line, skipping (and counting) rows without text (:mod:`longbert.compression.texts`).

``--strategy-param KEY=VALUE`` changes how the new checkpoint reads a document within its own
strategy -- for a chunk model, ``stride=510`` reads windows that no longer overlap, about half
the tokens of the default 256 -- and every method reads that way while it trains or calibrates;
``--dev`` then measures the source as it was and the new checkpoint as it reads.

``early-exit`` chooses its threshold unless ``--exit-threshold`` is given: on the unlabelled
``--calibration-texts`` or the labelled ``--calibration FILE`` when given (``--dev`` then only
measures), else on ``--dev``, the largest threshold whose labels differ from the full model's on
at most ``--max-accuracy-loss`` percent of the documents there (see
:mod:`longbert.compression.exit_calibration`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbert.checkpoints import Compression, is_checkpoint, read_manifest, resolve_checkpoint, write_manifest
from longbert.cli_common import add_strategy_param, run_command
from longbert.compression import HIDDEN_TARGETS, METHODS
from longbert.compression.exit_build import (
    OPTIMISTIC,
    UncalibratedThresholdWarning,
    build_exits,
    calibration_data,
    check_exit_options,
    exit_threshold_summary,
)
from longbert.compression.manifest import (
    compressed_metadata,
    measured,
    method_details,
    reading_strategy,
    strategy_spec,
)
from longbert.compression.measuring import measure_compressed, measure_source, read_labelled
from longbert.compression.registry import overwrite_notice, recording_store, register
from longbert.compression.target import (
    CompressError,
    CompressNotice,
    check_target,
    staging_folder,
    swap_in,
    sweep_leftovers,
    target_folder,
)
from longbert.compression.texts import TEXT_FILES, read_texts
from longbert.errors import LongBertError

if TYPE_CHECKING:
    from longbert.compression.exit_calibration import CalibrationSet
    from longbert.data import LabeledDataset

#: Checkpoint parts copied from the source (weights kept as they are; see each method).
PARTS = ("encoder", "pooling", "head")


def compress(
    model: str | Path,
    method: str,
    name: str,
    *,
    dev: str | Path | None = None,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    device: str | None = None,
    texts: Sequence[str] = (),
    exit_threshold: float | None = None,
    calibration: str | Path | None = None,
    calibration_texts: Sequence[str] | None = None,
    calibration_source: str = "",
    max_accuracy_loss: float = 0.5,
    distill_epochs: int = 3,
    distill_hidden: str = "cls",
    strategy_params: Mapping[str, Any] | None = None,
    skip_bad_rows: bool = False,
    record: bool | None = None,
) -> tuple[Path, Compression]:
    """Write the ``method``-compressed copy of checkpoint ``model`` as ``name``; returns its folder
    and provenance. Raises CompressError (a ValueError) for an unknown method, a ``name`` that is
    not a plain folder name, or a target that could lose something saved (see
    :func:`~longbert.compression.target.check_target`: ``overwrite`` replaces an existing
    checkpoint only), CheckpointError for an unusable source, DatasetError for unusable dev data.

    ``texts``: what ``early-exit`` distils on (labels are not needed); ``exit_threshold`` the
    threshold it stores. Without it, the threshold is calibrated on ``calibration_texts``
    (unlabelled) or ``calibration`` (labelled), else on ``dev``: the largest of
    :data:`~longbert.compression.exit_calibration.GRID` whose labels differ from the full model's
    on at most ``max_accuracy_loss`` percent of the documents (the curve is recorded in the
    manifest's ``metadata.compression.calibration``); with none, it is
    :data:`~longbert.compression.early_exit.DEFAULT_THRESHOLD`, uncalibrated (a warning says so).
    ``strategy_params`` replace parameters of the source's strategy in the new checkpoint (and
    while the method trains or calibrates); StrategyConfigError for ones the strategy lacks.
    ``skip_bad_rows`` skips unusable rows of ``dev`` and ``calibration`` (a warning counts them).
    A compressed model that cannot read ``dev`` documents its source read is a CompressError,
    and nothing is saved. ``record``: register the checkpoint in the database (None: when it is
    saved in the models folder; see :mod:`longbert.compression.registry`)."""
    from longbert import load_classifier

    target = target_folder(name, output_dir)  # first: a typo in either fails at once
    if method not in METHODS:
        raise CompressError(f"--method must be one of {', '.join(METHODS)}; got {method!r}.")
    if method == "early-exit" and not texts:
        raise CompressError(
            "--method early-exit distils on texts: give --texts (the training texts, unlabelled ones)."
        )
    if method == "distill" and (isinstance(distill_epochs, bool) or not distill_epochs >= 1):
        raise CompressError(f"--epochs must be 1 or more: distill trains that many; got {distill_epochs}.")
    if method == "distill" and distill_hidden not in HIDDEN_TARGETS:
        raise CompressError(f"--hidden must be one of {', '.join(HIDDEN_TARGETS)}; got {distill_hidden!r}.")
    check_exit_options(method, exit_threshold, calibration, calibration_texts, max_accuracy_loss)
    source = resolve_checkpoint(model)
    manifest = read_manifest(source)
    if manifest.architecture != "cls-head":  # its folder has no pooling/ or head/ to copy
        raise CompressError(
            f"'{source}' is a {manifest.architecture} model: compression applies to fine-tuned "
            "and SetFit ([CLS]-head) models only."
        )
    if manifest.compression is not None:
        raise CompressError(
            f"'{source}' is already compressed ({manifest.compression.method}); compress its source "
            f"'{manifest.compression.source_model}' instead."
        )
    reading = reading_strategy(manifest, strategy_params or {})
    for restored in sweep_leftovers(target):  # before the check: a restored checkpoint counts
        warnings.warn(CompressNotice(restored), stacklevel=2)
    # Checked now: the folder is first written after the --dev evaluation and the training.
    check_target(target, source, name, overwrite=overwrite)
    if overwrite and is_checkpoint(target) and (notice := overwrite_notice(target)):
        warnings.warn(CompressNotice(notice), stacklevel=2)
    store = recording_store(target, record)
    # Read now: a missing file or unknown labels fail before anything is trained.
    dev_set: LabeledDataset | None = None
    if dev is not None:
        dev_set = read_labelled(dev, manifest.metadata, manifest.multi_label, skip_bad_rows, "--dev")
    calibration_set: CalibrationSet | None = None
    if method == "early-exit" and exit_threshold is None:
        calibration_set = calibration_data(
            manifest, calibration_texts, calibration_source, calibration, (dev, dev_set), skip_bad_rows
        )
    before = measure_source(source, dev_set, device) if dev_set is not None else None
    staging = staging_folder(target)
    details: dict[str, Any] = {"method": method, **method_details(method)}
    if reading is not None:
        details.update(strategy_params=dict(strategy_params or {}), source_strategy=manifest.strategy)
    try:
        for part in PARTS:
            shutil.copytree(source / part, staging / part)
        if method == "early-exit":
            details.update(
                build_exits(
                    source,
                    staging,
                    texts,
                    device,
                    exit_threshold,
                    calibration_set,
                    max_accuracy_loss,
                    reading,
                )
            )
            if "calibration" in details and calibration is None and calibration_texts is None:
                details["calibration"]["note"] = OPTIMISTIC
        if method == "distill":
            from longbert.compression.distill import distill

            teacher = load_classifier(source, device=device, precision="fp32")
            if reading is not None:
                teacher.read_with(reading)  # the student learns the windows it will read
            student = distill(teacher, list(texts), epochs=distill_epochs, hidden=distill_hidden)
            details.update({"epochs": distill_epochs, "hidden": distill_hidden, "texts": len(texts)})
            for part in PARTS:
                shutil.rmtree(staging / part)
            student.save_pretrained(staging)
        provenance = Compression(method=method, source_model=str(source), dev_data=str(dev) if dev else None)
        staged = dataclasses.replace(
            manifest,
            name=name,
            compression=provenance,
            metadata=compressed_metadata(manifest.metadata, details, None, None),
            strategy=strategy_spec(manifest, strategy_params or {}),
        )
        write_manifest(staging, staged)  # the compressed model loads from it to be measured
        if before is not None and dev_set is not None:
            after, speed = measure_compressed(staging, source, dev_set, before, device)
            provenance = dataclasses.replace(provenance, **measured(before, after, speed))
            metadata = compressed_metadata(manifest.metadata, details, after, speed)
            write_manifest(staging, dataclasses.replace(staged, compression=provenance, metadata=metadata))
        check_target(target, source, name, overwrite=overwrite)  # again: minutes have passed
        swap_in(staging, target)
    except BaseException:  # an error or Ctrl-C: nothing half-made is left behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if store is not None:
        register(store, target, read_manifest(target))
    return target, provenance


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m longbert.compress",
        description="Make a compressed copy of a trained classifier as a new checkpoint.",
    )
    parser.add_argument("--model", required=True, help="source checkpoint: a folder or a name under models/")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--name", required=True, help="name of the new checkpoint")
    parser.add_argument("--dev", help="labelled file to measure accuracy before/after on (as evaluate reads)")
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip rows of --dev and --calibration that cannot be used (a warning counts them), as "
        "evaluate's option does",
    )
    parser.add_argument(
        "--output-dir",
        help="the new checkpoint's own folder, as train's --output-dir (default: models/NAME); "
        "not a folder to put it in",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing checkpoint there (only a LongBERT checkpoint, never the source; "
        "it is removed once the new one is complete)",
    )
    parser.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="register the new model in the database, as train does (default: when it is saved in "
        "the models folder)",
    )
    parser.add_argument("--device", help="cpu or cuda (default: LONGBERT_DEVICE, else CUDA when present)")
    parser.add_argument(
        "--texts",
        nargs="*",
        default=[],
        help=f"early-exit: texts to distil on ({TEXT_FILES}; a table's text column is the source "
        "model's, as for --dev, when the file has it, else 'text'; rows without text are "
        "skipped and counted): the training texts plus any unlabelled ones",
    )
    parser.add_argument(
        "--exit-threshold",
        type=float,
        help="early-exit: the stored normalised-entropy threshold (0-1); default: calibrated on "
        "--calibration-texts or --calibration (else --dev), else 0.2 uncalibrated",
    )
    parser.add_argument(
        "--calibration",
        help="early-exit: labelled file the threshold is chosen on (then --dev only measures; "
        "without it the choice is made on --dev, whose accuracy_after is then optimistic)",
    )
    parser.add_argument(
        "--calibration-texts",
        nargs="+",
        metavar="FILE",
        help="early-exit: unlabelled texts the threshold is chosen on (as --texts reads them), by "
        "agreement with the full model alone; ideally texts the exits were not distilled on",
    )
    parser.add_argument(
        "--max-accuracy-loss",
        type=float,
        default=0.5,
        metavar="POINTS",
        help="early-exit: the largest threshold whose labels differ from the full model's on at most "
        "this percentage of the calibration documents is stored -- so it loses at most this many "
        "accuracy points there (default 0.5)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="distill: epochs over --texts (default 3)")
    parser.add_argument(
        "--hidden",
        choices=HIDDEN_TARGETS,
        default=HIDDEN_TARGETS[0],
        help="distill: the hidden-state loss -- 'cls' (the final [CLS] vector; default) or 'layers' "
        "(TinyBERT's: every student layer against its teacher layer, every token; several times "
        "slower: 6x in one run beside a training job)",
    )
    add_strategy_param(
        parser,
        "read with this parameter of the source's strategy replaced (repeatable), e.g. "
        "stride=510 for a chunk model: windows without overlap, about half the tokens",
    )
    return parser


#: What Ctrl-C prints (:func:`compress` removes its staging folder on the way out).
INTERRUPTED = "Interrupted: nothing was saved (the partly written checkpoint was removed)."


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    outcome, code = run_command(lambda: _compress_as_asked(args), interrupted=INTERRUPTED)
    if outcome is None:
        return code
    folder, provenance = outcome
    print(f"Saved {args.method} model '{args.name}' to {folder}")
    if args.strategy_param:
        changed = ", ".join(f"{key}={json.dumps(value)}" for key, value in args.strategy_param)
        was = read_manifest(folder).metadata.get("compression", {}).get("source_strategy")
        print(f"it reads with {changed} (the source's strategy: {was})")
    if args.method == "early-exit":
        print(exit_threshold_summary(read_manifest(folder).metadata.get("compression", {})))
    if provenance.accuracy_before is not None and provenance.accuracy_after is not None:
        print(
            f"accuracy on {provenance.dev_data}: {100 * provenance.accuracy_before:.2f} before, "
            f"{100 * provenance.accuracy_after:.2f} after"
        )
    if provenance.docs_per_second_before and provenance.docs_per_second_after:
        speed = read_manifest(folder).metadata.get("compression", {}).get("speed", {})
        print(
            f"docs/s here: {provenance.docs_per_second_before:.1f} before, "
            f"{provenance.docs_per_second_after:.1f} after ({speed.get('how', 'on it')})"
        )
    return 0


def _print_warning(message: Warning | str, *args: object, **kwargs: object) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _compress_as_asked(args: argparse.Namespace) -> tuple[Path, Compression]:
    """:func:`compress` as the command line asks, each warning printed as one line when given
    (before an error too: a restored checkpoint or skipped rows are said either way). The
    methods' own checks raise plain ValueErrors: they become CompressError, printed as any
    error is."""
    text_column = "text"
    if args.texts or args.calibration_texts:  # the source's, as for --dev, where a table has it
        from longbert.evaluate import data_options

        text_column = data_options(read_manifest(resolve_checkpoint(args.model)).metadata)["text_column"]
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _print_warning
            warnings.simplefilter("always", UncalibratedThresholdWarning)
            warnings.simplefilter("always", CompressNotice)
            folder, provenance = compress(
                args.model,
                args.method,
                args.name,
                dev=args.dev,
                output_dir=args.output_dir,
                overwrite=args.overwrite,
                device=args.device,
                texts=read_texts(args.texts, text_column),
                exit_threshold=args.exit_threshold,
                calibration=args.calibration,
                calibration_texts=(
                    read_texts(args.calibration_texts, text_column) if args.calibration_texts else None
                ),
                calibration_source=", ".join(args.calibration_texts or []),
                max_accuracy_loss=args.max_accuracy_loss,
                distill_epochs=args.epochs,
                distill_hidden=args.hidden,
                strategy_params=dict(args.strategy_param),
                skip_bad_rows=args.skip_bad_rows,
                record=args.record,
            )
    except ValueError as error:
        if isinstance(error, LongBertError):
            raise
        raise CompressError(str(error)) from error
    return folder, provenance


if __name__ == "__main__":
    raise SystemExit(main())

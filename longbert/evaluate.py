"""``python -m longbert.evaluate --model models/<name> --data FILE``: score a checkpoint on labelled data.

Prints accuracy, macro-F1, per-class precision/recall/F1, the confusion matrix and throughput
(documents per second, end to end: tokenising, the strategy and the model, exactly as
``predict`` runs in the app); ``--json`` prints the same report as JSON for scripts.

The text and label columns and the label delimiter default to those the checkpoint was trained
with (its ``longbert.json``), else ``text``, ``label`` and ``,``. The data may hold a single
class; ``--skip-bad-rows`` skips unusable rows (counted and listed in the report).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

import numpy as np

from longbert.errors import LongBertError


def evaluate(
    model: str | os.PathLike[str] | Any,
    data: str | os.PathLike[str] | Any,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_delimiter: str | None = None,
    strategy: dict[str, Any] | str | None = None,
    batch_size: int = 8,
    threshold: float = 0.5,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    skip_bad_rows: bool = False,
    exit_threshold: float | None = None,
) -> dict[str, Any]:
    """Score ``model`` (a checkpoint folder/name or a loaded classifier) on labelled ``data``
    (a path or a :class:`~longbert.data.LabeledDataset`; one class is enough).

    ``text_column``, ``label_column``, ``label_delimiter``: None = the checkpoint's training
    options (see :func:`data_options`). ``skip_bad_rows`` skips rows that cannot be used instead
    of raising. ``exit_threshold``: an early-exit model's threshold, from 0 to 1 (None: its own;
    see :func:`longbert.inference.predict`); a model without exits runs every layer, and the
    report's ``warnings`` say the threshold had no effect. Returns the metrics report of
    :mod:`longbert.training.metrics` plus ``docs_per_second``, ``seconds``, ``model``, ``data``,
    ``strategy``, ``device``, ``precision`` (what the model ran in: ``float32``, ``bfloat16``...),
    ``exit_threshold`` (the one in force; None without exits), ``errors`` (documents the model
    could not read; left out of the metrics), ``rows_skipped``, ``problems`` (what loading
    skipped or noticed) and ``warnings``. Raises DatasetError when the data has labels the model
    does not know, ExitThresholdError (a ValueError) for a threshold outside 0..1.
    """
    from longbert import load_classifier
    from longbert.classifier import DocumentClassifier
    from longbert.data import LabeledDataset, load_dataset
    from longbert.devices import dtype_name, resolve_device
    from longbert.exit_threshold import check_exit_threshold, has_exits, no_exits_message, threshold_in_force
    from longbert.readers import TableOptions
    from longbert.strategies import parse_strategy
    from longbert.training.datasets import targets
    from longbert.training.metrics import report_from_probabilities

    # Checked before anything loads: a typo (here or in LONGBERT_DEVICE) is a DeviceError.
    target = resolve_device(device or None)
    exit_threshold = check_exit_threshold(exit_threshold)
    if isinstance(model, DocumentClassifier):  # a fine-tuned or a zero-shot-prior model
        classifier = model.to(target)
    else:
        classifier = load_classifier(model, device=target, precision="auto")
    if isinstance(data, LabeledDataset):
        dataset = data
    else:
        options = data_options(classifier.metadata)
        given = {"text_column": text_column, "label_column": label_column, "label_delimiter": label_delimiter}
        options.update({k: v for k, v in given.items() if v is not None})
        table = TableOptions(
            text_column=options["text_column"],
            label_column=options["label_column"],
            label_delimiter=options["label_delimiter"] if classifier.multi_label else None,
        )
        dataset = load_dataset(
            data,
            table=table,
            multi_label=classifier.multi_label,
            skip_bad_rows=skip_bad_rows,
            min_classes=1,  # a test set of one class is still a score
        )
    truth = targets(dataset, classifier.labels)
    # A spec may carry model settings (pooling, attention window): they apply to this run.
    chosen, settings = parse_strategy(strategy) if strategy is not None else (classifier.strategy, {})
    warned: list[str] = []
    exits: dict[str, float] = {}
    if exit_threshold is not None:
        if has_exits(classifier):
            exits["exit_threshold"] = exit_threshold
        else:  # said in the report (and by the command), not warned again by predict
            warned.append(no_exits_message(classifier.name, exit_threshold))
    started = perf_counter()
    results = classifier.predict(
        dataset.documents(),
        strategy=chosen,
        **settings,
        batch_size=batch_size,
        attention="none",
        threshold=threshold,
        progress=progress,
        **exits,
    )
    seconds = perf_counter() - started
    ok = [i for i, r in enumerate(results) if r.ok]
    errors = [{"name": r.document_name, "message": r.message} for r in results if not r.ok]
    probabilities = np.asarray(
        [[results[i].probabilities[label] for label in classifier.labels] for i in ok], dtype=np.float32
    ).reshape(len(ok), len(classifier.labels))
    report = report_from_probabilities(
        probabilities, truth[ok], classifier.labels, classifier.multi_label, threshold
    )
    report.update(
        model=classifier.name,
        data=str(getattr(dataset.report, "source", dataset.name)),
        strategy=chosen.config(),
        device=str(classifier.device),
        precision=dtype_name(classifier.inference_dtype()),  # as predict records it
        exit_threshold=threshold_in_force(classifier, exit_threshold),
        seconds=seconds,
        docs_per_second=len(results) / max(seconds, 1e-9),
        errors=errors,
        duplicates_dropped=dataset.report.duplicates_dropped,
        rows_skipped=dataset.report.rows_skipped,
        problems=list(dataset.report.problems),
        warnings=warned,
    )
    return report


def data_options(metadata: dict[str, Any]) -> dict[str, str]:
    """``text_column``, ``label_column``, ``label_delimiter`` of a checkpoint's training run
    (``metadata["training"]["config"]`` in its ``longbert.json``), else the defaults."""
    training = metadata.get("training") if isinstance(metadata, dict) else None
    config = training.get("config") if isinstance(training, dict) else None
    config = config if isinstance(config, dict) else {}
    defaults = {"text_column": "text", "label_column": "label", "label_delimiter": ","}
    return {k: v if isinstance(v := config.get(k), str) and v else d for k, d in defaults.items()}


def how_it_ran(report: dict[str, Any]) -> str:
    """The text report's line on how the model ran: its precision, device and exit threshold."""
    threshold = report.get("exit_threshold")
    exits = "no early exits" if threshold is None else f"early-exit threshold {threshold:g}"
    return f"ran in {report['precision']} on {report['device']}, {exits}"


def build_parser() -> argparse.ArgumentParser:
    from longbert.cli_common import add_exit_threshold

    parser = argparse.ArgumentParser(
        prog="python -m longbert.evaluate",
        description="Score a trained LongBERT checkpoint on labelled data: accuracy, macro-F1, "
        "per-class precision/recall, confusion matrix, documents per second.",
    )
    parser.add_argument("--model", required=True, help="Checkpoint folder, or a model name under models/.")
    parser.add_argument(
        "--data", required=True, help="Labelled .jsonl/.csv file (optionally .gz) or a folder per label."
    )
    parser.add_argument(
        "--text-column", help="Column/key with the text (default: the checkpoint's, else text)."
    )
    parser.add_argument(
        "--label-column", help="Column/key with the label (default: the checkpoint's, else label)."
    )
    parser.add_argument(
        "--label-delimiter",
        help="Separator of several labels in one string, for multi-label models (default: the "
        "checkpoint's, else ',').",
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="Skip rows that cannot be used (empty text, no label, broken JSON, unreadable files) "
        "instead of stopping; they are counted and listed. A missing column always stops.",
    )
    parser.add_argument(
        "--strategy",
        help="Override the checkpoint's strategy (default: the one it was trained with), e.g. chunk.",
    )
    parser.add_argument(
        "--strategy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Parameter of the overriding strategy (repeatable; VALUE is JSON).",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="Windows per forward pass (default: 8).")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="Multi-label decision threshold (default: 0.5)."
    )
    add_exit_threshold(parser)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available).")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON (for scripts).")
    parser.add_argument("--output", metavar="FILE", help="Also write the JSON report to FILE.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from longbert.cli_common import check_output, parse_param, run_command

    args = build_parser().parse_args(argv)
    strategy: dict[str, Any] | None = None
    try:
        params = dict(parse_param(p) for p in args.strategy_param)
    except argparse.ArgumentTypeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.strategy or params:
        if not args.strategy:
            print("error: --strategy-param needs --strategy.", file=sys.stderr)
            return 2
        strategy = {"name": args.strategy, "params": params}
    try:
        # Before the evaluation: a report that cannot be written would be lost after all of it.
        output = check_output(args.output, "--output") if args.output else None
    except LongBertError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report, code = run_command(
        lambda: evaluate(
            args.model,
            args.data,
            text_column=args.text_column,
            label_column=args.label_column,
            label_delimiter=args.label_delimiter,
            strategy=strategy,
            batch_size=args.batch_size,
            threshold=args.threshold,
            device=args.device,
            skip_bad_rows=args.skip_bad_rows,
            exit_threshold=args.exit_threshold,
        ),
        interrupted="Interrupted: no report was written.",  # it is written only once complete
    )
    if report is None:
        return code
    for warning in report.get("warnings", ()):  # on stderr: --json keeps stdout one JSON document
        print(f"warning: {warning}", file=sys.stderr)
    text = json.dumps(report, indent=2)
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text + "\n")
        except OSError as error:  # checked above; the disk may still be full
            print(f"error: --output {output}: the report could not be written ({error}).", file=sys.stderr)
            print(text)
            return 2
    if args.json:
        print(text)
    else:
        from longbert.training.metrics import format_report

        print(
            format_report(
                report, title=f"{report['model']} on {report['data']} ({report['strategy']['name']}):"
            )
        )
        print(f"  {how_it_ran(report)}")
        for error in report["errors"]:
            print(f"  could not read {error['name']}: {error['message']}")
        for problem in report["problems"]:
            print(f"  note: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

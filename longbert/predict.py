"""``python -m longbert.predict``: label a corpus, streaming and resumable, here or on a Ray cluster.

Examples::

    python -m longbert.predict --model news --input corpus/ --output labels.jsonl
    python -m longbert.predict --labels "sport=matches, teams" "economy=markets, prices" \\
        --input articles.csv --text-column body --id-column doc_id --output labels.parquet
    python -m longbert.predict --model news --input corpus/ --output labels.csv --engine ray \\
        --ray-address auto --workers 8 --gpus-per-worker 1

Re-running the same command after a crash, Ctrl-C or kill -9 skips what is already in the output
(and the store) and finishes the rest. See :mod:`longbert.bulk` for the Python API.

Exit status: 0 when the output holds labelled documents (some inputs may have failed: the
summary counts them, the ``error`` column says why); 1 when nothing was labelled (every input of
this run failed, or the output holds no labelled row, e.g. no input was found); 2 for a refused
command (bad options, an output of other settings...); 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from longbert.cli_common import add_exit_threshold, new_parser, run_command

if TYPE_CHECKING:
    from longbert.bulk.runner import RunSummary


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(
        "python -m longbert.predict",
        "Label many long documents with a LongBERT model (or zero-shot labels): read, "
        "classify and write in batches with bounded memory; every prediction also goes to the "
        "store as one batch History shows. Re-run the same command to resume.",
        "Inputs: files and folders (walked recursively), .zip and .gz archives, txt/md/html/pdf/"
        "docx files, and tables (.csv/.tsv/.jsonl/.json/.parquet, optionally .gz) with one document "
        "per row, whose other columns are carried to the output unchanged. Output rows, one per "
        "input (an input labelled again replaces its row): id, name, sha256, label (the most "
        "probable), for a multi-label model also labels (every label at or over its threshold; "
        'in CSV a JSON list such as ["econ", "sport"]) and threshold, every label\'s probability, '
        "used/total tokens, strategy, model, precision (what the model ran in), exit_threshold "
        "(an early-exit model's threshold in force), error. CSV is UTF-8 with a byte-order mark (for "
        "Excel), and a cell starting with = + - @ is written with a leading ' so that no "
        "spreadsheet runs it as a formula. Exit status: 0 when something was labelled, 1 when "
        "nothing was (every input failed), 2 when the command is refused.",
    )
    model = parser.add_argument_group("model")
    which = model.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--model",
        metavar="NAME_OR_FOLDER",
        help="A trained checkpoint: a folder, or a name under models/ (LONGBERT_MODELS_DIR).",
    )
    which.add_argument(
        "--labels",
        nargs="+",
        metavar="LABEL[=DESCRIPTION]",
        help="Zero-shot instead of a model: label names with optional descriptions "
        '("sport=matches, teams" "economy=markets"), or one JSON file holding '
        "{label: description} or a list of labels.",
    )
    model.add_argument(
        "--encoder",
        metavar="NAME_OR_FOLDER",
        help="Zero-shot only: the sentence-embedding encoder (default: the packaged one).",
    )
    model.add_argument(
        "--strategy",
        choices=("truncate", "key_sentences", "chunk", "sparse"),
        help="Long-input strategy overriding the model's own (default: the model's).",
    )
    model.add_argument(
        "--strategy-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A strategy parameter (repeatable), e.g. max_tokens=4096 or window=256; "
        "applies to --strategy, else to the model's own strategy.",
    )
    add_exit_threshold(model)
    model.add_argument(
        "--device", help="cpu, cuda, cuda:1 (default: LONGBERT_DEVICE, else CUDA when present, else the CPU)."
    )
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="PATH",
        help="Files or folders to label (several allowed).",
    )
    io.add_argument(
        "--output",
        required=True,
        type=Path,
        metavar="FILE",
        help="results.jsonl, .csv or .parquet. Kept while running: a re-run resumes it. An "
        "existing file that an earlier run here did not write is refused (see --overwrite), "
        "as is an input file, always.",
    )
    io.add_argument(
        "--overwrite",
        action="store_true",
        help="Start over at --output: replace the file there (whoever wrote it, and whatever "
        "run made it) and its .rows.jsonl and .predict.json, instead of resuming or refusing. "
        "The earlier run's store batch stays in History; this run makes a new one.",
    )
    io.add_argument(
        "--text-column",
        default="text",
        help="Column (CSV/Parquet) or key (JSON) holding each row's text (default: text).",
    )
    io.add_argument(
        "--id-column",
        default="id",
        help="Column holding each row's id, written as the row's id (default: id; a row "
        "without one is identified by its name, e.g. data.csv#row=12).",
    )
    run = parser.add_argument_group("running")
    run.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="Windows per forward pass; with --engine ray also documents per actor call "
        "is 4x this (default: 8).",
    )
    run.add_argument(
        "--attention",
        choices=("summary", "none"),
        default="summary",
        help="Store each prediction's attention summary (default) or none (faster, smaller).",
    )
    run.add_argument(
        "--no-store",
        action="store_true",
        help="Write the output only, not the store (default: the store at LONGBERT_DB_URL, "
        "else db/longbert.sqlite; PostgreSQL for runs on many machines).",
    )
    run.add_argument(
        "--batch-name", help="Name of the store batch History shows (default: predict → OUTPUT)."
    )
    run.add_argument("--quiet", action="store_true", help="No progress bar (it is shown only on a terminal).")
    ray = parser.add_argument_group("engine")
    ray.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default: this process) or ray (Ray Data actors; pip install -r requirements-ray.txt).",
    )
    ray.add_argument(
        "--ray-address",
        default=os.environ.get("RAY_ADDRESS"),
        help="Ray cluster to join (e.g. auto or ray://head:10001; default: RAY_ADDRESS, else "
        "a local Ray instance started for this run).",
    )
    ray.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Ray: model actors, each loading the classifier once (default: 1).",
    )
    ray.add_argument(
        "--gpus-per-worker",
        type=float,
        default=0.0,
        help="Ray: GPUs per actor (default: 0 = CPU; 0.5 puts two actors on a GPU).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run():
        from longbert.bulk.model import ModelSpec, parse_labels
        from longbert.bulk.runner import PredictOptions, run_predict
        from longbert.cli_common import parse_param

        spec = ModelSpec(
            model=args.model,
            labels=parse_labels(args.labels) if args.labels else None,
            encoder=args.encoder,
            strategy=args.strategy,
            strategy_params=dict(parse_param(p) for p in args.strategy_param),
            device=args.device,
            exit_threshold=args.exit_threshold,
        )
        options = PredictOptions(
            spec=spec,
            inputs=list(args.input),
            output=args.output,
            text_column=args.text_column,
            id_column=args.id_column or None,
            batch_size=args.batch_size,
            attention=args.attention,
            store=not args.no_store,
            engine=args.engine,
            ray_address=args.ray_address,
            workers=args.workers,
            gpus_per_worker=args.gpus_per_worker,
            quiet=args.quiet,
            batch_name=args.batch_name,
            overwrite=args.overwrite,
        )
        return run_predict(options)

    summary, code = run_command(
        run, interrupted="Interrupted: re-run the same command to finish (what is done is kept)."
    )
    if summary is None:
        return code
    where = f"; store batch #{summary.batch_id}" if summary.batch_id is not None else ""
    held = f"{summary.rows:,} rows: {summary.labelled:,} labelled, {summary.rows - summary.labelled:,} errors"
    print(f"{summary.text} Output: {summary.output} ({held}{where}).", file=sys.stderr)
    failed = nothing_labelled(summary)
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


def nothing_labelled(summary: RunSummary) -> str | None:
    """Why the run labelled nothing (exit status 1), or None when it labelled something."""
    where = f"see the error column of {summary.output}"
    # The output decides, not this run alone: a resumed run whose new inputs all failed, beside
    # rows labelled before, exits 0 as the same command would on a second try (errors listed).
    if summary.labelled == 0:
        if summary.rows == 0:
            return "nothing was labelled: no input document was found (check --input)."
        return f"nothing was labelled: the output holds only errors ({summary.rows:,} rows; {where})."
    return None


if __name__ == "__main__":
    sys.exit(main())

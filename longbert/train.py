"""``python -m longbert.train``: fine-tune a long-document classifier.

Examples::

    python -m longbert.train --train data/train.jsonl --name news
    python -m longbert.train --train docs/ --strategy chunk --strategy-param max_chunks=8 --name reports
    python -m longbert.train --config train.toml --epochs 5          # file values, CLI overrides
    python -m longbert.train --name news --resume                      # after Ctrl-C, a crash, kill -9
    torchrun --nproc_per_node=4 -m longbert.train --train big.jsonl    # several GPUs, same code
    python -m longbert.train --train few.jsonl --mode few-shot         # a handful of labels

``--mode auto`` (the default) trains few-shot (SetFit's recipe, :mod:`longbert.fewshot`) when the
rarest label has fewer than ``--few-shot-below`` (16) training documents, else fine-tunes; the
mode used is recorded with the run and in the checkpoint.

The best checkpoint goes to ``models/<name>/`` (with ``metrics.json``); the loop lives in
:mod:`longbert.training`, whose :class:`~longbert.training.TrainConfig` defines every option.

``--resume`` continues the interrupted run with its saved options: an option not given comes
from that run, and an option given (on the command line or in ``--config``) must equal its saved
value -- a differing one is refused with the saved and given values -- except the options that
may change on resume: --epochs, --patience, --test, --device, --threads, --eval-batch-size,
--quiet, --log-every, --save-every-minutes, --output-dir. The train and dev data must be the
ones it started on: rows edited since are refused, naming the set and its rows before and now.

``--output-dir`` must be new, empty, or a model's (or interrupted run's) folder: a folder of
other files is never written into, with ``--overwrite`` or without.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from longbert.cli_common import new_parser, run_job
from longbert.training.cli_options import add_arguments, config_from_args, given_options
from longbert.training.modes import FRONT_END_MODE


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(
        "python -m longbert.train",
        "Fine-tune a BERT [CLS] classifier on labelled long documents, with a long-input "
        "strategy (truncate, key_sentences, chunk, sparse) stored in the checkpoint.",
        "Data: .jsonl/.csv (optionally .gz) with text and label columns, or a folder with one "
        "sub-folder per label (txt, md, html, pdf, docx files). Several GPUs/machines: launch the "
        "same command with torchrun.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON or TOML file of options (same names as below, '-' or '_'); command-line options "
        "override it.",
    )
    add_arguments(parser)
    for action in parser._actions:
        if action.dest == "mode":  # the front end's default, not the Python API's (see TrainConfig)
            action.help = str(action.help).replace("(default: 'fine-tune')", f"(default: '{FRONT_END_MODE}')")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(build_parser(), argv, _train, _describe)


def _train(args: argparse.Namespace) -> Any:
    from longbert.training import train

    given = given_options(args)
    config = config_from_args(args)
    if "mode" not in given:
        config = dataclasses.replace(config, mode=FRONT_END_MODE)
    config.validate()  # (as train does first) the folder tidied below is then a run's own
    try:
        return train(config, given=given)
    finally:
        _drop_page_data(config.output_path)


def _drop_page_data(output: Path) -> None:
    """A Train page run keeps its training data in ``output/.train-data`` for its resume; once
    the run has ended and no resumable state needs it (a resume that finished, a run replaced),
    it goes now, as at the end of the page's own runs, not at the next page run of that name.
    By the main process only (one under torchrun); a failure here never hides the run's own."""
    if os.environ.get("RANK", "0") != "0":
        return
    from longbert.ui.training_runs import drop_unneeded_data

    with contextlib.suppress(OSError):
        drop_unneeded_data(output)


def _describe(result: Any) -> str:
    best = result.best_metrics or {}
    if result.status != "done":
        return f"Run {result.status}; {result.seconds:.0f} s in all."
    mode = (result.history[-1].get("mode") if result.history else None) or "fine-tune"
    method = result.history[-1].get("few_shot_method") if mode == "few-shot" else None
    where = f"epoch {result.best_epoch}" if mode != "few-shot" else f"few-shot ({method})" if method else mode
    return (
        f"Best checkpoint: {result.output_dir} ({where}, accuracy "
        f"{100 * best.get('accuracy', 0):.2f}, macro-F1 {100 * best.get('macro_f1', 0):.2f}); "
        f"{result.seconds:.0f} s in all."
    )


if __name__ == "__main__":
    sys.exit(main())

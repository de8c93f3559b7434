"""``python -m longbert.pretrain``: continue MLM pre-training of a BERT encoder on your documents.

Examples::

    python -m longbert.pretrain docs/ --name news-encoder --max-minutes 30 --max-steps 600
    python -m longbert.pretrain --from-store --batch 3 --name my-domain      # documents in the database
    python -m longbert.pretrain corpus.jsonl.gz --strategy sparse --max-tokens 4096 --name long-news
    python -m longbert.pretrain --name news-encoder --resume                  # after Ctrl-C or kill -9
    torchrun --nproc_per_node=2 -m longbert.pretrain docs/ --name news-encoder

then ``python -m longbert.train --encoder models/news-encoder ...``. The objective is
BERT's masked language model (15% selected: 80% [MASK], 10% random, 10% unchanged; masks drawn
afresh each pass) without next-sentence prediction, which RoBERTa found does not help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from longbert.cli_common import new_parser, run_job
from longbert.pretraining.config import add_arguments, config_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(
        "python -m longbert.pretrain",
        "Continue masked-language-model pre-training of a BERT encoder on unlabelled documents "
        "(domain/task adaptation; --strategy sparse trains long inputs), saving an encoder folder that "
        "--encoder accepts.",
        "Corpus: files or folders (txt, md, html, pdf, docx, JSONL/CSV rows, zip, gz; labels are "
        "ignored) and/or --from-store. Several GPUs/machines: launch the same command with torchrun.",
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(build_parser(), argv, _pretrain, _describe)


def _pretrain(args: argparse.Namespace) -> Any:
    from longbert.pretraining import pretrain

    config, given = config_from_args(args)
    return pretrain(config, given=given)


def _describe(result: Any) -> str:
    before, after = result.heldout.get("before"), result.heldout.get("after")
    shown = ""
    if before and after:
        shown = (
            f"; held-out perplexity {before['perplexity']:,.1f} -> {after['perplexity']:,.1f} "
            f"(loss {before['loss']:.3f} -> {after['loss']:.3f})"
        )
    return (
        f"Encoder: {result.output_dir} ({result.steps:,} steps, final MLM loss "
        f"{result.final_loss if result.final_loss is None else round(result.final_loss, 4)}{shown}; "
        f"{result.tokens_seen / max(result.seconds, 1e-9):,.0f} tokens/s over {result.seconds:.0f} s)."
    )


if __name__ == "__main__":
    sys.exit(main())

"""``python -m longbert.pretrain``: continue MLM pre-training of a BERT encoder on your documents.

Examples::

    python -m longbert.pretrain docs/ --name news-encoder --max-minutes 30 --max-steps 600
    python -m longbert.pretrain --from-store --batch 3 --name my-domain      # documents in the database
    python -m longbert.pretrain corpus.jsonl.gz --strategy sparse --max-tokens 4096 --name long-news
    python -m longbert.pretrain --name news-encoder --resume                  # after Ctrl-C or kill -9
    torchrun --nproc_per_node=2 -m longbert.pretrain docs/ --name news-encoder

then ``python -m longbert.train --encoder models/news-encoder ...``. Exit codes: 0 done, 2 error,
130 interrupted (resume with --resume), 3 when the time budget ended the run before the encoder
was trained (the folder holds the source's weights and a note says so). The objective is
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


#: Exit code of a run that ended (by its time budget) before the encoder was ever trained: the
#: folder is saved, but it holds the source's weights, so a script must not go on to fine-tune it.
NOT_TRAINED = 3


def main(argv: Sequence[str] | None = None) -> int:
    results: list[Any] = []

    def job(args: argparse.Namespace) -> Any:
        results.append(_pretrain(args))
        return results[-1]

    code = run_job(build_parser(), argv, job, _describe)
    if code == 0 and results and not results[-1].encoder_trained:
        why = [note for note in results[-1].notes if "NOT trained" in note]
        print(f"warning: {' '.join(why) or 'the encoder was not trained.'}", file=sys.stderr)
        return NOT_TRAINED
    return code


def _pretrain(args: argparse.Namespace) -> Any:
    from longbert.pretraining import pretrain

    config, given = config_from_args(args)
    return pretrain(config, given=given)


def _describe(result: Any) -> str:
    # The reference is the held-out text once the new MLM head has warmed up: before it, a
    # random head's perplexity (tens of thousands) says nothing about the encoder.
    before = result.heldout.get("after_head_warmup") or result.heldout.get("before")
    after = result.heldout.get("after")
    shown = ""
    if before and after:
        shown = (
            f"; held-out perplexity {before['perplexity']:,.1f} -> {after['perplexity']:,.1f} "
            f"(loss {before['loss']:.3f} -> {after['loss']:.3f}"
            f"{', from the end of the MLM head warm-up' if 'after_head_warmup' in result.heldout else ''})"
        )
    saved = "Encoder" if result.encoder_trained else "Encoder saved but NOT trained (the source's weights)"
    return (
        f"{saved}: {result.output_dir} ({result.steps:,} steps, "
        f"{result.encoder_steps if result.encoder_steps is not None else '?'} of them training the "
        f"encoder, final MLM loss "
        f"{result.final_loss if result.final_loss is None else round(result.final_loss, 4)}{shown}; "
        f"{result.tokens_seen / max(result.seconds, 1e-9):,.0f} tokens/s over {result.seconds:.0f} s)."
    )


if __name__ == "__main__":
    sys.exit(main())

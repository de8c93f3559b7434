"""One stray quote must not swallow a CSV silently: readers, training and evaluation all say
"row N: unterminated quote", and no metric is ever computed on what is left of the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import DatasetError
from longbert.data import load_dataset
from longbert.evaluate import main as evaluate_main
from longbert.readers import TableOptions, read_bytes
from longbert.training import TrainConfig, train

LABELS = TableOptions(label_column="label")


def table(rows: int = 1000, *, quoted: bool = False, stray_at: int | None = 3) -> bytes:
    lines = ["id,text,label"]
    for i in range(1, rows + 1):
        text = f'"Document number {i}, about sport"' if quoted else f"Document number {i} about politics"
        lines.append(f"{i},{text},{'sport' if i % 2 else 'politics'}")
    if stray_at is not None:
        lines[stray_at] = f'{stray_at},"A stray quote opens here and never closes,sport'
    return ("\n".join(lines) + "\n").encode()


def test_a_stray_quote_that_runs_to_the_end_is_reported_with_its_row() -> None:
    items = list(read_bytes("data.csv", table(), table=LABELS))
    good = [item for item in items if item.ok]
    bad = [item for item in items if not item.ok]
    assert len(good) == 2
    (error,) = bad
    assert error.row == 3 and error.kind == "corrupt"
    assert error.message.startswith("data.csv#row=3: unterminated quote")
    assert "line 4" in error.reason and "never closed" in error.reason


@pytest.mark.parametrize("columns", [LABELS, TableOptions(), TableOptions(id_column=None)])
def test_a_stray_quote_closed_by_the_next_quoted_row_is_reported(columns: TableOptions) -> None:
    items = list(read_bytes("data.csv", table(quoted=True), table=columns))
    bad = [item for item in items if not item.ok]
    assert [(e.row, e.reason.split(":")[0]) for e in bad] == [(3, "unterminated quote")]
    assert sum(item.ok for item in items) == 998  # row 3 and the row it swallowed are not guessed


def test_a_last_row_with_an_open_quote_is_reported() -> None:
    data = b'text,label\nfine,sport\n"cut short,politics\n'
    items = list(read_bytes("tail.csv", data, table=LABELS))
    assert [item.ok for item in items] == [True, False]
    assert items[1].row == 2 and "unterminated quote" in items[1].reason


def test_paragraphs_in_a_quoted_text_are_still_one_document() -> None:
    text = (
        "First paragraph, with commas, and a quote \"\"inside\"\".\n\n"
        "Second paragraph: it goes on for a while, then stops.\n"
        "Third line, still prose"
    )
    data = f'id,text,label\n1,"{text}",sport\n2,plain,politics\n3,"{text}",politics\n'.encode()
    items = list(read_bytes("paragraphs.csv", data, table=LABELS))
    assert all(item.ok for item in items)
    assert items[0].document.text == text.replace('""', '"')
    assert [item.labels for item in items] == [("sport",), ("politics",), ("politics",)]


def test_load_dataset_refuses_the_file_even_when_skipping_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(table())
    for skip in (False, True):
        with pytest.raises(DatasetError, match=r"train\.csv(.|\n)*row 3: unterminated quote"):
            load_dataset(path, skip_bad_rows=skip)
    path.write_bytes(table(stray_at=None))
    assert len(load_dataset(path)) == 1000


def test_training_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(table(rows=40))
    encoder = save_tiny_encoder(tmp_path / "tiny-bert")  # checked before the data is read
    config = TrainConfig(train=str(path), encoder=str(encoder), output_dir=str(tmp_path / "m"), quiet=True,
                         record=False, device="cpu", skip_bad_rows=True)
    with pytest.raises(DatasetError, match="row 3: unterminated quote"):
        train(config)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quotes")
    train_file = write_jsonl(root / "train.jsonl", make_rows(24))
    return train_quick_model(root, train_file, save_tiny_encoder(root / "tiny-bert", **TRAIN_ENCODER))


def test_evaluate_reports_no_metrics_on_a_swallowed_file(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = make_rows(12, seed=3)
    lines = ["text,label"] + [f"{row['text']},{row['label']}" for row in rows]
    lines[3] = f'"{rows[2]["text"]},{rows[2]["label"]}'
    path = tmp_path / "test.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = evaluate_main(["--model", str(model), "--data", str(path), "--device", "cpu", "--skip-bad-rows"])
    captured = capsys.readouterr()
    assert code == 2
    assert "test.csv" in captured.err and "row 3: unterminated quote" in captured.err
    assert "accuracy" not in captured.out.lower()

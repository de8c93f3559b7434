"""``python -m longbert.compress`` never loses what is saved: where it writes (``--name``,
``--output-dir``, ``--overwrite``), Ctrl-C, and the texts it reads (``--texts``)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import read_manifest
from longbert.compress import compress, main
from longbert.compression.target import CompressError
from longbert.compression.texts import read_texts

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compress-target")
    encoder = save_tiny_encoder(root / "tiny-bert", **TRAIN_ENCODER)
    return train_quick_model(root, write_jsonl(root / "train.jsonl", make_rows(24)), encoder)


@pytest.fixture
def models(trained: Path, isolated: Path) -> Path:
    """The models folder holding two trained models, ``m1`` and ``m2``."""
    folder = isolated / "models"
    for name in ("m1", "m2"):
        shutil.copytree(trained, folder / name)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def int8(*extra: str) -> list[str]:
    return ["--method", "int8", "--device", "cpu", *extra]


def test_an_output_dir_holding_the_source_is_refused_even_with_overwrite(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--output-dir M`` names the checkpoint's own folder (as train's): M, which holds m1 and
    m2, was deleted whole by ``--overwrite`` and became one int8 checkpoint."""
    before = snapshot(models)
    argv = int8("--model", str(models / "m1"), "--name", "m1-int8", "--output-dir", str(models))
    assert main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds the source model" in err and "own folder" in err and str(models / "m1-int8") in err
    assert snapshot(models) == before


def test_overwrite_replaces_a_checkpoint_only_never_another_folder(
    models: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = isolated / "work"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    argv = int8("--model", "m1", "--name", "m1-int8", "--output-dir", str(other), "--overwrite")
    assert main(argv) == 2
    assert "not a LongBERT checkpoint" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep me"
    # A checkpoint is replaced, once the new one is complete; nothing staged is left behind.
    assert main(int8("--model", "m1", "--name", "m2", "--overwrite")) == 0
    compression = read_manifest(models / "m2").compression
    assert compression is not None and compression.source_model == str(models / "m1")
    assert sorted(p.name for p in models.iterdir()) == ["m1", "m2"]


@pytest.mark.parametrize(
    "model, name, output_dir, message",
    [
        ("m1", "m1", None, "is the source model itself"),
        ("m1", "x", "m1/inside", "lies inside the source model"),
        ("m1", ".", None, "--name must be a plain folder name"),
        ("m1", "..", None, "--name must be a plain folder name"),
        ("m1", "", None, "--name must be a plain folder name"),
        ("m1", "a/b", None, "--name must be a plain folder name"),
    ],
)
def test_targets_that_would_lose_the_source_or_leave_models_are_refused(
    models: Path, model: str, name: str, output_dir: str | None, message: str
) -> None:
    before = snapshot(models.parent)
    with pytest.raises(CompressError, match=message):
        compress(
            model,
            "int8",
            name,
            output_dir=models / output_dir if output_dir else None,
            overwrite=True,
            device="cpu",
        )
    assert snapshot(models.parent) == before
    assert read_manifest(models / "m1").compression is None
    load_classifier(models / "m1", device="cpu")


def test_ctrl_c_prints_a_line_and_leaves_nothing_behind(
    models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("longbert.compress.write_manifest", interrupted)
    before = snapshot(models)
    assert main(int8("--model", "m1", "--name", "m1-int8")) == 130
    err = capsys.readouterr().err
    assert "Interrupted: nothing was saved" in err and "Traceback" not in err
    assert snapshot(models) == before  # no m1-int8, no staging folder


def test_tables_are_read_by_their_text_column_and_txt_by_line(tmp_path: Path) -> None:
    first = 'The central bank raised rates.\nMarkets fell, then "recovered".'
    second = "The team won the cup"
    table = tmp_path / "data.csv"
    table.write_text(
        f'id,text,label\nd0,"{first.replace(chr(34), chr(34) * 2)}",economy\nd1,{second},sport\n'
    )
    assert read_texts([str(table)]) == [first, second]
    gzipped = tmp_path / "data.tsv.gz"
    gzipped.write_bytes(gzip.compress(f"body\tlabel\n{second}\tsport\n".encode()))
    assert read_texts([str(gzipped)], text_column="body") == [second]
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "data.parquet"
    pq.write_table(pa.table({"id": ["d0", "d1"], "text": [first, second], "label": ["e", "s"]}), parquet)
    assert read_texts([str(parquet)]) == [first, second]
    lines = tmp_path / "texts.txt"
    lines.write_text("one text\n\nanother text\n")
    assert read_texts([str(lines), str(table)]) == ["one text", "another text", first, second]
    with pytest.raises(CompressError, match="no column 'body'"):
        read_texts([str(table)], text_column="body")
    other = tmp_path / "notes.md"
    other.write_text("# a heading")
    with pytest.raises(CompressError, match=r"notes\.md.*\.csv/\.tsv/\.jsonl/\.json/\.parquet"):
        read_texts([str(other)])
    with pytest.raises(CompressError, match="no such file"):
        read_texts([str(tmp_path / "missing.csv")])

"""``python -m longbert.compress`` never loses what is saved: where it writes (``--name``,
``--output-dir``, ``--overwrite``), Ctrl-C, and the texts it reads (``--texts``)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import read_manifest, write_manifest
from longbert.compress import compress, main
from longbert.compression.target import CompressError, CompressNotice
from longbert.compression.texts import read_texts
from longbert.encoder_export import STALE_STAGING_SECONDS

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
    # A table without the model's text column is read by 'text', as --texts always read it.
    assert read_texts([str(table)], text_column="body") == [first, second]
    with pytest.raises(CompressError, match="no column 'text'"):
        read_texts([str(gzipped)])
    other = tmp_path / "notes.md"
    other.write_text("# a heading")
    with pytest.raises(CompressError, match=r"notes\.md.*\.csv/\.tsv/\.jsonl/\.json/\.parquet"):
        read_texts([str(other)])
    with pytest.raises(CompressError, match="no such file"):
        read_texts([str(tmp_path / "missing.csv")])


def test_a_table_is_read_by_the_models_text_column_when_it_has_it_else_by_text(tmp_path: Path) -> None:
    both = write_jsonl(tmp_path / "both.jsonl", [{"body": "from body", "text": "from text"}])
    assert read_texts([str(both)], text_column="body") == ["from body"]
    only_text = write_jsonl(tmp_path / "text.jsonl", [{"text": "a text", "label": "x"}])
    assert read_texts([str(only_text)], text_column="body") == ["a text"]
    neither = write_jsonl(tmp_path / "neither.jsonl", [{"content": "a text"}])
    with pytest.raises(CompressError, match=r"holds no usable text \(text column 'body', else 'text'\)"):
        read_texts([str(neither)], text_column="body")


def test_compress_texts_with_a_text_field_work_for_a_model_trained_on_another_column(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before --texts read tables by the model's column, a .jsonl's 'text' field was what it
    read (--help said so): a model trained with --text-column body kept working with it."""
    manifest = read_manifest(models / "m1")
    training = manifest.metadata.get("training") or {}
    config = {**(training.get("config") or {}), "text_column": "body"}
    metadata = {**manifest.metadata, "training": {**training, "config": config}}
    write_manifest(models / "m1", dataclasses.replace(manifest, metadata=metadata))
    texts = write_jsonl(tmp_path / "texts.jsonl", [{"text": "one text"}, {"text": "another"}])
    assert main(int8("--model", "m1", "--name", "m1-int8", "--texts", str(texts))) == 0
    captured = capsys.readouterr()
    assert "Saved int8 model" in captured.out and "warning" not in captured.err


def test_rows_without_text_are_skipped_counted_and_named_in_one_warning(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = tmp_path / "texts.jsonl"
    rows = [{"text": "one"}, {"text": ""}, ["not", "an", "object"], {"other": "x"}, {"text": "two"}]
    texts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.warns(
        CompressNotice, match=r"skipped 3 of 5 rows .*rows 2, 3, 4; row 2: the row has no text"
    ):
        assert read_texts([str(texts)]) == ["one", "two"]
    csv = tmp_path / "texts.csv"
    csv.write_text("id,text\nd0,kept\nd1,\n")
    with pytest.warns(CompressNotice, match=r"skipped 1 of 2 rows .*texts\.csv.*rows 2"):
        assert read_texts([str(csv)]) == ["kept"]
    # From the command line: one warning line, and the run goes on.
    assert main(int8("--model", "m1", "--name", "m1-int8", "--texts", str(texts))) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "skipped 3 of 5 rows" in err and "rows 2, 3, 4" in err
    # A file with no usable text at all is still an error.
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"text": ""}, {"text": "  "}])
    with pytest.raises(
        CompressError, match=r"empty\.jsonl' holds no usable text.*row 1: the row has no text"
    ):
        read_texts([str(empty)])


def _age(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(folder, (then, then))


def test_a_killed_runs_stale_staging_folders_are_removed_by_the_next_compress(models: Path) -> None:
    """kill -9 or the OOM killer leaves ``.NAME.partial-*`` (a whole model copy) behind."""
    stale = models / ".m1-int8.partial-0123456789abcdef"
    shutil.copytree(models / "m1", stale)
    _age(stale, 2 * STALE_STAGING_SECONDS)
    stale_old = models / ".m1-int8.old-0123456789abcdef"
    stale_old.mkdir()
    _age(stale_old, 2 * STALE_STAGING_SECONDS)
    young = models / ".m1-int8.partial-fedcba9876543210"  # perhaps a run still going
    young.mkdir()
    other = models / ".m2.partial-0123456789abcdef"  # another target's: not this run's to judge
    other.mkdir()
    _age(other, 2 * STALE_STAGING_SECONDS)
    assert main(int8("--model", "m1", "--name", "m1-int8")) == 0
    assert sorted(p.name for p in models.iterdir()) == sorted(["m1", "m2", "m1-int8", young.name, other.name])


def test_an_old_checkpoint_a_killed_swap_left_aside_is_put_back_not_removed(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed after moving the old checkpoint aside and before moving the new one in: the
    ``.NAME.old-*`` folder is the only copy of the model NAME."""
    aside = models / ".m2.old-0123456789abcdef"
    (models / "m2").rename(aside)
    _age(aside, 2 * STALE_STAGING_SECONDS)
    before = snapshot(aside)
    assert main(int8("--model", "m1", "--name", "m2")) == 2  # back in place: no --overwrite
    err = capsys.readouterr().err
    assert "warning:" in err and "put back" in err and "already exists" in err
    assert snapshot(models / "m2") == before and not aside.exists()
    assert read_manifest(models / "m2").compression is None

"""Folders reached through symbolic links are read (once: a loop is reported, not followed
forever), and zip members that share a name are each read under a name of their own, the same
on every run, so ``python -m longbert.predict`` neither loses half of them nor relabels them.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path

import pytest
from helpers.predict_fixtures import TOPICS, make_checkpoint, read_jsonl

from longbert.predict import main
from longbert.readers import read_bytes, read_path
from longbert.readers.archives import distinct_member_names
from longbert.readers.base import walk_folder
from longbert.store import Store


def linked_corpus(root: Path) -> Path:
    """The audit's corpus: a real sub-folder, a link to a shared folder, a link to a file, and a
    link back to the corpus itself (a loop)."""
    shared = root / "shared_docs"
    shared.mkdir()
    (shared / "s1.txt").write_text(TOPICS[0])
    corpus = root / "corpus"
    (corpus / "real").mkdir(parents=True)
    (corpus / "real" / "r1.txt").write_text(TOPICS[1])
    (corpus / "linked").symlink_to(shared, target_is_directory=True)
    (corpus / "filelink.txt").symlink_to(shared / "s1.txt")
    (corpus / "real" / "loop").symlink_to(corpus, target_is_directory=True)
    return corpus


def duplicate_zip() -> bytes:
    """Two ``report.txt`` entries, and ``a/b.txt`` next to ``a\\b.txt`` (one name once sanitised)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("report.txt", TOPICS[0])
        archive.writestr("report.txt", TOPICS[1])
        archive.writestr("a/b.txt", TOPICS[2])
        archive.writestr("a\\b.txt", TOPICS[3])
    return buffer.getvalue()


def test_a_linked_folder_is_read_and_a_loop_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = linked_corpus(tmp_path)
    with caplog.at_level(logging.WARNING):
        files = [path.relative_to(corpus).as_posix() for path in walk_folder(corpus)]
    assert files == ["filelink.txt", "linked/s1.txt", "real/r1.txt"]
    (warning,) = [r.getMessage() for r in caplog.records if "read already" in r.getMessage()]
    assert "loop" in warning
    names = [item.name for item in read_path(corpus)]
    assert names == ["corpus/filelink.txt", "corpus/linked/s1.txt", "corpus/real/r1.txt"]


def test_two_links_to_one_folder_read_it_once(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "s.txt").write_text("shared text")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "one").symlink_to(shared, target_is_directory=True)
    (corpus / "two").symlink_to(shared, target_is_directory=True)
    assert [p.relative_to(corpus).as_posix() for p in walk_folder(corpus)] == ["one/s.txt"]


def test_zip_members_with_one_name_are_each_read_under_a_name_of_their_own() -> None:
    items = list(read_bytes("reports.zip", duplicate_zip()))
    assert [(item.name, item.document.text) for item in items] == [
        ("reports.zip/report.txt", TOPICS[0]),
        ("reports.zip/report.txt#2", TOPICS[1]),
        ("reports.zip/a/b.txt", TOPICS[2]),
        ("reports.zip/a/b.txt#2", TOPICS[3]),
    ]
    assert [item.member for item in items] == ["report.txt", "report.txt#2", "a/b.txt", "a/b.txt#2"]
    # The same names on every read: a re-run finds its rows.
    assert [item.name for item in read_bytes("reports.zip", duplicate_zip())] == [item.name for item in items]


def test_distinct_member_names_never_take_a_real_members_name() -> None:
    assert distinct_member_names(["a", "a", "a#2"]) == ["a", "a#3", "a#2"]
    assert distinct_member_names(["a#2", "a", "a"]) == ["a#2", "a", "a#3"]
    assert distinct_member_names(["x", "y", "x", "x"]) == ["x", "y", "x#2", "x#3"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    return tmp_path


def test_predict_labels_every_member_and_linked_file_once_and_a_rerun_finds_them_done(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = make_checkpoint(env / "ckpt")
    corpus = linked_corpus(env)
    (corpus / "reports.zip").write_bytes(duplicate_zip())
    out = env / "labels.jsonl"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--quiet"]
    assert main(args) == 0
    c = os.path.normpath(corpus)
    expected = {
        f"{c}/filelink.txt",
        f"{c}/linked/s1.txt",
        f"{c}/real/r1.txt",
        f"{c}/reports.zip/report.txt",
        f"{c}/reports.zip/report.txt#2",
        f"{c}/reports.zip/a/b.txt",
        f"{c}/reports.zip/a/b.txt#2",
    }
    rows = read_jsonl(out)
    assert sorted(r["name"] for r in rows) == sorted(expected)
    assert all(r["error"] is None for r in rows)
    capsys.readouterr()
    assert main(args) == 0
    assert f"{len(expected)} already done (skipped)" in capsys.readouterr().err.replace(",", "")
    assert read_jsonl(out) == rows  # nothing relabelled
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.done, batch.status) == (len(expected), len(expected), "done")

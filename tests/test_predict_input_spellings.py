"""Resuming an output with the same input spelled otherwise (``--input corpus`` then ``--input
/abs/path/corpus``, ``./corpus/``, a symlink, a file inside it) classified every file again
under a second name: every row twice in the output and the store. The output now records its
inputs and gives the same folder or file the name it had (:mod:`longbert.bulk.spellings`)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
from helpers.predict_fixtures import TOPICS, read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.outputs import state_path
from longbert.bulk.sources import InputPath, walk_inputs
from longbert.bulk.spellings import respell
from longbert.predict import main
from longbert.store import Store


def _corpus(root: Path) -> Path:
    corpus = root / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text(TOPICS[0])
    (corpus / "sub" / "b.txt").write_text(TOPICS[1])
    return corpus


def _args(model: Path, out: Path, *inputs: str) -> list[str]:
    return ["--model", str(model), "--input", *inputs, "--output", str(out), "--quiet"]


def _batch_total(out: Path) -> tuple[int, int]:
    batch_id = json.loads(state_path(out).read_text())["store"]["batch_id"]
    store = Store()
    return store.get_batch(batch_id).total, store.count_batch_items(batch_id)


def test_the_same_folder_spelled_otherwise_keeps_its_rows(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = _corpus(env)
    (env / "elsewhere").mkdir()
    (env / "link").symlink_to(corpus)
    out = env / "labels.jsonl"
    monkeypatch.chdir(env)
    assert main(_args(checkpoint, out, "corpus")) == 0
    rows = read_jsonl(out)
    assert sorted(r["name"] for r in rows) == ["corpus/a.txt", "corpus/sub/b.txt"]

    for spelling in (str(corpus), "./corpus/", "link", str(corpus / "sub"), str(corpus / "a.txt")):
        assert main(_args(checkpoint, out, spelling)) == 0, spelling
        assert read_jsonl(out) == rows, spelling  # nothing ran again, no row doubled
    monkeypatch.chdir(env / "elsewhere")  # another working directory: "../corpus"
    assert main(_args(checkpoint, out, "../corpus")) == 0
    assert read_jsonl(out) == rows
    assert _batch_total(out) == (2, 2)

    (corpus / "c.txt").write_text(TOPICS[2])  # a new file: named as its folder's other files
    assert main(_args(checkpoint, out, str(corpus))) == 0
    assert sorted(r["name"] for r in read_jsonl(out)) == ["corpus/a.txt", "corpus/c.txt", "corpus/sub/b.txt"]
    assert _batch_total(out) == (3, 3)


def test_an_output_begun_before_inputs_were_recorded_takes_them_from_its_store_batch(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = _corpus(env)
    out = env / "labels.jsonl"
    assert main(_args(checkpoint, out, str(corpus))) == 0
    rows = read_jsonl(out)
    state = json.loads(state_path(out).read_text())
    del state["inputs"]  # as the versions before wrote it
    state_path(out).write_text(json.dumps(state))
    monkeypatch.chdir(env)
    assert main(_args(checkpoint, out, "corpus")) == 0
    assert read_jsonl(out) == rows
    assert json.loads(state_path(out).read_text())["inputs"] == [{"name": str(corpus), "path": str(corpus)}]


def test_respell_names_inputs_as_recorded_and_records_new_ones(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    recorded = [{"name": "corpus", "path": str(corpus)}]
    spelled, kept = respell([str(corpus), str(corpus / "sub"), str(tmp_path / "other")], recorded)
    assert [getattr(s, "shown", s) for s in spelled] == ["corpus", "corpus/sub", str(tmp_path / "other")]
    assert [str(s) for s in spelled[:2]] == [str(corpus), str(corpus / "sub")]  # read from where they are
    assert kept == [*recorded, {"name": str(tmp_path / "other"), "path": str(tmp_path / "other")}]
    assert sorted(name for name, _ in walk_inputs(spelled[:1])) == ["corpus/a.txt", "corpus/sub/b.txt"]
    same = InputPath(str(corpus), "corpus")
    copy = pickle.loads(pickle.dumps(same))  # the Ray engine ships it
    assert (str(copy), copy.shown, os.fspath(copy)) == (str(corpus), "corpus", str(corpus))

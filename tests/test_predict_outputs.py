"""``python -m longbert.predict`` and the files already there: what it refuses to replace, what
it never reads back, and which runs it lets append to an output."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers.predict_fixtures import make_checkpoint, make_corpus, read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.outputs import ledger_path, state_path
from longbert.bulk.runner import STATE_VERSION
from longbert.predict import main
from longbert.store import Store


def _table(path: Path) -> Path:
    path.write_text('id,text\nt1,"Markets fell as rates rose."\nt2,"The club won the final."\n')
    return path


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_input_file_is_never_the_output(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    overwrite: list[str],
) -> None:
    data = _table(env / "mydata.csv")
    before = data.read_bytes()
    args = ["--model", str(checkpoint), "--input", str(data), "--no-store", "--quiet", *overwrite]
    assert main([*args, "--output", str(data)]) == 2
    assert "would replace the input" in capsys.readouterr().err
    # The same file by another spelling of its path.
    assert main([*args, "--output", str(env / "sub" / ".." / "mydata.csv")]) == 2
    assert data.read_bytes() == before
    assert sorted(p.name for p in env.iterdir() if p.is_file()) == ["mydata.csv"]


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_an_output_someone_else_wrote_is_replaced_only_with_overwrite(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    suffix: str,
) -> None:
    corpus = make_corpus(env / "corpus.jsonl", 3)
    theirs = env / f"theirs.{suffix}"
    theirs.write_bytes(b"someone's work\n")
    args = [
        "--model",
        str(checkpoint),
        "--input",
        str(corpus),
        "--output",
        str(theirs),
        "--no-store",
        "--quiet",
    ]
    assert main(args) == 2
    assert "not written by longbert.predict" in capsys.readouterr().err
    assert theirs.read_bytes() == b"someone's work\n"
    assert main([*args, "--overwrite"]) == 0
    assert theirs.read_bytes() != b"someone's work\n"
    # Now it is this tool's own output: a plain re-run resumes it.
    assert main(args) == 0


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_an_output_inside_an_input_folder_is_never_read_back(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    suffix: str,
) -> None:
    corpus = env / "corp"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Markets fell as rates rose.")
    (corpus / "b.txt").write_text("The club won the final.")
    out = corpus / f"labels.{suffix}"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--quiet"]
    assert main(args) == 0
    (corpus / "c.txt").write_text("Bond yields climbed again.")
    assert main(args) == 0  # the output, its ledger and state are in the folder now
    rows = read_jsonl(ledger_path(out))
    assert sorted(r["name"] for r in rows) == [f"{corpus}/{n}.txt" for n in "abc"]
    assert all(r["error"] is None for r in rows)
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.errors) == (3, 0)


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_file_of_an_input_folder_is_never_the_output(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    suffix: str,
    overwrite: list[str],
) -> None:
    data = env / "data"
    data.mkdir()
    (data / "a.txt").write_text("Markets fell as rates rose.")
    theirs = data / f"test.{suffix}"
    if suffix == "csv":
        _table(theirs)
    else:
        theirs.write_text(json.dumps({"id": "t1", "text": "The club won the final."}) + "\n")
    before = theirs.read_bytes()
    base = ["--model", str(checkpoint), "--input", str(data), "--quiet", *overwrite]
    args = [*base, "--output", str(theirs)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is an input file" in err and "even with --overwrite" in err
    assert theirs.read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["a.txt", f"test.{suffix}"]
    assert Store(os.environ["LONGBERT_DB_URL"]).list_batches() == []
    # A CSV output's ledger that is a user's file in the input folder is refused alike.
    if suffix == "jsonl":
        out = data / "labels.csv"
        theirs.rename(ledger_path(out))
        assert main([*base, "--output", str(out)]) == 2
        assert "is an input file" in capsys.readouterr().err
        assert ledger_path(out).read_bytes() == before and not out.exists()


def test_an_own_output_in_an_input_folder_is_replaced_with_overwrite(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    data = env / "data"
    data.mkdir()
    (data / "a.txt").write_text("Markets fell as rates rose.")
    (data / "b.txt").write_text("The club won the final.")
    out = data / "labels.jsonl"
    args = ["--model", str(checkpoint), "--input", str(data), "--output", str(out), "--quiet"]
    assert main(args) == 0
    (data / "b.txt").unlink()
    assert main([*args, "--overwrite"]) == 0  # this tool's own: skipped as an input, replaced
    rows = read_jsonl(out)
    assert [r["name"] for r in rows] == [f"{data}/a.txt"] and rows[0]["error"] is None
    batches = Store(os.environ["LONGBERT_DB_URL"]).list_batches()
    assert sorted(b.total for b in batches) == [1, 2]  # a new batch, the old one kept


def _old_state(out: Path) -> dict:
    """The state file as a run before checkpoint identities wrote it: the same layout and
    STATE_VERSION, its fingerprint without the checkpoint_* fields."""
    state = json.loads(state_path(out).read_text())
    assert state["version"] == STATE_VERSION == 1
    old_fields = ["model", "labels", "encoder", "strategy", "strategy_params"]
    old_fields += ["text_column", "id_column", "attention", "store"]
    assert set(state["run"]) == {*old_fields, "checkpoint", "checkpoint_saved_at"} | {
        "checkpoint_manifest",
        "checkpoint_labels",
    }
    return {
        "version": 1,
        "run": {key: state["run"][key] for key in old_fields},
        "store": state["store"],  # {"where", "database_id", "batch_id"}
        "status": "interrupted",
    }


def test_an_output_begun_before_checkpoint_identities_resumes(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = make_corpus(env / "corpus.jsonl", 2)
    out = env / "out.jsonl"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--quiet"]
    assert main(args) == 0
    identity = {k: v for k, v in json.loads(state_path(out).read_text())["run"].items() if "checkpoint" in k}
    old = _old_state(out)
    assert old["run"]["model"] == str(checkpoint) and old["run"]["strategy_params"] == {}
    state_path(out).write_text(json.dumps(old, indent=2))
    make_corpus(env / "corpus.jsonl", 3)  # the input grew after the crash
    # Other settings are still refused, naming only what differs (not the missing fields).
    assert main([*args, "--strategy", "truncate"]) == 2
    err = capsys.readouterr().err
    assert "strategy: None then, 'truncate' now" in err and "checkpoint" not in err
    assert json.loads(state_path(out).read_text()) == old
    assert main(args) == 0  # resumed, not refused: no --overwrite needed
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["d0", "d1", "d2"]
    state = json.loads(state_path(out).read_text())
    assert state["run"] == {**old["run"], **identity}  # upgraded once: the identity recorded
    assert state["store"] == old["store"] and state["status"] == "done"
    (batch,) = Store(os.environ["LONGBERT_DB_URL"]).list_batches()  # the same batch, appended
    assert batch.id == old["store"]["batch_id"] and batch.total == 3
    assert main(args) == 0  # and resumes as a new-style output from then on


def test_a_resume_with_another_checkpoint_of_the_same_name_is_refused(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = env / "models-a", env / "models-b"
    shutil.copytree(checkpoint, first / "m1")
    make_checkpoint(env / "other", labels=("cats", "dogs"))
    shutil.copytree(env / "other" / "tiny-news", second / "m1")
    corpus = make_corpus(env / "corpus.jsonl", 2)
    out = env / "out.csv"
    args = ["--model", "m1", "--input", str(corpus), "--output", str(out), "--quiet"]
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(first))
    assert main(args) == 0
    before = out.read_bytes()
    make_corpus(env / "corpus.jsonl", 3)  # one more input to label
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(second))
    assert main(args) == 2
    message = capsys.readouterr().err
    assert "checkpoint_labels: ['econ', 'sport'] then, ['cats', 'dogs'] now" in message
    assert "--overwrite" in message
    # The same folder, retrained in place (python -m longbert.train --overwrite --name m1).
    shutil.rmtree(first / "m1")
    shutil.copytree(second / "m1", first / "m1")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(first))
    assert main(args) == 2
    assert "checkpoint_manifest" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([*args, "--overwrite"]) == 0
    labels = {r["label"] for r in read_jsonl(ledger_path(out))}
    assert len(read_jsonl(ledger_path(out))) == 3 and labels <= {"cats", "dogs"}
    (batch, _) = Store(os.environ["LONGBERT_DB_URL"]).list_batches()  # a new batch, the old one kept
    assert batch.total == 3


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_source_columns_keep_their_values_beside_the_probabilities(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    suffix: str,
) -> None:
    import pandas as pd

    corpus = env / "mixed.jsonl"
    rows = [
        {"id": "a", "text": "Markets fell as rates rose.", "p_econ": "mine", "meta": 1},
        {"id": "b", "text": "The club won the final.", "p_econ": "theirs", "meta": "x"},
    ]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = env / f"out.{suffix}"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--no-store", "--quiet"]
    assert main(args) == 0
    frame = (pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)).set_index("id")
    assert list(frame["source_p_econ"]) == ["mine", "theirs"]  # the app's exports name it so too
    assert ((frame["p_econ"] + frame["p_sport"] - 1).abs() < 1e-4).all()
    assert [str(v) for v in frame["meta"]] == ["1", "x"]  # a column of mixed types, as text

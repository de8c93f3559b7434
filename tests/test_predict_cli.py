"""``python -m longbert.predict`` with the local engine: rows, errors, formats, store, resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.predict_fixtures import TOPICS, make_checkpoint, make_corpus, make_mixed_folder, read_jsonl
from helpers.train_fixtures import TRAIN_ENCODER

from longbert.bulk import ModelSpec, SourceItem, predict_many
from longbert.predict import main
from longbert.store import HistoryFilter, Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    return tmp_path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny", **TRAIN_ENCODER)


def _run_args(checkpoint: Path, corpus: Path, out: Path) -> list[str]:
    """The command line that labels ``corpus`` with ``checkpoint`` into ``out``."""
    return ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out)]


def test_mixed_folder_gives_a_row_per_document_with_errors_and_columns(env: Path, encoder: Path) -> None:
    corpus = make_mixed_folder(env)
    out = env / "out.jsonl"
    code = main(
        [
            "--labels",
            "econ=markets, banks, inflation",
            "sport=football, matches",
            "--encoder",
            str(encoder),
            "--input",
            str(corpus),
            "--output",
            str(out),
            "--id-column",
            "doc_id",
            "--quiet",
        ]
    )
    assert code == 0
    rows = {r["name"]: r for r in read_jsonl(out)}
    c = str(corpus)
    ok = [
        f"{c}/a.txt",
        f"{c}/sub/b.md",
        f"{c}/table.csv#row=1",
        f"{c}/table.csv#row=3",
        f"{c}/bundle.zip/inside/one.txt",
        f"{c}/notes.txt.gz",
        f"{c}/rows.jsonl#row=1",
    ]
    bad = {
        f"{c}/table.csv#row=2": "no text",
        f"{c}/bundle.zip/inside/empty.txt": "empty",
        f"{c}/rows.jsonl#row=2": "not valid JSON",
        f"{c}/broken.pdf": "PDF",
        f"{c}/image.bin": "binary",
        f"{c}/old.doc": ".doc files are not supported",
    }
    assert set(rows) == set(ok) | set(bad)
    for name in ok:
        row = rows[name]
        assert row["error"] is None and row["label"] in ("econ", "sport")
        assert set(row["probabilities"]) == {"econ", "sport"}
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-4
        assert 0 < row["used_tokens"] <= row["total_tokens"]
        assert row["strategy"] == "chunk" and row["model"] == f"zero-shot:{encoder}"
    for name, reason in bad.items():
        assert reason in rows[name]["error"], (name, rows[name]["error"])
        assert rows[name]["label"] is None
    # Table rows keep their id and every other column, unchanged (also on error rows).
    assert rows[f"{c}/table.csv#row=1"]["id"] == "n1"
    assert rows[f"{c}/table.csv#row=2"]["id"] == "n2"
    row3 = rows[f"{c}/table.csv#row=3"]
    assert (row3["doc_id"], row3["source"], row3["year"]) == ("n3", "blog", "2023")
    assert row3["source_label"] == "sport"  # a source column named like an output column
    assert rows[f"{c}/table.csv#row=2"]["year"] == "2022"
    assert rows[f"{c}/rows.jsonl#row=1"]["meta"] == {"page": 3}
    assert rows[f"{c}/a.txt"]["id"] == f"{c}/a.txt"
    # One store batch with every row, predictions with their attention summary.
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.done, batch.errors, batch.status) == (len(rows), len(ok), len(bad), "done")
    page = store.history(HistoryFilter(batch_id=batch.id), limit=100)
    assert page.total == len(ok)
    stored = store.get_prediction(page.rows[0].id)
    assert stored.prediction.attention is not None
    assert stored.prediction.label == rows[stored.prediction.document_name]["label"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_csv_and_parquet_outputs_flatten_probabilities_and_keep_columns(
    env: Path, checkpoint: Path, suffix: str
) -> None:
    corpus = make_corpus(env / "corpus.jsonl", 12)
    out = env / f"out.{suffix}"
    args = [
        *_run_args(checkpoint, corpus, out),
        "--no-store",
        "--attention",
        "none",
        "--quiet",
    ]
    assert main(args) == 0
    import pandas as pd

    frame = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert len(frame) == 12
    assert {
        "id",
        "name",
        "label",
        "p_econ",
        "p_sport",
        "used_tokens",
        "total_tokens",
        "strategy",
        "model",
        "error",
        "group",
    } <= set(frame.columns)
    assert sorted(frame["id"]) == sorted(f"d{i}" for i in range(12))
    assert sorted(frame["group"].astype(int)) == sorted(i % 3 for i in range(12))
    assert ((frame["p_econ"] + frame["p_sport"] - 1).abs() < 1e-4).all()
    assert not (env / "db.sqlite").exists()  # --no-store
    # A second run with nothing new keeps the file as it is.
    assert main(args) == 0
    again = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert len(again) == 12


def test_other_settings_on_the_same_output_are_refused(env: Path, checkpoint: Path, capsys) -> None:
    corpus = make_corpus(env / "corpus.jsonl", 3)
    out = env / "out.jsonl"
    base = [*_run_args(checkpoint, corpus, out), "--quiet", "--no-store"]
    assert main(base) == 0
    assert main([*base, "--strategy", "truncate"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert len(read_jsonl(out)) == 3


def test_torn_rows_and_rows_the_store_never_got_run_again_without_duplicates(
    env: Path, checkpoint: Path
) -> None:
    corpus = make_corpus(env / "corpus.jsonl", 10)
    out = env / "out.jsonl"
    args = [*_run_args(checkpoint, corpus, out), "--quiet"]
    assert main(args) == 0
    rows = read_jsonl(out)
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    # A crash between the output and the store: a row the store never got, then a torn line.
    extra = dict(rows[0], name="ghost#row=1", id="ghost")
    with out.open("a") as handle:
        handle.write(json.dumps(extra) + "\n" + '{"id": "half')
    assert main(args) == 0
    again = read_jsonl(out)
    assert [r["name"] for r in again] == [r["name"] for r in rows]  # ghost and torn line cut off
    assert store.get_batch(batch.id).total == 10
    assert store.count_predictions(HistoryFilter(batch_id=batch.id)) == 10


def test_killed_run_resumes_to_a_complete_output_without_duplicates(env: Path, checkpoint: Path) -> None:
    n = 300
    corpus = make_corpus(env / "corpus.jsonl", n)
    out = env / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "longbert.predict",
        *_run_args(checkpoint, corpus, out),
        "--batch-size",
        "64",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 64:  # so the first 32 reached the store
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be killed: make the corpus larger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = out.read_bytes().count(b"\n")
    assert 64 <= done_before < n
    result = subprocess.run(
        [*command, "--quiet"], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "already done (skipped)" in result.stderr
    rows = read_jsonl(out)
    assert len(rows) == n and len({r["name"] for r in rows}) == n
    assert all(r["error"] is None for r in rows)
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.done, batch.status) == (n, n, "done")
    assert store.count_predictions(HistoryFilter(batch_id=batch.id)) == n


def test_python_api_streams_any_iterable(checkpoint: Path) -> None:
    spec = ModelSpec(model=str(checkpoint), device="cpu")
    texts = (f"text number {i} about markets" for i in range(5))
    results = list(
        predict_many(spec, [*texts, "   ", SourceItem("x", "x", error="unreadable")], attention="none")
    )
    assert len(results) == 7
    assert all(r.ok for r in results[:5])
    assert results[5].row["error"] and not results[5].ok
    assert results[6].result is None and results[6].row["error"] == "unreadable"


def test_ray_engine_without_ray_says_how_to_install(env: Path, checkpoint: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    corpus = make_corpus(env / "corpus.jsonl", 2)
    code = main(
        [
            *_run_args(checkpoint, corpus, env / "o.jsonl"),
            "--engine",
            "ray",
            "--no-store",
        ]
    )
    assert code == 2
    assert "pip install -r requirements-ray.txt" in capsys.readouterr().err


def test_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--labels",
        "--input",
        "--output",
        "--overwrite",
        "--strategy",
        "--strategy-param",
        "--text-column",
        "--id-column",
        "--batch-size",
        "--attention",
        "--no-store",
        "--engine",
        "--ray-address",
        "--workers",
        "--gpus-per-worker",
        "--quiet",
    ):
        assert option in text


def test_the_cli_and_the_app_store_the_same_text_for_a_row_with_an_encoded_block(
    env: Path, checkpoint: Path
) -> None:
    import base64
    import random

    from longbert.ui.batch_jobs import BatchSettings, classify_batch, stage_batch
    from longbert.ui.jobs import JobContext, JobManager
    from tests.test_ui_batch import fake_classify

    blob = base64.encodebytes(random.Random(3).randbytes(900)).decode()  # 16 lines of 76 chars
    text = f"Quarterly report, as mailed.\r\n\r\n{blob}\r\n  Rates rose again and markets fell.  "
    table = env / "mail.csv"
    with table.open("w", newline="") as handle:
        csv.writer(handle).writerows([["id", "text"], ["m1", text], ["m2", "Plain prose, nothing encoded."]])
    assert main([*_run_args(checkpoint, table, env / "out.jsonl"), "--quiet"]) == 0
    store = Store(os.environ["LONGBERT_DB_URL"])
    labels = {"a": "a", "b": "b"}
    settings = BatchSettings(model="zero-shot", model_name="fake", labels=labels, label_set="ab")

    def app_batch(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "b", iter([("mail.csv", table.read_bytes())]), settings)
        classify_batch(ctx, store, batch_id, fake_classify, show_finished=False)
        return batch_id

    assert JobManager().submit(app_batch, title="t", kind="batch").wait(30).result is not None
    rows = store.history(limit=10).rows
    assert sorted(r.model_name for r in rows) == ["fake", "fake", "tiny-news", "tiny-news"]
    shas = {r.document_sha256 for r in rows}
    assert len(shas) == 2  # each row is one document in the store, whichever path read it
    stored = sorted(store.get_document(sha).text for sha in shas)
    assert stored[0] == "Plain prose, nothing encoded."
    prose = stored[1]  # the encoded block cut out on both paths, the prose kept
    assert prose.startswith("Quarterly report, as mailed.\n") and prose.endswith("markets fell.")
    assert len(prose) < 100 and blob.splitlines()[3] not in prose


def test_table_rows_are_screened_as_the_readers_screen_them(tmp_path: Path) -> None:
    from longbert.bulk.tables import read_table_rows
    from longbert.readers import FileError, ReadLimits, TableOptions, read_bytes

    data = b'{"text": "one two three four five six"}\n{"text": "Broken \\ud800 text"}\n'
    (tmp_path / "rows.jsonl").write_bytes(data)
    limits = ReadLimits(cap_chars=12)
    cli = list(read_table_rows("rows.jsonl", tmp_path / "rows.jsonl", "text", None, limits))
    app = list(read_bytes("rows.jsonl", data, limits=limits, table=TableOptions()))
    assert cli[0].document.text == app[0].document.text == "one two"  # cap_chars, as the app cuts
    assert cli[0].document.notes == app[0].document.notes
    assert cli[1].document is None and "not valid Unicode" in cli[1].error  # a row, not a crash
    assert isinstance(app[1], FileError) and "not valid Unicode" in app[1].message  # the app's too


def test_cli_and_readers_number_json_lines_rows_alike(tmp_path: Path) -> None:
    from longbert.bulk.tables import read_table_rows
    from longbert.readers import ReadLimits, TableOptions, read_bytes

    data = b'\n  \n{"text": "first row of words"}\n\n{"text": 3}\n{"text": "last row of words"}\n'
    (tmp_path / "d.jsonl").write_bytes(data)
    cli = list(read_table_rows("d.jsonl", tmp_path / "d.jsonl", "text", None, ReadLimits()))
    app = list(read_bytes("d.jsonl", data, table=TableOptions()))
    assert [i.name for i in cli] == ["d.jsonl#row=3", "d.jsonl#row=5", "d.jsonl#row=6"]
    assert [i.name for i in app] == [i.name for i in cli]  # a FileError and a ReadDocument both have one


def test_strategy_params_for_the_model_apply_as_in_the_library(env: Path, checkpoint: Path) -> None:
    from longbert import load_classifier

    texts = [" ".join(TOPICS) * 3, " ".join(reversed(TOPICS)) * 2]  # several 64-token windows each
    corpus = env / "long.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"l{i}", "text": t}) + "\n" for i, t in enumerate(texts)))

    def cli(pooling: str) -> list[dict]:
        out = env / f"{pooling}.jsonl"
        strategy = [
            "--strategy",
            "chunk",
            *("--strategy-param", "window=64", "--strategy-param", "stride=64"),
        ]
        strategy = [*strategy, "--strategy-param"]
        args = [*_run_args(checkpoint, corpus, out), *strategy, f"pooling={pooling}", "--no-store"]
        assert main([*args, "--attention", "none", "--quiet"]) == 0
        return [r["probabilities"] for r in read_jsonl(out)]

    classifier = load_classifier(str(checkpoint), device="cpu", precision="auto")  # as the CLI loads
    given = {"name": "chunk", "params": {"window": 64, "stride": 64, "pooling": "max"}}
    library = [p.probabilities for p in classifier.predict(texts, strategy=given, attention="none")]
    by_max = cli("max")
    for row, expected in zip(by_max, library, strict=True):
        assert row == pytest.approx(expected, abs=1e-6)
    assert by_max != cli("mean")
    # The Ray engine's actor (called here without Ray) applies it the same way.
    import numpy as np
    import torch

    from longbert.bulk.ray_engine import Predictor

    params = {"window": 64, "stride": 64, "pooling": "max"}
    spec = ModelSpec(str(checkpoint), strategy="chunk", strategy_params=params)
    actor = Predictor(spec, 8, "none", False, threads=torch.get_num_threads())  # threads as they are
    batch = {"name": np.array(["a", "b"], dtype=object), "text": np.array(texts, dtype=object)}
    rows = [json.loads(row)["probabilities"] for row in actor(batch)["row"]]
    assert rows == by_max

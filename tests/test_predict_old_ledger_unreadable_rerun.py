"""An output the first release wrote (rows format 1: no ``rows_format`` in its state, never
compacted) holds, for an input labelled and later unreadable, its labelled row and then the
error row that release appended. Resumed by today's code, the labelled row is the one kept
(README: "one that cannot be read now keeps its earlier row"), as the store's schema-v8 recount
keeps its item (tests/test_store_recount_unreadable_rerun.py): the error row used to win."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.predict_fixtures import TOPICS, read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.outputs import state_path
from longbert.predict import main


def test_an_old_outputs_labelled_row_outlives_the_error_appended_after_it(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    corpus = env / "corpus"
    corpus.mkdir()
    x, y = corpus / "x.txt", corpus / "y.txt"
    x.write_text(TOPICS[1])
    y.write_text(TOPICS[0])
    out = env / "labels.jsonl"
    args = ["--model", str(checkpoint), "--input", str(corpus), "--output", str(out), "--quiet", "--no-store"]
    assert main(args) == 0
    labelled = {r["name"]: r for r in read_jsonl(out)}
    # As the first release left it: x.txt unreadable on its re-run, an error row appended for it.
    x.write_bytes(bytes(range(256)) * 8)
    error = {**labelled[str(x)], "sha256": None, "label": None, "probabilities": None, "error": "binary"}
    with out.open("a") as handle:
        handle.write(json.dumps(error) + "\n")
    state = json.loads(state_path(out).read_text())
    state.pop("rows_format")
    state_path(out).write_text(json.dumps(state))

    assert main(args) == 0  # x.txt still unreadable
    rows = {r["name"]: r for r in read_jsonl(out)}
    assert sorted(rows) == [str(x), str(y)]
    assert rows[str(x)]["error"] is None and rows[str(x)]["label"] == labelled[str(x)]["label"]
    assert json.loads(state_path(out).read_text())["legacy_rows"] == 0  # settled by the compaction

    x.write_text(TOPICS[3])  # readable again, another text: labelled again, as any input
    assert main(args) == 0
    rows = {r["name"]: r for r in read_jsonl(out)}
    assert rows[str(x)]["sha256"] != labelled[str(x)]["sha256"] and rows[str(x)]["error"] is None
    assert len(rows) == len(read_jsonl(out)) == 2

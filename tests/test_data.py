"""Labelled data sets: loading, every DatasetError, duplicates, splits, folds, JSONL round trips."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from longbert.data import (
    DatasetReport,
    Example,
    LabeledDataset,
    build_dataset,
    check_compatible,
    from_records,
    load_dataset,
    split_train_dev,
    stratified_folds,
    write_jsonl,
)
from longbert.document import Document
from longbert.errors import DatasetError
from longbert.readers import TableOptions

# ../shared/data beside the checkout (CI lays a copy of shared/ next to its clone).
HYPERPARTISAN = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "hyperpartisan" / "official_train.jsonl.gz"
)


def write_rows(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def synthetic(counts: dict[str, int], multi: bool = False) -> LabeledDataset:
    examples = []
    for label, count in counts.items():
        for i in range(count):
            labels = (label, "extra") if multi and i % 3 == 0 else (label,)
            examples.append(Example(Document(f"{label} document {i}", f"{label}-{i}"), labels, f"{label}{i}"))
    return build_dataset(examples, multi_label=multi or None, name="synthetic")


# --------------------------------------------------------------------------- loading


def test_load_jsonl(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "train.jsonl",
        [
            {"id": 1, "text": "a sports story", "label": "sport", "title": "ignored"},
            {"id": 2, "text": "a politics story", "label": "politics"},
            {"id": 3, "text": "another sports story", "label": "sport", "name": "Match report"},
        ],
    )
    dataset = load_dataset(path)
    assert len(dataset) == 3
    assert dataset.labels == ["politics", "sport"]
    assert dataset.multi_label is False
    assert [e.label for e in dataset] == ["sport", "politics", "sport"]
    assert [e.id for e in dataset] == ["1", "2", "3"]
    assert [e.document.name for e in dataset] == ["train.jsonl#row=1", "train.jsonl#row=2", "Match report"]
    assert all(e.document.source == "dataset" for e in dataset)
    assert dataset.label_ids().tolist() == [1, 0, 1]
    assert dataset.label_counts() == {"politics": 1, "sport": 2}
    assert dataset.report.rows_read == 3
    assert "3 rows read" in dataset.report.summary()


def test_load_csv_gz_with_custom_columns(tmp_path: Path) -> None:
    csv_text = 'Body,Category\nfirst text,a\nsecond text,b\n"third, quoted",a\n'
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(csv_text.encode()))
    dataset = load_dataset(path, table=TableOptions(text_column="Body", label_column="Category"))
    assert dataset.texts() == ["first text", "second text", "third, quoted"]
    assert dataset.labels == ["a", "b"]
    tsv = tmp_path / "data.tsv"
    tsv.write_text("text\tlabel\nx one\tp\ny two\tq\n", encoding="utf-8")
    assert load_dataset(tsv).labels == ["p", "q"]


def test_load_label_folders(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    for label, texts in {"sport": ["goal scored", "match won"], "politics": ["vote cast"]}.items():
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"doc{i}.txt").write_text(text, encoding="utf-8")
    (root / "sport" / "page.html").write_text("<p>an html <b>page</b></p>", encoding="utf-8")
    (root / "sport" / ".DS_Store").write_bytes(b"\x00\x00junk")
    (root / "__MACOSX").mkdir()
    (root / "README.txt").write_text("not in a label folder")
    dataset = load_dataset(root)
    assert dataset.labels == ["politics", "sport"]
    pairs = sorted((e.text, e.label) for e in dataset)
    assert pairs == [
        ("an html page", "sport"),
        ("goal scored", "sport"),
        ("match won", "sport"),
        ("vote cast", "politics"),
    ]
    assert {e.document.name for e in dataset} >= {"sport/doc0.txt", "politics/doc0.txt"}


def test_multi_label_json_lists_and_delimiters(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "ml.jsonl",
        [
            {"text": "t1", "label": ["a", "b"]},
            {"text": "t2", "label": ["c"]},
            {"text": "t3", "label": []},
            {"text": "t4", "label": "b"},
        ],
    )
    dataset = load_dataset(path)
    assert dataset.multi_label is True
    assert dataset.labels == ["a", "b", "c"]
    matrix = dataset.label_matrix()
    assert matrix.shape == (4, 3) and matrix.dtype == np.float32
    assert matrix.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0]]
    with pytest.raises(DatasetError, match="single-label"):
        dataset.label_ids()
    csv_path = tmp_path / "ml.csv"
    csv_path.write_text("text,label\nx,sport|news\ny,news\n", encoding="utf-8")
    delimited = load_dataset(csv_path, table=TableOptions(label_column="label", label_delimiter="|"))
    assert delimited.multi_label is True
    assert [e.labels for e in delimited] == [("sport", "news"), ("news",)]
    with pytest.raises(DatasetError, match="single-label"):
        load_dataset(path, multi_label=False)


# --------------------------------------------------------------------------- errors


def test_missing_columns_name_the_columns_found(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("id,body,label\n1,x,a\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"no column 'text'.*'id', 'body', 'label'"):
        load_dataset(csv_path)
    jsonl = write_rows(tmp_path / "d.jsonl", [{"text": "x", "category": "a"}, {"text": "y", "category": "b"}])
    with pytest.raises(
        DatasetError, match=r"no 'label' field; fields found: 'text', 'category'.*row 1, row 2"
    ):
        load_dataset(jsonl)


def test_empty_texts_are_named_by_row(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "d.jsonl",
        [
            {"text": "fine", "label": "a"},
            {"text": "   ", "label": "b"},
            {"text": "ok", "label": "b"},
            {"text": "", "label": "a"},
        ],
    )
    with pytest.raises(DatasetError, match=r"empty text: row 2, row 4"):
        load_dataset(path)
    skipped = load_dataset(path, skip_bad_rows=True)
    assert len(skipped) == 2
    assert skipped.report.rows_skipped == 2
    assert any("row 2, row 4" in problem for problem in skipped.report.problems)


def test_an_empty_file_says_so_without_advising_to_skip_rows(tmp_path: Path) -> None:
    empty = tmp_path / "train.jsonl"
    empty.write_bytes(b"")
    for skip in (False, True):
        with pytest.raises(DatasetError, match=r"train.jsonl: the file is empty") as refused:
            load_dataset(empty, skip_bad_rows=skip)
        assert "--skip-bad-rows" not in str(refused.value)


def test_missing_labels_and_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"text": "a", "label": "x"}\n{broken\n{"text": "b", "label": null}\n{"text": "c", "label": "y"}\n'
    )
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "row 2: line 2 is not valid JSON" in message
    assert "no label: row 3" in message
    assert "--skip-bad-rows" in message


def test_each_bad_row_is_named_with_its_reason_and_skipping_reports_them(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        '{"text": "a", "label": "x"}\n'
        "[1, 2]\n"
        '{"text": 42, "label": "y"}\n'
        '{"text": "", "label": "y"}\n'
        '{"text": "b", "label": "y"}\n'
        '{"text": "c", "label": "x"}\n'
    )
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "3 rows or files cannot be used" in message
    assert "row 2: line 2 is a JSON list, not an object." in message
    assert "row 3: its 'text' value is a JSON int, not text." in message
    assert "empty text: row 4" in message
    dataset = load_dataset(path, skip_bad_rows=True)
    assert dataset.texts() == ["a", "b", "c"]
    assert dataset.report.rows_read == 6 and dataset.report.rows_skipped == 3
    assert "3 bad rows skipped" in dataset.report.summary()
    (problem,) = [p for p in dataset.report.problems if p.startswith("skipped")]
    assert problem.startswith("skipped 3 rows or files: ")
    assert "row 2: line 2 is a JSON list" in problem and "row 3: its 'text' value" in problem


def test_from_records_names_every_bad_row_and_can_skip_them() -> None:
    rows = [
        {"text": "fine", "label": "a"},
        {"text": 7, "label": "b"},
        {"text": "  ", "label": "b"},
        {"text": "ok", "label": None},
        {"text": "good", "label": "b"},
    ]
    with pytest.raises(DatasetError) as info:
        from_records(rows, name="rows")
    message = str(info.value)
    assert "row 2: its 'text' is a int, not text." in message
    assert "empty text: row 3" in message and "no label: row 4" in message
    dataset = from_records(rows, name="rows", skip_bad_rows=True)
    assert dataset.texts() == ["fine", "good"] and dataset.report.rows_skipped == 3


def test_single_class_is_refused(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "one.jsonl", [{"text": f"t{i}", "label": "same"} for i in range(5)])
    with pytest.raises(DatasetError, match=r"only the label 'same'.*at least two classes"):
        load_dataset(path)
    assert load_dataset(path, min_classes=1).labels == ["same"]  # a one-class test set is fine


def test_unreadable_files_in_folders(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "good.txt").write_text("good text")
    (root / "b" / "fine.txt").write_text("fine text")
    (root / "b" / "blob.bin").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(
        DatasetError, match=r"1 row or file cannot be used:\n  - b/blob.bin: it looks like a binary file"
    ):
        load_dataset(root)
    assert len(load_dataset(root, skip_bad_rows=True)) == 2


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.jsonl")
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"\.jsonl"):
        load_dataset(other)
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="sub-folder"):
        load_dataset(flat)


def test_duplicates_dropped_and_conflicts_reported(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "dup.jsonl",
        [
            {"text": "same text", "label": "a"},
            {"text": "other", "label": "b"},
            {"text": "same text", "label": "a"},
            {"text": "same text", "label": "b"},
        ],
    )
    dataset = load_dataset(path)
    assert dataset.texts() == ["same text", "other"]
    assert dataset[0].label == "a"  # the first occurrence wins
    assert dataset.report.rows_read == 4
    assert dataset.report.duplicates_dropped == 2
    assert dataset.report.conflicting_duplicates == 1
    assert any("dup.jsonl#row=4 (b) repeats dup.jsonl#row=1 (a)" in p for p in dataset.report.problems)
    assert len(load_dataset(path, drop_duplicates=False)) == 4


def test_from_records() -> None:
    dataset = from_records([{"text": "x", "label": "a", "id": 5}, {"text": "y", "label": "b"}], name="rows")
    assert [(e.text, e.label, e.id) for e in dataset] == [("x", "a", "5"), ("y", "b", None)]
    with pytest.raises(DatasetError, match="row 2 has no 'label'"):
        from_records([{"text": "x", "label": "a"}, {"text": "y"}])
    with pytest.raises(DatasetError, match="empty"):
        from_records([{"text": " ", "label": "a"}])


# --------------------------------------------------------------------------- splits and folds


def test_split_train_dev_is_stratified_and_deterministic() -> None:
    dataset = synthetic({"a": 100, "b": 50, "c": 10, "d": 2, "e": 1})
    train, dev = split_train_dev(dataset, dev_fraction=0.2, seed=7)
    dev_counts = Counter(e.label for e in dev)
    assert dev_counts == {"a": 20, "b": 10, "c": 2, "d": 1}
    assert Counter(e.label for e in train) == {"a": 80, "b": 40, "c": 8, "d": 1, "e": 1}
    assert {e.document.sha256 for e in train}.isdisjoint(e.document.sha256 for e in dev)
    assert len(train) + len(dev) == len(dataset)
    assert train.labels == dev.labels == dataset.labels
    again_train, again_dev = split_train_dev(dataset, dev_fraction=0.2, seed=7)
    assert again_dev.texts() == dev.texts() and again_train.texts() == train.texts()
    _, other_dev = split_train_dev(dataset, dev_fraction=0.2, seed=8)
    assert other_dev.texts() != dev.texts()
    order = {text: i for i, text in enumerate(dataset.texts())}
    assert [order[t] for t in dev.texts()] == sorted(order[t] for t in dev.texts())
    assert check_compatible(train, dev) == ["synthetic (dev) has no examples of: e."]
    with pytest.raises(DatasetError, match="dev_fraction"):
        split_train_dev(dataset, dev_fraction=1.0)


def test_split_multi_label() -> None:
    dataset = synthetic({"a": 30, "b": 30}, multi=True)
    assert dataset.multi_label
    train, dev = split_train_dev(dataset, dev_fraction=0.2, seed=0)
    assert len(dev) == 12
    assert train.multi_label and dev.multi_label
    assert {label for e in dev for label in e.labels} == {"a", "b", "extra"}


def test_stratified_folds() -> None:
    dataset = synthetic({"a": 50, "b": 25})
    folds = stratified_folds(dataset, k=5, seed=3)
    assert len(folds) == 5
    seen = Counter(text for fold in folds for text in fold.dev.texts())
    assert set(seen.values()) == {1} and len(seen) == len(dataset)
    for fold in folds:
        assert Counter(e.label for e in fold.dev) == {"a": 10, "b": 5}
        assert len(fold.train) == 60
        assert not set(fold.train.texts()) & set(fold.dev.texts())
    assert [f.dev.texts() for f in stratified_folds(dataset, k=5, seed=3)] == [f.dev.texts() for f in folds]
    with pytest.raises(DatasetError, match="folds"):
        stratified_folds(synthetic({"a": 2, "b": 1}), k=5)


def test_carved_multi_label_dev_never_takes_every_example_of_a_label() -> None:
    # 'm' is never an example's rarest label, so stratifying alone could put all of it in dev.
    rows: list[tuple[str, ...]] = [("a",) if i % 2 else ("b",) for i in range(20)]
    for rare in ("r1", "r2", "r3"):
        rows += [("m", rare), ("a", rare)]
    rows += [("a", "b")] * 14
    examples = [Example(Document(f"doc {i}", f"d{i}"), labels) for i, labels in enumerate(rows)]
    dataset = build_dataset(examples, multi_label=True, drop_duplicates=False)
    dev_sizes = set()
    for seed in range(200):
        train, dev = split_train_dev(dataset, dev_fraction=0.1, seed=seed)
        check_compatible(train, dev)  # raised for 1 seed in 8 before
        assert set(train.label_counts()) == set(dataset.labels)
        assert all(count > 0 for count in train.label_counts().values()), seed
        assert len(train) + len(dev) == len(dataset) and len(dev) > 0
        dev_sizes.add(len(dev))
    assert dev_sizes <= {3, 4, 5, 6}


def test_check_compatible_unseen_labels_and_leaks() -> None:
    train = synthetic({"a": 5, "b": 5})
    dev = build_dataset(
        [
            Example(Document("a document 0", "x"), ("a",)),
            Example(Document("new text", "y"), ("c",)),
            Example(Document("more new", "z"), ("b",)),
        ],
        name="dev",
    )
    with pytest.raises(DatasetError, match=r"dev has labels that synthetic never has: 'c' \(1\)"):
        check_compatible(train, dev)
    fine = build_dataset(
        [Example(Document("a document 0", "x"), ("a",)), Example(Document("new text", "y"), ("b",))],
        name="dev",
    )
    assert check_compatible(train, fine) == [
        "1 documents of dev are also in synthetic; scores on them overstate accuracy."
    ]
    with pytest.raises(DatasetError, match="multi-label"):
        check_compatible(train, synthetic({"a": 3, "b": 3}, multi=True))


# --------------------------------------------------------------------------- writing


def test_write_jsonl_round_trip(tmp_path: Path) -> None:
    dataset = synthetic({"a": 3, "b": 2})
    count = write_jsonl(dataset, tmp_path / "out.jsonl")
    assert count == 5
    first = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first == {"id": "a0", "name": "a-0", "text": "a document 0", "label": "a"}
    back = load_dataset(tmp_path / "out.jsonl")
    assert [(e.text, e.labels, e.id, e.document.name) for e in back] == [
        (e.text, e.labels, e.id, e.document.name) for e in dataset
    ]
    multi = synthetic({"a": 3, "b": 3}, multi=True)
    write_jsonl(multi, tmp_path / "multi.jsonl.gz")
    with gzip.open(tmp_path / "multi.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert rows[1]["label"] == ["a"] and rows[0]["label"] == ["a", "extra"]
    again = load_dataset(tmp_path / "multi.jsonl.gz")
    assert again.multi_label and again.labels == multi.labels


def test_write_jsonl_rows_and_bad_rows(tmp_path: Path) -> None:
    rows = [{"text": "x é", "label": "pos", "id": 1}, {"text": "y", "label": ["neg"], "name": "n"}]
    assert write_jsonl(rows, tmp_path / "rows.jsonl") == 2
    lines = (tmp_path / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"id": 1, "text": "x é", "label": "pos"}
    assert "é" in lines[0]  # UTF-8, not \\u escapes
    with pytest.raises(DatasetError, match="needs 'text' and 'label'"):
        write_jsonl([{"text": "x"}], tmp_path / "bad.jsonl")
    assert not (tmp_path / "bad.jsonl").exists()  # nothing half-written
    with pytest.raises(DatasetError, match="string or a list"):
        write_jsonl([{"text": "x", "label": 3}], tmp_path / "bad.jsonl")


def test_report_summary() -> None:
    report = DatasetReport(source="x", rows_read=10, duplicates_dropped=2, conflicting_duplicates=1)
    assert report.summary() == "10 rows read from x; 2 duplicates dropped; 1 of them with conflicting labels."
    assert isinstance(io.StringIO(report.summary()).read(), str)


@pytest.mark.slow
@pytest.mark.skipif(not HYPERPARTISAN.exists(), reason="shared data not mounted")
def test_hyperpartisan_official_train_loads() -> None:
    dataset = load_dataset(HYPERPARTISAN, drop_duplicates=False)
    assert len(dataset) == 645
    assert dataset.labels == ["false", "true"]
    assert dataset.label_counts() == {"false": 407, "true": 238}
    assert dataset.multi_label is False
    deduplicated = load_dataset(HYPERPARTISAN)
    assert deduplicated.report.rows_read == 645
    assert len(deduplicated) == 645 - deduplicated.report.duplicates_dropped
    train, dev = split_train_dev(deduplicated, dev_fraction=0.1, seed=0)
    assert check_compatible(train, dev) == []

"""What loading a data set notes rather than drops in silence: label sub-folders with no files,
files beside the label sub-folders, labels that differ only in case; and the single-example
note says what is true of training data and of a set that is only scored."""

from __future__ import annotations

from pathlib import Path

from helpers.train_fixtures import write_jsonl

from longbert.data import from_records, load_dataset
from longbert.training import TrainConfig
from longbert.training.datasets import prepare_data

SPORT = ["The team won the match after a late goal.", "Fans cheered as the striker scored twice."]
ECON = ["Inflation rose as the bank kept rates high.", "Stock markets fell after weak profits."]


def test_a_label_folder_notes_empty_label_folders_and_loose_files(tmp_path: Path) -> None:
    root = tmp_path / "fold"
    for label, texts in (("sport", SPORT), ("economy", ECON)):
        (root / label).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / label / f"{i}.txt").write_text(text)
    (root / "politics").mkdir()  # a label nobody has filed anything under yet
    (root / "README.txt").write_text("notes about this data set")
    (root / ".DS_Store").write_bytes(b"\0")  # system debris: not worth a note
    dataset = load_dataset(root)
    assert dataset.labels == ["economy", "sport"] and len(dataset) == 4
    problems = " | ".join(dataset.report.problems)
    # Before: politics/ vanished and README.txt was skipped, neither with a word.
    assert "1 file(s) beside the label sub-folders of fold/ were not read" in problems
    assert "README.txt" in problems and ".DS_Store" not in problems
    assert "label sub-folder(s) with no files, so no class: politics/" in problems


def test_labels_differing_only_in_case_are_noted_and_kept_apart() -> None:
    rows = [{"text": t, "label": "sport"} for t in SPORT] + [{"text": t, "label": "economy"} for t in ECON]
    rows += [{"text": "Match report from the derby.", "label": "Sport"}]
    rows += [{"text": "Big win.", "label": "SPORT"}]
    dataset = from_records(rows)
    assert dataset.labels == ["SPORT", "Sport", "economy", "sport"]  # as written: never merged
    (note,) = [p for p in dataset.report.problems if "case" in p]
    named = "'SPORT' (1), 'Sport' (1), 'sport' (2)"
    assert note.startswith(f"labels that differ only in case are separate classes: {named}")
    assert not any("case" in p for p in from_records(rows[:4]).report.problems)


def test_the_single_example_note_fits_training_and_scored_sets(tmp_path: Path) -> None:
    rows = [{"text": t, "label": "sport"} for t in SPORT] + [{"text": ECON[0], "label": "economy"}]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    dev_rows = [{"text": ECON[1], "label": "economy"}, {"text": "Goal.", "label": "sport"}]
    dev = write_jsonl(tmp_path / "dev.jsonl", dev_rows)
    notes = prepare_data(TrainConfig(train=str(train), dev=str(dev))).notes
    (on_train,) = [n for n in notes if "single example (economy)" in n]
    assert "a model learns little from one" in on_train
    (on_dev,) = [n for n in notes if "single example (economy, sport)" in n]
    # Before: a dev set was told its labels "cannot be both trained on and evaluated".
    assert "cannot be both trained on" not in on_dev and "per-class scores rest on one document" in on_dev

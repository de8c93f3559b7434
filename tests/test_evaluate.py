"""``python -m longbert.evaluate``: metrics, throughput and JSON output of a trained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import QUICK_RUN, TRAIN_ENCODER, make_rows, write_jsonl

from longbert import DatasetError
from longbert.evaluate import evaluate, main
from longbert.training import TrainConfig, train


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    encoder = save_tiny_encoder(root / "tiny-bert", **TRAIN_ENCODER)
    data = write_jsonl(root / "train.jsonl", make_rows(24))
    config = TrainConfig(
        train=str(data),
        encoder=str(encoder),
        output_dir=str(root / "model"),
        **QUICK_RUN,
    )
    return train(config).output_dir


@pytest.fixture(scope="module")
def test_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("eval-data") / "test.jsonl.gz", make_rows(10, seed=9))


def test_report_has_every_figure(model: Path, test_file: Path) -> None:
    report = evaluate(model, test_file, device="cpu")
    assert report["num_docs"] == 10 and report["errors"] == []
    assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["macro_f1"] <= 1.0
    assert set(report["per_class"]) == {"econ", "sport"}
    assert {"precision", "recall", "f1", "support"} <= set(report["per_class"]["econ"])
    matrix = report["confusion_matrix"]
    assert len(matrix) == 2 and sum(map(sum, matrix)) == 10
    assert report["docs_per_second"] > 0 and report["strategy"]["name"] == "truncate"


def test_cli_json_output_and_strategy_override(
    model: Path, test_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    argv = [
        "--model",
        str(model),
        "--data",
        str(test_file),
        "--device",
        "cpu",
        "--json",
        "--output",
        str(out),
    ]
    assert (
        main([*argv, "--strategy", "chunk", "--strategy-param", "window=16", "--strategy-param", "stride=8"])
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["strategy"]["name"] == "chunk" and printed["strategy"]["params"]["window"] == 16
    assert main(["--model", str(model), "--data", str(test_file), "--device", "cpu"]) == 0
    assert "macro-F1" in capsys.readouterr().out


def test_unknown_labels_and_missing_model_are_clear_errors(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_jsonl(tmp_path / "other.jsonl", make_rows(4, labels=("econ", "tech")))
    with pytest.raises(DatasetError, match="tech"):
        evaluate(model, other, device="cpu")
    assert main(["--model", str(tmp_path / "nope"), "--data", str(other)]) == 2
    assert "No checkpoint" in capsys.readouterr().err


def test_a_one_class_test_set_is_scored(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    only_econ = write_jsonl(tmp_path / "econ.jsonl", make_rows(5, labels=("econ",), seed=4))
    report = evaluate(model, only_econ, device="cpu")
    assert report["num_docs"] == 5 and report["per_class"]["econ"]["support"] == 5
    assert report["per_class"]["sport"]["support"] == 0
    assert main(["--model", str(model), "--data", str(only_econ), "--device", "cpu"]) == 0
    assert "macro-F1" in capsys.readouterr().out


def test_columns_and_delimiter_default_to_the_checkpoints(tmp_path: Path) -> None:
    rows = make_rows(16, labels=("econ", "sport", "tech"))
    for i, row in enumerate(rows):
        row["body"], row["topics"] = row.pop("text"), row.pop("label") + ("|tech" if i % 4 == 0 else "")
    config = TrainConfig(
        encoder=str(save_tiny_encoder(tmp_path / "tiny-bert", **TRAIN_ENCODER)),
        output_dir=str(tmp_path / "multi"),
        text_column="body",
        label_column="topics",
        multi_label=True,
        label_delimiter="|",
        **QUICK_RUN,
    )
    folder = train(config, train_data=rows).output_dir
    data = write_jsonl(tmp_path / "test.jsonl", rows[:6])
    report = evaluate(folder, data, device="cpu")  # body/topics and '|' from longbert.json
    assert report["num_docs"] == 6 and set(report["per_class"]) == {"econ", "sport", "tech"}
    assert report["per_class"]["tech"]["support"] == 2 + 2  # rows 0 and 4 add tech to theirs
    with pytest.raises(DatasetError, match="'text'"):
        evaluate(folder, data, text_column="text", device="cpu")  # an explicit column still wins


def test_skip_bad_rows_reports_them(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    good = "".join(json.dumps(row) + "\n" for row in make_rows(4, seed=8))
    path.write_text(good + '{"text": 3, "label": "econ"}\n{oops\n')
    argv = ["--model", str(model), "--data", str(path), "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "row 5: its 'text' value is a JSON int, not text." in err
    assert "row 6: line 6 is not valid JSON" in err and "--skip-bad-rows" in err
    assert main([*argv, "--skip-bad-rows", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_docs"] == 4 and report["rows_skipped"] == 2
    assert any("row 5: its 'text' value" in p for p in report["problems"])


def test_ctrl_c_prints_a_line_and_writes_no_report(
    model: Path,
    test_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from longbert import LongBertClassifier

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(LongBertClassifier, "predict", interrupted)
    out = tmp_path / "report.json"
    argv = ["--model", str(model), "--data", str(test_file), "--device", "cpu", "--output", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "Interrupted: no report was written." in err and "Traceback" not in err
    assert not out.exists()

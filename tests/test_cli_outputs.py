"""The command lines check ``--device`` (and ``LONGBERT_DEVICE``) with the one device resolver and
their output paths before the work: a typo is an ``error:`` line, never a traceback after a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.app_testing import fake_checkpoint
from helpers.train_fixtures import make_rows, write_jsonl

import longbert.evaluate
from longbert.cli_common import OutputPathError, check_output
from longbert.compress import main as compress_main
from longbert.devices import DeviceError, resolve_device
from longbert.evaluate import main as evaluate_main
from longbert.predict import main as predict_main
from longbert.training import TrainConfig, train
from longbert.training.distributed import process_device


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("a file, not a folder")
    return path


def test_a_bad_device_is_an_error_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(tmp_path / "nope"), "--data", str(tmp_path / "d.csv")]
    assert evaluate_main([*argv, "--device", "gpu0"]) == 2
    assert "device='gpu0' is not a device torch knows" in capsys.readouterr().err
    monkeypatch.setenv("LONGBERT_DEVICE", "gpu0")
    assert evaluate_main(argv) == 2
    assert "LONGBERT_DEVICE='gpu0' is not a device torch knows" in capsys.readouterr().err
    for choose in (resolve_device, lambda: process_device("auto")):
        with pytest.raises(DeviceError, match="LONGBERT_DEVICE='gpu0'"):
            choose()
    with pytest.raises(DeviceError, match="device='gpu0'"):
        process_device("gpu0")  # train's --device
    monkeypatch.setenv("LONGBERT_DEVICE", "")
    assert resolve_device().type in ("cpu", "cuda") and process_device("cpu").type == "cpu"


def test_evaluate_checks_output_before_and_makes_its_folder(
    tmp_path: Path, a_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Any] = []

    def fake_evaluate(model: Any, data: Any, **options: Any) -> dict[str, Any]:
        calls.append(model)
        return {"model": "m", "accuracy": 1.0}

    monkeypatch.setattr(longbert.evaluate, "evaluate", fake_evaluate)
    argv = ["--model", "m", "--data", "d.csv", "--device", "cpu", "--json"]
    assert evaluate_main([*argv, "--output", str(a_file / "r.json")]) == 2
    assert "--output" in capsys.readouterr().err and calls == []  # refused before evaluating
    assert evaluate_main([*argv, "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err and calls == []
    report = tmp_path / "missing_dir" / "deeper" / "r.json"
    assert evaluate_main([*argv, "--output", str(report)]) == 0
    assert json.loads(report.read_text()) == {"model": "m", "accuracy": 1.0} and calls == ["m"]


def test_check_output(tmp_path: Path, a_file: Path) -> None:
    assert check_output(tmp_path / "new" / "r.json", "--output") == tmp_path / "new" / "r.json"
    assert not (tmp_path / "new").exists()  # made when written, not by the check
    assert check_output(tmp_path / "model", "--output-dir", folder=True) == tmp_path / "model"
    with pytest.raises(OutputPathError, match=r"--output-dir .*this is a file"):
        check_output(a_file, "--output-dir", folder=True)
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output(a_file / "sub" / "model", "--output-dir", folder=True)


def test_predict_compress_and_train_check_their_output_first(
    tmp_path: Path, a_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each would otherwise fail on the missing or weightless model, or write only after the work.
    assert (
        predict_main(
            ["--model", str(tmp_path / "nope"), "--input", str(a_file), "--output", str(a_file / "out.jsonl")]
        )
        == 2
    )
    assert "--output" in capsys.readouterr().err
    source = fake_checkpoint(tmp_path / "models", "src", ["a", "b"])
    argv = ["--model", str(source), "--method", "int8", "--name", "x", "--dev", str(a_file)]
    assert compress_main([*argv, "--output-dir", str(a_file / "x")]) == 2
    assert "--output-dir" in capsys.readouterr().err
    data = write_jsonl(tmp_path / "train.jsonl", make_rows(8))
    with pytest.raises(OutputPathError, match="--output-dir"):
        train(TrainConfig(train=str(data), output_dir=str(a_file / "model"), device="cpu"))

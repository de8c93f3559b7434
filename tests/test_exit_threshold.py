"""The early-exit threshold at prediction time (compression audit, findings 5 and 6).

5: ``exit_threshold`` is checked where prediction and explanation start: a number in [0, 1]
(2, inf or NaN once sent every row out at the first layer or were recorded as given; True read
as 1.0; text failed with a bare "could not convert"). A model without exits says it ignores one.
6: ``--exit-threshold`` on ``python -m longbert.predict`` (both engines) and
``python -m longbert.evaluate``; the evaluate report and the predict output record the
threshold in force and the precision the model ran in.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import LongBertClassifier, Prediction, load_classifier
from longbert.bulk import ModelSpec, predict_many
from longbert.bulk.ray_engine import Predictor as RayPredictor
from longbert.checkpoints import Compression, read_manifest, write_manifest
from longbert.compression.early_exit import EXITS_DIR, ExitHeads
from longbert.evaluate import evaluate
from longbert.evaluate import main as evaluate_main
from longbert.exit_threshold import ExitThresholdError, check_exit_threshold
from longbert.explain import explain
from longbert.predict import main as predict_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = " ".join(["The central bank raised rates.", "Fans celebrated the final whistle."] * 8)
BAD = [2, 1e9, float("inf"), float("-inf"), -1, -1e-9, float("nan"), True, False, "abc", "0.5", [0.5]]
STORED = 0.3


@pytest.fixture(autouse=True)
def cpu_fp32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))


@pytest.fixture(scope="module")
def plain_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cfixb")
    encoder = save_tiny_encoder(root / "encoder", **TRAIN_ENCODER)
    model = LongBertClassifier.from_encoder(
        encoder, labels=["econ", "sport"], strategy="truncate", name="plain", device="cpu"
    )
    return model.save_pretrained(root / "plain")


@pytest.fixture(scope="module")
def exit_checkpoint(plain_checkpoint: Path) -> Path:
    """The plain model with random exits after its first layer, stored threshold 0.3; saved as
    ``compress --method early-exit`` saves one (``exits/`` and the manifest's compression)."""
    folder = plain_checkpoint.parent / "with-exits"
    shutil.copytree(plain_checkpoint, folder)
    torch.manual_seed(1)
    exits = ExitHeads(TRAIN_ENCODER["hidden"], 2, 2, threshold=STORED)
    for parameter in exits.parameters():
        torch.nn.init.normal_(parameter, 0, 0.5)
    exits.save(folder / EXITS_DIR)
    manifest = read_manifest(folder)
    compression = Compression(method="early-exit", source_model=str(plain_checkpoint))
    write_manifest(folder, dataclasses.replace(manifest, name="with-exits", compression=compression))
    return folder


@pytest.fixture(scope="module")
def exit_model(exit_checkpoint: Path) -> LongBertClassifier:
    return load_classifier(exit_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("cfixb-data") / "test.jsonl", make_rows(6, seed=3))


def probabilities(results: list) -> np.ndarray:
    return np.asarray([list(r.probabilities.values()) for r in results])


# -- finding 5: the library checks the threshold ------------------------------------------------


@pytest.mark.parametrize("bad", BAD, ids=repr)
def test_predict_refuses_a_threshold_that_is_not_a_number_from_0_to_1(
    exit_model: LongBertClassifier, bad: object
) -> None:
    with pytest.raises(ExitThresholdError, match=r"exit_threshold must be a number from 0 to 1") as caught:
        exit_model.predict([TEXT], exit_threshold=bad)
    assert isinstance(caught.value, ValueError)  # as predict's other bad arguments


def test_predict_accepts_0_to_1_and_records_the_threshold_in_force(exit_model: LongBertClassifier) -> None:
    for given, recorded in [(0, 0.0), (1, 1.0), (0.5, 0.5), (np.float32(0.25), 0.25), (None, STORED)]:
        (prediction,) = exit_model.predict([TEXT], exit_threshold=given)
        assert isinstance(prediction, Prediction)
        assert prediction.extra["exit_threshold"] == recorded
        assert type(prediction.extra["exit_threshold"]) is float
        assert prediction.extra["precision"] == "float32"


def test_the_exits_fire_at_1_and_not_at_0(exit_model: LongBertClassifier, plain_checkpoint: Path) -> None:
    full = load_classifier(plain_checkpoint, device="cpu").predict([TEXT])
    np.testing.assert_allclose(
        probabilities(exit_model.predict([TEXT], exit_threshold=0)), probabilities(full)
    )
    first_layer = probabilities(exit_model.predict([TEXT], exit_threshold=1))
    assert np.abs(first_layer - probabilities(full)).max() > 1e-3


def test_a_model_without_exits_says_it_ignores_a_threshold(plain_checkpoint: Path) -> None:
    plain = load_classifier(plain_checkpoint, device="cpu")
    with pytest.warns(
        UserWarning, match=r"exit threshold 0.5 has no effect: model 'plain' has no early exits"
    ):
        (prediction,) = plain.predict([TEXT], exit_threshold=0.5)
    assert "exit_threshold" not in prediction.extra
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.predict([TEXT])  # no threshold given: nothing to say
    with pytest.raises(ExitThresholdError, match="exit_threshold"):
        plain.predict([TEXT], exit_threshold=float("nan"))  # checked whatever the model


@pytest.mark.parametrize("method", ["attention", "occlusion"])
@pytest.mark.parametrize("bad", [2, float("nan"), True, "abc"], ids=repr)
def test_explain_refuses_a_bad_threshold(exit_model: LongBertClassifier, method: str, bad: object) -> None:
    with pytest.raises(ExitThresholdError, match=r"exit_threshold must be a number from 0 to 1"):
        explain(exit_model, TEXT, method=method, exit_threshold=bad)


def test_explain_at_threshold_1_explains_the_prediction_at_1(exit_model: LongBertClassifier) -> None:
    (prediction,) = exit_model.predict([TEXT], exit_threshold=1)
    explanation = explain(exit_model, TEXT, method="attention", exit_threshold=1)
    assert explanation.probability == pytest.approx(prediction.probabilities[explanation.label], abs=1e-5)


def test_the_check_itself() -> None:
    assert check_exit_threshold(None) is None
    assert check_exit_threshold(1) == 1.0 and type(check_exit_threshold(1)) is float
    with pytest.raises(ExitThresholdError, match=r"--exit-threshold must .* got 1.5"):
        check_exit_threshold(1.5, "--exit-threshold")


# -- finding 6: python -m longbert.evaluate ----------------------------------------------------


@pytest.mark.parametrize("bad", ["2", "-0.1", "nan", "inf", "abc", ""])
def test_evaluate_option_is_checked_by_the_parser(
    exit_checkpoint: Path, data: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        evaluate_main(["--model", str(exit_checkpoint), "--data", str(data), "--exit-threshold", bad])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "argument --exit-threshold" in err and "from 0 to 1" in err


def test_evaluate_runs_at_the_given_threshold_and_reports_it(
    exit_checkpoint: Path, plain_checkpoint: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(exit_checkpoint), "--data", str(data), "--device", "cpu", "--json"]
    assert evaluate_main([*argv, "--exit-threshold", "0"]) == 0
    at_zero = json.loads(capsys.readouterr().out)
    assert at_zero["exit_threshold"] == 0.0 and at_zero["precision"] == "float32"
    full = evaluate(plain_checkpoint, data, device="cpu")
    assert full["exit_threshold"] is None and full["precision"] == "float32"
    assert at_zero["confusion_matrix"] == full["confusion_matrix"]  # 0: the full model
    assert evaluate_main(argv) == 0
    assert json.loads(capsys.readouterr().out)["exit_threshold"] == STORED  # the model's own
    assert evaluate_main([*argv[:-1], "--exit-threshold", "1"]) == 0
    text = capsys.readouterr().out
    assert "ran in float32 on cpu, early-exit threshold 1" in text


def test_evaluate_says_when_the_model_has_no_exits(
    plain_checkpoint: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(plain_checkpoint), "--data", str(data), "--device", "cpu"]
    assert evaluate_main([*argv, "--exit-threshold", "0.5", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout stays JSON: the warning goes to stderr
    assert report["exit_threshold"] is None
    assert "warning: The exit threshold 0.5 has no effect: model 'plain' has no early exits" in captured.err
    assert report["warnings"] and "no early exits" in report["warnings"][0]
    assert evaluate_main(argv) == 0
    assert "ran in float32 on cpu, no early exits" in capsys.readouterr().out


def test_evaluate_library_checks_the_threshold(exit_checkpoint: Path, data: Path) -> None:
    with pytest.raises(ExitThresholdError, match="exit_threshold"):
        evaluate(exit_checkpoint, data, device="cpu", exit_threshold="0.5")


# -- finding 6: python -m longbert.predict -----------------------------------------------------


def _corpus(root: Path) -> Path:
    folder = root / "corpus"
    folder.mkdir()
    for i, row in enumerate(make_rows(4, seed=4)):
        (folder / f"d{i}.txt").write_text(row["text"])
    return folder


def test_predict_cli_runs_at_the_given_threshold_and_records_it(
    exit_checkpoint: Path, exit_model: LongBertClassifier, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _corpus(tmp_path)
    out = tmp_path / "labels.jsonl"
    args = ["--model", str(exit_checkpoint), "--input", str(corpus), "--output", str(out), "--quiet"]
    assert predict_main([*args, "--exit-threshold", "1"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    assert all(r["exit_threshold"] == 1.0 and r["precision"] == "float32" for r in rows)
    texts = [(corpus / Path(r["name"]).name).read_text() for r in rows]
    want = exit_model.predict(texts, exit_threshold=1)
    np.testing.assert_allclose(
        [list(r["probabilities"].values()) for r in rows], probabilities(want), atol=1e-5
    )
    # A resume at another threshold would mix rows of two models: refused.
    capsys.readouterr()
    assert predict_main([*args, "--exit-threshold", "0"]) == 2
    assert "exit_threshold" in capsys.readouterr().err
    # The model's own threshold when none is given, recorded in a CSV output too.
    table = tmp_path / "labels.csv"
    assert predict_main([*args[:-3], "--output", str(table), "--quiet", "--no-store"]) == 0
    with table.open(encoding="utf-8-sig") as handle:
        read = list(csv.DictReader(handle))
    assert {r["exit_threshold"] for r in read} == {str(STORED)}
    assert {r["precision"] for r in read} == {"float32"}


def test_predict_cli_checks_the_option_and_warns_for_a_model_without_exits(
    plain_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _corpus(tmp_path)
    out = tmp_path / "labels.jsonl"
    args = ["--model", str(plain_checkpoint), "--input", str(corpus), "--output", str(out), "--quiet"]
    with pytest.raises(SystemExit) as stopped:
        predict_main([*args, "--exit-threshold", "1.5"])
    assert stopped.value.code == 2 and "argument --exit-threshold" in capsys.readouterr().err
    assert not out.exists()
    assert predict_main([*args, "--exit-threshold", "0.5", "--no-store"]) == 0
    err = capsys.readouterr().err
    assert "warning: The exit threshold 0.5 has no effect: model 'plain' has no early exits" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["exit_threshold"] is None and r["precision"] == "float32" for r in rows)


def test_the_ray_actor_predicts_at_the_specs_threshold(
    exit_checkpoint: Path, exit_model: LongBertClassifier
) -> None:
    """The Ray engine's actor (called here directly, as Ray calls it) reads the threshold from
    the ModelSpec it is given: the same rows as the local engine."""
    spec = ModelSpec(model=str(exit_checkpoint), exit_threshold=1.0)
    actor = RayPredictor(spec, batch_size=4, attention="none", payload=False, threads=1)
    texts = [row["text"] for row in make_rows(3, seed=6)]
    batch = {"text": np.asarray(texts, dtype=object), "name": np.asarray(["a", "b", "c"], dtype=object)}
    rows = [json.loads(row) for row in actor(batch)["row"]]
    assert all(r["exit_threshold"] == 1.0 and r["precision"] == "float32" for r in rows)
    want = exit_model.predict(texts, exit_threshold=1)
    np.testing.assert_allclose(
        [list(r["probabilities"].values()) for r in rows], probabilities(want), atol=1e-5
    )


def test_model_spec_checks_the_threshold(exit_checkpoint: Path) -> None:
    with pytest.raises(ExitThresholdError, match="--exit-threshold"):
        ModelSpec(model=str(exit_checkpoint), exit_threshold=2)


def test_predict_many_applies_the_specs_threshold(exit_checkpoint: Path, plain_checkpoint: Path) -> None:
    (done,) = predict_many(ModelSpec(model=str(exit_checkpoint), exit_threshold=1.0), [TEXT])
    assert done.result.extra["exit_threshold"] == 1.0 and done.row["exit_threshold"] == 1.0
    with pytest.warns(UserWarning, match="no early exits"):
        (plain,) = predict_many(ModelSpec(model=str(plain_checkpoint), exit_threshold=0.5), [TEXT])
    assert plain.ok and plain.row["exit_threshold"] is None and plain.row["precision"] == "float32"

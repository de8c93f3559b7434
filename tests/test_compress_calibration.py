"""``--method early-exit`` chooses its threshold on calibration data (labelled or not), for a
budget of changed labels that bounds the accuracy lost."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import read_manifest
from longbert.compress import UncalibratedThresholdWarning, compress, main
from longbert.compression import exit_calibration
from longbert.compression.early_exit import DEFAULT_THRESHOLD
from longbert.compression.exit_calibration import (
    GRID,
    CurvePoint,
    ExitLogits,
    choose_threshold,
    exit_logits,
    threshold_curve,
)
from longbert.compression.target import CompressNotice
from longbert.errors import DatasetError
from longbert.evaluate import evaluate
from longbert.strategies import parse_strategy


@pytest.fixture(autouse=True)
def fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # the curve and the exit path agree exactly


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("calibration")
    return {
        "root": root,
        "train": write_jsonl(root / "train.jsonl", make_rows(24)),
        "dev": write_jsonl(root / "dev.jsonl", make_rows(12, seed=5)),
        "calibration": write_jsonl(root / "calibration.jsonl", make_rows(10, seed=7)),
    }


@pytest.fixture(scope="module")
def source(data: dict[str, Path]) -> Path:
    encoder = save_tiny_encoder(data["root"] / "tiny-bert", **TRAIN_ENCODER)
    return train_quick_model(data["root"], data["train"], encoder)


def point(
    threshold: float, agreement: float, layers: float = 2.0, accuracy: float | None = 0.9
) -> CurvePoint:
    changed = round((1 - agreement) * 1000)  # of 1,000 documents
    return CurvePoint(threshold, accuracy, accuracy, layers, 1 - changed / 1000, changed, 1000)


def test_the_largest_threshold_within_the_budget_is_chosen() -> None:
    curve = [point(0.0, 1.0), point(0.3, 1.0), point(0.5, 0.990), point(0.7, 0.996), point(0.9, 0.80)]
    # 0.5 changes 1% of the labels, 0.7 only 0.4%: the highest threshold meeting the budget wins.
    assert choose_threshold(curve, 0.5).threshold == 0.7
    assert choose_threshold(curve, 1.0).threshold == 0.7
    assert choose_threshold(curve, 20.0).threshold == 0.9
    assert choose_threshold(curve, 0.0).threshold == 0.3  # no change at all: the full model's labels
    assert choose_threshold([point(0.0, 1.0), point(0.2, 0.5)], 0.5).threshold == 0.0
    with pytest.raises(ValueError, match="--max-accuracy-loss must be 0 or more"):
        choose_threshold(curve, -0.5)


def test_changes_that_happen_to_fix_labels_do_not_buy_a_threshold() -> None:
    """0.8 changes 2% of the labels and gains 2 accuracy points on this set (lucky changes): the
    budget is on changed labels, which bounds the accuracy lost whatever the truth, so 0.6 wins;
    without labels the choice is the same."""
    labelled = [
        point(0.0, 1.0, accuracy=0.82),
        point(0.6, 1.0, accuracy=0.82),
        point(0.8, 0.98, accuracy=0.84),
    ]
    assert choose_threshold(labelled, 0.5).threshold == 0.6
    unlabelled = [dataclasses.replace(p, accuracy=None, macro_f1=None) for p in labelled]
    assert choose_threshold(unlabelled, 0.5).threshold == 0.6
    assert choose_threshold(labelled, 2.0).threshold == 0.8


def test_a_budget_met_exactly_is_met() -> None:
    """249 of 250 documents agreeing is exactly 0.4% changed (no float rounding refuses it)."""
    curve = [CurvePoint(0.0, None, None, 2.0, 1.0, 0, 250), CurvePoint(0.5, None, None, 1.5, 0.996, 1, 250)]
    assert choose_threshold(curve, 0.4).threshold == 0.5
    assert choose_threshold(curve, 0.39).threshold == 0.0


class ThreeTags:
    """A multi-label model's curve inputs: label sets decided at 0.5 on the sigmoid."""

    labels: ClassVar[list[str]] = ["x", "y", "z"]
    multi_label = True

    @staticmethod
    def probabilities(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())


def test_multi_label_agreement_counts_a_changed_label_set() -> None:
    """Doc 0's first exit drops one of its two labels: a changed set, though one label still
    agrees; doc 1's first exit gives its full set exactly."""
    rows = torch.tensor(
        [
            [[9.0, -9.0, -9.0], [9.0, 9.0, -9.0]],  # doc 0: exit {x}, full {x, y}
            [[-9.0, -9.0, 9.0], [-9.0, -9.0, 9.0]],  # doc 1: exit {z}, full {z}
        ]
    )
    logits = ExitLogits(rows, torch.tensor([0, 1]), rows[:, -1], (0, 1))
    curve = threshold_curve(ThreeTags(), logits, None, (0.0, 1.0))
    assert [(p.changed, p.documents) for p in curve] == [(0, 2), (1, 2)]
    assert curve[1].agreement == 0.5


class TwoLabels:
    """What the curve reads of a classifier: labels, multi_label, probabilities."""

    labels: ClassVar[list[str]] = ["a", "b"]
    multi_label = False

    @staticmethod
    def probabilities(logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=-1)


def test_curve_follows_each_row_to_its_exit_on_known_logits() -> None:
    sure_a, sure_b, unsure_a, unsure_b = [8.0, 0.0], [0.0, 8.0], [0.3, 0.0], [0.0, 0.3]
    rows = torch.tensor(
        [
            [sure_a, unsure_b, unsure_a],  # doc 0 (label a): the first exit is sure and right
            [unsure_a, sure_b, sure_b],  # doc 1 (label b): the second exit is sure and right
            [unsure_a, unsure_a, unsure_b],  # doc 2 (label b): only the final head is right
        ]
    )
    full = rows[:, -1]
    logits = ExitLogits(rows, torch.tensor([0, 1, 2]), full, (0, 1, 2))
    curve = threshold_curve(TwoLabels(), logits, torch.tensor([0, 1, 1]).numpy(), (0.0, 0.01, 0.5, 1.0))
    by_threshold = {p.threshold: p for p in curve}
    assert by_threshold[0.0].accuracy == 1.0 and by_threshold[0.0].mean_layers == 3.0
    # 0.01: sure exits (entropy ~0.005) leave, unsure ones (~0.99) go on: docs 0, 1 leave early.
    assert by_threshold[0.01].accuracy == 1.0 and by_threshold[0.01].mean_layers == pytest.approx(2.0)
    # 1.0: every row leaves at the first exit: doc 1 and 2 read "a", wrongly.
    assert by_threshold[1.0].accuracy == pytest.approx(1 / 3) and by_threshold[1.0].mean_layers == 1.0
    assert [by_threshold[t].agreement for t in (0.0, 0.01, 0.5)] == [1.0, 1.0, 1.0]
    assert by_threshold[1.0].agreement == pytest.approx(1 / 3)  # docs 1 and 2 changed from b to a
    assert choose_threshold(curve, 0.5).threshold == 0.5
    unlabelled = threshold_curve(TwoLabels(), logits, None, (0.0, 0.01, 0.5, 1.0))
    assert [p.agreement for p in unlabelled] == [p.agreement for p in curve]
    assert all(p.accuracy is None and p.macro_f1 is None for p in unlabelled)


@pytest.fixture(scope="module")
def calibrated(source: Path, data: dict[str, Path]) -> Path:
    folder = data["root"] / "tiny-exit-calibrated"
    argv = ["--model", str(source), "--method", "early-exit", "--name", "tiny-exit-calibrated"]
    argv += ["--texts", str(data["train"]), "--dev", str(data["dev"]), "--output-dir", str(folder)]
    argv += ["--calibration", str(data["calibration"]), "--device", "cpu", "--max-accuracy-loss", "2"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_PRECISION", "fp32")
        assert main(argv) == 0
    return folder


@pytest.mark.parametrize("strategy", [None, {"name": "chunk", "params": {"window": 16, "stride": 8}}])
def test_the_curve_matches_the_exit_path_it_predicts(
    calibrated: Path, data: dict[str, Path], strategy: dict | None
) -> None:
    model = load_classifier(calibrated, device="cpu")
    if strategy is not None:  # windows leave at their own layers; documents average them
        model.strategy = parse_strategy(strategy)[0]
    rows = [json.loads(line) for line in data["dev"].read_text().splitlines()]
    truth = torch.tensor([model.labels.index(r["label"]) for r in rows]).numpy()
    # The tiny model is unsure of everything: 1.01 makes every row leave at the first exit.
    grid = (*GRID, 1.01)
    curve = threshold_curve(model, exit_logits(model, [r["text"] for r in rows]), truth, grid)
    assert [p.threshold for p in curve] == list(grid)
    for p in curve:
        model.early_exit.threshold = p.threshold
        report = evaluate(model, data["dev"], device="cpu")
        assert report["accuracy"] == pytest.approx(p.accuracy)
        assert report["macro_f1"] == pytest.approx(p.macro_f1)
    assert (
        curve[0].mean_layers == 2.0
        and curve[-1].mean_layers < 2.0
        and all(1.0 <= p.mean_layers <= 2.0 for p in curve)
    )


def test_calibration_file_chooses_and_dev_only_measures(
    calibrated: Path, data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = read_manifest(calibrated)
    details = manifest.metadata["compression"]
    calibration = details["calibration"]
    assert details["threshold_source"] == "calibrated" and "note" not in calibration
    assert calibration["data"] == str(data["calibration"]) and calibration["documents"] == 10
    assert calibration["max_accuracy_loss"] == 2.0
    assert [p["threshold"] for p in calibration["curve"]] == list(GRID)
    assert set(calibration["curve"][0]) == {
        "threshold",
        "accuracy",
        "macro_f1",
        "mean_layers",
        "agreement",
        "changed",
        "documents",
    }
    chosen = choose_threshold([CurvePoint(**p) for p in calibration["curve"]], 2.0)
    stored = json.loads((calibrated / "exits" / "config.json").read_text())["threshold"]
    assert stored == chosen.threshold == details["threshold"] == calibration["threshold"]
    assert load_classifier(calibrated, device="cpu").early_exit.threshold == chosen.threshold
    # accuracy_after: the dev file at the chosen threshold, as evaluate measures it.
    assert manifest.compression.dev_data == str(data["dev"])
    after = evaluate(load_classifier(calibrated, device="cpu"), data["dev"], device="cpu")["accuracy"]
    assert manifest.compression.accuracy_after == pytest.approx(after)


def test_the_largest_threshold_within_budget_is_stored(
    source: Path,
    data: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    constructed = [point(0.0, 1.0, 2.0), point(0.5, 0.998, 1.6), point(0.8, 0.95, 1.2), point(0.9, 0.5, 1.0)]
    monkeypatch.setattr(exit_calibration, "threshold_curve", lambda *args, **kwargs: constructed)
    argv = ["--model", str(source), "--method", "early-exit", "--name", "t", "--device", "cpu"]
    argv += ["--texts", str(data["train"]), "--dev", str(data["dev"]), "--output-dir", str(tmp_path / "t")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "exit threshold chosen on" in out and "threshold 0.5:" in out and "optimistic" in out
    details = read_manifest(tmp_path / "t").metadata["compression"]
    assert details["threshold"] == 0.5 and details["calibration"]["data"] == str(data["dev"])
    assert "optimistic" in details["calibration"]["note"]  # chosen on the set that measures


def test_without_labelled_data_the_default_is_kept_with_a_warning(
    source: Path, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(UncalibratedThresholdWarning, match="not calibrated"):
        folder, _ = compress(
            source, "early-exit", "d", output_dir=tmp_path / "d", texts=["econ bank rates"] * 4, device="cpu"
        )
    details = read_manifest(folder).metadata["compression"]
    assert details["threshold"] == DEFAULT_THRESHOLD and "calibration" not in details
    assert load_classifier(folder, device="cpu").early_exit.threshold == DEFAULT_THRESHOLD
    argv = ["--model", str(source), "--method", "early-exit", "--name", "e", "--device", "cpu"]
    assert main([*argv, "--texts", str(data["train"]), "--output-dir", str(tmp_path / "e")]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "not calibrated" in captured.err
    assert "default, not calibrated" in captured.out


def early_exit_argv(source: Path, output: Path) -> list[str]:
    """The compress command line both refusal tests start from (model ``n``, early exit)."""
    return ["--model", str(source), "--method", "early-exit", "--name", "n", "--output-dir", str(output)]


def test_bad_calibration_requests_are_clear_errors(
    source: Path, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = ["econ bank rates"]
    with pytest.raises(ValueError, match="--max-accuracy-loss must be 0 or more points"):
        compress(source, "early-exit", "n", output_dir=tmp_path / "n", texts=texts, max_accuracy_loss=-1)
    with pytest.raises(ValueError, match="--exit-threshold must be between 0 and 1"):
        compress(source, "early-exit", "n", output_dir=tmp_path / "n", texts=texts, exit_threshold=1.5)
    with pytest.raises(ValueError, match="use it with --method early-exit"):
        compress(source, "int8", "n", output_dir=tmp_path / "n", calibration=data["calibration"])
    argv = early_exit_argv(source, tmp_path / "n")
    assert main([*argv, "--texts", str(data["train"]), "--max-accuracy-loss", "-0.5"]) == 2
    assert "--max-accuracy-loss must be 0 or more points" in capsys.readouterr().err
    missing = tmp_path / "missing.jsonl"
    assert main([*argv, "--texts", str(data["train"]), "--calibration", str(missing)]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "n").exists() and not (tmp_path / "n.partial").exists()


def test_documents_with_nothing_to_read_are_left_out(calibrated: Path) -> None:
    model = load_classifier(calibrated, device="cpu")
    logits = exit_logits(model, ["", "econ bank rates", "   ", "team goal match"], batch_size=2)
    assert logits.kept == (1, 3) and logits.full.shape[0] == 2
    assert logits.row_doc.tolist() == [0, 1] and logits.rows.shape[:2] == (2, 2)
    with pytest.raises(ValueError, match="nothing to calibrate on"):
        exit_logits(model, ["", "  "])


def test_a_threshold_and_a_calibration_file_together_are_refused(
    source: Path, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = early_exit_argv(source, tmp_path / "n")
    argv += [
        "--texts",
        str(data["train"]),
        "--calibration",
        str(data["calibration"]),
        "--exit-threshold",
        "0.3",
    ]
    assert main(argv) == 2
    assert (
        "--exit-threshold sets the early-exit threshold and --calibration chooses one"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "n").exists() and not (tmp_path / "n.partial").exists()


def test_a_calibration_file_with_unknown_labels_fails_before_exits_are_trained(
    source: Path, data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from longbert.compression import early_exit

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("exits were trained before the calibration file was checked")

    monkeypatch.setattr(early_exit, "train_exits", never)
    rows = [*make_rows(4), {"text": "rain and wind all week", "label": "weather"}]
    unknown = write_jsonl(tmp_path / "unknown.jsonl", rows)
    # The single "weather" row is noticed too (it cannot be both trained on and evaluated).
    single = pytest.warns(CompressNotice, match="single example")
    with single, pytest.raises(DatasetError, match="labels the model does not know: weather"):
        compress(
            source,
            "early-exit",
            "n",
            output_dir=tmp_path / "n",
            texts=["econ bank rates"],
            calibration=unknown,
        )
    single = pytest.warns(CompressNotice, match="single example")  # --dev chooses the threshold now
    with single, pytest.raises(DatasetError, match="labels the model does not know: weather"):
        compress(source, "early-exit", "n", output_dir=tmp_path / "n", texts=["econ bank rates"], dev=unknown)
    assert not (tmp_path / "n").exists() and not (tmp_path / "n.partial").exists()


def test_unlabelled_calibration_texts_choose_by_agreement_alone(
    source: Path, calibrated: Path, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same documents with and without their labels give the same threshold (the rule reads
    agreement with the full model only); the curve without labels has no accuracy."""
    texts_file = tmp_path / "texts.txt"
    rows = [json.loads(line) for line in data["calibration"].read_text().splitlines()]
    texts_file.write_text("".join(row["text"].replace("\n", " ") + "\n" for row in rows))
    argv = [*early_exit_argv(source, tmp_path / "u"), "--texts", str(data["train"]), "--device", "cpu"]
    assert main([*argv, "--calibration-texts", str(texts_file), "--max-accuracy-loss", "2"]) == 0
    out = capsys.readouterr().out
    assert "10 unlabelled texts" in out and "same label" in out and "accuracy" not in out.split("\n", 2)[-1]
    details = read_manifest(tmp_path / "u").metadata["compression"]
    calibration = details["calibration"]
    assert details["threshold_source"] == "calibrated" and "note" not in calibration
    assert all(p["accuracy"] is None for p in calibration["curve"])
    with_labels = read_manifest(calibrated).metadata["compression"]["calibration"]  # same exits (seeded)
    assert [p["agreement"] for p in calibration["curve"]] == [p["agreement"] for p in with_labels["curve"]]
    assert details["threshold"] == with_labels["threshold"]


def test_calibration_texts_are_refused_with_a_threshold_a_file_or_another_method(
    source: Path, data: dict[str, Path], tmp_path: Path
) -> None:
    texts = ["econ bank rates", "team goal match"]

    def early_exit(**options: object) -> None:
        compress(source, "early-exit", "n", output_dir=tmp_path / "n", texts=texts, **options)

    with pytest.raises(ValueError, match="--calibration-texts chooses one"):
        early_exit(calibration_texts=texts, exit_threshold=0.3)
    with pytest.raises(ValueError, match="give one of them"):
        early_exit(calibration=data["calibration"], calibration_texts=texts)
    with pytest.raises(ValueError, match="use it with --method early-exit"):
        compress(source, "int8", "n", output_dir=tmp_path / "n", calibration_texts=texts)
    with pytest.raises(ValueError, match=r"no text to calibrate on in 0 unlabelled texts from blank\.txt"):
        early_exit(calibration_texts=[], calibration_source="blank.txt")
    assert not (tmp_path / "n").exists()


def test_an_empty_calibration_texts_file_is_an_error_not_a_silent_fallback(
    source: Path, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n")
    argv = [
        *early_exit_argv(source, tmp_path / "n"),
        "--texts",
        str(data["train"]),
        "--dev",
        str(data["dev"]),
    ]
    assert main([*argv, "--calibration-texts", str(blank)]) == 2
    assert "no text to calibrate on" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the bare flag: argparse wants a file
        main([*argv, "--calibration-texts"])
    assert not (tmp_path / "n").exists() and not (tmp_path / "n.partial").exists()

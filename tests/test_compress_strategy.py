"""``compress --strategy-param``: the new checkpoint reads with a changed strategy parameter
(a chunk model's stride), and the method trains and calibrates reading that way."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, train_quick_model, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import read_manifest
from longbert.compress import compress, main
from longbert.errors import StrategyConfigError
from longbert.strategies import get_strategy

CHUNK = {"name": "chunk", "params": {"window": 16, "stride": 8}}


@pytest.fixture(autouse=True)
def fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # exact comparisons, no autocast


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compress-strategy")
    return {
        "root": root,
        "train": write_jsonl(root / "train.jsonl", make_rows(16)),
        "dev": write_jsonl(root / "dev.jsonl", make_rows(10, seed=5)),
    }


@pytest.fixture(scope="module")
def chunk_source(data: dict[str, Path]) -> Path:
    """A model reading 16-token windows every 8 tokens, pooled by mean."""
    encoder = save_tiny_encoder(data["root"] / "tiny-bert", **TRAIN_ENCODER)
    model = load_classifier(train_quick_model(data["root"], data["train"], encoder), device="cpu")
    model.strategy = get_strategy(CHUNK)
    return model.save_pretrained(data["root"] / "chunk-source")


def texts() -> list[str]:
    return [row["text"] for row in make_rows(8, seed=11)]


def test_the_new_checkpoint_reads_with_the_changed_stride(
    chunk_source: Path, data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Exits at threshold 0 are the full model: the compressed model's predictions are then the
    source's own read at stride 16, and differ from the source's at its stride 8."""
    folder = data["root"] / "stride-16"
    argv = ["--model", str(chunk_source), "--method", "early-exit", "--name", "stride-16"]
    argv += ["--texts", str(data["train"]), "--exit-threshold", "0", "--dev", str(data["dev"])]
    assert main([*argv, "--output-dir", str(folder), "--strategy-param", "stride=16"]) == 0
    assert "reads with stride=16" in capsys.readouterr().out
    manifest = read_manifest(folder)
    assert manifest.strategy["params"]["stride"] == 16 and manifest.strategy["params"]["window"] == 16
    details = manifest.metadata["compression"]
    assert details["strategy_params"] == {"stride": 16}
    assert details["source_strategy"]["params"]["stride"] == 8
    compressed = load_classifier(folder, device="cpu")
    assert compressed.strategy.params["stride"] == 16
    source = load_classifier(chunk_source, device="cpu")
    wide = {"name": "chunk", "params": {"window": 16, "stride": 16}}
    want = source.predict(texts(), strategy=wide, attention="none")
    own = source.predict(texts(), attention="none")
    got = compressed.predict(texts(), attention="none")
    assert [p.probabilities for p in got] == [p.probabilities for p in want]
    assert [p.probabilities for p in got] != [p.probabilities for p in own]
    fewer = [len(a.windows) for a in compressed.prepare(texts())]
    more = [len(a.windows) for a in source.prepare(texts())]
    assert sum(fewer) < sum(more) and all(a <= b for a, b in zip(fewer, more, strict=True))


def test_calibration_and_distillation_read_with_the_new_stride(
    chunk_source: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import longbert.compression.distill as distill_module
    import longbert.compression.exit_calibration as calibration_module

    seen: list[int] = []
    real_calibrate, real_distill = calibration_module.calibrate, distill_module.distill

    def calibrate(teacher, *args, **kwargs):  # a spy around the real one
        seen.append(teacher.strategy.params["stride"])
        return real_calibrate(teacher, *args, **kwargs)

    def distill(teacher, *args, **kwargs):
        seen.append(teacher.strategy.params["stride"])
        return real_distill(teacher, *args, **kwargs)

    monkeypatch.setattr(calibration_module, "calibrate", calibrate)
    monkeypatch.setattr(distill_module, "distill", distill)
    for method in ("early-exit", "distill"):
        folder, _ = compress(
            chunk_source,
            method,
            method,
            output_dir=data["root"] / f"{method}-12",
            texts=texts(),
            calibration=data["dev"] if method == "early-exit" else None,
            distill_epochs=1,
            strategy_params={"stride": 12},
        )
        assert read_manifest(folder).strategy["params"]["stride"] == 12
    assert seen == [12, 12]


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"strid": 12}, StrategyConfigError, "strid"),
        ({"stride": 0}, StrategyConfigError, "stride"),
        ({"stride": 17}, StrategyConfigError, "stride"),
        ({"pooling": "max"}, ValueError, "a setting of the trained model"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_written(
    chunk_source: Path, tmp_path: Path, params: dict, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        compress(chunk_source, "int8", "x", output_dir=tmp_path / "x", strategy_params=params)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_the_cli_reports_a_malformed_parameter(
    chunk_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--model",
        str(chunk_source),
        "--method",
        "int8",
        "--name",
        "x",
        "--output-dir",
        str(tmp_path / "x"),
    ]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--strategy-param", "stride"])
    assert stopped.value.code == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main([*argv, "--strategy-param", "window=600"]) == 2
    assert "window" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

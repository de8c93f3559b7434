"""``--overwrite`` keeps the old model until the new run saves its own: a typo in the encoder, a
strategy parameter or the label descriptions, or a stop before the first model, loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import LongBertClassifier
from longbert.pretrain import main as pretrain_main
from longbert.pretraining import ENCODER_MANIFEST, PretrainConfig, pretrain, read_encoder_manifest
from longbert.train import main as train_main
from longbert.training import TrainConfig, train

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", make_rows(40))


def options(encoder: Path, train_file: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "train": str(train_file),
        "encoder": str(encoder),
        "name": "old",
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "dev_fraction": 0.25,
        "quiet": True,
        "record": False,
        "threads": 1,
        **overrides,
    }
    return TrainConfig(**values)


def saved_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "typo",
    [
        ["--encoder", "/nonexistent"],
        ["--strategy", "chunk", "--strategy-param", "windw=256"],
        ["--mode", "few-shot", "--label-descriptions", "nope.json"],
    ],
    ids=["encoder", "strategy-param", "label-descriptions"],
)
def test_a_typo_with_overwrite_keeps_the_old_model_and_its_metrics(
    encoder: Path, train_file: Path, typo: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = train(options(encoder, train_file)).output_dir
    before = saved_files(folder)
    argv = ["--train", str(train_file), "--encoder", str(encoder), "--name", "old", "--overwrite"]
    assert train_main([*argv, "--quiet", "--no-record", *typo]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: ")
    assert saved_files(folder) == before  # longbert.json and metrics.json included
    LongBertClassifier.from_pretrained(folder)


def test_an_overwrite_stopped_before_its_first_model_keeps_the_old_one_and_resumes(
    encoder: Path, train_file: Path
) -> None:
    folder = train(options(encoder, train_file)).output_dir
    before = {name: data for name, data in saved_files(folder).items() if "/" not in name}
    steps = {"n": 0}

    def stop_in_the_first_epoch() -> bool:
        steps["n"] += 1
        return steps["n"] > 2

    config = options(encoder, train_file, epochs=2, overwrite=True, strategy_params={"mode": "tail"})
    assert train(config, should_stop=stop_in_the_first_epoch).status == "interrupted"
    # The old model still loads, with its manifest and metrics; the new run can be resumed.
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert LongBertClassifier.from_pretrained(folder).strategy.params["mode"] != "tail"
    assert (folder / ".last").is_dir()
    assert train_main(["--name", "old", "--resume", "--quiet"]) == 0
    assert LongBertClassifier.from_pretrained(folder).strategy.params["mode"] == "tail"
    assert (folder / "metrics.json").read_bytes() != before["metrics.json"]
    assert not (folder / ".last").exists()


def test_pretrain_overwrite_with_a_missing_encoder_keeps_the_old_encoder(
    encoder: Path, tmp_path: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl(tmp_path / "docs.jsonl", make_rows(8, words=(30, 60)))
    config = PretrainConfig(
        corpus=[str(corpus)],
        encoder=str(encoder),
        name="adapted",
        max_tokens=62,
        batch_size=2,
        max_steps=1,
        heldout_fraction=0.0,
        precision="fp32",
        threads=1,
        quiet=True,
        record=False,
    )
    folder = pretrain(config).output_dir
    before = saved_files(folder)
    argv = [str(corpus), "--encoder", "/nonexistent", "--name", "adapted", "--overwrite", "--quiet"]
    assert pretrain_main(argv) == 2
    assert "/nonexistent" in capsys.readouterr().err
    assert saved_files(folder) == before
    assert (folder / ENCODER_MANIFEST).is_file() and read_encoder_manifest(folder).kind == "encoder"


def test_overwriting_the_source_of_a_compressed_model_warns(
    encoder: Path, train_file: Path, tmp_path: Path
) -> None:
    """A compressed model names the checkpoint it was made from; replacing that checkpoint with
    --overwrite leaves it naming a model it was not made from, so the run says so."""
    from longbert.compress import compress

    source = tmp_path / "models" / "old"
    train(options(encoder, train_file, output_dir=str(source)))
    compress(source, "int8", "old-int8", output_dir=tmp_path / "models" / "old-int8", device="cpu")
    with pytest.warns(UserWarning, match=r"source model of the compressed model\(s\) 'old-int8'"):
        train(options(encoder, train_file, output_dir=str(source), overwrite=True))

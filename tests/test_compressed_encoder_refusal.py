"""A compressed model asked to serve as an encoder: the refusal fits every such use, zero-shot
labels included (it used to speak of training only)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from longbert.checkpoints import Compression, read_manifest, write_manifest
from longbert.errors import UnsupportedEncoderError

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def compressed(built: Path, isolated: Path) -> Path:
    folder = Path(shutil.copytree(built, isolated / "models" / "news-distill"))
    manifest = read_manifest(folder)
    compression = Compression(method="distill", source_model=str(isolated / "models" / "news"))
    write_manifest(folder, dataclasses.replace(manifest, compression=compression))
    return folder


def test_zero_shot_with_a_compressed_encoder_is_refused_in_words_that_fit(compressed: Path) -> None:
    from longbert.zero_shot import ZeroShotClassifier

    with pytest.raises(UnsupportedEncoderError) as refusal:
        ZeroShotClassifier(["econ", "sport"], encoder=str(compressed))
    message = str(refusal.value)
    assert "cannot serve as an encoder" in message and "label zero-shot" in message
    assert "trained further" not in message
    assert f"Start from its source model '{compressed.parent / 'news'}'" in message


def test_the_predict_cli_says_the_same(compressed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from longbert.predict import main

    text = compressed.parent / "doc.txt"
    text.write_text("The bank raised rates.")
    argv = ["--labels", "econ", "sport", "--encoder", "news-distill", "--no-store"]
    assert main([*argv, "--input", str(text), "--output", str(compressed.parent / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "cannot serve as an encoder" in err and "trained further" not in err

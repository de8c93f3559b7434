"""``--method distill``: a student with every other layer that moves toward its teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import Prediction, load_classifier
from longbert.checkpoints import read_manifest
from longbert.classifier import LongBertClassifier
from longbert.compress import main
from longbert.compression.distill import alternate_layers, distill, make_student
from longbert.evaluate import main as evaluate_main


@pytest.fixture(autouse=True)
def fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")


def teacher(root: Path) -> LongBertClassifier:
    torch.manual_seed(0)
    model = LongBertClassifier.from_encoder(
        save_tiny_encoder(root / "enc"), labels=["a", "b", "c"], device="cpu"
    )
    with torch.no_grad():  # a confident teacher: its soft labels are far from the student's start
        model.head.classifier.weight.mul_(40)
    return model.eval()


TEXTS = [text_of(n, offset) for n in (3, 5, 8, 12, 20, 30) for offset in range(4)]


def disagreement(student: LongBertClassifier, model: LongBertClassifier) -> float:
    """Mean KL(teacher || student) over the toy texts."""
    with torch.no_grad():
        inputs = model.collate(model.prepare(TEXTS))
        t = torch.log_softmax(model(inputs).logits, dim=-1)
        s = torch.log_softmax(student(inputs).logits, dim=-1)
    return float((t.exp() * (t - s)).sum(-1).mean())


def test_alternate_layers() -> None:
    assert alternate_layers(6) == [1, 3, 5] and alternate_layers(2) == [1] and alternate_layers(1) == [0]


def test_student_starts_from_the_teachers_layers_and_moves_toward_it(tmp_path: Path) -> None:
    model = teacher(tmp_path)
    start = make_student(model)
    assert start.encoder.config.num_hidden_layers == 1
    torch.testing.assert_close(
        start.encoder.encoder.layer[0].intermediate.dense.weight,
        model.encoder.encoder.layer[1].intermediate.dense.weight,
    )
    trained = distill(model, TEXTS, epochs=8, learning_rate=1e-3, batch_size=8)
    assert disagreement(trained, model) < 0.5 * disagreement(start, model)


def test_cli_writes_a_smaller_classifier_that_loads_everywhere(tmp_path: Path) -> None:
    model = teacher(tmp_path)
    source = model.save_pretrained(tmp_path / "teacher")
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    folder = tmp_path / "student"
    argv = ["--model", str(source), "--method", "distill", "--name", "student", "--texts", str(texts)]
    assert main([*argv, "--output-dir", str(folder), "--device", "cpu", "--epochs", "1"]) == 0
    manifest = read_manifest(folder)
    assert manifest.compression is not None and manifest.compression.method == "distill"
    assert manifest.name == "student" and manifest.labels == ("a", "b", "c")
    student = load_classifier(folder, device="cpu")
    assert student.encoder.config.num_hidden_layers == 1
    assert all(isinstance(p, Prediction) for p in student.predict(TEXTS[:3]))
    data = tmp_path / "dev.jsonl"
    data.write_text("".join(f'{{"text": "{t}", "label": "a"}}\n' for t in TEXTS[:4]))
    assert evaluate_main(["--model", str(folder), "--data", str(data), "--device", "cpu"]) == 0
    from longbert.ui.service import load_model

    assert isinstance(load_model(str(folder), device="cpu").predict(TEXTS[:1])[0], Prediction)


@pytest.mark.parametrize("windows", ["one", "several"])
def test_teacher_targets_match_a_live_teacher_pass(tmp_path: Path, windows: str) -> None:
    """Cached once per document, the targets are what the teacher computes on any batch (with
    several windows per document too: chunk's vectors are split back by document)."""
    from longbert.compression.distill import teacher_targets
    from longbert.strategies import ChunkStrategy

    model = teacher(tmp_path)
    strategy = ChunkStrategy(window=8, stride=4) if windows == "several" else None
    selections = model.prepare(TEXTS[-6:], strategy)
    if windows == "several":
        assert all(len(s.windows) > 1 for s in selections)
    targets = teacher_targets(model, selections, batch_size=4)
    assert len(targets) == 6
    batch = [5, 0, 3]
    with torch.no_grad():
        inputs = model.collate([selections[i] for i in batch])
        vectors = model.run_encoder(inputs).vectors
        logits = model.classify_windows(vectors, inputs).logits
    torch.testing.assert_close(torch.cat([targets[i][0] for i in batch]), vectors)
    torch.testing.assert_close(torch.cat([targets[i][1] for i in batch]), logits)

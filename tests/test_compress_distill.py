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
    trained = distill(model, TEXTS, epochs=8, learning_rate=1e-3, batch_size=8, hidden="cls")
    assert disagreement(trained, model) < 0.5 * disagreement(start, model)


def layer_distance(student: LongBertClassifier, model: LongBertClassifier, strategy: object = None) -> float:
    """The layer-wise loss between the student and the teacher layers it was built from."""
    from longbert.compression.distill import layer_loss, teacher_states

    student.eval()  # no dropout: the distance of the weights, not of a random mask
    with torch.no_grad():
        inputs = model.collate(model.prepare(TEXTS, strategy))
        _, targets = teacher_states(model, inputs, alternate_layers(2))
        states = student.run_encoder(inputs, output_hidden_states=True).hidden_states
        return float(layer_loss(states or (), targets, inputs.attention_mask))


STRATEGIES = {
    "truncate": None,
    "chunk": {"name": "chunk", "params": {"window": 8, "stride": 4}},
    "sparse": {"name": "sparse", "params": {"max_tokens": 512}},
}


@pytest.mark.parametrize("layers", [[0, 1], [1], [0]], ids=str)
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_teacher_states_are_the_teacher_layers_the_student_keeps(
    tmp_path: Path, layers: list[int], strategy: str
) -> None:
    """Student layer i is matched to teacher layer ``layers[i]``: a student keeping every layer
    is at distance exactly 0, and each target is that teacher layer's output (index + 1: the
    embeddings come first), in every reading mode (padding excluded)."""
    from longbert.compression.distill import layer_loss, teacher_states
    from longbert.strategies import get_strategy

    model = teacher(tmp_path)
    spec = STRATEGIES[strategy]
    selections = model.prepare(TEXTS, None if spec is None else get_strategy(spec))
    inputs = model.collate(selections)
    _, targets = teacher_states(model, inputs, layers)
    with torch.no_grad():
        states = model.run_encoder(inputs, output_hidden_states=True).hidden_states or ()
    assert len(targets) == len(layers) + 1
    torch.testing.assert_close(targets[0], states[0].float())
    for i, layer in enumerate(layers):
        torch.testing.assert_close(targets[i + 1], states[layer + 1].float())
    if layers == [0, 1]:
        student = make_student(model, layers).eval()
        with torch.no_grad():
            mine = student.run_encoder(inputs, output_hidden_states=True).hidden_states or ()
        assert float(layer_loss(mine, targets, inputs.attention_mask)) == pytest.approx(0.0, abs=1e-10)


def test_layerwise_distillation_pulls_each_student_layer_toward_its_teacher_layer(tmp_path: Path) -> None:
    """TinyBERT's loss: the student's intermediate states (not only its predictions) move toward
    the teacher's, further than distillation on the final [CLS] alone takes them."""
    model = teacher(tmp_path)
    with torch.no_grad():  # a first layer that matters: the student, which skips it, starts far
        for name, weight in model.encoder.encoder.layer[0].named_parameters():
            if weight.dim() == 2:
                weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(len(name)))
    options = {"epochs": 8, "learning_rate": 1e-3, "batch_size": 8}
    start = layer_distance(make_student(model), model)
    layers = layer_distance(distill(model, TEXTS, hidden="layers", **options), model)
    cls_only = layer_distance(distill(model, TEXTS, hidden="cls", **options), model)
    assert layers < 0.5 * start and layers < cls_only


def test_layer_loss_counts_real_tokens_only() -> None:
    from longbert.compression.distill import layer_loss

    teacher_state = torch.zeros(2, 4, 3)
    student_state = torch.zeros(2, 4, 3)
    student_state[0, 3] = 100.0  # a padding position: ignored
    student_state[1, 0] = 2.0  # a real one: squared error 4 on 3 of the 7 x 3 real values
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    loss = layer_loss([student_state, student_state], [teacher_state, teacher_state], mask)
    assert loss.item() == pytest.approx(4 * 3 / (7 * 3))
    with pytest.raises(ValueError, match="2 student states against 1"):
        layer_loss([student_state, student_state], [teacher_state], mask)


def test_unknown_hidden_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hidden must be one of cls, layers"):
        distill(teacher(tmp_path), TEXTS, hidden="attention")


def test_cli_refuses_an_unknown_hidden_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "m", "--method", "distill", "--name", "s", "--hidden", "attention"])
    assert exit_info.value.code == 2 and "invalid choice: 'attention'" in capsys.readouterr().err


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
    details = manifest.metadata["compression"]
    assert (details["hidden"], details["epochs"], details["texts"]) == ("cls", 1, len(TEXTS))
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

"""Pre-training end to end on a tiny random BERT: tied head, long mode, output loading, resume,
corpora from files and the store, bad corpora, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.pretrain_fixtures import pretrain_options
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl
from safetensors.torch import load_file

from longbert import LongBertClassifier
from longbert.checkpoints import read_manifest
from longbert.encoder_source import load_tokenizer
from longbert.modeling.long_bert import LongBertModel
from longbert.pretrain import main
from longbert.pretraining import (
    ENCODER_MANIFEST,
    CorpusError,
    MaskingSpec,
    MaskVocabulary,
    PretrainConfig,
    PretrainError,
    make_batch,
    pack_long,
    pretrain,
    read_encoder_manifest,
)
from longbert.pretraining.model import HEAD_PREFIX, LongBertForMaskedLM, build_model
from longbert.store import get_store
from longbert.ui.models import encoder_choices, model_choices, scan_checkpoints

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")



@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "docs.jsonl.gz", make_rows(16, words=(30, 90)))


def options(encoder: Path, data: Path, **overrides: Any) -> PretrainConfig:
    return pretrain_options(encoder, [data], **{"max_steps": 6, **overrides})


def weights(folder: Path) -> dict[str, torch.Tensor]:
    saved = folder / "encoder"
    return {**load_file(str(saved / "model.safetensors")), **load_file(str(saved / "mlm_head.safetensors"))}


def test_decoder_is_tied_to_the_word_embeddings(encoder: Path) -> None:
    model, has_head = build_model(str(encoder), 0)
    assert not has_head  # a BertModel checkpoint has no MLM head
    assert model.head.decoder.weight is model.encoder.embeddings.word_embeddings.weight
    names = [n for n, _ in model.named_parameters()]
    assert "head.decoder.weight" not in names  # counted once, as the embeddings
    tokenizer = load_tokenizer(str(encoder))
    vocab = MaskVocabulary.from_tokenizer(tokenizer, 30522)
    rng = np.random.default_rng(0)
    sequences = pack_long([rng.integers(1000, 20000, 60)], 100, 101, 102)
    out = model(make_batch(sequences, np.asarray([0]), vocab, MaskingSpec(), 0, 0, 0))
    out.loss.backward()
    assert out.loss.item() == pytest.approx(np.log(30522), abs=0.3)  # an untrained head: ~10.3
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    assert model.head.decoder.weight is model.encoder.embeddings.word_embeddings.weight


def test_head_warm_up_then_whole_model_schedule_and_no_decay_on_biases_and_norms() -> None:
    from longbert.modeling.long_bert_config import LongBertConfig
    from longbert.pretraining.steps import make_optimizer

    config = LongBertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    model = LongBertForMaskedLM(LongBertModel(config))
    optimizer, scheduler = make_optimizer(
        model, 1e-4, 1e-3, 0.01, head_steps=2, warmup_ratio=0.25, total_steps=10
    )
    encoder = {id(p) for p in model.encoder.parameters()}
    for group in optimizer.param_groups:
        assert all(p.ndim >= 2 for p in group["params"]) == (group["weight_decay"] == 0.01)
    in_encoder = [id(group["params"][0]) in encoder for group in optimizer.param_groups]
    rates = []
    for _ in range(10):
        rates.append(list(scheduler.get_last_lr()))
        optimizer.step()
        scheduler.step()
    head = [r for r, e in zip(rates[0], in_encoder, strict=True) if not e]
    assert head == pytest.approx([1e-3] * len(head)) and all(
        r == 0 for r, e in zip(rates[1], in_encoder, strict=True) if e
    )
    whole = [max(r) / 1e-4 for r in rates[2:]]  # 8 steps: 2 of warm-up, then linear decay
    assert whole == pytest.approx([0.5, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert all(max(r) == pytest.approx(min(r)) for r in rates[2:])  # one rate for all after warm-up


def test_a_masked_lm_checkpoint_brings_its_own_head(tmp_path: Path, encoder: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig.from_pretrained(str(encoder))
    torch.manual_seed(3)
    mlm = BertForMaskedLM(config)
    with torch.no_grad():
        mlm.cls.predictions.bias.normal_()
    mlm.save_pretrained(str(tmp_path / "mlm"))
    load_tokenizer(str(encoder)).save_pretrained(str(tmp_path / "mlm"))
    model, has_head = build_model(str(tmp_path / "mlm"), 0)
    assert has_head
    state = model.head.head_state()
    assert torch.equal(state[HEAD_PREFIX + "bias"], mlm.cls.predictions.bias.detach())
    assert torch.equal(
        state[HEAD_PREFIX + "transform.dense.weight"], mlm.cls.predictions.transform.dense.weight.detach()
    )


def test_a_head_in_a_torch_pickle_with_tf_era_names_is_read_safely(tmp_path: Path) -> None:
    from longbert.pretraining.model import read_head_state

    prefix = "cls.predictions."
    state = {
        "bert.embeddings.word_embeddings.weight": torch.zeros(20, 8),
        prefix + "transform.dense.weight": torch.randn(8, 8),
        prefix + "transform.dense.bias": torch.randn(8),
        prefix + "transform.LayerNorm.gamma": torch.randn(8),
        prefix + "transform.LayerNorm.beta": torch.randn(8),
        prefix + "decoder.bias": torch.randn(20),  # the output bias under its other name
    }
    torch.save(state, tmp_path / "pytorch_model.bin")
    head = read_head_state(str(tmp_path))
    assert head is not None
    assert torch.equal(
        head[prefix + "transform.LayerNorm.weight"], state[prefix + "transform.LayerNorm.gamma"]
    )
    assert torch.equal(head[prefix + "bias"], state[prefix + "decoder.bias"])
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainError, match=r"pytorch_model\.bin"):
        read_head_state(str(tmp_path))


def test_long_mode_trains_every_global_projection_and_the_positions_past_512(encoder: Path) -> None:
    tokenizer = load_tokenizer(str(encoder))
    vocab = MaskVocabulary.from_tokenizer(tokenizer, 30522)
    rng = np.random.default_rng(0)
    sequences = pack_long([rng.integers(1000, 20000, 900)], 1024, 101, 102, [np.asarray([0, 300, 700])])

    def gradients(share: float, sentences: bool) -> LongBertForMaskedLM:
        model = LongBertForMaskedLM(LongBertModel.from_bert(str(encoder), max_positions=1026))
        batch = make_batch(
            sequences if sentences else pack_long([sequences[0].input_ids[1:-1]], 1024, 101, 102),
            np.asarray([0]),
            vocab,
            MaskingSpec(),
            0,
            0,
            0,
            long=True,
            global_masked_share=share,
        )
        model(batch, sparse=True, attention_window=32).loss.backward()
        return model

    model = gradients(0.1, sentences=True)
    for layer in model.encoder.encoder.layer:
        attention = layer.attention.self
        for name in ("query_global", "key_global", "value_global"):
            grad = getattr(attention, name).weight.grad
            assert grad is not None and grad.abs().sum() > 0, name
    positions = model.encoder.embeddings.position_embeddings.weight.grad
    assert (positions[512:902].abs().sum(dim=1) > 0).all()  # tiled rows get their own gradient
    # Longformer's trap: with [CLS] the only global token, the last layer's global projections
    # (whose output only [CLS] reads) learn nothing.
    last = gradients(0.0, sentences=False).encoder.encoder.layer[-1].attention.self
    assert last.query_global.weight.grad is None or last.query_global.weight.grad.abs().sum() == 0


def test_dense_run_saves_an_encoder_every_entry_point_accepts(
    encoder: Path, corpus: Path, isolated: Path
) -> None:
    from longbert.training import TrainConfig, train
    from longbert.zero_shot import ZeroShotClassifier

    events: list[dict[str, Any]] = []
    result = pretrain(options(encoder, corpus, masking="word"), progress=events.append)
    folder = isolated / "models" / "tiny"
    assert result.status == "done" and result.output_dir == folder and result.steps == 6
    assert {"before", "after_head_warmup", "after"} <= set(result.heldout)
    assert result.heldout["after"]["loss"] < result.heldout["before"]["loss"]
    assert [e["event"] for e in events][:2] == ["start", "eval"]
    assert [e["phase"] for e in events if e["event"] in ("step", "progress")] == ["head"] + ["model"] * 5

    manifest = read_encoder_manifest(folder)
    assert manifest.kind == "encoder" and manifest.pretraining is not None
    assert manifest.pretraining.source_encoder == str(encoder) == manifest.encoder
    corpus_info, training = manifest.metadata["corpus"], manifest.metadata["training"]
    assert corpus_info["documents"] == 16 and corpus_info["heldout_documents"] == 3
    assert manifest.pretraining.corpus_documents == 16
    assert len(corpus_info["sha256"]) == 64 and corpus_info["tokens"] > 0
    assert manifest.pretraining.corpus_sha256 == corpus_info["sha256"]
    assert manifest.metadata["objective"]["masking"] == "word" and training["steps"] == 6
    assert manifest.pretraining.objective == "mlm-whole-word" and manifest.pretraining.steps == 6
    assert training["head_warmup_steps"] == 1  # auto: a tenth of the steps, no head of its own
    assert manifest.pretraining.final_mlm_loss == pytest.approx(result.final_loss)
    assert not (folder / ".last").exists()
    # The app lists it as an encoder (a starting point for training), not as a classifier.
    assert [c.path for c in encoder_choices()] == [str(folder.resolve())]
    assert str(folder.resolve()) not in [c.path for c in model_choices()]
    assert scan_checkpoints()[1] == []

    trained = LongBertModel.from_bert(str(folder))
    # Dense mode never used the global projections: they are copies of the trained local ones.
    attention = trained.encoder.layer[0].attention.self
    assert torch.equal(attention.query_global.weight, attention.query.weight)
    saved = load_file(str(folder / "encoder" / "model.safetensors"))
    assert torch.equal(trained.embeddings.word_embeddings.weight, saved["embeddings.word_embeddings.weight"])
    source = LongBertModel.from_bert(str(encoder))
    assert not torch.equal(
        trained.encoder.layer[0].attention.self.query.weight,
        source.encoder.layer[0].attention.self.query.weight,
    )
    classifier = LongBertClassifier.from_encoder(folder, labels=["econ", "sport"], device="cpu")
    assert classifier.encoder_source == str(folder)
    ZeroShotClassifier(["economy", "sport"], encoder=folder).predict(["The bank raised rates."])
    run = train(
        TrainConfig(
            train=str(corpus),
            encoder=str(folder),
            name="from-adapted",
            epochs=1,
            batch_size=4,
            dev_fraction=0.25,
            quiet=True,
            threads=1,
        )
    )
    assert run.status == "done"

    runs = {r.name: r for r in get_store().list_training_runs()}
    record = get_store().get_training_run(runs["tiny"].id)
    assert record.status == "done" and record.config["kind"] == "pretrain"
    assert record.model_folder == str(folder) and "after" in record.best_metrics["heldout"]
    # A second run of the same name is refused without --overwrite or --resume.
    with pytest.raises(PretrainError, match="--overwrite"):
        pretrain(options(encoder, corpus))
    # The models folder holds classifiers too: one is never replaced by an encoder.
    with pytest.raises(PretrainError, match="not an encoder"):
        pretrain(options(encoder, corpus, name="from-adapted", overwrite=True))
    assert read_manifest(run.output_dir).kind == "classifier"


def test_long_mode_keeps_its_positions_and_global_projections_through_save_and_load(
    encoder: Path, tmp_path: Path
) -> None:
    rows = make_rows(6, words=(500, 700))
    data = write_jsonl(tmp_path / "long.jsonl", rows)
    config = options(
        encoder,
        data,
        strategy="sparse",
        max_tokens=600,
        batch_size=1,
        max_steps=3,
        attention_window=32,
        head_warmup_steps=1,
        global_sentences=True,
        output_dir=str(tmp_path / "out"),
    )
    result = pretrain(config)
    folder = tmp_path / "out"
    assert result.status == "done"
    assert json.loads((folder / "encoder" / "config.json").read_text())["max_position_embeddings"] == 602
    reloaded = LongBertModel.from_bert(str(folder))
    positions = reloaded.embeddings.position_embeddings.weight
    assert positions.shape[0] == 602
    assert not torch.equal(positions[512:602], positions[0:90])  # no longer tiled copies
    saved = load_file(str(folder / "encoder" / "model.safetensors"))
    attention = reloaded.encoder.layer[-1].attention.self
    assert torch.equal(
        attention.query_global.weight, saved["encoder.layer.1.attention.self.query_global.weight"]
    )
    assert not torch.equal(attention.query_global.weight, attention.query.weight)  # trained apart
    assert read_encoder_manifest(folder).metadata["objective"]["mode"] == "long"
    classifier = LongBertClassifier.from_encoder(
        folder,
        labels=["econ", "sport"],
        strategy={"name": "sparse", "params": {"max_tokens": 600}},
        device="cpu",
    )
    assert torch.equal(classifier.encoder.embeddings.position_embeddings.weight, positions)


def test_resume_after_a_stop_and_after_a_crash_ends_with_the_uninterrupted_weights(
    encoder: Path, corpus: Path, tmp_path: Path
) -> None:
    # Two epochs of 4 steps, head warm-up across the first stop, accumulation, dropout on.
    common = {
        "max_steps": 8,
        "gradient_accumulation": 2,
        "head_warmup_steps": 3,
        "masking": "span",
        "log_every": 1,
    }
    straight = pretrain(options(encoder, corpus, output_dir=str(tmp_path / "a"), **common))
    assert straight.status == "done"

    steps: list[int] = []
    stopped = pretrain(
        options(encoder, corpus, output_dir=str(tmp_path / "b"), **common),
        progress=lambda e: steps.append(e["step"]) if e["event"] in ("step", "progress") else None,
        should_stop=lambda: len(steps) >= 2,
    )
    assert stopped.status == "interrupted" and stopped.steps == 2
    assert (tmp_path / "b" / ".last" / "optimizer.pt").is_file()
    with pytest.raises(PretrainError, match=r"--mask-rate: saved 0\.15, given 0\.2"):
        pretrain(
            options(encoder, corpus, output_dir=str(tmp_path / "b"), resume=True, mask_rate=0.2, **common)
        )

    def crash_after_save(event: dict[str, Any]) -> None:
        if event["event"] == "checkpoint" and event["step"] == 5:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated"):  # killed after the periodic save of step 5
        pretrain(
            options(
                encoder,
                corpus,
                output_dir=str(tmp_path / "b"),
                resume=True,
                save_every_minutes=1e-9,
                **common,
            ),
            progress=crash_after_save,
            given={"resume", "save_every_minutes"},
        )
    resumed = pretrain(
        options(encoder, corpus, output_dir=str(tmp_path / "b"), resume=True, **common), given={"resume"}
    )
    assert resumed.status == "done" and resumed.steps == 8
    assert resumed.heldout["before"] == straight.heldout["before"]
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert resumed.final_loss == straight.final_loss
    runs = get_store().list_training_runs()
    assert sorted(r.status for r in runs) == ["done", "done"]  # the resumed run reopened its record


def test_the_time_budget_ends_the_run_and_still_saves_the_encoder(
    encoder: Path, corpus: Path, tmp_path: Path
) -> None:
    result = pretrain(
        options(encoder, corpus, output_dir=str(tmp_path / "t"), max_minutes=1e-9, max_steps=50)
    )
    assert result.status == "done" and result.stopped_by_time and result.steps < 50
    training = read_encoder_manifest(tmp_path / "t").metadata["training"]
    assert training["stopped_by_time_budget"] and training["total_steps"] == 50
    assert not (tmp_path / "t" / ".last").exists()


def test_a_corrupt_resumable_state_is_named(encoder: Path, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "c"
    pretrain(options(encoder, corpus, output_dir=str(out)), should_stop=lambda: True)
    (out / ".last" / "optimizer.pt").write_bytes(b"not a pickle")
    with pytest.raises(PretrainError, match=r"optimizer\.pt"):
        pretrain(options(encoder, corpus, output_dir=str(out), resume=True), given={"resume"})


def test_a_state_left_half_swapped_by_a_kill_is_found(tmp_path: Path) -> None:
    from longbert.pretraining.state import PretrainState, last_folder, load_state, save_state

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    parts = (
        model,
        optimizer,
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
        torch.amp.GradScaler("cpu", enabled=False),
    )
    save_state(tmp_path, *parts, PretrainState(global_step=3))
    (tmp_path / ".last").replace(tmp_path / ".last.new")  # killed between the two renames
    assert last_folder(tmp_path) == tmp_path / ".last.new"
    assert load_state(tmp_path).state.global_step == 3
    save_state(tmp_path, *parts, PretrainState(global_step=4))
    assert last_folder(tmp_path) == tmp_path / ".last" and not (tmp_path / ".last.new").exists()
    assert load_state(tmp_path).state.global_step == 4


def test_bad_corpora_get_clear_errors(encoder: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no documents"):
        pretrain(options(encoder, empty))
    one = write_jsonl(tmp_path / "one.jsonl", make_rows(1))
    with pytest.raises(CorpusError, match="only one distinct document"):
        pretrain(options(encoder, one))
    twice = write_jsonl(tmp_path / "twice.jsonl", make_rows(1) * 3)
    with pytest.raises(CorpusError, match="only one distinct document"):
        pretrain(options(encoder, twice))
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, row in enumerate(make_rows(3)):
        (folder / f"{i}.txt").write_text(row["text"])
    (folder / "broken.gz").write_bytes(b"\x1f\x8b not really gzip")
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04 spreadsheet")
    with pytest.raises(
        CorpusError, match=r"(?s)2 file\(s\).*broken\.gz.*sheet\.xlsx.*--skip-bad-files"
    ) as caught:
        pretrain(options(encoder, folder))
    assert "save the sheet as CSV" in str(caught.value)
    result = pretrain(options(encoder, folder, skip_bad_files=True, max_steps=1, heldout_fraction=0.0))
    assert result.status == "done" and len(result.notes) == 1 and "skipped 2" in result.notes[0]
    with pytest.raises(CorpusError, match="No corpus"):
        pretrain(options(encoder, folder, corpus=[], overwrite=True))
    with pytest.raises(PretrainError, match="add --from-store"):
        pretrain(options(encoder, folder, batch=3, overwrite=True))
    with pytest.raises(PretrainError, match="--max-tokens must be 2-510"):
        pretrain(options(encoder, folder, max_tokens=1000, overwrite=True))


def test_documents_from_the_store_and_one_batch_of_them(encoder: Path, tmp_path: Path) -> None:
    from helpers.store_factories import make_document, make_prediction

    store = get_store()
    batch = store.create_batch("uploads", items=["a", "b", "c"])
    for i in range(5):
        document = make_document(i, words=80)
        store.save_prediction(
            make_prediction(document),
            document,
            batch_id=batch if i < 3 else None,
            item_index=i if i < 3 else None,
        )
    seen: dict[str, Any] = {}
    result = pretrain(
        options(encoder, tmp_path, corpus=[], from_store=True, batch=batch, max_steps=1),
        progress=lambda e: seen.update(e) if e["event"] == "start" else None,
    )
    assert result.status == "done" and seen["documents"] == 3
    sources = read_encoder_manifest(result.output_dir).metadata["corpus"]["sources"]
    assert sources[0].startswith(f"batch {batch} of the store")
    with pytest.raises(CorpusError, match="There is no batch 99"):
        pretrain(options(encoder, tmp_path, corpus=[], from_store=True, batch=99, overwrite=True))


def test_cli_trains_and_reports_errors(encoder: Path, corpus: Path, isolated: Path, capsys: Any) -> None:
    argv = [
        str(corpus),
        "--encoder",
        str(encoder),
        "--name",
        "cli",
        "--max-tokens",
        "62",
        "--batch-size",
        "2",
        "--max-steps",
        "2",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Encoder:" in out and "held-out perplexity" in out
    assert (isolated / "models" / "cli" / ENCODER_MANIFEST).is_file()
    assert main([str(corpus), "--encoder", str(encoder), "--name", "cli"]) == 2
    assert "already holds an encoder" in capsys.readouterr().err
    assert main(["--name", "nothing"]) == 2
    assert "No corpus" in capsys.readouterr().err


def test_an_encoder_cannot_be_pretrained_into_its_own_folder(
    encoder: Path, corpus: Path, isolated: Path
) -> None:
    """`pretrain --encoder models/E --name E --overwrite` would delete E's manifest and then
    read its tokenizer from the emptied folder: refused before anything is removed."""
    run = pretrain(options(encoder, corpus, name="adapted", max_steps=1))
    before = {p: p.read_bytes() for p in sorted(run.output_dir.rglob("*")) if p.is_file()}
    for start in (str(run.output_dir), "adapted"):
        with pytest.raises(PretrainError, match="cannot replace the model it starts from: choose another"):
            pretrain(options(start, corpus, name="adapted", overwrite=True))
    assert {p: p.read_bytes() for p in sorted(run.output_dir.rglob("*")) if p.is_file()} == before
    assert read_encoder_manifest(run.output_dir).kind == "encoder"

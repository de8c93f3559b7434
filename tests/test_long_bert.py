"""LongBertModel's forward pass: exact BERT in dense mode, Longformer semantics in sparse mode,
training behaviour (dropout, gradient checkpointing, autocast). I/O is in test_long_bert_io.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from helpers.long_bert_factories import TINY, batch, tiny_model
from torch import nn

from longbert.modeling.long_bert import LongBertModel, LongBertOutput


@pytest.fixture(scope="module")
def warm() -> LongBertModel:
    """The packaged default BERT, warm-started, positions tiled to 8,192, eval mode."""
    return LongBertModel.from_bert(None, max_positions=8192).eval()


def reference_sparse(
    model: LongBertModel, ids: torch.Tensor, mask: torch.Tensor, glob: torch.Tensor, window: int
) -> torch.Tensor:
    """Longformer semantics written the slow, obvious way: full ``[N, N]`` masks per layer."""
    b, n = ids.shape
    heads = model.config.num_attention_heads
    d = model.config.hidden_size // heads
    valid = mask.bool()
    is_global = glob.bool().clone()
    is_global[:, 0] = True
    is_global &= valid
    pos = torch.arange(n)
    band = (pos[:, None] - pos[None, :]).abs() <= window
    local_ok = (band[None] | is_global[:, None, :]) & valid[:, None, :]  # [B, Nq, Nk]

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(b, n, heads, d).transpose(1, 2)

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        return scores.masked_fill(~ok[:, None], -math.inf).softmax(-1) @ v

    hidden = model.embeddings(ids, torch.zeros_like(ids))
    for layer in model.encoder.layer:
        att = layer.attention.self
        local = attend(split(att.query(hidden)), split(att.key(hidden)), split(att.value(hidden)),
                       local_ok)
        full = attend(split(att.query_global(hidden)), split(att.key_global(hidden)),
                      split(att.value_global(hidden)), valid[:, None, :].expand(b, n, n))
        context = torch.where(is_global[:, None, :, None], full, local)
        context = context.transpose(1, 2).reshape(b, n, -1)
        hidden = layer.attention.output(context, hidden)
        hidden = layer.output(layer.activation(layer.intermediate.dense(hidden)), hidden)
    return hidden

# --- dense mode is BERT ----------------------------------------------------------------------


def test_dense_equals_transformers_bert(warm: LongBertModel, hf_bert: nn.Module) -> None:
    ids, mask = batch([60, 37, 12], 60)
    with torch.inference_mode():
        ours = warm(ids, mask).last_hidden_state
        theirs = hf_bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert ours.shape == (3, 60, 384)
    assert (ours - theirs).abs().max() < 1e-5


def test_dense_attentions_and_cls_row(warm: LongBertModel) -> None:
    ids, mask = batch([40, 25], 40)
    with torch.inference_mode():
        fast = warm(ids, mask, output_cls_attention=True)
        slow = warm(ids, mask, output_cls_attention=True, output_attentions=True)
    assert slow.attentions is not None and len(slow.attentions) == 6
    assert slow.attentions[-1].shape == (2, 12, 40, 40)
    assert fast.attentions is None
    assert (fast.last_hidden_state - slow.last_hidden_state).abs().max() < 1e-5
    assert fast.cls_attention is not None and fast.cls_attention.dtype == torch.float32
    expected = slow.attentions[-1][:, :, 0].mean(dim=1)
    assert (fast.cls_attention - expected).abs().max() < 1e-6
    assert torch.allclose(fast.cls_attention.sum(dim=1), torch.ones(2))
    assert (fast.cls_attention[1, 25:] == 0).all()


# --- sparse mode -----------------------------------------------------------------------------


@pytest.mark.parametrize("with_globals", [False, True])
def test_sparse_equals_dense_within_one_window(warm: LongBertModel, with_globals: bool) -> None:
    ids, mask = batch([65, 65, 40], 65)
    glob = torch.zeros_like(ids)
    if with_globals:
        glob[0, [5, 30]] = 1
        glob[2, [3, 50]] = 1  # 50 is padding: ignored
    with torch.inference_mode():
        dense = warm(ids, mask, output_cls_attention=True)
        sparse = warm(ids, mask, glob, sparse=True, attention_window=64, output_cls_attention=True)
    assert (dense.last_hidden_state - sparse.last_hidden_state).abs().max() < 1e-4
    assert dense.cls_attention is not None and sparse.cls_attention is not None
    assert (dense.cls_attention - sparse.cls_attention).abs().max() < 1e-5
    assert sparse.attentions is None


@pytest.mark.parametrize(
    ("window", "lengths", "total", "every"),
    [
        (3, [37], 37, 0),
        (5, [50, 23, 1], 50, 0),
        (8, [70, 64], 70, 0),
        (40, [90, 33], 90, 0),
        # Many global tokens (G * heads > hidden): projections are applied, not folded.
        (4, [60, 41], 60, 3),
    ],
)
def test_sparse_matches_reference_semantics(
    window: int, lengths: list[int], total: int, every: int
) -> None:
    model = tiny_model()
    ids, mask = batch(lengths, total, vocab=100, seed=window)
    glob = torch.zeros_like(ids)
    glob[0, [4, total // 2, total - 1]] = 1
    if every:
        glob[:, ::every] = 1
    if len(lengths) > 1:
        glob[1, [2, total - 1]] = 1  # the last one is padding in row 1
    with torch.no_grad():
        out = model(ids, mask, glob, sparse=True, attention_window=window, output_cls_attention=True)
        expected = reference_sparse(model, ids, mask, glob, window)
    assert (out.last_hidden_state - expected).abs().max() < 1e-10
    assert out.cls_attention is not None
    assert torch.allclose(out.cls_attention.sum(dim=1), torch.ones(len(lengths), dtype=torch.float32))
    for row, length in enumerate(lengths):
        assert (out.cls_attention[row, length:] == 0).all()


def test_chunked_computation_gives_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long inputs are processed in groups of blocks / token chunks; the result must not move."""
    import longbert.modeling.long_bert as long_bert_module
    import longbert.modeling.sparse_attention as sparse_module

    model = tiny_model(seed=4)
    ids, mask = batch([150, 97], 150, vocab=100)
    glob = torch.zeros_like(ids)
    glob[:, 60] = 1
    with torch.no_grad():
        whole = [model(ids, mask, glob, sparse=s, attention_window=8).last_hidden_state
                 for s in (False, True)]
        monkeypatch.setattr(sparse_module, "CHUNK_BYTES", 1)
        monkeypatch.setattr(long_bert_module, "CHUNK_BYTES", 1000)
        chunked = [model(ids, mask, glob, sparse=s, attention_window=8).last_hidden_state
                   for s in (False, True)]
    for a, b in zip(whole, chunked, strict=True):
        assert (a - b).abs().max() < 1e-12


@pytest.mark.parametrize("training", [False, True])
def test_folded_global_projections_are_exact(training: bool) -> None:
    """Folding key/value_global into the queries equals projecting every token, with dropout."""
    from longbert.modeling.sparse_attention import build_sparse_layout, global_attention

    attention = tiny_model(seed=5).encoder.layer[0].attention.self
    hidden = torch.randn(2, 30, 64, dtype=torch.float64)
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[1, 20:] = 0
    glob = torch.zeros_like(mask)
    glob[:, [3, 11]] = 1
    layout = build_sparse_layout(mask, glob, window=4)
    query = hidden.gather(1, layout.global_index[..., None].expand(-1, -1, 64))
    query = attention.query_global(query).view(2, -1, 4, 16)
    results = []
    for fold in (True, False):
        torch.manual_seed(0)  # the same dropout mask both times
        results.append(global_attention(query, hidden, attention.key_global, attention.value_global,
                                        layout, dropout_p=0.3, training=training, fold=fold))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-12)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-12)


def test_aligned_key_count_gives_same_attention() -> None:
    """Padding each block's keys to a multiple of 8 (the CUDA default) changes nothing."""
    from longbert.modeling.sparse_attention import build_sparse_layout, local_attention

    generator = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 2, 41, 3, 8, dtype=torch.float64, generator=generator)
    mask = torch.ones(2, 41, dtype=torch.long)
    mask[1, 30:] = 0
    glob = torch.zeros_like(mask)
    glob[0, 7] = 1
    plain = build_sparse_layout(mask, glob, window=5, key_multiple=1)
    aligned = build_sparse_layout(mask, glob, window=5, key_multiple=8)
    assert aligned.local_keep.shape[-1] % 8 == 0
    assert aligned.local_keep.shape[-1] > plain.local_keep.shape[-1]
    assert torch.allclose(local_attention(q, k, v, plain), local_attention(q, k, v, aligned))


def test_sparse_matches_hf_longformer() -> None:
    """An independent implementation: HF Longformer with the same weights (positions offset 2)."""
    from transformers import LongformerConfig, LongformerModel

    model, window, n = tiny_model(seed=3), 6, 45
    config = LongformerConfig(
        **{k: v for k, v in TINY.items() if k != "max_position_embeddings"},
        max_position_embeddings=TINY["max_position_embeddings"] + 2,  # type: ignore[operator]
        attention_window=2 * window, type_vocab_size=2, pad_token_id=1, layer_norm_eps=1e-12,
    )
    hf = LongformerModel(config).double().eval()
    state = {k: v for k, v in model.state_dict().items()}
    positions = hf.embeddings.position_embeddings.weight.detach().clone()
    positions[2:] = state.pop("embeddings.position_embeddings.weight")
    state["embeddings.position_embeddings.weight"] = positions
    result = hf.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and all(k.startswith("pooler") for k in result.missing_keys)
    ids, mask = batch([n, 30], n, vocab=100, seed=7)
    ids[ids == 1] = 2  # id 1 is Longformer's padding token
    glob = torch.zeros_like(ids)
    glob[:, 0] = 1
    glob[0, 17] = 1
    with torch.no_grad():
        ours = model(ids, mask, glob, sparse=True, attention_window=window).last_hidden_state
        theirs = hf(input_ids=ids, attention_mask=mask, global_attention_mask=glob)
    diff = (ours - theirs.last_hidden_state).abs() * mask[..., None]
    assert diff.max() < 1e-5  # HF Longformer does part of its attention in float32


def test_sparse_runs_8192_tokens(warm: LongBertModel) -> None:
    ids = torch.randint(1000, 30000, (1, 8192))
    glob = torch.zeros_like(ids)
    glob[0, ::512] = 1
    # Speed and memory at this length are measured by bench/bench_sparse.py, not asserted here.
    with torch.inference_mode():
        out = warm(ids, global_attention_mask=glob, sparse=True, output_cls_attention=True)
    assert out.last_hidden_state.shape == (1, 8192, 384)
    assert torch.isfinite(out.last_hidden_state).all()
    assert out.cls_attention is not None and abs(float(out.cls_attention.sum()) - 1) < 1e-4

def test_bad_inputs_are_rejected() -> None:
    model = tiny_model()
    ids = torch.ones(2, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="batch, tokens"):
        model(ids[0])
    with pytest.raises(ValueError, match="attention_mask"):
        model(ids, attention_mask=torch.ones(2, 7))
    with pytest.raises(ValueError, match="attention_window"):
        model(ids, sparse=True, attention_window=0)
    with pytest.raises(ValueError, match="dense"):
        model(ids, sparse=True, output_attentions=True)

# --- training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("every", [0, 2])  # few globals (folded projections) / many
def test_gradient_checkpointing_gives_same_gradients(every: int) -> None:
    ids, mask = batch([50, 30], 50, vocab=100)
    glob = torch.zeros_like(ids)
    glob[0, 9] = 1
    if every:
        glob[:, ::every] = 1
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(seed=2).float().train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        out = model(ids, mask, glob, sparse=True, attention_window=4, output_cls_attention=True)
        assert out.cls_attention is not None
        (out.last_hidden_state.square().mean() + out.cls_attention.square().sum()).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert "encoder.layer.1.attention.self.key_global.weight" in grads[0]
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-6), name


def test_attention_dropout_only_in_training() -> None:
    model = tiny_model(attention_probs_dropout_prob=0.5).float()
    ids, mask = batch([40], 40, vocab=100)
    for sparse in (False, True):
        with torch.no_grad():
            model.eval()
            first = model(ids, mask, sparse=sparse, attention_window=4).last_hidden_state
            again = model(ids, mask, sparse=sparse, attention_window=4).last_hidden_state
            model.train()
            dropped = model(ids, mask, sparse=sparse, attention_window=4).last_hidden_state
        assert torch.equal(first, again)
        assert not torch.allclose(first, dropped)


def _autocast_close(device: str, dtype: torch.dtype) -> None:
    model = tiny_model(std=0.05).float().to(device)
    ids, mask = batch([120, 77], 120, vocab=100)
    ids, mask = ids.to(device), mask.to(device)
    for sparse in (False, True):
        with torch.no_grad():
            full = model(ids, mask, sparse=sparse, attention_window=8).last_hidden_state
            with torch.autocast(device_type=device, dtype=dtype):
                low = model(ids, mask, sparse=sparse, attention_window=8, output_cls_attention=True)
        assert low.cls_attention is not None and low.cls_attention.dtype == torch.float32
        assert torch.isfinite(low.last_hidden_state).all()
        assert (low.last_hidden_state.float() - full).abs().max() < 0.1


def test_cpu_autocast_bfloat16() -> None:
    _autocast_close("cpu", torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_autocast(dtype: torch.dtype) -> None:
    _autocast_close("cuda", dtype)


def test_output_type() -> None:
    out = tiny_model()(torch.ones(1, 5, dtype=torch.long))
    assert isinstance(out, LongBertOutput) and out.cls_attention is None and out.attentions is None


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_hidden_states_are_the_embeddings_then_every_layer(sparse: bool) -> None:
    """As HF's ``output_hidden_states``: L + 1 states, the first the embeddings' output, the
    last the returned last_hidden_state; asking for them changes nothing else."""
    model = tiny_model(seed=4)
    ids, mask = batch([30, 12], 30, vocab=100)
    with torch.no_grad():
        plain = model(ids, mask, sparse=sparse, attention_window=4)
        out = model(ids, mask, sparse=sparse, attention_window=4, output_hidden_states=True)
        embedded = model.embeddings(ids, torch.zeros_like(ids), None)
    assert plain.hidden_states is None and out.hidden_states is not None
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert all(state.shape == (2, 30, TINY["hidden_size"]) for state in out.hidden_states)
    torch.testing.assert_close(out.hidden_states[0], embedded)
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    torch.testing.assert_close(out.last_hidden_state, plain.last_hidden_state)
    with pytest.raises(ValueError, match="output_hidden_states needs every position"):
        model(ids, mask, output_hidden_states=True, cls_only=True)

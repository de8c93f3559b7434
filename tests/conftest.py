"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from torch import nn


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway database, models folder and CPU device for one training test.

    Training modules turn it on for every test with ``pytestmark = usefixtures("isolated")``;
    tests that write files next to the run take it as an argument.
    """
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    return tmp_path


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny matrices: a second thread only adds contention (on a shared CPU, most of the time).
    Modules of tiny-model tests turn it on with ``pytestmark = usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny ``tiny-news`` checkpoint (random weights, two labels, chunk strategy), saved once;
    tests copy it into their models folder (never change it in place)."""
    from helpers.predict_fixtures import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def hf_bert() -> nn.Module:
    """The packaged default BERT as Hugging Face's ``BertModel``, eval mode (the reference the
    LongBERT model is compared with)."""
    from transformers import BertModel

    from longbert.encoder_source import resolve_encoder

    return BertModel.from_pretrained(resolve_encoder(None)).eval()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray instance (``ray.init(num_cpus=2)``) for one test module: the Ray engine's
    tests, each module skipping itself first when Ray is not installed."""
    import ray

    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()

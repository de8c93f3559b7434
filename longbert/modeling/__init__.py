"""Model architectures: the long BERT encoder and the small modules stacked on it."""

from longbert.modeling.long_bert import LongBertConfig, LongBertModel, LongBertOutput
from longbert.modeling.modules import ChunkPooling, ClsHead

__all__ = [
    "ChunkPooling",
    "ClsHead",
    "LongBertConfig",
    "LongBertModel",
    "LongBertOutput",
]

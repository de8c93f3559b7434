"""Model architectures: the long BERT encoder and the small modules stacked on it."""

from longbert.modeling.long_bert import LongBertConfig, LongBertModel, LongBertOutput
from longbert.modeling.modules import POOLING_METHODS, ChunkPooling, ClsHead

__all__ = [
    "POOLING_METHODS",
    "ChunkPooling",
    "ClsHead",
    "LongBertConfig",
    "LongBertModel",
    "LongBertOutput",
]

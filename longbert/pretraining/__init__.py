"""Further pre-training (masked language modelling) of a BERT encoder on unlabelled documents.

``pretrain(PretrainConfig(...))`` (the CLI is ``python -m longbert.pretrain``) continues BERT's
MLM objective on the user's corpus -- dense on packed 512-token sequences, or long through the
sparse local/global attention -- and saves an encoder folder every encoder option accepts.
"""

from longbert.pretraining.config import PretrainConfig
from longbert.pretraining.corpus import Corpus, read_corpus
from longbert.pretraining.errors import CorpusError, PretrainError
from longbert.pretraining.loop import PretrainResult, pretrain
from longbert.pretraining.masking import MaskedSequence, MaskingSpec, MaskVocabulary, mask_sequence
from longbert.pretraining.model import LongBertForMaskedLM, MlmHead
from longbert.pretraining.output import ENCODER_MANIFEST, read_encoder_manifest
from longbert.pretraining.packing import MlmBatch, PackedSequence, make_batch, pack_dense, pack_long

__all__ = [
    "ENCODER_MANIFEST",
    "Corpus",
    "CorpusError",
    "LongBertForMaskedLM",
    "MaskVocabulary",
    "MaskedSequence",
    "MaskingSpec",
    "MlmBatch",
    "MlmHead",
    "PackedSequence",
    "PretrainConfig",
    "PretrainError",
    "PretrainResult",
    "make_batch",
    "mask_sequence",
    "pack_dense",
    "pack_long",
    "pretrain",
    "read_corpus",
    "read_encoder_manifest",
]

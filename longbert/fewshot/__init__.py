"""Few-shot training: a first model from a handful of labels, in the manner of SetFit.

    from longbert.fewshot import train_few_shot
    model = train_few_shot(texts, labels, strategy="chunk", descriptions=zero_shot_descriptions)
    model.save_pretrained("models/first-model")     # an ordinary LongBERT checkpoint

See :mod:`longbert.fewshot.trainer`.
"""

from longbert.fewshot.head import HEADS, fit_cls_head, fit_logistic_head
from longbert.fewshot.pairs import Pair, generate_pairs
from longbert.fewshot.trainer import FewShotConfig, train_few_shot

__all__ = [
    "HEADS",
    "FewShotConfig",
    "Pair",
    "fit_cls_head",
    "fit_logistic_head",
    "generate_pairs",
    "train_few_shot",
]

"""Few-shot training: a first model from a handful of labels, in the manner of SetFit.

    from longbert.fewshot import train_few_shot
    model = train_few_shot(texts, labels, strategy="chunk", descriptions=zero_shot_descriptions)
    model.save_pretrained("models/first-model")     # an ordinary LongBERT checkpoint

See :mod:`longbert.fewshot.trainer`. The other method, the zero-shot model corrected by the
labels (:mod:`longbert.fewshot.prior`; ``FewShotConfig(method="zero-shot-prior")`` or
:func:`train_zero_shot_prior`), trains no encoder and costs seconds.
"""

from longbert.fewshot.head import HEADS, fit_cls_head, fit_logistic_head
from longbert.fewshot.pairs import Pair, generate_pairs
from longbert.fewshot.prior import ZeroShotPriorClassifier, train_zero_shot_prior
from longbert.fewshot.prior_fit import MULTI_LABEL_REFUSAL
from longbert.fewshot.trainer import FEW_SHOT_METHODS, FewShotConfig, resolve_method, train_few_shot

__all__ = [
    "FEW_SHOT_METHODS",
    "HEADS",
    "MULTI_LABEL_REFUSAL",
    "FewShotConfig",
    "Pair",
    "ZeroShotPriorClassifier",
    "fit_cls_head",
    "fit_logistic_head",
    "generate_pairs",
    "resolve_method",
    "train_few_shot",
    "train_zero_shot_prior",
]

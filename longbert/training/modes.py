"""How a model is trained: the training modes and the few-shot methods' option words.

Kept apart from :mod:`longbert.training.config` (which uses them as choices) because the front
ends -- the command line, the Train page, the Review queue's retrain -- read them without a
:class:`~longbert.training.config.TrainConfig`.
"""

from __future__ import annotations

from longbert.errors import TrainConfigError

#: How a model is trained: ``fine-tune`` (the [CLS] head and encoder on the labels), ``few-shot``
#: (:mod:`longbert.fewshot`, by :data:`FEW_SHOT_METHOD_OPTIONS`), or ``auto`` (few-shot below
#: ``few_shot_below``).
#: ``auto`` is the default of the command line and the Train page (:data:`FRONT_END_MODE`).
MODES = ("auto", "fine-tune", "few-shot")
#: bench/results/bench_active.json (3 seeds): at 8 labels per class the few-shot prior is far ahead
#: of plain fine-tuning on bbc_news (95.83 vs 84.00 accuracy) and ahead on hyperpartisan's
#: macro-F1 (60.50 vs 58.48; accuracy 60.72 vs 64.08); at 16, bbc_news still favours it (96.67 vs
#: 95.33) and hyperpartisan does not (62.53 vs 66.67). So auto trains few-shot below 16 per class.
FEW_SHOT_BELOW = 16
FRONT_END_MODE = "auto"
#: The words of ``--few-shot-method`` (the command line, config files, the Train page): ``prior``
#: (the zero-shot model corrected by the labels, :mod:`longbert.fewshot.prior`), ``setfit``
#: (:mod:`longbert.fewshot.trainer`), or ``auto`` (resolved by the run:
#: :func:`longbert.training.few_shot_run.few_shot_method`). ``prior`` is the short word a person
#: types for the library's method ``zero-shot-prior`` (:data:`longbert.fewshot.FEW_SHOT_METHODS`,
#: the name saved in manifests and metrics): :func:`library_few_shot_method` is the one
#: translation between the two.
FEW_SHOT_METHOD_OPTIONS = ("auto", "prior", "setfit")
#: Option word -> the library's method name (:data:`longbert.fewshot.FEW_SHOT_METHODS`).
_LIBRARY_FEW_SHOT_METHODS = {"auto": "auto", "prior": "zero-shot-prior", "setfit": "setfit"}


def library_few_shot_method(option: str) -> str:
    """The :data:`longbert.fewshot.FEW_SHOT_METHODS` name of a ``--few-shot-method`` word
    (``prior`` -> ``zero-shot-prior``; ``auto`` and ``setfit`` are the same in both)."""
    try:
        return _LIBRARY_FEW_SHOT_METHODS[option]
    except KeyError:
        raise TrainConfigError(
            f"--few-shot-method must be one of {', '.join(FEW_SHOT_METHOD_OPTIONS)}, got {option!r}."
        ) from None

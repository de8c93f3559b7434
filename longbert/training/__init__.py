"""Fine-tuning: ``train(TrainConfig(...))`` (the CLI is ``python -m longbert.train``)."""

from longbert.training.config import TrainConfig, TrainConfigError
from longbert.training.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "train"]

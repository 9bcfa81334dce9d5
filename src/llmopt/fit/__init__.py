"""Fitted models of the window: latency quantiles, completion length, quality, errors, cost."""

from llmopt.fit.models import FittedModels, fit_models

__all__ = ["FittedModels", "fit_models"]

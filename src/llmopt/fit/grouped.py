"""One scikit-learn regressor per group (per model, or per task and model), as one estimator."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from threadpoolctl import ThreadpoolController


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's thread pools, found once (~7 ms a scan; `limit` on a found controller costs ~0.03 ms)."""
    return ThreadpoolController()


def one_openmp_thread():
    """Each group's model is small (a few thousand to 20k rows): one OpenMP thread gives the same trees, ~15%
    faster on a quiet machine and ~3× faster when another process shares the cores (idle threads spin-wait)."""
    return _threadpools().limit(limits=1, user_api="openmp")


class GroupedRegressor(RegressorMixin, BaseEstimator):
    """Fits a clone of `estimator` on each group's rows and predicts with the group's own clone.

    Follows the scikit-learn estimator contract, so it can be cloned, pickled and logged to MLflow.

    Args:
        estimator: the regressor to fit per group.
        group_columns: columns that name a group, e.g. `("model",)`.
        feature_columns: columns the regressor sees.
        min_rows: groups with fewer rows get no model (predictions are NaN).
    """

    def __init__(self, estimator, group_columns=("model",), feature_columns=("prompt_tokens",),
                 min_rows=30):
        self.estimator = estimator
        self.group_columns = group_columns
        self.feature_columns = feature_columns
        self.min_rows = min_rows

    def fit(self, X: pd.DataFrame, y) -> GroupedRegressor:
        """Fit one clone per group with at least `min_rows` rows."""
        y = np.asarray(y, dtype=float)
        self.estimators_ = {}
        self.rows_ = {}
        with one_openmp_thread():
            for key, idx in X.groupby(list(self.group_columns), sort=True).indices.items():
                key = key if isinstance(key, tuple) else (key,)
                if len(idx) < self.min_rows:
                    continue
                self.estimators_[key] = clone(self.estimator).fit(
                    X.iloc[idx][list(self.feature_columns)].to_numpy(dtype=float), y[idx])
                self.rows_[key] = len(idx)
        return self

    def has_group(self, *key) -> bool:
        return tuple(key) in self.estimators_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict each row with its group's model; NaN for groups that have none."""
        out = np.full(len(X), np.nan)
        with one_openmp_thread():
            for key, idx in X.groupby(list(self.group_columns), sort=False).indices.items():
                key = key if isinstance(key, tuple) else (key,)
                est = self.estimators_.get(key)
                if est is not None:
                    out[idx] = est.predict(X.iloc[idx][list(self.feature_columns)].to_numpy(dtype=float))
        return out

"""Power: the smallest effect the current sample can detect, and how much more traffic a target needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmopt.lazy_modules import scipy_stats as sps
from llmopt.stats.effects import Stats, prepare


@dataclass(frozen=True)
class PowerResult:
    """Minimum detectable effect now and the units still needed to detect `target_effect`.

    Attributes:
        minimum_detectable_effect: (z₁₋α/₂ + z_power) · SE for the current sample.
        additional_units: units (both arms, same split) still needed for `target_effect`; 0 when reached.
    """

    minimum_detectable_effect: float
    additional_units: float
    confidence: float
    power: float
    error: str | None = None


def power_analysis(control: Stats, treatment: Stats, target_effect: float, relative: bool = False,
                   confidence: float = 0.95, power: float = 0.8) -> PowerResult:
    """Two-sided normal-approximation power for the effect of treatment vs control.

    SE shrinks as 1/√n, so reaching MDE = |target| needs n·k units with k = (MDE/|target|)².
    """
    nan = float("nan")
    extra = (f"power = {power} must lie strictly between 0 and 1" if not 0 < power < 1 else
             "target_effect must be non-zero" if target_effect == 0 else None)
    diff = prepare(control, treatment, relative, confidence, extra, require_variance=False)
    if isinstance(diff, str):
        return PowerResult(nan, nan, confidence, power, diff)
    z = float(sps.norm.ppf((1 + confidence) / 2) + sps.norm.ppf(power))
    mde = z * math.sqrt(diff.variance)
    scale = (mde / abs(target_effect)) ** 2
    return PowerResult(mde, max(0.0, (scale - 1) * (control.n + treatment.n)), confidence, power)

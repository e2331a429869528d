"""Two-sided Bernoulli CUSUM: detects a sudden drop or rise of a success rate.

Each side accumulates the log-likelihood ratio of "the rate moved by `shift` on
the logit scale" against "the rate is still p0" (p0 = the cell's current
estimate), clamped at zero (Page's CUSUM). When one side exceeds the threshold
the change is declared. The evidence gathered since that side last stood at zero
is the best estimate of the post-change regime; the caller keeps only that and
drops the rest (the stale evidence).

CUSUM suits sparse cells: unlike a fixed recent window it keeps accumulating
across days, so a backend retried only a few times a day still gets its
improvement noticed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_P_MIN = 0.005
_P_MAX = 0.995


def _shifted(p: float, shift_logit: float) -> float:
    z = math.log(p / (1.0 - p)) + shift_logit
    return min(_P_MAX, max(_P_MIN, 1.0 / (1.0 + math.exp(-z))))


@dataclass(frozen=True)
class Change:
    """A detected change: direction -1 (drop) or +1 (rise), when the new regime
    began (the run's start), and the evidence gathered since then."""

    direction: int
    since: float  # epoch seconds
    successes: float
    failures: float


class BernoulliCusum:
    """State of one cell's detector; O(1) per observation."""

    __slots__ = ("down", "up", "down_s", "down_f", "up_s", "up_f", "down_since", "up_since")

    def __init__(self) -> None:
        self.down = 0.0
        self.up = 0.0
        self.down_s = self.down_f = 0.0
        self.up_s = self.up_f = 0.0
        self.down_since = self.up_since = 0.0

    def decay(self, factor: float) -> None:
        """Ages the statistics with the cell's evidence, so that old noise fades."""
        self.down *= factor
        self.up *= factor
        self.down_s *= factor
        self.down_f *= factor
        self.up_s *= factor
        self.up_f *= factor

    def reset(self) -> None:
        self.down = self.up = 0.0
        self.down_s = self.down_f = self.up_s = self.up_f = 0.0

    def update(
        self, success: bool, p0: float, weight: float, shift_logit: float, threshold: float, at: float
    ) -> Change | None:
        """Feeds one observation (weighted); returns a Change when one side fires."""
        p0 = min(_P_MAX, max(_P_MIN, p0))
        p_lo = _shifted(p0, -shift_logit)
        p_hi = _shifted(p0, shift_logit)
        if success:
            llr_down = math.log(p_lo / p0)
            llr_up = math.log(p_hi / p0)
        else:
            llr_down = math.log((1.0 - p_lo) / (1.0 - p0))
            llr_up = math.log((1.0 - p_hi) / (1.0 - p0))
        s = weight if success else 0.0
        f = 0.0 if success else weight

        self.down += weight * llr_down
        if self.down <= 0.0:
            self.down = 0.0
            self.down_s = self.down_f = 0.0
            self.down_since = at
        else:
            if self.down_s == 0.0 and self.down_f == 0.0:
                self.down_since = at
            self.down_s += s
            self.down_f += f

        self.up += weight * llr_up
        if self.up <= 0.0:
            self.up = 0.0
            self.up_s = self.up_f = 0.0
            self.up_since = at
        else:
            if self.up_s == 0.0 and self.up_f == 0.0:
                self.up_since = at
            self.up_s += s
            self.up_f += f

        change: Change | None = None
        if self.down > threshold:
            change = Change(-1, self.down_since, self.down_s, self.down_f)
        elif self.up > threshold:
            change = Change(+1, self.up_since, self.up_s, self.up_f)
        if change is not None:
            self.reset()
        return change


@dataclass(frozen=True)
class LatencyChange:
    """A detected latency shift: direction +1 (slower) or -1 (faster), when it
    began, and the latency evidence since then (weight, weighted sum of seconds)."""

    direction: int
    since: float
    weight: float
    total_s: float


class LatencyCusum:
    """Two-sided CUSUM on log-latency: "latency multiplied by e^±shift" against
    "latency as estimated", assuming a log-scale spread `sigma`. Each sample's
    contribution is clipped so that one timeout cannot raise an alarm alone."""

    __slots__ = ("up", "down", "up_w", "up_sum", "down_w", "down_sum", "up_since", "down_since")

    def __init__(self) -> None:
        self.up = self.down = 0.0
        self.up_w = self.up_sum = self.down_w = self.down_sum = 0.0
        self.up_since = self.down_since = 0.0

    def decay(self, factor: float) -> None:
        self.up *= factor
        self.down *= factor
        self.up_w *= factor
        self.up_sum *= factor
        self.down_w *= factor
        self.down_sum *= factor

    def reset(self) -> None:
        self.up = self.down = 0.0
        self.up_w = self.up_sum = self.down_w = self.down_sum = 0.0

    def update(
        self,
        latency_s: float,
        expected_s: float,
        weight: float,
        shift: float,
        sigma: float,
        threshold: float,
        at: float,
    ) -> LatencyChange | None:
        z = math.log(max(latency_s, 1e-3) / max(expected_s, 1e-3))
        clip = threshold / 2.0
        # Gaussian log-likelihood ratio of a mean shift of ±shift on the log scale.
        llr_up = min(clip, (z * shift - shift * shift / 2.0) / (sigma * sigma))
        llr_down = min(clip, (-z * shift - shift * shift / 2.0) / (sigma * sigma))

        self.up += weight * llr_up
        if self.up <= 0.0:
            self.up = self.up_w = self.up_sum = 0.0
            self.up_since = at
        else:
            if self.up_w == 0.0:
                self.up_since = at
            self.up_w += weight
            self.up_sum += weight * latency_s

        self.down += weight * llr_down
        if self.down <= 0.0:
            self.down = self.down_w = self.down_sum = 0.0
            self.down_since = at
        else:
            if self.down_w == 0.0:
                self.down_since = at
            self.down_w += weight
            self.down_sum += weight * latency_s

        change: LatencyChange | None = None
        if self.up > threshold:
            change = LatencyChange(+1, self.up_since, self.up_w, self.up_sum)
        elif self.down > threshold:
            change = LatencyChange(-1, self.down_since, self.down_w, self.down_sum)
        if change is not None:
            self.reset()
        return change

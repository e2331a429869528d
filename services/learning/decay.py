"""Wall-clock exponential decay: evidence loses half its weight every half-life.

Decay is applied lazily: a cell remembers when it was last brought up to date and
multiplies its counts by `decay_factor(elapsed)` the next time it is read or
written, so the cost is O(1) per touched cell and nothing runs in the background.
"""

from __future__ import annotations

import math


class HalfLife:
    """A half-life in seconds, turned into the rate `exp` needs once."""

    __slots__ = ("seconds", "_rate")

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError("a half-life must be positive")
        self.seconds = float(seconds)
        self._rate = math.log(2.0) / self.seconds

    def factor(self, elapsed_s: float) -> float:
        """The weight left, after `elapsed_s` seconds, of one unit of evidence.

        Negative elapsed time (an observation older than the cell's clock, e.g. a
        replay) never grows evidence: callers weight the old observation with
        `factor(cell_time - observed_at)` instead.
        """
        if elapsed_s <= 0.0:
            return 1.0
        return math.exp(-self._rate * elapsed_s)

    def mean_lifetime_s(self) -> float:
        """Mean age of evidence in a steady stream (half-life / ln 2): the model's
        "relevance window" (21 days gives ~30 days)."""
        return 1.0 / self._rate

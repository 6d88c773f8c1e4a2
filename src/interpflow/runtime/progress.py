"""Progress of long stages in their log files: counts, rate and time left, without flooding the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class Progress:
    """Log ``<verb> <done>/<total> <unit> (<pct>%), <rate> <unit>/s, <eta> s left`` as work advances.

    A line is written after the first step, then at most every ``interval`` seconds, and always
    after the last step, so a stage of a few seconds logs twice and an hour-long one every
    ``interval`` seconds. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        total: int,
        unit: str,
        verb: str,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.total, self.unit, self.verb, self.logger = total, unit, verb, logger
        self.interval, self.clock = interval, clock
        self.done = 0
        self.started = clock()
        self.last_logged: float | None = None

    def advance(self, steps: int = 1, note: str = "") -> None:
        """Record ``steps`` more done; ``note`` (e.g. the current loss) is appended to a logged line."""
        self.done += steps
        now = self.clock()
        due = self.last_logged is None or now - self.last_logged >= self.interval
        if due or self.done >= self.total:
            self.last_logged = now
            self.logger.info("%s%s", self.line(now), f"; {note}" if note else "")

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        percent = 100 * self.done / self.total if self.total else 100.0
        return (
            f"{self.verb} {self.done}/{self.total} {self.unit} ({percent:.0f}%), "
            f"{rate:.3g} {self.unit}/s, {left:.0f} s left"
        )

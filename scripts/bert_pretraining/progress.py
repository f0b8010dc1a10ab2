"""Periodic progress lines for long steps, readable with `tail -f` on the rule's log."""

import logging
import time


def _duration(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s" if seconds >= 3600 else (
        f"{seconds // 60}m{seconds % 60:02d}s"
    )


class Progress:
    """Log `done of total unit (pct), rate, time left` at most every `interval` seconds."""

    def __init__(self, what, total=None, unit="lines", scale=1, interval=10.0):
        self.what, self.total, self.unit, self.scale, self.interval = what, total, unit, scale, interval
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.log()

    def log(self):
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        line = f"{self.what}: {self.done / self.scale:,.1f} {self.unit}"
        if self.total:
            line += f" of {self.total / self.scale:,.1f} ({100 * self.done / self.total:.1f}%)"
        line += f", {rate / self.scale:,.1f} {self.unit}/s"
        if self.total and rate > 0:
            line += f", {_duration((self.total - self.done) / rate)} left"
        logging.info(line)

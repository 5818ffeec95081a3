"""A one-line progress bar on a text stream (stderr), with rate and ETA; no dependency."""

from __future__ import annotations

import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Redrawn in place with ``\\r`` at most every ``interval`` seconds on a terminal; elsewhere
    (forced on a pipe or a log file) one line at most every ``log_interval`` seconds.

    ``total`` is the size of the work in ``done_units`` (bytes of the input file, say), or None
    when unknown (stdin): then only the count and the rate are shown. Disabled, it does nothing.
    """

    def __init__(
        self,
        stream: TextIO,
        total: int | None,
        enabled: bool,
        what: str = "requests",
        interval: float = 0.1,
        width: int = 24,
        log_interval: float = 2.0,
    ) -> None:
        self.stream = stream
        self.total = total if total else None
        self.enabled = enabled
        self.what = what
        try:
            self.in_place = stream.isatty()
        except (AttributeError, ValueError):
            self.in_place = False
        self.interval = interval if self.in_place else log_interval
        self.width = width
        self.started = time.perf_counter()
        self._last_draw = float("-inf")
        self._shown = 0  # length of the line on screen, to blank it out
        self._count = 0
        self._done = 0

    def update(self, count: int, done_units: int) -> None:
        self._count, self._done = count, done_units
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The bar as text, for the current state."""
        elapsed = max((now if now is not None else time.perf_counter()) - self.started, 1e-9)
        rate = self._count / elapsed
        what = self.what[:-1] if self._count == 1 and self.what.endswith("s") else self.what
        text = f"{self._count:,} {what}  {rate:,.0f}/s"
        if self.total:
            fraction = min(1.0, self._done / self.total)
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
            eta_text = _clock(eta) if eta == eta else "?"
            text = (
                f"[{bar}] {fraction * 100:3.0f}%  {text}  elapsed {_clock(elapsed)}  ETA {eta_text}"
            )
        return text

    def _draw(self, now: float) -> None:
        text = self.line(now)
        if self.in_place:
            pad = " " * max(0, self._shown - len(text))
            self.stream.write("\r" + text + pad)
            self._shown = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Blank the line, before other output goes to the terminal."""
        if self.enabled and self.in_place and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0
            self._last_draw = float("-inf")

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self._draw(time.perf_counter())
            if self.in_place:
                self.stream.write("\n")
                self.stream.flush()
            self._shown = 0

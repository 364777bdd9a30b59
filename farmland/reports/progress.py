"""Progress of long steps for a person at a terminal: one line redrawn in place.

Silent when the stream is not a terminal (pipes, CI logs, tests) and under ``-q``.
"""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """``  rendering scorecards  [#####.....]  42/84  12.3s`` on stderr, redrawn in place.

    Parameters
    ----------
    enabled : bool, optional
        Default: only when the stream is a terminal.
    """

    def __init__(self, stream=None, enabled: bool | None = None, width: int = 24):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = bool(isatty()) if enabled is None else enabled
        self.width = width
        self._start = time.monotonic()
        self._last = 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:  # at most ten redraws a second
            return
        self._last = now
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r  {label}  [{bar}] {done:>4}/{total}  {now - self._start:5.1f}s{end}")
        self.stream.flush()


def silent(label: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""

"""Progress on stderr: a bar redrawn in place on a terminal, a few plain lines anywhere else (logs, CI)."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30
# Redrawing more often than this only costs terminal bandwidth.
REDRAW_SECONDS = 0.1
# Without a terminal, one line per quarter is enough for a log.
PLAIN_STEP_PERCENT = 25


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """`label [#######.......]  45%  detail`; `update()` with the amount done so far, `close()` once."""

    def __init__(self, stream: TextIO, label: str, total: float, *, in_bytes: bool = False) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._label = label
        self._total = total
        self._in_bytes = in_bytes
        self._done = 0.0
        self._note = ""
        self._drawn_at = 0.0
        self._plain: tuple[int, str] | None = None

    def reset(self, total: float) -> None:
        self._total, self._done = total, 0.0

    def advance(self, amount: float) -> None:
        self.update(self._done + amount)

    def update(self, done: float, note: str = "") -> None:
        self._done, self._note = done, note or self._note
        percent = int(100 * done / self._total) if self._total else 100
        if self._tty:
            now = time.monotonic()
            if now - self._drawn_at >= REDRAW_SECONDS or percent >= 100:
                self._drawn_at = now
                filled = WIDTH * min(percent, 100) // 100
                bar = "#" * filled + "." * (WIDTH - filled)
                self._stream.write(f"\r{self._label} [{bar}] {percent:3d}%  {self._detail()}\x1b[K")
                self._stream.flush()
            return
        step = (percent // PLAIN_STEP_PERCENT, self._note)
        if step != self._plain:
            self._plain = step
            self._stream.write(f"{self._label}: {percent}%  {self._detail()}\n")
            self._stream.flush()

    def _detail(self) -> str:
        if self._in_bytes:
            return f"{human_bytes(self._done)} of {human_bytes(self._total)}"
        return self._note

    def interject(self, text: str) -> None:
        """A line of its own (a retry, say) without breaking the bar, which is redrawn on the next update."""
        self._stream.write(("\r\x1b[K" if self._tty else "") + text + "\n")
        self._drawn_at = 0.0
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._drawn_at:
            self._stream.write("\n")
            self._stream.flush()

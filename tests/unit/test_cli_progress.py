"""Progress on stderr: redrawn in place on a terminal, a few plain lines anywhere else."""

from __future__ import annotations

import io

from cli.progress import ProgressBar, human_bytes


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn() -> None:
    stream = Terminal()
    bar = ProgressBar(stream, "uploading a.csv", 2048, in_bytes=True)
    bar.advance(2048)
    bar.close()
    assert stream.getvalue() == f"\ruploading a.csv [{'#' * 30}] 100%  2.0 KiB of 2.0 KiB\x1b[K\n"


def test_elsewhere_a_line_per_quarter_or_state() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, "import 3", 100)
    for done, state in [(0, "created"), (0, "created"), (10, "importing"), (20, "importing"), (60, "importing")]:
        bar.update(done, state)
    bar.interject("a retry")
    bar.close()
    assert stream.getvalue().splitlines() == [
        "import 3: 0%  created",
        "import 3: 10%  importing",
        "import 3: 60%  importing",
        "a retry",
    ]


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 5 * 1024**2, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]

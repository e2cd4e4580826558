"""Description sanitising: dangerous markup goes, ordinary rich content stays."""

from __future__ import annotations

import pytest

from worker.sanitize import _CLEANER, _MAY_CHANGE, sanitize_html


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Add <strong>fractions</strong></p>", "<p>Add <strong>fractions</strong></p>"),
        ("<p>a<br>b</p>", "<p>a<br>b</p>"),
        (
            '<ul><li>one</li></ul><ol start="2"><li>two</li></ol>',
            '<ul><li>one</li></ul><ol start="2"><li>two</li></ol>',
        ),
        (
            "<h2>T</h2><em>e</em><u>u</u><sub>1</sub><sup>2</sup>",
            "<h2>T</h2><em>e</em><u>u</u><sub>1</sub><sup>2</sup>",
        ),
        (
            "<blockquote>q</blockquote><pre><code>c</code></pre>",
            "<blockquote>q</blockquote><pre><code>c</code></pre>",
        ),
        ('<img src="https://example.com/a.png" alt="A">', '<img src="https://example.com/a.png" alt="A">'),
        ('<span style="color: red">r</span>', '<span style="color:red">r</span>'),
        ("plain text", "plain text"),
        ("", ""),
        (" ", " "),
    ],
)
def test_rich_content_is_kept(html: str, expected: str) -> None:
    assert sanitize_html(html) == expected


def test_links_keep_http_https_mailto() -> None:
    for href in ("https://example.com/x", "http://example.com", "mailto:a@example.com", "/relative"):
        assert f'href="{href}"' in sanitize_html(f'<a href="{href}">x</a>')


def test_tables_are_kept() -> None:
    html = '<table border="1"><tbody><tr><th scope="col">H</th></tr><tr><td colspan="2">1</td></tr></tbody></table>'
    assert sanitize_html(html) == html


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>ok</p><script>alert(1)</script>", "<p>ok</p>"),
        ('<p onclick="steal()">x</p>', "<p>x</p>"),
        ('<img src="x.png" onerror="steal()">', '<img src="x.png">'),
        ("<style>p { display: none }</style>text", "text"),
        ('<iframe src="https://evil.example"></iframe>after', "after"),
        ("<!-- hidden -->shown", "shown"),
        ("<blink>kept text</blink>", "kept text"),
        (
            '<span style="background: url(javascript:x); color: red">s</span>',
            '<span style="color:red">s</span>',
        ),
    ],
)
def test_dangerous_markup_is_removed(html: str, expected: str) -> None:
    assert sanitize_html(html) == expected


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:x", "data:text/html,x"])
def test_unsafe_url_schemes_are_removed(href: str) -> None:
    cleaned = sanitize_html(f'<a href="{href}">x</a>')
    assert "href" not in cleaned
    assert cleaned.endswith(">x</a>")


def test_text_is_escaped() -> None:
    assert sanitize_html("a < b & c") == "a &lt; b &amp; c"


@pytest.mark.parametrize(
    "html",
    [
        '<a href="https://e.com" target="_blank">x</a><script>y</script>',
        "<table><tr><td>1</td></tr></table>",
        "a < b & c > d",
        '<p style="color:red;background:url(x)">x</p>',
    ],
)
def test_sanitising_is_idempotent(html: str) -> None:
    once = sanitize_html(html)
    assert sanitize_html(once) == once


def _unchanged_by_ammonia(text: str) -> bool:
    return bool(_CLEANER.clean(text) == text)


def test_the_fast_path_holds_for_every_code_point() -> None:
    """sanitize_html returns text without `_MAY_CHANGE` characters as it is: ammonia must agree.

    Every code point is tried at the start, in the middle and doubled, in chunks (a chunk that
    ammonia changes would fail as a whole)."""
    plain = [chr(c) for c in range(0x110000) if not _MAY_CHANGE.search(chr(c))]
    for start in range(0, len(plain), 4096):
        chunk = "".join(plain[start : start + 4096])
        assert _unchanged_by_ammonia(chunk)
        assert _unchanged_by_ammonia("a" + chunk + "b")
        assert _unchanged_by_ammonia("".join(c + c for c in chunk))


@pytest.mark.parametrize("char", ["\x00", "\r", "&", "<", ">", "\xa0", "\ufeff"])
def test_every_character_left_to_ammonia_can_change_a_text(char: str) -> None:
    """The fast path is not stricter than it needs to be, and the slow path still runs."""
    assert not _unchanged_by_ammonia(char + "x" + char)
    assert sanitize_html(char + "x" + char) == _CLEANER.clean(char + "x" + char)


@pytest.mark.parametrize("text", ["plain", "a\r\nb", "x" * 300 + "&", "<b>" * 2, "\ufeffx", "tab\tnbsp\xa0"])
def test_sanitize_html_answers_as_ammonia_does(text: str) -> None:
    assert sanitize_html(text) == _CLEANER.clean(text)
    assert sanitize_html(text) == _CLEANER.clean(text)  # again, from the cache

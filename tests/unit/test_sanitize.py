"""Description sanitising: dangerous markup goes, ordinary rich content stays."""

from __future__ import annotations

import pytest

from worker.sanitize import sanitize_html


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

"""HTML sanitising of outcome, group and rating descriptions (spec §5.2, §5.5).

Canvas cleans descriptions on save with its rich-content allow-list (`CanvasSanitize::SANITIZE`,
the `sanitize` gem). This is a close subset of that list on nh3 (ammonia): formatting and
semantic tags, lists, tables, images and links stay; scripts, styles, event-handler
attributes and `javascript:` (any non-allowed scheme) URLs go. Tags outside the list are
dropped but their text kept, except for the tags in `_DROP_WITH_CONTENT`.

Left out of Canvas's list on purpose: embedded content (`iframe`, `object`, `embed`, media),
`<style>` and MathML; CSS properties that can carry `url(...)` (backgrounds, list images).
Exact output is not part of the conformance cases; it must only be safe and idempotent,
because stored descriptions are compared with re-imported ones.
"""

from __future__ import annotations

import re
from typing import Final

import nh3

from worker.parse_caches import ParseCache, text_bytes

_TAGS: Final = frozenset(
    {
        *("a", "abbr", "acronym", "address", "area", "article", "aside", "b", "bdo", "big"),
        *("blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del"),
        *("details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd"),
        *("legend", "li", "map", "mark", "nav", "ol", "p", "picture", "pre", "q", "rp", "rt"),
        *("ruby", "samp", "section", "small", "span", "strike", "strong", "sub", "summary"),
        *("sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul"),
        "var",
    }
)

_TABLE_CELL: Final = frozenset({"abbr", "axis", "colspan", "rowspan", "width", "align", "valign", "dir"})

_ATTRIBUTES: Final = {
    "*": {"style", "class", "id", "title", "role", "lang", "dir"},
    "a": {"href", "target", "name"},
    "area": {"alt", "coords", "href", "shape", "target"},
    "blockquote": {"cite"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "font": {"face", "color", "size"},
    "img": {"align", "alt", "height", "src", "usemap", "width", "longdesc"},
    "map": {"name"},
    "ol": {"start", "type"},
    "q": {"cite"},
    "table": {"summary", "width", "border", "cellpadding", "cellspacing", "frame", "rules"},
    "td": set(_TABLE_CELL),
    "th": {*_TABLE_CELL, "scope"},
    "tr": {"align", "valign", "dir"},
    "ul": {"type"},
}

# Canvas's link protocols; relative URLs are kept as well (nh3's default).
_URL_SCHEMES: Final = frozenset({"http", "https", "mailto", "tel", "ftp", "skype"})

_DROP_WITH_CONTENT: Final = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "noembed", "noframes", "xmp", "svg", "math"}
)

_STYLE_PROPERTIES: Final = frozenset(
    {
        *("align-content", "align-items", "align-self", "border", "border-radius", "clear", "color"),
        *("column-gap", "direction", "display", "float", "font", "font-family", "font-size"),
        *("font-stretch", "font-style", "font-variant", "font-weight", "gap", "height"),
        *("line-height", "list-style-position", "list-style-type", "margin", "max-height"),
        *("max-width", "min-height", "min-width", "overflow", "overflow-x", "overflow-y", "padding"),
        *("row-gap", "text-align", "table-layout", "text-decoration", "text-indent"),
        *("vertical-align", "visibility", "white-space", "width"),
        *(f"border-{side}" for side in ("bottom", "collapse", "color", "left", "right", "spacing")),
        *(f"border-{side}" for side in ("style", "top", "width")),
        *(f"border-{s}-{p}" for s in ("bottom", "left", "right", "top") for p in ("color", "style", "width")),
        *(f"margin-{side}" for side in ("bottom", "left", "right", "top")),
        *(f"padding-{side}" for side in ("bottom", "left", "right", "top")),
    }
)

# An immutable configuration object, built once: constructing a Cleaner per call would
# rebuild ammonia's allow-list sets for every row.
_CLEANER: Final = nh3.Cleaner(
    tags=set(_TAGS),
    clean_content_tags=set(_DROP_WITH_CONTENT),
    attributes=_ATTRIBUTES,
    generic_attribute_prefixes={"aria-", "data-"},
    url_schemes=set(_URL_SCHEMES),
    filter_style_properties=set(_STYLE_PROPERTIES),
    strip_comments=True,
)


# The only characters ammonia (html5ever) ever changes in text without markup: `<`, `>` and `&`
# (markup or escaped), NUL (dropped), CR (newline normalisation), NBSP (written as `&nbsp;`) and
# a leading U+FEFF (dropped); lone surrogates cannot cross into Rust at all. Text without any
# of them comes back unchanged, which tests/unit/test_sanitize.py checks code point by code point.
_MAY_CHANGE: Final = re.compile("[\x00\r&<>\xa0\ufeff\ud800-\udfff]")

# Most files repeat the same few rating descriptions on every row. Only short texts are kept, so
# the cache stays small (a description may be 64 KiB); worker/parse_caches.py also bounds it in
# bytes and empties it between imports.
_CACHED_LENGTH: Final = 256
_CACHE: Final = ParseCache[str, str](4096)
_cache: Final = _CACHE.entries


def sanitize_html(html: str) -> str:
    """Return `html` with everything outside the allow-list removed.

    Idempotent: `sanitize_html(sanitize_html(x)) == sanitize_html(x)`. Plain text comes back
    HTML-escaped where needed (`a < b` -> `a &lt; b`); whitespace is preserved.
    """
    if html.isascii():  # O(1) for str: CPython records whether a string is ASCII
        # Of the characters `_MAY_CHANGE` looks for, an ASCII text can hold only these five; five
        # C-level scans cost a tenth of one regex scan (the regex engine steps char by char).
        if not ("<" in html or ">" in html or "&" in html or "\r" in html or "\x00" in html):
            return html  # the same answer as ammonia's, at a fraction of the cost
    elif _MAY_CHANGE.search(html) is None:
        return html  # the same answer as ammonia's, at a fraction of the cost
    if len(html) > _CACHED_LENGTH:
        return _CLEANER.clean(html)
    cleaned = _cache.get(html)
    if cleaned is None:
        cleaned = _CLEANER.clean(html)
        _CACHE.remember(html, cleaned, text_bytes((html, cleaned)))
    return cleaned

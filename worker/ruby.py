"""Ruby- and Rails-compatible text rules that Canvas's messages and checks depend on.

Canvas builds its import messages with Ruby's `String#inspect`, `Array#inspect` and
`Float#to_s`, converts numbers with `Float()` (after I18n normalisation) and `String#to_i`,
and tests cells with ActiveSupport's `blank?`. Each function here restates one of those,
checked against Ruby 3.1 (spec §4.4, §5.4, §5.7, §6.1). Everything is pure.

Strings that came from invalid UTF-8 are carried as Python `str` decoded with
`surrogateescape`: each undecodable byte 0xNN is the lone surrogate U+DCNN, which `inspect`
renders as Ruby does, `\\xNN`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Final, TypeGuard

# ActiveSupport `String#blank?` is /\A[[:space:]]*\z/; Onigmo's [[:space:]] is Unicode
# White_Space. Python's str.isspace() also accepts U+001C..U+001F, which Ruby does not.
_RUBY_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

RUBY_SPACE_CHARS: Final = "".join(sorted(_RUBY_SPACE))
"""The same characters as one string, for `str.strip`: `not text.strip(RUBY_SPACE_CHARS)` is `blank?`."""

# Ruby's `\s`, `String#split` with no argument and `Float()`/`to_i` whitespace are ASCII only.
ASCII_WHITESPACE: Final = " \t\n\v\f\r"
_ASCII_WHITESPACE_CHAR: Final = re.compile("[ \t\n\v\f\r]")

_SIMPLE_ESCAPES: Final = {
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\f": "\\f",
    "\v": "\\v",
    "\b": "\\b",
    "\a": "\\a",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
}

# Onigmo's [[:print:]] is Graph + Space_Separator, Graph being every assigned code point
# except White_Space, Cc and Cs. So Cf, Co and Zs print as they are; Zl and Zp do not.
_NOT_PRINTABLE: Final = frozenset({"Cc", "Cs", "Cn", "Zl", "Zp"})

_DIGITS: Final = r"[0-9]+(?:_[0-9]+)*"  # Ruby allows single underscores between digits
_HEX_DIGITS: Final = r"[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
_WS: Final = "[ \t\n\v\f\r]*"
_DECIMAL: Final = re.compile(
    rf"{_WS}[+-]?(?:{_DIGITS}(?:\.{_DIGITS})?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?{_WS}"
)
# Ruby's Float() takes hex, but a hex fraction only together with a binary exponent.
_HEX: Final = re.compile(rf"{_WS}[+-]?0[xX]{_HEX_DIGITS}(?:(?:\.{_HEX_DIGITS})?[pP][+-]?{_DIGITS})?{_WS}")
_WHITESPACE_RUN: Final = re.compile("[ \t\n\v\f\r]+")
_LEADING_INTEGER: Final = re.compile(rf"{_WS}([+-]?)(?:0[dD])?({_DIGITS})")

# Ruby's Float#to_s prints fixed notation only for decimal exponents in this range.
_FIXED_DECPT_MIN: Final = -3
_FIXED_DECPT_MAX: Final = 15


def is_blank(value: str | None) -> bool:
    """ActiveSupport `blank?` for a cell: None, empty, or only Unicode White_Space."""
    # strip() runs in C and returns "" exactly when every character is in the set.
    return value is None or not value.strip(RUBY_SPACE_CHARS)


def is_present(value: str | None) -> TypeGuard[str]:
    """ActiveSupport `present?`: the negation of `is_blank`."""
    return value is not None and bool(value.strip(RUBY_SPACE_CHARS))


def has_ascii_whitespace(value: str) -> bool:
    """Ruby `match?(/\\s/)`: space, tab, LF, VT, FF or CR anywhere (NBSP does not count)."""
    return _ASCII_WHITESPACE_CHAR.search(value) is not None


def split_words(value: str) -> list[str]:
    """Ruby `value.strip.split`: split on runs of ASCII whitespace; ends also lose NULs."""
    stripped = value.strip(ASCII_WHITESPACE + "\0")
    return [word for word in _WHITESPACE_RUN.split(stripped) if word]


def decode_lenient(raw: bytes) -> str:
    """Bytes as a Ruby UTF-8 string would hold them: invalid bytes kept as U+DC80..U+DCFF."""
    return raw.decode("utf-8", "surrogateescape")


def inspect(value: str | bytes) -> str:
    """Ruby `String#inspect` of a UTF-8 string (bytes are decoded first; invalid -> `\\xNN`).

    Quotes and backslashes are escaped, `#` before `{`, `$` or `@` gets a backslash, control
    characters use Ruby's short escapes or `\\uXXXX`, printable non-ASCII is kept as is.
    """
    text = decode_lenient(value) if isinstance(value, bytes) else value
    out = ['"']
    last = len(text) - 1
    for index, char in enumerate(text):
        simple = _SIMPLE_ESCAPES.get(char)
        if simple is not None:
            out.append(simple)
        elif char == "#" and index < last and text[index + 1] in "{$@":
            out.append("\\#")
        else:
            out.append(_inspect_char(char))
    out.append('"')
    return "".join(out)


def _inspect_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02X}"
    # U+0085 is Cc: Ruby >= 3.2 escapes it (Ruby 3.1's Onigmo still printed it raw).
    if unicodedata.category(char) not in _NOT_PRINTABLE:
        return char
    return f"\\u{code:04X}" if code < 0x10000 else f"\\u{{{code:X}}}"


def inspect_list(items: Iterable[str | bytes]) -> str:
    """Ruby `Array#inspect` of strings: `["a", "b"]`."""
    return "[" + ", ".join(inspect(item) for item in items) + "]"


def format_float(value: float) -> str:
    """Ruby `Float#to_s`: `2.0`, `7.5`, `0.0001`, `1.0e-05`, `1.0e+15`, `Infinity`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    digits, decpt = _shortest_digits(abs(value))
    # Fixed notation up to 15 integer digits, and for 16 when a fraction digit follows.
    if 0 < decpt and (decpt <= _FIXED_DECPT_MAX or len(digits) > decpt):
        if len(digits) <= decpt:
            return sign + digits + "0" * (decpt - len(digits)) + ".0"
        return sign + digits[:decpt] + "." + digits[decpt:]
    if _FIXED_DECPT_MIN <= decpt <= 0:
        return sign + "0." + "0" * -decpt + digits
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{decpt - 1:+03d}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits and decimal point position: 0.00123 -> ("123", -2)."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    decpt = len(whole) + int(exponent or 0)
    stripped = digits.lstrip("0")
    decpt -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", decpt


def parse_number(text: str) -> float | None:
    """English-locale number as Canvas reads points and mastery_points (spec §5.7).

    Every `,` is a thousands delimiter and removed (`1,5` is 15), then Ruby's `Float()`
    rules apply: surrounding ASCII whitespace, a sign, digits with an optional fraction
    (`.5` yes, `5.` no), an optional exponent, `_` between digits, hex (`0x1A`). Returns
    None when that is not a number (`Infinity`, `NaN`, `1.2.3`, blank). Ruby turns an
    overflow (`1e400`) into infinity; that cannot be stored or sent as JSON, so here it is not a number.
    """
    normalised = text.replace(",", "")
    if _DECIMAL.fullmatch(normalised):
        value = float(normalised.replace("_", "").strip(ASCII_WHITESPACE))
    elif _HEX.fullmatch(normalised):
        value = float.fromhex(normalised.replace("_", "").strip(ASCII_WHITESPACE))
    else:
        return None
    return value if math.isfinite(value) else None


# Python refuses int <-> str conversions past 4,300 digits (a guard against quadratic work);
# Ruby reads and prints any length.
_MAX_EXACT_DIGITS: Final = 4000


class HugeInteger(int):
    """A Ruby Integer too long for Python's conversions: it compares as a value beyond every
    column's range (so every rule rejects it, as Ruby's would), and prints as Ruby prints it."""

    text: str

    def __new__(cls, text: str) -> HugeInteger:
        value = super().__new__(cls, -(10**19) if text.startswith("-") else 10**19)
        value.text = text
        return value

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def to_i(text: str) -> int:
    """Ruby `String#to_i`: the leading integer after ASCII whitespace, else 0 (`40.7` -> 40)."""
    match = _LEADING_INTEGER.match(text)
    if match is None:
        return 0
    digits = match.group(2).replace("_", "")
    if len(digits) > _MAX_EXACT_DIGITS:
        digits = digits.lstrip("0") or "0"
        if len(digits) > _MAX_EXACT_DIGITS:
            return HugeInteger(("-" if match.group(1) == "-" else "") + digits)
    number = int(digits)
    return -number if match.group(1) == "-" else number

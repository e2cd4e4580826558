"""Ruby-compatible rendering and parsing. Expected values were produced by Ruby 3.1."""

from __future__ import annotations

import math

import pytest

from worker.ruby import (
    decode_lenient,
    format_float,
    has_ascii_whitespace,
    inspect,
    inspect_list,
    is_blank,
    is_present,
    parse_number,
    split_words,
    to_i,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"plain", '"plain"'),
        (b"", '""'),
        (b'say "hi"', r'"say \"hi\""'),
        (b"back\\slash", r'"back\\slash"'),
        (b"Caf\xe9 au lait", r'"Caf\xE9 au lait"'),
        # invalid bytes one by one, whatever sequence they start
        (b"\xe2\x82A\xf0\x9f\x98", r'"\xE2\x82A\xF0\x9F\x98"'),
        (b"\xed\xa0\x80x", r'"\xED\xA0\x80x"'),  # an encoded surrogate is not UTF-8
        (b"\xc0\xaf", r'"\xC0\xAF"'),  # overlong
        (b"#{x} #$y #@z #a #", r'"\#{x} \#$y \#@z #a #"'),
        (b"##{", r'"#\#{"'),
        (b"\n\t\r\f\v\b\a\x1b", r'"\n\t\r\f\v\b\a\e"'),
        (b"\x00\x01\x1c\x7f", r'"\u0000\u0001\u001C\u007F"'),
        ("é中😀".encode(), '"é中😀"'),
        # Zs, Cf and Co print as they are; Zl, Zp, Cn and Cc are escaped
        ("\u00a0\u3000\u200b\ufeff\ue000".encode(), '"\u00a0\u3000\u200b\ufeff\ue000"'),
        ("\u2028\u2029\ufffe\u0378\u0085".encode(), r'"\u2028\u2029\uFFFE\u0378\u0085"'),
        ("\U0010ffff".encode(), r'"\u{10FFFF}"'),
    ],
)
def test_inspect_matches_ruby(raw: bytes, expected: str) -> None:
    assert inspect(raw) == expected


def test_inspect_of_str_and_of_leniently_decoded_bytes_agree() -> None:
    assert inspect("tïtle") == '"tïtle"'
    assert inspect(decode_lenient(b"t\xefitle")) == r'"t\xEFitle"'


def test_inspect_list() -> None:
    assert inspect_list([]) == "[]"
    assert inspect_list(["object_type"]) == '["object_type"]'
    assert inspect_list(["a", 'b"', "é", b"\xff"]) == r'["a", "b\"", "é", "\xFF"]'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, "2.0"),
        (7.5, "7.5"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (-3.0, "-3.0"),
        (100.0, "100.0"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (0.001, "0.001"),
        (0.0001, "0.0001"),
        (9.999e-05, "9.999e-05"),
        (1e-05, "1.0e-05"),
        (1.5e-07, "1.5e-07"),
        (123456789.123, "123456789.123"),
        (1e14, "100000000000000.0"),
        (123456789012345.0, "123456789012345.0"),
        (999999999999999.9, "999999999999999.9"),
        (1e15, "1.0e+15"),
        (1.5e15, "1.5e+15"),
        (1234567890123456.0, "1.234567890123456e+15"),
        (3492112669434660.5, "3492112669434660.5"),
        (1e16, "1.0e+16"),
        (12345678901234567.0, "1.2345678901234568e+16"),
        (2.5e20, "2.5e+20"),
        (5e-324, "5.0e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_format_float_matches_ruby(value: float, expected: str) -> None:
    assert format_float(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,000", 1000.0),
        ("1,5", 15.0),  # a comma is never a decimal mark in English
        (" 7.5 ", 7.5),
        ("\t7\n", 7.0),
        ("\v5", 5.0),
        (".5", 0.5),
        ("-.5", -0.5),
        ("+.5", 0.5),
        ("00.5", 0.5),
        ("1e3", 1000.0),
        ("1E+3", 1000.0),
        ("1e-3", 0.001),
        ("1e05", 100000.0),
        ("+5", 5.0),
        ("-5", -5.0),
        ("1_000", 1000.0),
        ("0_5", 5.0),
        ("1_000.000_1", 1000.0001),
        ("1e1_0", 1e10),
        ("0x1A", 26.0),
        ("0X1f", 31.0),
        ("-0x10", -16.0),
        ("0x1_0", 16.0),
        ("0x1.8p1", 3.0),
        ("0x1p-2", 0.25),
    ],
)
def test_parse_number_accepts_what_ruby_float_accepts(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "5.",
        "1.",
        ".",
        "+",
        "1.2.3",
        "Infinity",
        "NaN",
        "inf",
        "1e400",  # Ruby overflows to Infinity, which can be neither stored nor sent as JSON
        "abc",
        "1__0",
        "_1",
        "1_",
        "1._5",
        "1_.5",
        "1e",
        "1e+",
        "1.5e",
        "1e_5",
        "- 5",
        "1 000",
        "7 x",
        "\u00a05",  # NBSP is not whitespace to Float()
        "\uff11",  # nor are non-ASCII digits digits (FULLWIDTH DIGIT ONE)
        "1\x00",
        "0x",
        "0x_1",
        "0x1.",
        "0x1.8",  # a hex fraction needs an exponent
        "0b1",
        "0o7",
    ],
)
def test_parse_number_rejects_what_ruby_float_rejects(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("40.7", 40),
        ("abc", 0),
        ("", 0),
        ("5", 5),
        (" 5", 5),
        ("\n12\n", 12),
        ("\v8", 8),
        ("+5", 5),
        ("-3", -3),
        ("\t-7", -7),
        ("- 3", 0),
        ("+-5", 0),
        ("12abc", 12),
        ("007", 7),
        ("1_000", 1000),
        ("1__2", 1),
        ("1_", 1),
        ("_1", 0),
        ("0d12", 12),
        ("-0d5", -5),
        ("0d", 0),
        ("0x1A", 0),
        ("\u00a09", 0),
        ("99999999999999999999", 99999999999999999999),
    ],
)
def test_to_i_matches_ruby(text: str, expected: int) -> None:
    assert to_i(text) == expected


def test_blank_is_unicode_white_space() -> None:
    assert is_blank(None)
    assert is_blank("")
    assert is_blank(" \t\r\n\v\f\u00a0\u3000\u2028\x85")
    assert not is_blank("\x1c")  # Python's isspace() says yes, Ruby does not
    assert not is_blank("\u200b")
    assert is_present(" x ")


def test_vendor_guid_whitespace_is_ascii_only() -> None:
    for text in ("a b", "a\tb", "a\nb", "a\vb", "a\fb", "a\rb"):
        assert has_ascii_whitespace(text)
    assert not has_ascii_whitespace("a\u00a0b")


def test_split_words_is_ruby_strip_split() -> None:
    assert split_words("  a \t b\n c  ") == ["a", "b", "c"]
    assert split_words("a\u00a0b c") == ["a\u00a0b", "c"]
    assert split_words("a\x00") == ["a"]
    assert split_words("\x00") == []


def test_to_i_reads_integers_too_long_for_python_s_conversions() -> None:
    # Python refuses int(str) past 4,300 digits; Ruby reads any length, and so must a rule.
    huge = to_i("  +00" + "1_234" * 1500 + "xyz")
    assert str(huge) == "1234" * 1500 and huge > 2**63
    assert str(to_i("-" + "9" * 5000)) == "-" + "9" * 5000 and to_i("-" + "9" * 5000) < -(2**63)
    assert to_i("0" * 5000 + "42") == 42  # leading zeros do not count

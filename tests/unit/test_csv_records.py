"""worker.csv_records: Canvas's strict CSV dialect (spec §4.1, §4.3, §4.4), streamed.

Expected records are written out in full. `_ruby_reference` is a byte-by-byte transcription
of Ruby csv's `Parser#parse_quotable` (csv 3.2, the parser Canvas runs) used as an oracle for
random inputs; it is slow on purpose and lives here only.

Throughput: `python scripts/bench_csv_records.py`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.errors import InvalidCsvFile
from worker.csv_records import UTF8_BOM, Cells, RecordTooLarge, read_records

Records = list[tuple[int, Cells]]
FAILED = "InvalidCsvFile"
"""Marks, at the end of a result, that reading raised InvalidCsvFile after those records."""

Result = list[tuple[int, Cells] | str]


async def _chunked(data: bytes, cuts: Sequence[int]) -> AsyncIterator[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        yield data[start:end]


async def read(data: bytes, cuts: Sequence[int] = ()) -> Result:
    """Everything `read_records` yields for `data` cut at `cuts`, then FAILED if it raised."""
    result: Result = []
    try:
        async for record in read_records(_chunked(data, cuts)):
            result.append(record)
    except InvalidCsvFile:
        result.append(FAILED)
    return result


def numbered(*records: Cells) -> Result:
    return list(enumerate(records, start=1))


# --- records, numbering, blank lines (§4.3) ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"a", [[b"a"]]),
        (b"a\nb\n", [[b"a"], [b"b"]]),
        (b"a\nb", [[b"a"], [b"b"]]),
        (b"a\n\n", [[b"a"], []]),
        (b"a\n\n\n", [[b"a"], [], []]),
        (b"\n", [[]]),
        (b"\n\na", [[], [], [b"a"]]),
        (b",,\n", [[None, None, None]]),
        (b",", [[None, None]]),
        (b"a,\n,b\n", [[b"a", None], [None, b"b"]]),
        (b" a , b \n", [[b" a ", b" b "]]),
        (b"x\xe9,\xff\xfe\n", [[b"x\xe9", b"\xff\xfe"]]),
        (b"a\x00b,\t\n", [[b"a\x00b", b"\t"]]),
    ],
)
async def test_records(data: bytes, expected: list[Cells]) -> None:
    assert await read(data) == numbered(*expected)


async def test_conformance_16_blank_lines_keep_their_numbers() -> None:
    data = b"vendor_guid,object_type,title\no1,outcome,First\n\n,,\no2,outcome,\n\no3,outcome,Third\n"
    assert await read(data) == numbered(
        [b"vendor_guid", b"object_type", b"title"],
        [b"o1", b"outcome", b"First"],
        [],
        [None, None, None],
        [b"o2", b"outcome", None],
        [],
        [b"o3", b"outcome", b"Third"],
    )


async def test_conformance_21_header_only() -> None:
    assert await read(b"vendor_guid,object_type,title,ratings\n") == numbered(
        [b"vendor_guid", b"object_type", b"title", b"ratings"]
    )


async def test_header_only_then_blank_lines() -> None:
    assert await read(b"title,vendor_guid\n\n\n") == numbered([b"title", b"vendor_guid"], [], [])


async def test_null_and_quoted_empty_header_cells() -> None:
    assert await read(b'title,,vendor_guid,""\n') == numbered([b"title", None, b"vendor_guid", b""])


# --- quoting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'""\n', [[b""]]),
        (b'"",""', [[b"", b""]]),
        (b',""\n', [[None, b""]]),
        (b'"a""b",c', [[b'a"b', b"c"]]),
        (b'""""', [[b'"']]),
        (b'"""a"""', [[b'"a"']]),
        (b'"a,b;c"', [[b"a,b;c"]]),
        (b'" x "', [[b" x "]]),
        (b'a,"b",c\n', [[b"a", b"b", b"c"]]),
        (b'"a",\n', [[b"a", None]]),
    ],
)
async def test_quoted_fields(data: bytes, expected: list[Cells]) -> None:
    assert await read(data) == numbered(*expected)


async def test_quoted_line_breaks_make_one_record_and_shift_numbers() -> None:
    data = (
        b"title,description,vendor_guid\n"
        b'T1,"line one\nline two, with comma\n\nline four",g1\n'
        b'T2,"",g2\n'
        b'"T\n3","a ""quoted""\nword",g3'
    )
    assert await read(data) == numbered(
        [b"title", b"description", b"vendor_guid"],
        [b"T1", b"line one\nline two, with comma\n\nline four", b"g1"],
        [b"T2", b"", b"g2"],
        [b"T\n3", b'a "quoted"\nword', b"g3"],
    )


async def test_any_line_break_inside_quotes_is_data() -> None:
    assert await read(b'a\n"x\ry\r\nz"\n') == numbered([b"a"], [b"x\ry\r\nz"])
    assert await read(b'a\r\n"x\ry\nz\r\n"\r\n') == numbered([b"a"], [b"x\ry\nz\r\n"])
    assert await read(b'a\r"x\ny\r"\r') == numbered([b"a"], [b"x\ny\r"])


async def test_quoted_field_closing_on_a_later_line_then_more_fields() -> None:
    data = b'a,"b\n",c,"d\n\ne",f\ng\n'
    assert await read(data) == numbered([b"a", b"b\n", b"c", b"d\n\ne", b"f"], [b"g"])


# --- malformed (§4.3): raised when reached, earlier records already yielded ----------------


@pytest.mark.parametrize(
    "bad_line",
    [
        b'"unterminated',
        b'"unterminated\n',
        b'"unterminated\nmore,lines\n',
        b'x,"abc""',
        b'Ti"tle',
        b'Title"',
        b'a, "b"',
        b'"abc"d',
        b'"abc" ,d',
        b'"abc""d"e',
        b'a,"b\nc"d,e',
        b'a,"b\nc""d"x",e',
        b"a\rb",
        b"a\r",
        b"\r",
        b'"a"\r',
    ],
)
async def test_malformed_record_raises_after_earlier_records(bad_line: bytes) -> None:
    data = b"h1,h2\nv1,v2\n" + bad_line + b"\nnever,read\n"
    assert await read(data) == [*numbered([b"h1", b"h2"], [b"v1", b"v2"]), FAILED]


async def test_unterminated_quote_at_end_of_file() -> None:
    assert await read(b'a\n"b\n') == [*numbered([b"a"]), FAILED]
    assert await read(b'a\n"') == [*numbered([b"a"]), FAILED]


# --- line endings ---------------------------------------------------------------------------


async def test_crlf_file() -> None:
    data = b'a,b\r\n\r\n1,"x\r\ny"\r\n2,z'
    assert await read(data) == numbered([b"a", b"b"], [], [b"1", b"x\r\ny"], [b"2", b"z"])


async def test_cr_only_file() -> None:
    data = b'a,b\r\r1,"x\ry"\r2,z\r'
    assert await read(data) == numbered([b"a", b"b"], [], [b"1", b"x\ry"], [b"2", b"z"])


@pytest.mark.parametrize(
    ("data", "good_records"),
    [
        (b"a\nb\r\nc\n", 1),  # an LF file with one CRLF line
        (b"a\r\nb\nc\r\n", 1),  # a CRLF file with one LF line
        (b"a\r\nb\rc\r\n", 1),  # a CRLF file with a bare CR
        (b"a\r\nb\r", 1),  # a CRLF file ending in a bare CR
        (b"a\rb\r\n", 2),  # a CR file with a CRLF line: the LF starts a bad record
        (b"a\rb\nc", 1),  # a CR file with an LF line
        (b"a,\r\nb\n", 1),
        (b"a,b\n,\r\n", 1),
    ],
)
async def test_mixed_line_endings_are_malformed(data: bytes, good_records: int) -> None:
    result = await read(data)
    assert result[-1] == FAILED
    assert len(result) == good_records + 1


async def test_record_separator_comes_from_the_first_line_ending_even_inside_quotes() -> None:
    # Ruby looks for it without regard to quotes: here it is CRLF, so the LF after is stray.
    assert await read(b'"a\r\nb"\nc\n') == [FAILED]
    assert await read(b'"a\r\nb"\r\nc\r\n') == numbered([b"a\r\nb"], [b"c"])


# --- BOM and column separator (§4.1) --------------------------------------------------------


async def test_conformance_17_bom_is_skipped() -> None:
    data = UTF8_BOM + b"vendor_guid,object_type,title\ns\xc3\xb8ren,group,S\xc3\xb8ren\n"
    expected = numbered([b"vendor_guid", b"object_type", b"title"], [b"s\xc3\xb8ren", b"group", b"S\xc3\xb8ren"])
    assert await read(data) == expected
    assert await read(data, cuts=[1]) == await read(data, cuts=[2]) == expected


async def test_only_a_bom_yields_no_records() -> None:
    assert await read(UTF8_BOM) == []
    assert await read(UTF8_BOM, cuts=[1, 2]) == []


async def test_bom_only_at_the_very_start() -> None:
    assert await read(b"a\n" + UTF8_BOM + b"b\n") == numbered([b"a"], [UTF8_BOM + b"b"])
    assert await read(UTF8_BOM + UTF8_BOM + b"a") == numbered([UTF8_BOM + b"a"])
    assert await read(b"\xef\xbba\n") == numbered([b"\xef\xbba"])


async def test_bom_then_line_ending() -> None:
    assert await read(UTF8_BOM + b"\n") == numbered([])
    assert await read(UTF8_BOM + b"\r\na\r\n") == numbered([], [b"a"])


async def test_conformance_27_semicolon_separator() -> None:
    data = (
        b"vendor_guid;object_type;title;parent_guids;ratings;;;\n"
        b"frac;group;Fractions, decimals and percents;;;;;\n"
        b"cmp;outcome;Compare fractions;frac;2;Yes;0;No\n"
    )
    assert await read(data) == numbered(
        [b"vendor_guid", b"object_type", b"title", b"parent_guids", b"ratings", None, None, None],
        [b"frac", b"group", b"Fractions, decimals and percents", None, None, None, None, None],
        [b"cmp", b"outcome", b"Compare fractions", b"frac", b"2", b"Yes", b"0", b"No"],
    )


async def test_bom_and_semicolons() -> None:
    assert await read(UTF8_BOM + b'a;"b;c";d\r\n"1,2";;"x""y"\r\n') == numbered(
        [b"a", b"b;c", b"d"], [b"1,2", None, b'x"y']
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a;b,c\n", [[b"a;b", b"c"]]),  # a tie keeps ','
        (b"a,b\n;;;;\n", [[b"a", b"b"], [b";;;;"]]),  # only the first line counts
        (b'"a,b";c;d\n', [[b"a,b", b"c", b"d"]]),
        (b'"x;y";z,w\n', [[b"x;y", b"z,w"]]),  # separators inside quotes count too
        (b'"a;b",c\n', [[b"a;b", b"c"]]),
        (b"a;b\r\nc,d,e\r\n", [[b"a", b"b"], [b"c,d,e"]]),
        (b"a\tb\tc\n", [[b"a\tb\tc"]]),  # no other separator is recognised
    ],
)
async def test_column_separator(data: bytes, expected: list[Cells]) -> None:
    assert await read(data) == numbered(*expected)


async def test_cr_only_file_first_line_runs_to_the_first_lf() -> None:
    # Canvas counts separators in `readline` (to the first LF): in a CR file, the whole file.
    data = b"a,b\rc;d;e\rf;g\r"
    assert await read(data) == numbered([b"a,b"], [b"c", b"d", b"e"], [b"f", b"g"])
    assert await read(b"a,b\rc;d\r") == numbered([b"a", b"b"], [b"c;d"])


# --- chunk boundaries -----------------------------------------------------------------------

SAMPLES = [
    b"vendor_guid,object_type,title\no1,outcome,First\n\n,,\no2,outcome,\n\no3,outcome,Third\n",
    UTF8_BOM + b'a;b;c\r\n"x;\r\n""y""";;\r\n\r\nlast;\xc3\xa9;""',
    b'a,b\r"c\rd",e\r\r"",\r',
    b'h\n"multi\nline\n\nfield",x\n"a""b",""\nend',
    b'h\n"one"\n"two"\r\nthree\n',
    b'h,i\nok,ok\nTi"tle,x\n',
    b'h\n"never closed\nline\n',
    UTF8_BOM,
    b"",
    b"\n\n\n",
]


@pytest.mark.parametrize("data", SAMPLES)
async def test_every_single_cut_gives_the_same_result(data: bytes) -> None:
    whole = await read(data)
    for cut in range(1, len(data)):
        assert await read(data, cuts=[cut]) == whole, cut


@pytest.mark.parametrize("data", SAMPLES)
async def test_one_byte_chunks_give_the_same_result(data: bytes) -> None:
    assert await read(data, cuts=range(1, len(data))) == await read(data)


async def test_random_cuts_of_a_larger_file() -> None:
    rng = random.Random(4180)
    data = b"".join([SAMPLES[0], SAMPLES[3], b'\n"x\n\n",""\n'] * 30)
    whole = await read(data)
    assert whole[-1] != FAILED and len(whole) > 100
    for _ in range(50):
        cuts = rng.sample(range(1, len(data)), rng.randint(1, 60))
        assert await read(data, cuts=cuts) == whole


async def test_long_line_in_many_small_chunks() -> None:
    value = b"x" * 200_000
    data = b"h\n" + value + b"," + b'"' + value + b'"\n'
    assert await read(data, cuts=range(7, len(data), 7)) == numbered([b"h"], [value, value])


# --- properties -----------------------------------------------------------------------------

_cell_bytes = st.binary(max_size=12) | st.lists(
    st.sampled_from([b"a", b" ", b",", b";", b'"', b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff"]),
    max_size=8,
).map(b"".join)
_cells = st.lists(st.none() | _cell_bytes, max_size=6)
_header = st.lists(st.text("abc_ ", min_size=1, max_size=6).map(str.encode), min_size=2, max_size=6)


def _write_cell(cell: bytes | None, separator: bytes, quote_anyway: bool) -> bytes:
    if cell is None:
        return b""
    if quote_anyway or cell == b"" or any(c in cell for c in (b'"', separator, b"\r", b"\n")):
        return b'"' + cell.replace(b'"', b'""') + b'"'
    return cell


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=_header,
    rows=st.lists(_cells, max_size=8),
    separator=st.sampled_from([b",", b";"]),
    row_separator=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    final_line_ending=st.booleans(),
    quote_anyway=st.randoms(use_true_random=False),
    chunk_size=st.integers(1, 64),
)
async def test_round_trip(
    header: list[bytes],
    rows: list[Cells],
    separator: bytes,
    row_separator: bytes,
    bom: bool,
    final_line_ending: bool,
    quote_anyway: random.Random,
    chunk_size: int,
) -> None:
    """Valid CSV written from random cells reads back as those cells, however chunked."""
    records: list[Cells] = [list(header), *rows]
    lines = [
        separator.join(_write_cell(c, separator, quote_anyway.random() < 0.3) for c in record) for record in records
    ]
    data = (UTF8_BOM if bom else b"") + row_separator.join(lines)
    if final_line_ending or lines[-1] == b"":
        data += row_separator  # else an empty last line would be no record at all
    # Canvas picks the separator from the first physical line (to the first LF): with CR line
    # endings that can run past the header, and the cells there may tip the count.
    first_line = data.split(b"\n", 1)[0]
    assume((b";" if first_line.count(b";") > first_line.count(b",") else b",") == separator)
    # A single null cell is written as an empty line, which reads as a record of no cells.
    expected = [[] if record == [None] else record for record in records]
    result = await read(data, cuts=range(chunk_size, len(data), chunk_size))
    assert result == numbered(*expected)


_ALPHABET = [b"a", b" ", b",", b";", b'"', b'"', b"\r", b"\n", b"\r\n", b"\xef\xbb\xbf", b"\xc3\xa9"]


@settings(max_examples=2000, deadline=None)
@given(
    parts=st.lists(st.sampled_from(_ALPHABET), max_size=30),
    bom=st.booleans(),
    cuts=st.lists(st.integers(1, 60), max_size=4),
)
async def test_agrees_with_ruby_parser_transcription(parts: list[bytes], bom: bool, cuts: list[int]) -> None:
    data = (UTF8_BOM if bom else b"") + b"".join(parts)
    expected = _ruby_reference(data)
    assert await read(data, cuts=[c for c in cuts if c < len(data)]) == expected


async def test_reference_agrees_on_the_samples() -> None:
    for data in SAMPLES:
        assert await read(data) == _ruby_reference(data)


def _ruby_reference(data: bytes) -> Result:
    """Canvas's prelude + Ruby csv 3.2 `parse_quotable`, one byte at a time (test oracle)."""
    first_line = data[: data.find(b"\n") + 1] if b"\n" in data else data
    sep = b";" if first_line.count(b";") > first_line.count(b",") else b","
    if data.startswith(UTF8_BOM):
        data = data[3:]
    row_sep = b"\n"
    for i, byte in enumerate(data):
        if byte in b"\r\n":
            row_sep = b"\r\n" if data[i : i + 2] == b"\r\n" else data[i : i + 1]
            break
    pos = 0
    result: Result = []

    def run(excluded: bytes) -> bytes:
        nonlocal pos
        start = pos
        while pos < len(data) and data[pos] not in excluded:
            pos += 1
        return data[start:pos]

    def quotes() -> int:
        return len(run(b"".join(bytes([b]) for b in range(256) if b != ord('"'))))

    def column_value() -> tuple[bytes | None, str]:
        nonlocal pos
        unquoted = run(b'"\r\n' + sep)
        if unquoted:
            return unquoted, "unquoted"
        n = quotes()
        if not n:
            return None, ""
        if n % 2 == 0:
            return b'"' * ((n - 2) // 2), "quoted"
        value = b'"' * ((n - 1) // 2)
        while True:
            value += run(b'"')
            n = quotes()
            if not n:
                raise InvalidCsvFile()  # Unclosed quoted field
            if n % 2 == 1:
                return value + b'"' * ((n - 1) // 2), "quoted"
            value += b'"' * (n // 2)

    row: Cells = []
    try:
        while True:
            value, _kind = column_value()
            if data[pos : pos + 1] == sep:
                pos += 1
                row.append(value)
            elif data[pos : pos + len(row_sep)] == row_sep:
                pos += len(row_sep)
                if not row and value is None:
                    result.append((len(result) + 1, []))
                else:
                    result.append((len(result) + 1, [*row, value]))
                row = []
            elif pos >= len(data):
                if row or value is not None:
                    result.append((len(result) + 1, [*row, value]))
                break
            else:
                raise InvalidCsvFile()  # after quoted field, illegal quoting, stray CR/LF
    except InvalidCsvFile:
        result.append(FAILED)
    return result


async def _chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    ("data", "record"),
    [
        (b"a,b\n" + b"x" * 5000 + b"\nc,d\n", 2),  # one long line
        (b"a,b\n" + b'"' + b"y\n" * 3000 + b'"\n', 2),  # a quoted field over many lines
        (b"x" * 5000, 1),  # no line ending at all
    ],
)
async def test_records_larger_than_the_bound_stop_the_reader(data: bytes, record: int) -> None:
    seen = []
    with pytest.raises(RecordTooLarge) as raised:
        async for number, _ in read_records(_chunks_of(data, 512), max_record_bytes=4096):
            seen.append(number)
    assert str(raised.value) == f"Record {record} is larger than the maximum of 4096 bytes"
    assert seen == list(range(1, record))


async def test_records_within_the_bound_are_read() -> None:
    data = b"a,b\n" + b"x" * 4000 + b",y\n"
    records = [r async for r in read_records(_chunks_of(data, 512), max_record_bytes=4096)]
    assert [n for n, _ in records] == [1, 2]


async def test_a_large_file_with_cr_line_endings_is_read_in_bounded_memory() -> None:
    # Canvas's separator rule reads to the first LF, which a CR-only file never has; with a bound,
    # only the first `max_record_bytes` are looked at, and the file's short records all arrive.
    data = b"a;b\r" + b"x;y,z\r" * 3000
    records = [r async for r in read_records(_chunks_of(data, 512), max_record_bytes=4096)]
    assert len(records) == 3001
    assert records[-1] == (3001, [b"x", b"y,z"])

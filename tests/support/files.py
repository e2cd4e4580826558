"""Generated Outcomes CSV files with known content and known row errors."""

from __future__ import annotations

import io

HEADER = "vendor_guid,object_type,title,description,parent_guids,calculation_method,calculation_int,ratings,,,,\n"
# Every ERROR_EVERY-th data row is broken, in one of these ways (cells, exact message).
_ERRORS = (
    ("{guid},outcome,,desc,{parent},,,,,,", 'The "title" field is required'),
    (
        "{guid},outcome,Title {n},desc,{parent},median,,,,,",
        'Calculation method calculation_method must be one of the following: ["decaying_average", '
        '"weighted_average", "standard_decaying_average", "n_mastery", "highest", "latest", "average"]',
    ),
    (
        "{guid},outcome,Title {n},desc,missing-{n},,,,,,",
        'Parent references not found prior to this row: ["missing-{n}"]',
    ),
    (
        "{guid},outcome,Title {n},desc,{parent},,,1,Low,2,High",
        "Points for tier 2 must be less than points for prior tier (2.0 is greater than 1.0)",
    ),
)
ERROR_EVERY = 997


def outcomes_file(rows: int, *, title_prefix: str = "Outcome") -> tuple[bytes, list[tuple[int, str]], int, int]:
    """A file of `rows` data rows: a group every 50 rows, outcomes under it, errors spread through.

    Returns (bytes, expected errors in row order, groups written, outcomes written). Row numbers
    are CSV record numbers (the header is 1).
    """
    out = io.StringIO()
    out.write(HEADER)
    errors: list[tuple[int, str]] = []
    groups = outcomes = 0
    parent = ""
    for n in range(1, rows + 1):
        record = n + 1
        if n % 50 == 1:
            parent = f"g{n}"
            out.write(f'{parent},group,Group {n},"Group {n}, described",,,,,,,\n')
            groups += 1
        elif n % ERROR_EVERY == 0:
            template, message = _ERRORS[(n // ERROR_EVERY) % len(_ERRORS)]
            out.write(template.format(guid=f"o{n}", n=n, parent=parent) + "\n")
            errors.append((record, message.format(n=n)))
        else:
            out.write(f'o{n},outcome,{title_prefix} {n},"Do {n}, well",{parent},n_mastery,3,4,Exceeds,3,Meets\n')
            outcomes += 1
    return out.getvalue().encode(), errors, groups, outcomes

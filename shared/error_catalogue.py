"""Every message an import may report (spec §10, plus this service's documented bounds), each with
a stable machine code, the column to blame where there is one, and the offending value where the
message quotes it. The error report (api/import_errors.py) reads stored messages through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (code, column, pattern). A pattern's group `value` is the offending value the message quotes.
_ENTRIES: tuple[tuple[str, str | None, str], ...] = (
    ("file_empty", None, "File has no data"),
    ("file_without_outcomes", None, "File has no outcomes data"),
    ("fields_after_ratings", None, "Invalid fields after ratings: (?P<value>\\[.*\\])"),
    ("missing_required_fields", None, "Missing required fields: (?P<value>\\[.*\\])"),
    ("invalid_fields", None, "Invalid fields: (?P<value>\\[.*\\])"),
    ("invalid_csv", None, "Invalid CSV File"),
    ("database_error", None, "Database error \\(.*\\)"),
    ("unexpected_error", None, "An unexpected error has occurred: see error report \\d+.*"),
    ("invalid_utf8", None, 'Not a valid utf-8 string: "(?P<value>.*)"'),
    ("rating_points_missing", "ratings", "Points for rating tier \\d+ not present"),
    ("rating_points_invalid", "ratings", 'Invalid value for rating tier \\d+ threshold: "(?P<value>.*)"'),
    (
        "rating_points_order",
        "ratings",
        "Points for tier \\d+ must be less than points for prior tier \\(.* is greater than .*\\)",
    ),
    ("mastery_points_invalid", "mastery_points", 'Invalid value for mastery points: "(?P<value>.*)"'),
    (
        "friendly_description_too_long",
        "friendly_description",
        "Friendly description is too long \\(maximum is 255 characters\\)",
    ),
    ("vendor_guid_required", "vendor_guid", 'The "vendor_guid" field is required'),
    ("title_required", "title", 'The "title" field is required'),
    ("vendor_guid_spaces", "vendor_guid", 'The "vendor_guid" field must have no spaces'),
    ("workflow_state_invalid", "workflow_state", '"workflow_state" must be either "active" or "deleted"'),
    ("object_type_invalid", "object_type", 'Invalid object_type: "(?P<value>.*)"'),
    ("group_fields_invalid", None, "Invalid fields for a group: (?P<value>\\[.*\\])"),
    ("outcome_course_id", "course_id", 'Invalid fields for an outcome: \\["course_id"\\]'),
    ("other_course", "course_id", "Cannot import to other courses"),
    ("course_not_found", "course_id", "Course with canvas id (?P<value>.*) not found"),
    ("course_outside_account", "course_id", "Target course (?P<value>.*) is not a child of current account \\(.*\\)"),
    (
        "group_guid_taken",
        "vendor_guid",
        "Group with ID (?P<value>.*) already exists in another unrelated course or account \\(.*\\)",
    ),
    ("cyclic_reference", "parent_guids", "Cyclic reference detected when importing: (?P<value>.*)"),
    ("parent_not_found", "parent_guids", "Parent references not found prior to this row: (?P<value>\\[.*\\])"),
    ("group_many_parents", "parent_guids", "An outcome group can only have one parent"),
    ("group_repeated", "vendor_guid", 'Group "(?P<value>.*)" has already appeared in this import'),
    ("outcome_repeated", "vendor_guid", 'Outcome "(?P<value>.*)" has already appeared in this import'),
    ("group_id_not_found", "vendor_guid", "Outcome group with canvas id (?P<value>.*) not found"),
    ("outcome_id_not_found", "vendor_guid", 'Outcome with canvas id "(?P<value>.*)" not found'),
    (
        "outcome_guid_taken",
        "vendor_guid",
        "Outcome with ID (?P<value>.*) already exists in another unrelated course or account \\(.*\\)",
    ),
    (
        "outcome_other_context",
        "vendor_guid",
        "Cannot modify outcome from another context: .*; outcome must be modified in .*",
    ),
    (
        "calculation_method_invalid",
        "calculation_method",
        "Calculation method calculation_method must be one of the following: \\[.*\\]",
    ),
    (
        "calculation_int_range",
        "calculation_int",
        "Calculation int '(?P<value>.*)' is not a valid value for this calculation method."
        " The value must be between '.*' and '.*'",
    ),
    (
        "calculation_int_unused",
        "calculation_int",
        "Calculation int A calculation value is not used with this calculation method",
    ),
    ("short_description_too_long", "title", "Short description is too long \\(maximum is 255 characters\\)"),
    ("title_too_long", "title", "Title is too long \\(maximum is 255 characters\\)"),
    ("vendor_guid_too_long", "vendor_guid", "Vendor guid is too long \\(maximum is 255 characters\\)"),
    ("display_name_too_long", "display_name", "Display name is too long \\(maximum is 255 characters\\)"),
    ("description_too_long", "description", "Description is too long \\(maximum is 65535 characters\\)"),
    # This service's bounds (README, "Limits") and its controls.
    ("record_too_large", None, "Record \\d+ is larger than the maximum of \\d+ bytes"),
    ("too_many_columns", None, "Too many columns \\(maximum is \\d+\\)"),
    ("too_many_records", None, "Too many records \\(maximum is \\d+\\)"),
    ("nul_character", None, "A cell contains a NUL character, which cannot be stored"),
    ("cancelled", None, "The import was cancelled by an administrator"),
    # CASE packages (README, "CASE packages"). A CSV rule's message about an item or the CFDocument
    # comes prefixed with it (`CFItem "<identifier>": ...`) and is classified as the rule's.
    ("case_not_json", None, "The file is not valid JSON: .*"),
    ("case_not_a_package", None, "Not a CASE package: .*"),
    (
        "case_cycle",
        None,
        'Not a valid CASE package: CFItem "(?P<value>.*)" \\(CFItems\\[\\d+\\]\\) is isChildOf itself .*',
    ),
    ("case_too_many_reads", None, "The CASE package lists children so far before their parents .*"),
    ("case_parameters_invalid", None, "Invalid request parameters for the CASE import: .*"),
    (
        "case_parent_unknown",
        "parent_guids",
        'CFItem "(?P<value>.*)": its parent in CFAssociations\\[\\d+\\] \\(isChildOf\\) is not in the package',
    ),
    (
        "case_identifier_repeated",
        "vendor_guid",
        'CFItem "(?P<value>.*)": an earlier CFItem or the CFDocument has the same identifier',
    ),
    ("case_identifier_missing", "vendor_guid", "CFItems\\[\\d+\\] has no identifier"),
    ("case_item_not_object", None, "CFItems\\[\\d+\\] is not an object"),
    ("never_finished", None, "The import was started \\d+ times and stopped each time before it could finish .*"),
)
_PATTERNS = tuple((code, column, re.compile(pattern, re.DOTALL)) for code, column, pattern in _ENTRIES)
# How much of an offending value a report shows.
MAX_VALUE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Classified:
    code: str
    column: str | None
    value: str | None  # truncated to MAX_VALUE_CHARS


def classify(message: str) -> Classified | None:
    """The catalogue entry `message` is an instance of, or None if it is none of them."""
    for code, column, pattern in _PATTERNS:
        match = pattern.fullmatch(message)
        if match is not None:
            value = match.groupdict().get("value")
            return Classified(code, column, None if value is None else value[:MAX_VALUE_CHARS])
    about_item = _CASE_ITEM_PREFIX.fullmatch(message)
    return None if about_item is None else classify(about_item.group("rest"))


_CASE_ITEM_PREFIX = re.compile('(?:CFItem|CFDocument) ".*?": (?P<rest>.*)', re.DOTALL)

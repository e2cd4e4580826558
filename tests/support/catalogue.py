"""The message catalogue of spec §10 (plus this service's documented bounds) as patterns."""

from __future__ import annotations

import re

_ANY = ".*"
_MESSAGES = [
    "File has no data",
    "File has no outcomes data",
    "Invalid fields after ratings: \\[.*\\]",
    "Missing required fields: \\[.*\\]",
    "Invalid fields: \\[.*\\]",
    "Invalid CSV File",
    "Database error \\(.*\\)",
    "An unexpected error has occurred: see error report \\d+.*",
    'Not a valid utf-8 string: ".*"',
    "Points for rating tier \\d+ not present",
    'Invalid value for rating tier \\d+ threshold: ".*"',
    "Points for tier \\d+ must be less than points for prior tier \\(.* is greater than .*\\)",
    'Invalid value for mastery points: ".*"',
    "Friendly description is too long \\(maximum is 255 characters\\)",
    'The "vendor_guid" field is required',
    'The "title" field is required',
    'The "vendor_guid" field must have no spaces',
    '"workflow_state" must be either "active" or "deleted"',
    'Invalid object_type: ".*"',
    "Invalid fields for a group: \\[.*\\]",
    'Invalid fields for an outcome: \\["course_id"\\]',
    "Cannot import to other courses",
    "Course with canvas id .* not found",
    "Target course .* is not a child of current account \\(.*\\)",
    "Group with ID .* already exists in another unrelated course or account \\(.*\\)",
    "Cyclic reference detected when importing: .*",
    "Parent references not found prior to this row: \\[.*\\]",
    "An outcome group can only have one parent",
    'Group ".*" has already appeared in this import',
    'Outcome ".*" has already appeared in this import',
    "Outcome group with canvas id .* not found",
    'Outcome with canvas id ".*" not found',
    "Outcome with ID .* already exists in another unrelated course or account \\(.*\\)",
    "Cannot modify outcome from another context: .*; outcome must be modified in .*",
    "Calculation method calculation_method must be one of the following: \\[.*\\]",
    "Calculation int '.*' is not a valid value for this calculation method. The value must be between '.*' and '.*'",
    "Calculation int A calculation value is not used with this calculation method",
    "Short description is too long \\(maximum is 255 characters\\)",
    "Title is too long \\(maximum is 255 characters\\)",
    "Vendor guid is too long \\(maximum is 255 characters\\)",
    "Display name is too long \\(maximum is 255 characters\\)",
    "Description is too long \\(maximum is 65535 characters\\)",
    # This service's bounds (README, "Limits").
    "Record \\d+ is larger than the maximum of \\d+ bytes",
    "Too many columns \\(maximum is \\d+\\)",
    "Too many records \\(maximum is \\d+\\)",
    "A cell contains a NUL character, which cannot be stored",
]
CATALOGUE = re.compile("|".join(f"(?:{m})" for m in _MESSAGES), re.DOTALL)


def is_catalogue_message(message: str) -> bool:
    return CATALOGUE.fullmatch(message) is not None

"""Model rules that depend on the stored object: spec §5.2 (rubric), §5.4, §5.5, §10 validation.

Restates what `Outcomes::Import#import_outcome` assigns to a `LearningOutcome` and what the
model's callbacks and validations then do (`adjust_calculation_method`,
`infer_default_calculation_method`, `adjust_calculation_int`, the length/inclusion
validators, `sanitize_field :description` before save), with the feature flags off (§9).
Pure: the worker loads the stored state and saves what comes back.

Three entry points, by owner of the outcome (§5.1):
- owned by the import context (or new): `apply_outcome_row` -> state to save, or messages;
- owned by an ancestor context: `foreign_outcome_changes` -> [] (link only) or the changed
  storage names for `cannot_modify_message`; Canvas runs no callbacks or validation there;
- groups: `validate_group`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from worker.parse_caches import ParseCache, text_bytes
from worker.rows import GroupRow, OutcomeRow, Rating, WorkflowState, positional_builder
from worker.ruby import RUBY_SPACE_CHARS, inspect_list, is_present, to_i
from worker.sanitize import sanitize_html

CALCULATION_METHODS: Final = (
    "decaying_average",
    "weighted_average",
    "standard_decaying_average",
    "n_mastery",
    "highest",
    "latest",
    "average",
)
DEFAULT_CALCULATION_METHOD: Final = "decaying_average"
_VALID_CALCULATION_INTS: Final = {
    "decaying_average": range(1, 100),
    "weighted_average": range(1, 100),
    # Only reachable with the new-decaying-average flag on (then 50-99); off, the method is
    # stored as decaying_average before validation.
    "standard_decaying_average": range(1, 100),
    "n_mastery": range(1, 11),
    "highest": range(0),
    "latest": range(0),
    "average": range(0),
}
# (calculation_method, calculation_int) pairs that pass validation: the int in the method's
# range, or None for a method that takes none.
_VALID_CALCULATIONS: Final = frozenset(
    [(method, value) for method, values in _VALID_CALCULATION_INTS.items() for value in values]
    + [(method, None) for method, values in _VALID_CALCULATION_INTS.items() if not values]
)
_DEFAULT_CALCULATION_INTS: Final = {
    "decaying_average": 65,
    "weighted_average": 65,
    "standard_decaying_average": 65,
    "n_mastery": 5,
}
# `adjust_calculation_int`: switching an existing outcome to these silently drops its int.
_INT_DROPPING_METHODS: Final = frozenset({"highest", "latest"})

DEFAULT_RATINGS: Final = (
    Rating(5.0, "Exceeds Expectations"),
    Rating(3.0, "Meets Expectations"),
    Rating(0.0, "Does Not Meet Expectations"),
)
DEFAULT_MASTERY_POINTS: Final = 3.0
DEFAULT_POINTS_POSSIBLE: Final = 5.0

MAX_STRING_LENGTH: Final = 255
MAX_TEXT_LENGTH: Final = 65535

# `model.changes.keys` lists attributes in table column order (ActiveModel's mutation
# tracker walks the attribute set, built from the `learning_outcomes` columns), not in the
# order import.rb assigns them. `data` holds the rubric.
_CHANGE_ORDER: Final = (
    "short_description",
    "description",
    "data",
    "workflow_state",
    "vendor_guid",
    "display_name",
    "calculation_method",
    "calculation_int",
)


@dataclass(frozen=True, slots=True)
class OutcomeState:
    """The stored attributes of an outcome (Canvas `learning_outcomes` + its rubric)."""

    vendor_guid: str | None
    short_description: str
    """The title."""
    description: str | None
    """Sanitised HTML."""
    display_name: str | None
    calculation_method: str
    calculation_int: int | None
    ratings: tuple[Rating, ...]
    """Highest points first."""
    mastery_points: float | None
    points_possible: float | None
    """Points of the first tier; None when there are no tiers."""
    workflow_state: str
    """`active`, `deleted` (or `archived`, never set by imports)."""


build_outcome_state = positional_builder(OutcomeState)
"""`OutcomeState(...)` with positional arguments in field order, faster (worker/rows.py, positional_builder)."""


def new_outcome_state() -> OutcomeState:
    """What a new Canvas outcome starts from: default rubric 5/3/0, mastery 3, decaying_average/65."""
    return OutcomeState(
        vendor_guid=None,
        short_description="",
        description=None,
        display_name=None,
        calculation_method=DEFAULT_CALCULATION_METHOD,
        calculation_int=_DEFAULT_CALCULATION_INTS[DEFAULT_CALCULATION_METHOD],
        ratings=DEFAULT_RATINGS,
        mastery_points=DEFAULT_MASTERY_POINTS,
        points_possible=DEFAULT_POINTS_POSSIBLE,
        workflow_state=WorkflowState.ACTIVE.value,
    )


_NEW_OUTCOME: Final = new_outcome_state()
_ACTIVE: Final = WorkflowState.ACTIVE.value


def apply_outcome_row(row: OutcomeRow, stored: OutcomeState | None) -> OutcomeState | list[str]:
    """The state to save for an outcome owned by the import context (`stored` None = new).

    Returns the new state, or every validation message in Canvas's order (description,
    title as "Short description", vendor_guid, display_name, calculation_method,
    calculation_int). A `deleted` row keeps the stored workflow_state (new: active): the
    outcome is deleted only through its links (§7.1), so that stays the worker's job.
    When the row changes nothing, the result is `stored` itself (the same object), so callers
    can skip saving it.
    """
    is_new = stored is None
    base = _NEW_OUTCOME if stored is None else stored
    # Once per row, this builds at most one OutcomeState: a re-import mostly builds none.
    # The hot path writes out the small helpers (_keep_blank_or_replace, the validation of a
    # valid outcome) to save their calls; they stay the definition of the rules.
    if is_new:
        # For a new outcome the settled calculation depends on the two cells alone: cached.
        key = (row.calculation_method, row.calculation_int)
        settled = _new_calculation_cache.get(key)
        if settled is None:
            method, calculation_int = _assigned_calculation(row)
            settled = _settle_calculation(method, calculation_int, base, True)
            _NEW_CALCULATIONS.remember(key, settled, text_bytes(key))
        method, calculation_int = settled
    else:
        # For a stored outcome it depends on the two cells and the stored two: cached as well
        # (a re-import meets the same few combinations on every row).
        stored_key = (row.calculation_method, row.calculation_int, base.calculation_method, base.calculation_int)
        settled = _stored_calculation_cache.get(stored_key)
        if settled is None:
            method, calculation_int = _assigned_calculation(row)
            settled = _settle_calculation(method, calculation_int, base, False)
            _STORED_CALCULATIONS.remember(stored_key, settled, text_bytes(stored_key[:3]))
        method, calculation_int = settled
    description = row.raw_description
    if description is None or not description.strip(RUBY_SPACE_CHARS):
        kept = base.description
        if kept is None or not kept.strip(RUBY_SPACE_CHARS):
            description = kept  # both blank: the stored value stays
    display_name = row.display_name
    if display_name is None or not display_name.strip(RUBY_SPACE_CHARS):
        kept = base.display_name
        if kept is None or not kept.strip(RUBY_SPACE_CHARS):
            display_name = kept
    workflow_state = base.workflow_state if row.workflow_state is WorkflowState.DELETED else _ACTIVE
    rubric = _replaced_rubric(row, base)
    vendor_guid = row.vendor_guid
    title = row.title
    # What _validate_outcome accepts, in a few comparisons; anything else goes through it.
    if not (
        (method, calculation_int) in _VALID_CALCULATIONS
        and len(title) <= MAX_STRING_LENGTH
        and len(vendor_guid) <= MAX_STRING_LENGTH
        and (description is None or len(description) <= MAX_TEXT_LENGTH)
        and (display_name is None or len(display_name) <= MAX_STRING_LENGTH)
    ):
        errors = _validate_outcome(vendor_guid, title, description, display_name, method, calculation_int)
        if errors:
            return errors
    # Canvas sanitises before save, and only a changed value. rows.py has sanitised the row's
    # description already (the only value other than the stored one it can be here).
    if description is not None and description != base.description:
        description = row.description if row.description is not None else sanitize_html(description)
    if (
        rubric is None
        and not is_new
        and vendor_guid == base.vendor_guid
        and title == base.short_description
        and description == base.description
        and display_name == base.display_name
        and method == base.calculation_method
        and calculation_int == base.calculation_int
        and workflow_state == base.workflow_state
    ):
        return base
    ratings, mastery_points, points_possible = (
        (base.ratings, base.mastery_points, base.points_possible) if rubric is None else rubric
    )
    return build_outcome_state(
        vendor_guid,
        title,
        description,
        display_name,
        method,
        calculation_int,
        ratings,
        mastery_points,
        points_possible,
        workflow_state,
    )


def foreign_outcome_changes(row: OutcomeRow, stored: OutcomeState) -> list[str]:
    """For an outcome owned by an ancestor context: what the row would change (§5.1).

    Canvas assigns the row's values without running callbacks, validation or sanitising,
    then compares with the stored values. An empty list means "only update links"; a
    non-empty one lists storage names in Canvas's order for `cannot_modify_message`
    (a change of vendor_guid alone, from a `canvas_outcome:<id>` guid, is not reported).
    """
    assigned, rubric_replaced = _assign(row, stored)
    changed = _changed(stored, assigned, data_changed=rubric_replaced)
    return [] if changed == ["vendor_guid"] else changed


def changed_fields(before: OutcomeState, after: OutcomeState) -> list[str]:
    """Storage names of the attributes that differ, in Canvas's `changes.keys` order."""
    data_changed = (before.ratings, before.mastery_points, before.points_possible) != (
        after.ratings,
        after.mastery_points,
        after.points_possible,
    )
    return _changed(before, after, data_changed=data_changed)


def cannot_modify_message(fields: list[str], owner_name: str | None) -> str:
    """The §5.1 row error; `owner_name` None means a global outcome."""
    where = f'"{owner_name}"' if owner_name is not None else "the global context"
    changes = inspect_list(fields)
    return f"Cannot modify outcome from another context: {changes}; outcome must be modified in {where}"


def validate_group(row: GroupRow) -> list[str]:
    """Group model validation, in Canvas's order: vendor_guid, description, title."""
    errors = []
    if len(row.vendor_guid) > MAX_STRING_LENGTH:
        errors.append("Vendor guid is too long (maximum is 255 characters)")
    if is_present(row.raw_description) and len(row.raw_description) > MAX_TEXT_LENGTH:
        errors.append("Description is too long (maximum is 65535 characters)")
    if len(row.title) > MAX_STRING_LENGTH:
        errors.append("Title is too long (maximum is 255 characters)")
    return errors


def _assign(row: OutcomeRow, base: OutcomeState) -> tuple[OutcomeState, bool]:
    """The attributes as import.rb assigns them, before any model callback.

    Also returns whether the rubric was replaced (Canvas then changes `data` even when the
    new tiers happen to equal the old ones).
    """
    method, calculation_int = _assigned_calculation(row)
    rubric = _replaced_rubric(row, base)
    ratings, mastery_points, points_possible = (
        (base.ratings, base.mastery_points, base.points_possible) if rubric is None else rubric
    )
    assigned = OutcomeState(
        vendor_guid=row.vendor_guid,
        short_description=row.title,
        description=_keep_blank_or_replace(base.description, row.raw_description),
        display_name=_keep_blank_or_replace(base.display_name, row.display_name),
        calculation_method=method,
        calculation_int=calculation_int,
        ratings=ratings,
        mastery_points=mastery_points,
        points_possible=points_possible,
        workflow_state=base.workflow_state if row.workflow_state is WorkflowState.DELETED else _ACTIVE,
    )
    return assigned, rubric is not None


# (calculation_method cell, calculation_int cell) -> what import.rb assigns; files repeat a few.
# Every parse cache is bounded in bytes (worker/parse_caches.py): a cell may be 4 MiB long.
_CALCULATION_CACHE_LIMIT: Final = 1024
_CalculationCells = tuple[str | None, str | None]
_CALCULATIONS: Final = ParseCache[_CalculationCells, tuple[str, int | None]](_CALCULATION_CACHE_LIMIT)
_calculation_cache: Final = _CALCULATIONS.entries
# The same cells -> what a new outcome stores once the callbacks ran (_settle_calculation).
_NEW_CALCULATIONS: Final = ParseCache[_CalculationCells, tuple[str, int | None]](_CALCULATION_CACHE_LIMIT)
_new_calculation_cache: Final = _NEW_CALCULATIONS.entries
# (the two cells, the stored calculation_method and calculation_int) -> what a stored outcome keeps.
_STORED_CALCULATIONS: Final = ParseCache[tuple[str | None, str | None, str, int | None], tuple[str, int | None]](
    _CALCULATION_CACHE_LIMIT
)
_stored_calculation_cache: Final = _STORED_CALCULATIONS.entries


def _assigned_calculation(row: OutcomeRow) -> tuple[str, int | None]:
    """calculation_method and calculation_int as import.rb assigns them (blank -> the defaults)."""
    key = (row.calculation_method, row.calculation_int)
    assigned = _calculation_cache.get(key)
    if assigned is None:
        method = row.calculation_method if row.calculation_method is not None else DEFAULT_CALCULATION_METHOD
        if row.calculation_int is not None:
            assigned = (method, to_i(row.calculation_int))
        else:
            assigned = (method, _DEFAULT_CALCULATION_INTS.get(method))
        _CALCULATIONS.remember(key, assigned, text_bytes(key))
    return assigned


def _keep_blank_or_replace(stored: str | None, given: str | None) -> str | None:
    """Canvas `infer_nil_value`: both blank keeps the stored value, else the row's wins."""
    if not is_present(given) and not is_present(stored):
        return stored
    return given


Rubric = tuple[tuple[Rating, ...], float | None, float | None]
"""(ratings, mastery_points, points_possible)."""


def _replaced_rubric(row: OutcomeRow, base: OutcomeState) -> Rubric | None:
    """Canvas `rubric_criterion=`, when the row replaces the rubric (else None): the row's tiers,
    highest first; mastery defaults to the top."""
    ratings_changed = bool(row.ratings) and (not row.tiers_complete or row.ratings != base.ratings)
    mastery_changed = row.mastery_points is not None and row.mastery_points != base.mastery_points
    if not (ratings_changed or mastery_changed):
        return None
    tiers = _highest_first(row.ratings)
    top = tiers[0].points if tiers else None
    mastery = row.mastery_points if row.mastery_points is not None else top
    return tiers, mastery, top


# Rows with the same rating cells share one ratings tuple (rows.py), so this is worked out once
# per scale. Keyed by id(): an entry holds its tuple, so the id is not reused while it is cached.
_HIGHEST_FIRST: Final = ParseCache[int, tuple[tuple[Rating, ...], tuple[Rating, ...]]](_CALCULATION_CACHE_LIMIT)
_highest_first_cache: Final = _HIGHEST_FIRST.entries


def _highest_first(ratings: tuple[Rating, ...]) -> tuple[Rating, ...]:
    """Ruby's sort_by (a stable sort here) then reverse: tiers with equal points swap order."""
    cached = _highest_first_cache.get(id(ratings))
    if cached is not None and cached[0] is ratings:
        return cached[1]
    # rows.py gives tiers whose points never increase, so without equal points this is a no-op.
    if all(ratings[i].points > ratings[i + 1].points for i in range(len(ratings) - 1)):
        tiers = ratings
    else:
        tiers = tuple(reversed(sorted(ratings, key=lambda rating: rating.points)))
    # `tiers` holds the same Rating objects: the descriptions weigh once.
    _HIGHEST_FIRST.remember(id(ratings), (ratings, tiers), text_bytes(r.description for r in ratings))
    return tiers


def _settle_calculation(
    method: str, calculation_int: int | None, base: OutcomeState, is_new: bool
) -> tuple[str, int | None]:
    """The before_validation callbacks on calculation_method/int (flags off)."""
    if method == "standard_decaying_average":
        method = DEFAULT_CALCULATION_METHOD
    method_unchanged = not is_new and method == base.calculation_method
    if (is_new or method_unchanged) and calculation_int is None:
        calculation_int = _DEFAULT_CALCULATION_INTS.get(method)
    # An existing outcome switching method: a kept int, or a switch to highest/latest,
    # silently becomes the new method's default instead of failing validation.
    if (
        not is_new
        and not method_unchanged
        and (calculation_int == base.calculation_int or method in _INT_DROPPING_METHODS)
    ):
        calculation_int = _DEFAULT_CALCULATION_INTS.get(method)
    return method, calculation_int


def _validate_outcome(
    vendor_guid: str | None,
    short_description: str,
    description: str | None,
    display_name: str | None,
    method: str,
    calculation_int: int | None,
) -> list[str]:
    errors = []
    if description is not None and len(description) > MAX_TEXT_LENGTH and is_present(description):
        errors.append("Description is too long (maximum is 65535 characters)")
    if len(short_description) > MAX_STRING_LENGTH:
        errors.append("Short description is too long (maximum is 255 characters)")
    if vendor_guid is not None and len(vendor_guid) > MAX_STRING_LENGTH:
        errors.append("Vendor guid is too long (maximum is 255 characters)")
    if display_name is not None and len(display_name) > MAX_STRING_LENGTH and is_present(display_name):
        errors.append("Display name is too long (maximum is 255 characters)")
    valid_ints = _VALID_CALCULATION_INTS.get(method)
    if valid_ints is None:
        errors.append(
            "Calculation method calculation_method must be one of the following: "
            + inspect_list(CALCULATION_METHODS)
        )
    elif not valid_ints:
        if calculation_int is not None:
            errors.append("Calculation int A calculation value is not used with this calculation method")
    elif calculation_int is None or calculation_int not in valid_ints:
        errors.append(
            f"Calculation int '{_ruby_to_s(calculation_int)}' is not a valid value for this "
            f"calculation method. The value must be between '{valid_ints.start}' and '{valid_ints.stop - 1}'"
        )
    return errors


def _ruby_to_s(value: int | None) -> str:
    """Ruby interpolation: nil prints as an empty string."""
    return "" if value is None else str(value)


def _changed(before: OutcomeState, after: OutcomeState, *, data_changed: bool) -> list[str]:
    values = {
        "short_description": (before.short_description, after.short_description),
        "description": (before.description, after.description),
        "workflow_state": (before.workflow_state, after.workflow_state),
        "vendor_guid": (before.vendor_guid, after.vendor_guid),
        "display_name": (before.display_name, after.display_name),
        "calculation_method": (before.calculation_method, after.calculation_method),
        "calculation_int": (before.calculation_int, after.calculation_int),
    }
    return [
        name
        for name in _CHANGE_ORDER
        if (data_changed if name == "data" else values[name][0] != values[name][1])
    ]

"""Canvas's OutcomeGroup, Outcome and OutcomeLink JSON (spec §11, Canvas lib/api/v1/outcome.rb).

Pure functions of the loaded rows and of what the caller may do; key order follows Canvas's.
Feature flags are off (spec §9), so an outcome shows its own calculation settings and rubric,
and nothing is ever assessed here (no results exist).
"""

from __future__ import annotations

from typing import Any

from shared.db.outcomes import Outcome, OutcomeGroup, OutcomeLink
from shared.models import ContextType

# Canvas includes calculation_int only for the methods that use it.
METHODS_WITH_INT = frozenset({"decaying_average", "weighted_average", "standard_decaying_average", "n_mastery"})


def context_path(context_type: ContextType, context_id: int) -> str:
    """`/api/v1/accounts/1` or `/api/v1/courses/1`."""
    segment = "accounts" if context_type is ContextType.account else "courses"
    return f"/api/v1/{segment}/{context_id}"


def group_url(group: OutcomeGroup) -> str:
    return f"{context_path(group.context_type, group.context_id)}/outcome_groups/{group.id}"


def outcome_group_json(group: OutcomeGroup, *, can_edit: bool, full: bool = True) -> dict[str, Any]:
    """Abbreviated: id, title, vendor_guid, urls, can_edit. Full adds import_url, the parent
    (abbreviated, key absent for a root), context and description."""
    url = group_url(group)
    body: dict[str, Any] = {
        "id": group.id,
        "title": group.title,
        "vendor_guid": group.vendor_guid,
        "url": url,
        "subgroups_url": f"{url}/subgroups",
        "outcomes_url": f"{url}/outcomes",
        "can_edit": can_edit,
    }
    if full:
        body["import_url"] = f"{url}/import"
        if group.parent is not None:
            # The parent is in the same context, so the caller's right there is the same.
            body["parent_outcome_group"] = outcome_group_json(group.parent, can_edit=can_edit, full=False)
        body["context_id"] = group.context_id
        body["context_type"] = group.context_type.value
        body["description"] = group.description
    return body


def outcome_json(outcome: Outcome, *, can_edit: bool, full: bool = True) -> dict[str, Any]:
    """Abbreviated: identity, title, url, can_edit. Full adds the description, calculation
    settings (calculation_int only where the method uses one) and rubric, ratings highest first
    with points as floats."""
    body: dict[str, Any] = {
        "id": outcome.id,
        "context_type": None if outcome.context_type is None else outcome.context_type.value,
        "context_id": outcome.context_id,
        "vendor_guid": outcome.vendor_guid,
        "display_name": outcome.display_name,
        "title": outcome.title,
        "url": f"/api/v1/outcomes/{outcome.id}",
        "can_edit": can_edit,
        "has_updateable_rubrics": False,
    }
    if full:
        body["description"] = outcome.description
        body["friendly_description"] = outcome.friendly_description
        body["calculation_method"] = outcome.calculation_method
        if outcome.calculation_method in METHODS_WITH_INT:
            body["calculation_int"] = outcome.calculation_int
        body["points_possible"] = outcome.points_possible
        body["mastery_points"] = outcome.mastery_points
        body["ratings"] = [{"description": r.description, "points": float(r.points)} for r in outcome.ratings]
        body["assessed"] = False
    return body


def outcome_link_json(
    link: OutcomeLink,
    *,
    can_manage: bool,
    can_edit_outcome: bool,
    full_outcome: bool = False,
    full_group: bool = False,
) -> dict[str, Any]:
    """An active link: the group's context, url, group and outcome (abbreviated unless asked),
    can_unlink (a link may always be removed here: there are no alignments) and assessed."""
    return {
        "context_type": link.context_type.value,
        "context_id": link.context_id,
        "url": f"{context_path(link.context_type, link.context_id)}/outcome_groups/{link.group.id}"
        f"/outcomes/{link.outcome.id}",
        "outcome_group": outcome_group_json(link.group, can_edit=can_manage, full=full_group),
        "outcome": outcome_json(link.outcome, can_edit=can_edit_outcome, full=full_outcome),
        "can_unlink": can_manage,
        "assessed": False,
    }

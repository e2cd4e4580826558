"""What an import did, counted as its rows are applied: the summary of its OutcomeImport JSON.

A group or an outcome can be named by one row of an import at most (a second row is an error,
spec §6.2 and §6.3), so counting each row by what it did to its object counts each object once:
- created: the row made a new group or outcome (whatever state the row gave it);
- deleted: it was active and the row deleted it;
- restored: it was deleted and the row made it active again;
- updated: any other change of what is stored (title, description, parent, ratings, ...);
- unchanged: the row matched what was stored (a re-import), or named an outcome of another
  context without changing it (to link it).
Deleting an existing group also deletes what is under it (spec §7.3): the groups and outcomes
deleted with it count as deleted too, and their links as removed. Links count as added when a
row makes a new one or brings a deleted one back, and as removed when one is deleted. Rows with
errors count as rejected, once each however many errors they have; they change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTIVE = "active"
DELETED = "deleted"


@dataclass(slots=True)
class ChangeCounts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    restored: int = 0
    unchanged: int = 0

    def count(self, before: str | None, after: str, changed: bool) -> None:
        """One object a row applied to: `before` is its state before the row (None: it did not
        exist), `after` its state after, `changed` whether anything stored changed."""
        if before is None:
            self.created += 1
        elif before == ACTIVE and after == DELETED:
            self.deleted += 1
        elif before == DELETED and after == ACTIVE:
            self.restored += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1

    def as_json(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "restored": self.restored,
            "unchanged": self.unchanged,
        }


@dataclass(slots=True)
class ImportSummary:
    groups: ChangeCounts = field(default_factory=ChangeCounts)
    outcomes: ChangeCounts = field(default_factory=ChangeCounts)
    links_added: int = 0
    links_removed: int = 0
    rows_rejected: int = 0
    # A CASE import's associations that are not isChildOf (or name no item of the package): None otherwise.
    case_associations_skipped: int | None = None

    def count_subtree_deletion(self, groups: int, outcomes: int, links: int) -> None:
        """What deleting an existing group's subtree deleted besides the group itself."""
        self.groups.deleted += groups
        self.outcomes.deleted += outcomes
        self.links_removed += links

    def as_json(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "groups": self.groups.as_json(),
            "outcomes": self.outcomes.as_json(),
            "links": {"added": self.links_added, "removed": self.links_removed},
            "rows_rejected": self.rows_rejected,
        }
        if self.case_associations_skipped is not None:
            summary["case_associations_skipped"] = self.case_associations_skipped
        return summary

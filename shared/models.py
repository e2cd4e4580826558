"""Plain data shared by the API and the worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any


class ImportState(str, Enum):
    created = "created"
    importing = "importing"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def finished(self) -> bool:
        return self in (ImportState.succeeded, ImportState.failed)


class ContextType(str, Enum):
    account = "Account"
    course = "Course"


# Canvas exposes at most this many [row, message] pairs on an import (spec §3.1).
EXPOSED_ERRORS = 25


def canvas_time(value: datetime | None) -> str | None:
    """Canvas's timestamp format: UTC, whole seconds, `Z`, the year in four digits (strftime's %Y has no padding)."""
    return None if value is None else value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class UserSummary:
    id: int
    name: str
    sortable_name: str
    short_name: str
    created_at: datetime

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": canvas_time(self.created_at),
            "sortable_name": self.sortable_name,
            "short_name": self.short_name,
        }


@dataclass(frozen=True, slots=True)
class OutcomeImport:
    id: int
    context_type: ContextType
    context_id: int
    root_account_id: int
    workflow_state: ImportState
    progress: int
    import_type: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    user: UserSummary | None
    target_group_id: int | None = None

    def as_canvas_json(self, errors: list[tuple[int, str]]) -> dict[str, Any]:
        """The OutcomeImport JSON of spec §3.1; `errors` are the first 25 by row."""
        body: dict[str, Any] = {
            "id": self.id,
            "created_at": canvas_time(self.created_at),
            "ended_at": canvas_time(self.ended_at),
            "updated_at": canvas_time(self.updated_at),
            "workflow_state": self.workflow_state.value,
            "progress": self.progress,
            "data": {"import_type": self.import_type},
            "processing_errors": [[row, message] for row, message in errors],
        }
        if self.user is not None:
            body["user"] = self.user.as_canvas_json()
        return body

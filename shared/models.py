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
    dry_run: bool = False
    errors_found: int = 0  # row errors found so far, stored or not (a failed import: its one error)
    summary: dict[str, Any] | None = None  # what it did, once it has succeeded (worker/summary.py)

    @property
    def errors_path(self) -> str:
        """Where its error report is (the API's path, relative like the `url`s of Canvas's JSON)."""
        segment = "accounts" if self.context_type is ContextType.account else "courses"
        return f"/api/v1/{segment}/{self.context_id}/outcome_imports/{self.id}/errors"

    def as_canvas_json(self, errors: list[tuple[int, str]]) -> dict[str, Any]:
        """The OutcomeImport JSON of spec §3.1; `errors` are the first 25 by row. Our extensions
        follow Canvas's keys: clients that know only Canvas's ignore them."""
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
        body["dry_run"] = self.dry_run
        body["error_count"] = self.errors_found
        body["errors_url"] = self.errors_path
        body["summary"] = self.summary
        return body

"""The error tree: one root, each docstring is the default message."""

from __future__ import annotations


class OutcomeImportsError(Exception):
    """Unexpected error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)

    @property
    def message(self) -> str:
        return str(self)


class ConfigurationError(OutcomeImportsError):
    """Invalid configuration."""


class SchemaMismatch(OutcomeImportsError):
    """The database's schema does not match this code's migrations; the process must not start."""


class SchemaAheadOfCode(SchemaMismatch):
    """The database schema is newer than this code."""


class MigrationChanged(SchemaMismatch):
    """A migration this database applied no longer matches its file."""


class UploadTooLarge(OutcomeImportsError):
    """The upload exceeds the configured size limit."""


class StorageUnavailable(OutcomeImportsError):
    """Object storage is unavailable."""


class StoredObjectNotFound(OutcomeImportsError):
    """The stored object does not exist."""


class DatabaseUnavailable(OutcomeImportsError):
    """The database is unavailable."""


class DatabaseBusy(DatabaseUnavailable):
    """The database is busy: no connection of the pool came free in time."""


class QueueUnavailable(OutcomeImportsError):
    """The job queue is unavailable."""


class ImportFailed(OutcomeImportsError):
    """A file-level problem: the import ends `failed` with this exact message on row 1."""


class InvalidCsvFile(ImportFailed):
    """Invalid CSV File"""


class ImportCancelled(ImportFailed):
    """The import was cancelled by an administrator"""


class WebhookUrlRefused(OutcomeImportsError):
    """The webhook URL is refused."""


class WebhookAddressRefused(OutcomeImportsError):
    """The webhook URL leads to an address deliveries must not reach."""

"""Errors that reach the user as one clear line."""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""

    exit_code = 2


class DataError(HarnessError):
    """Bad dataset input: names the file, row and field."""

    def __init__(
        self, message: str, *, path: str = "", row: int | None = None, field: str | None = None
    ) -> None:
        where = []
        if path:
            where.append(path)
        if row is not None:
            where.append(f"row {row}")
        if field:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.field, self.detail = path, row, field, message


class ConfigError(HarnessError):
    """A bad option, spec or name (adapter, scorer, template, run)."""


class StoreError(HarnessError):
    """The database cannot be read or written after it opened: locked by another process,
    read-only, on a full disk, or damaged."""


class AdapterError(HarnessError):
    """A model endpoint cannot be used (unreachable, rejected key, missing model)."""


class RetryableError(Exception):
    """A provider failure worth retrying (429, 5xx, timeout, connection error)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """A provider failure that another attempt will not fix (400, 404, bad request)."""


class RunInterrupted(HarnessError):
    """A run (or a rescore of one) stopped by Ctrl-C or a signal; what finished is stored,
    nothing half-written."""

    exit_code = 130

"""One error hierarchy for the whole engine.

Every error carries the HTTP status the serving gateway answers with, so the mapping from domain failure to
API response is written once (in the gateway) and the CLI can print the same message without a traceback.
"""

from __future__ import annotations


class C360Error(Exception):
    """Base of every error c360 raises on purpose."""

    status_code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(C360Error):
    """The workspace configuration is invalid; raised before any data is read."""

    status_code = 500


class ValidationError(C360Error):
    """Input (a request body, a CLI argument, a record) is malformed."""

    status_code = 422


class NotFoundError(C360Error):
    """The thing asked for does not exist (an unknown customer, a missing file)."""

    status_code = 404


class StoreUnavailableError(C360Error):
    """A backing store (lake, Redis, Cosmos DB, PostgreSQL) cannot be reached; names the store and address."""

    status_code = 503


class IngestError(C360Error):
    """A whole file could not be read (wrong encoding, truncated, unreadable path)."""

    status_code = 422

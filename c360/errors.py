"""One error hierarchy for the whole engine.

Every error carries the HTTP status the serving gateway answers with, so the mapping from domain failure to
API response is written once (in the gateway), and the exit code `c360` ends with, so a script or a scheduler
can tell what failed without parsing the message (the table is in `c360 --help`):

    1  an internal error (a bug, or a C360Error without a more precise kind)
    2  usage, validation or configuration: fix the command line or c360.yaml
    3  not found: the customer, file or table asked for does not exist, or no single customer holds the
       identifier asked for (several do: look the profile up by customer id)
    4  a store or the lake is unavailable: check the endpoint named in the message
    5  ingest or data: a whole file could not be read
    6  busy: another command holds the workspace lease (c360.io.lease); wait, or pass --wait SECONDS
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations


class C360Error(Exception):
    """Base of every error c360 raises on purpose."""

    status_code: int = 500
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(C360Error):
    """The workspace configuration is invalid; raised before any data is read."""

    status_code = 500
    exit_code = 2


class ValidationError(C360Error):
    """Input (a request body, a CLI argument, a record) is malformed."""

    status_code = 422
    exit_code = 2


class NotFoundError(C360Error):
    """The thing asked for does not exist (an unknown customer, a missing file)."""

    status_code = 404
    exit_code = 3


class AmbiguousIdentifierError(NotFoundError):
    """Several customers hold the identifier asked for (a family's tablet, a couple's email), so it names
    nobody: no single profile holds it. A NotFoundError, so a caller that falls back on an unknown identifier
    (an anonymous visitor, the identity index next) does so here too; the API answers 409, not 404, because
    the identifier is known, and asking by customer id resolves it."""

    status_code = 409


class StoreUnavailableError(C360Error):
    """A backing store (lake, Redis, Cosmos DB, PostgreSQL) cannot be reached; names the store and address."""

    status_code = 503
    exit_code = 4


class IngestError(C360Error):
    """A whole file could not be read (wrong encoding, truncated, unreadable path)."""

    status_code = 422
    exit_code = 5


class LeaseHeldError(C360Error):
    """Another command holds the workspace lease (or this one lost it); the message names the holder.

    Its own exit code, so a scheduler can retry later instead of treating the run as failed.
    """

    status_code = 409
    exit_code = 6

"""Erasure requests made over HTTP: `DELETE /v1/customers/{id}` queues one, a worker erases, anyone reads its
status.

An erasure rewrites lake files and must hold the workspace lease, so it cannot run inside a request. The API
writes a request record (`_state/erasure_requests/<request id>.json`: the customer id, when, which key) and
answers 202 with the request's id; a worker thread in the serving process takes every queued request, holds
the workspace lease (waiting while a pipeline run holds it), erases them all in one pass through the
workspace's erasure plan and marks each record done with the erasure's id and audit path, replacing the
customer id with its salted hash. A finished record moves to `_state/erasure_requests/finished/`, so a poll
reads the open requests only, however many were ever made (an older c360's finished records, or one left by a
crash between the two writes of `finish`, are moved there by the next poll). The records live in the lake, so
every replica answers the status of a request another replica took, and a request survives a restart: a worker
starting up takes whatever is still queued or was running (the erasure journal finishes an interrupted pass).

Which steps an erasure runs is not known here: the caller passes `erase(ws, customer_ids) -> [ErasureReport]`
(`c360.erasure_plan.erase_or_resume`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from c360.errors import LeaseHeldError, NotFoundError
from c360.io.lease import lake_lease
from c360.privacy.erase import ErasureReport
from c360.privacy.suppression import CUSTOMER, salted_hash, workspace_salt
from c360.workspace import Workspace

log = logging.getLogger(__name__)

REQUESTS_DIR = ("_state", "erasure_requests")
FINISHED = "finished"
"""Subfolder of REQUESTS_DIR for done and failed records."""
Status = Literal["queued", "running", "done", "failed"]
EraseFn = Callable[[Workspace, Sequence[str]], list[ErasureReport]]
LEASE_WAIT_S = 5.0
"""How long one attempt waits for the workspace lease; the worker tries again until it gets it."""


@dataclass
class ErasureRequest:
    request_id: str
    status: Status
    requested_at: str
    key_id: str
    customer_id: str | None
    """Until the erasure is done; then None and `customer_hash` holds the salted hash."""
    customer_hash: str | None = None
    erasure_id: str | None = None
    audit_path: str | None = None
    finished_at: str | None = None
    error: str | None = None
    """A code when `failed` (`not_found`: nobody with this id by the time the worker looked)."""

    def public(self) -> dict[str, Any]:
        """What the status endpoint shows: no customer id (the caller knows it; a log or proxy need not)."""
        doc = asdict(self)
        doc.pop("customer_id")
        return doc


def new_request_id() -> str:
    return f"er_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(6)}"


class ErasureRequests:
    """The request records of one workspace, in its lake."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.lake = ws.lake

    def _path(self, request_id: str, finished: bool = False) -> str:
        return self.lake.path(*REQUESTS_DIR, *((FINISHED,) if finished else ()), f"{request_id}.json")

    def save(self, request: ErasureRequest) -> None:
        """Write the record where its status keeps it: open (queued, running) or `finished/`."""
        finished = request.status in ("done", "failed")
        path = self._path(request.request_id, finished)
        self.lake.replace_text(path, json.dumps(asdict(request), sort_keys=True))

    def submit(self, customer_id: str, key_id: str) -> ErasureRequest:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        request = ErasureRequest(new_request_id(), "queued", now, key_id, customer_id)
        self.save(request)
        return request

    def get(self, request_id: str) -> ErasureRequest:
        if not request_id.startswith("er_") or not request_id.replace("_", "").isalnum():
            raise NotFoundError("no erasure request with this id")
        for path in (self._path(request_id, finished=True), self._path(request_id)):  # finished wins
            try:
                return ErasureRequest(**json.loads(self.lake.read_text(path)))
            except FileNotFoundError:
                continue
        raise NotFoundError("no erasure request with this id")

    def pending(self) -> list[ErasureRequest]:
        """Queued or interrupted while running, oldest first (ids start with their time). Reads the open
        records only; a finished one still among them is moved to `finished/`."""
        out: list[ErasureRequest] = []
        for path in sorted(self.lake.glob("/".join(REQUESTS_DIR) + "/er_*.json")):
            try:
                request = ErasureRequest(**json.loads(self.lake.read_text(path)))
            except FileNotFoundError:  # finished by another replica since the listing
                continue
            finished = self.lake.fs.exists(self._path(request.request_id, finished=True))
            if request.status in ("queued", "running") and not finished:
                out.append(request)
            else:  # finished, here or (a crash between the two writes of `finish`) in finished/
                self._archive(request, finished)
        return out

    def _archive(self, request: ErasureRequest, finished_copy: bool) -> None:
        """Move a finished record out of the open ones; where `finished/` has it already (`finished_copy`),
        that copy is the truth and the open one (which may still name the customer) is dropped."""
        if not finished_copy:
            self.save(request)
        self._drop_open(request.request_id)

    def _drop_open(self, request_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.lake.rm(self._path(request_id))

    def finish(self, request: ErasureRequest, report: ErasureReport | None, error: str | None) -> None:
        salt = workspace_salt(self.lake, create=True)
        if request.customer_id is not None and salt is not None:
            request.customer_hash = salted_hash(salt, CUSTOMER, request.customer_id)
        request.customer_id = None
        request.status = "failed" if error else "done"
        request.error = error
        if report is not None:
            request.erasure_id, request.audit_path = report.erasure_id, report.audit_path
        request.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.save(request)  # to finished/, then out of the open records
        self._drop_open(request.request_id)


class ErasureWorker:
    """One daemon thread per serving process that erases queued requests in batches. `wake()` after a
    submit; it also looks every `poll_s` seconds, for requests other replicas queued or a restart left."""

    def __init__(self, ws: Workspace, erase: EraseFn, poll_s: float = 30.0) -> None:
        self.requests = ErasureRequests(ws)
        self.ws, self.erase, self.poll_s = ws, erase, poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="c360-erasure", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        self._wake.set()  # a restart finishes what the last process left
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except LeaseHeldError:
                self._wake.set()  # a pipeline run holds the workspace: try again
            except Exception as exc:  # noqa: BLE001 - the worker must outlive one bad pass; the next retries
                log.error("erasure pass failed: %s", type(exc).__name__)
                self._stop.wait(self.poll_s)

    def run_once(self) -> int:
        """Erase every pending request in one pass under the workspace lease; the number finished."""
        if not self.requests.pending():
            return 0
        with lake_lease(self.requests.lake, "c360 serve: erasure", wait_s=LEASE_WAIT_S):
            pending = self.requests.pending()  # again, under the lease: another replica may have done them
            interrupted = {r.request_id for r in pending if r.status == "running"}
            for request in pending:
                request.status = "running"
                self.requests.save(request)
            ids = [r.customer_id for r in pending if r.customer_id]
            try:
                self._finish_all(pending, self.erase(self.ws, ids))
            except NotFoundError:
                # Somebody unknown (erased meanwhile, say) stops a pass before anything changes: one by one.
                for request in pending:
                    try:
                        self._finish_all([request], self.erase(self.ws, [request.customer_id or ""]))
                    except NotFoundError:
                        # A pass that died after erasing but before its records were marked: done. A queued
                        # request naming nobody the identity graph knows (erased meanwhile): not_found.
                        error = None if request.request_id in interrupted else "not_found"
                        self.requests.finish(request, None, error)
        log.info("erasure requests finished: %d", len(pending))
        return len(pending)

    def _finish_all(self, requests: list[ErasureRequest], reports: list[ErasureReport]) -> None:
        report = reports[-1] if reports else None
        for request in requests:
            self.requests.finish(request, report, None)

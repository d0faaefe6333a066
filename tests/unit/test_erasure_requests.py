"""Erasure request records (c360.privacy.requests.ErasureRequests): a finished record leaves the open ones,
so a poll reads what is still to do however many requests were ever made, and no crash between the two writes
of `finish` leaves the customer id behind or the request to be erased again."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from c360.privacy.requests import FINISHED, REQUESTS_DIR, ErasureRequests
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit


@pytest.fixture
def requests(tmp_path) -> ErasureRequests:
    init_workspace(tmp_path / "ws")
    return ErasureRequests(Workspace.load(tmp_path / "ws"))


def open_ids(requests: ErasureRequests) -> list[str]:
    paths = requests.lake.glob("/".join(REQUESTS_DIR) + "/er_*.json")
    return sorted(p.rsplit("/", 1)[-1].removesuffix(".json") for p in paths)


def test_a_finished_request_leaves_the_open_records_and_keeps_its_status(requests):
    first, second = requests.submit("C-1", "k1"), requests.submit("C-2", "k1")
    assert [r.request_id for r in requests.pending()] == sorted([first.request_id, second.request_id])
    requests.finish(first, None, None)
    requests.finish(second, None, "not_found")
    assert open_ids(requests) == [] and requests.pending() == []
    done, failed = requests.get(first.request_id), requests.get(second.request_id)
    assert (done.status, failed.status, failed.error) == ("done", "failed", "not_found")
    assert done.customer_id is None and len(done.customer_hash or "") == 64
    assert requests.lake.exists(*REQUESTS_DIR, FINISHED, f"{first.request_id}.json")


def test_an_older_layouts_finished_record_is_moved_by_the_next_poll(requests):
    queued = requests.submit("C-1", "k1")
    old = replace(queued, request_id=queued.request_id + "0", status="done", customer_id=None)
    requests.lake.replace_text(requests._path(old.request_id), json.dumps(asdict(old)))  # where it used to be
    assert [r.request_id for r in requests.pending()] == [queued.request_id]
    assert open_ids(requests) == [queued.request_id]
    assert requests.get(old.request_id).status == "done"


def test_a_crash_between_the_writes_of_finish_neither_erases_again_nor_keeps_the_customer_id(requests):
    request = requests.submit("C-1", "k1")
    request.status = "running"
    requests.save(request)
    interrupted = replace(request)
    requests.finish(request, None, None)
    requests.save(interrupted)  # as if the open record had not been removed: still running, still naming C-1
    assert requests.get(request.request_id).status == "done"  # the finished copy wins
    assert requests.pending() == []
    assert open_ids(requests) == []
    texts = [requests.lake.read_text(p) for p in requests.lake.glob("/".join(REQUESTS_DIR) + "/**/*.json")]
    assert texts and not any("C-1" in t for t in texts)


def test_an_unknown_or_malformed_id_is_not_found(requests):
    from c360.errors import NotFoundError

    for bad in ("er_nope", "../../etc/passwd", f"{FINISHED}/er_x"):
        with pytest.raises(NotFoundError):
            requests.get(bad)

"""A property-based fuzz of the whole API from its own OpenAPI document (schemathesis strategies driven by
hypothesis): every operation, with generated valid and invalid inputs and a key holding every scope, never
answers 5xx, and every error is the documented body, without a traceback.

The strategies are used directly rather than through schemathesis' pytest plugin, whose lazy fixture loader
does not run on pytest 9.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from c360.api.app import create_api
from c360.api.keys import SCOPES, KeyStore
from tests.serving.api_data import api_workspace

pytestmark = pytest.mark.unit

EXAMPLES = 25
"""Per operation and generation mode."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    from c360.features.store import apply

    data = api_workspace(tmp_path_factory.mktemp("fuzz") / "ws")
    apply(data.ws)  # the events route pushes signals online: without a Feast repo it answers 503
    key = KeyStore.for_workspace(data.ws).create(SCOPES, name="fuzz", rate_limit=1e6)[1]
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_api(data.ws.root))
    return schema, {"X-API-Key": key}


def check(case, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    where = (case.method, case.path, response.status_code, response.text[:300])
    assert response.status_code < 500, where
    assert "Traceback" not in response.text, where
    if response.status_code >= 400:
        body = json.loads(response.text)
        assert body["error"]["code"] and body["error"]["message"], where  # a batch adds its errors by index


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_operation_answers_5xx_or_an_undocumented_error(fuzzed, mode):
    schema, headers = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, "the document lists the API's operations"
    fuzzed = 0
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
            database=None,
        )  # fmt: skip
        def fuzz(case) -> None:
            check(case, headers)

        try:
            fuzz()
            fuzzed += 1
        except Unsatisfiable:  # no input of this operation can be made invalid (GET /healthz, say)
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert fuzzed >= len(operations) // 2, f"{fuzzed} of {len(operations)} operations fuzzed"

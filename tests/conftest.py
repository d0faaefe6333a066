"""Shared fixtures: one Ray instance per test session, stand-in services started on loopback ports.

`make test` runs the suite on two pytest-xdist workers (`--dist loadgroup`). Every test that touches the
session's Ray (the `ray` marker, or a fixture built on `ray_session`) is in one group, so one worker runs them
all on one Ray instance; every other module is a group of its own, so its module-scoped fixtures are built
once. The second worker runs the rest beside it: unit tests, Feast subprocesses, the Azure stand-ins.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

pytest_plugins: list[str] = ["tests.fixtures_cosmos"]

RAY_FIXTURES = frozenset({"ray_session", "online_retail_workspace"})


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test's xdist group, as it is collected: before xdist's worker appends the group to the test's id
    (in its `pytest_collection_modifyitems`, which runs ahead of a conftest's)."""
    fixtures = getattr(item, "fixturenames", ())
    on_ray = item.get_closest_marker("ray") is not None or not RAY_FIXTURES.isdisjoint(fixtures)
    item.add_marker(pytest.mark.xdist_group("ray" if on_ray else item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session")
def ray_session():
    """Start Ray once for the whole session (2 CPUs, no dashboard) and stop it at the end."""
    import ray

    from c360.runtime import ensure_ray
    from c360.settings import RayRuntimeSettings

    ensure_ray(RayRuntimeSettings(num_cpus=2), progress=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def azurite_service():
    """Azurite's blob endpoint on a free loopback port, for the whole session."""
    from c360.devservices.azurite import azurite

    with azurite() as service:
        yield service


@dataclass(frozen=True)
class AzureLake:
    uri: str
    storage_options: dict[str, str]


@pytest.fixture
def azurite_lake(azurite_service) -> AzureLake:
    """A fresh `abfs://` lake (its own container) on the session's azurite."""
    container = f"lake-{uuid.uuid4().hex[:12]}"
    azurite_service.create_container(container)
    return AzureLake(uri=f"abfs://{container}/c360", storage_options=azurite_service.storage_options)


@pytest.fixture(scope="session")
def online_retail_workspace(tmp_path_factory, ray_session):
    """The Online Retail example workspace (examples/online_retail), built once per session with the user's
    commands (setup.sh, `c360 ingest`, `resolve`, `facts`); every test reading it shares this one build.
    Tests may run later stages on it (profiles, backfill) but must not change what those three wrote."""
    from c360.bench import models_retail

    try:
        dataset = models_retail.dataset_path()
    except Exception as exc:  # CI must not pass by skipping: there a missing dataset fails the test
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Online Retail not in the shared datasets: {exc}")
    return models_retail.build_workspace(tmp_path_factory.mktemp("online_retail_shared") / "ws", dataset)

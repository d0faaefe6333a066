"""Shared fixtures: one Ray instance per test session, stand-in services started on loopback ports.

`make test` runs the suite on two pytest-xdist workers (`--dist loadgroup`, scheduled by `RayGroupScheduling`
below). Every test that touches the session's Ray (the `ray` marker, or a fixture built on `ray_session`) is
in one group, so one worker runs them all on one Ray instance; every other module is a group of its own, so
its module-scoped fixtures are built once. The second worker runs the rest beside it: unit tests, Feast
subprocesses, the Azure stand-ins. (xdist's own `xdist_group` marks do not work on pytest 9, whose test ids
xdist can no longer rename, so the groups travel from the workers to the scheduler in a file.)
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

pytest_plugins: list[str] = ["tests.fixtures_cosmos"]

RAY_FIXTURES = frozenset({"ray_session", "online_retail_workspace"})


def _ray_tests_file(controller_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"c360-xdist-ray-tests-{controller_pid}.json"


def _on_ray(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return item.get_closest_marker("ray") is not None or not RAY_FIXTURES.isdisjoint(fixtures)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: write the ids of the tests on the session's Ray where the scheduler (the worker's
    parent process) reads them. Both workers collect the same tests and write the same file; the scheduler
    reads it only once every worker has finished collecting."""
    if not hasattr(config, "workerinput"):
        return
    path = _ray_tests_file(os.getppid())
    scratch = path.with_name(f"{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(sorted(item.nodeid for item in items if _on_ray(item))), encoding="utf-8")
    os.replace(scratch, path)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup`: `RayGroupScheduling` (see the module docstring); other modes are xdist's."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class RayGroupScheduling(LoadScopeScheduling):
        """Work units: "ray" (every test on the session's Ray) and one per module for the rest."""

        ray_tests: frozenset[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.ray_tests is None:
                path = _ray_tests_file(os.getpid())
                self.ray_tests = frozenset(json.loads(path.read_text(encoding="utf-8")))
                path.unlink(missing_ok=True)
            return "ray" if nodeid in self.ray_tests else nodeid.split("::", 1)[0]

    return RayGroupScheduling(config, log)


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
    from c360.bench import retail_data

    try:
        dataset = retail_data.dataset_path()
    except Exception as exc:  # CI must not pass by skipping: there a missing dataset fails the test
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Online Retail not in the shared datasets: {exc}")
    return retail_data.build_workspace(tmp_path_factory.mktemp("online_retail_shared") / "ws", dataset)
